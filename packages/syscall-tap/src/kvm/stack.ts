import type { ProgramMemory } from "../types.js";

/** Auxiliary vector types (<linux/auxvec.h>, <asm/auxvec.h>). */
export const AT = {
  NULL: 0,
  PHDR: 3,
  PHENT: 4,
  PHNUM: 5,
  PAGESZ: 6,
  BASE: 7,
  FLAGS: 8,
  ENTRY: 9,
  UID: 11,
  EUID: 12,
  GID: 13,
  EGID: 14,
  PLATFORM: 15,
  HWCAP: 16,
  CLKTCK: 17,
  SECURE: 23,
  RANDOM: 25,
  HWCAP2: 26,
  EXECFN: 31,
} as const;

export interface InitialStack {
  argv: readonly string[];
  envp: readonly string[];
  /** Auxiliary vector entries other than AT_RANDOM, AT_PLATFORM, AT_EXECFN and AT_NULL (added here). */
  auxv: ReadonlyArray<readonly [number, number]>;
  /** The 16 bytes AT_RANDOM points at. */
  random: Uint8Array;
  execfn: string;
  platform?: string;
}

const enc = new TextEncoder();

/**
 * Writes the System V x86-64 process-entry stack below `top` (strings, the
 * random bytes, then argc, argv, envp and auxv with rsp 16-byte aligned at
 * argc) and returns the initial rsp. Throws MemoryFault if it does not fit.
 */
export function writeInitialStack(mem: ProgramMemory, top: number, s: InitialStack): number {
  let p = top;
  const put = (bytes: Uint8Array): number => {
    p -= bytes.length;
    mem.write(p, bytes);
    return p;
  };
  const cstr = (t: string): number => {
    const b = enc.encode(t);
    const out = new Uint8Array(b.length + 1);
    out.set(b);
    return put(out);
  };
  const execfn = cstr(s.execfn);
  const platform = cstr(s.platform ?? "x86_64");
  p -= p % 16; // not p &= ~15: addresses above 2 GiB do not fit in 32-bit bitwise arithmetic
  const random = put(s.random.subarray(0, 16));
  const envp = s.envp.map(cstr);
  const argv = s.argv.map(cstr);
  const auxv: Array<readonly [number, number]> = [
    ...s.auxv,
    [AT.RANDOM, random],
    [AT.PLATFORM, platform],
    [AT.EXECFN, execfn],
    [AT.NULL, 0],
  ];
  const words = 1 + argv.length + 1 + envp.length + 1 + auxv.length * 2;
  p -= words * 8;
  p -= p % 16;
  const rsp = p;
  let w = rsp;
  const word = (v: number) => {
    mem.writeU64(w, v);
    w += 8;
  };
  word(argv.length);
  for (const a of argv) word(a);
  word(0);
  for (const e of envp) word(e);
  word(0);
  for (const [k, v] of auxv) {
    word(k);
    word(v);
  }
  return rsp;
}
