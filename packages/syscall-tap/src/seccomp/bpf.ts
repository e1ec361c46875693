/**
 * The seccomp filter of the seccomp platform: classic BPF that lets a small
 * allow-list run natively and turns every other system call into a user
 * notification (SECCOMP_RET_USER_NOTIF). A call on the list may carry an
 * argument condition (a register test: the kernel captured the registers in
 * seccomp_data, the program cannot change them afterwards); when the
 * condition fails, the call is notified instead.
 */
import { BPF_ALU, BPF_AND, BPF_K } from "@kindling/seccompiler";
import {
  AUDIT_ARCH_X86_64,
  BPF_JMP_JEQ_K,
  BPF_LD_W_ABS,
  BPF_RET_K,
  ENOSYS,
  SECCOMP_DATA_ARCH,
  SECCOMP_DATA_ARGS,
  SECCOMP_DATA_NR,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_USER_NOTIF,
} from "./abi.js";

/**
 * A native call's argument condition: the call runs natively only when
 * `(low 32 bits of args[arg]) & mask` is one of `values`. Only the low word is
 * tested: every call it is used for (futex's op, madvise's advice, mmap's
 * flags) takes an `int` there or ignores the high bits for the bits tested.
 */
export interface ArgCondition {
  nr: number;
  arg: number;
  mask: number;
  values: readonly number[];
}

export interface NotifyFilterOptions {
  /** System call numbers run natively (never notified), subject to `conditions`. */
  allow: readonly number[];
  /**
   * Per system call of `allow` (at most one each): run natively only when the
   * condition holds, else notify.
   */
  conditions?: readonly ArgCondition[];
}

export class FilterError extends Error {
  override readonly name = "FilterError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Insn {
  code: number;
  jt: number | string;
  jf: number | string;
  k: number;
  label?: string;
}

const u32 = (v: number) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/**
 * Builds the filter as an array of 8-byte `struct sock_filter`: a foreign
 * architecture's call (`int 0x80`: i386) fails with ENOSYS, as on Linux for a
 * number it lacks (no i386 ABI is served); `allow` runs natively (when its condition holds);
 * everything else (x32 numbers too) is notified.
 */
export function notifyFilter(options: NotifyFilterOptions): Uint8Array {
  const prog: Insn[] = [];
  const emit = (code: number, k: number, jt: number | string = 0, jf: number | string = 0, label?: string) => {
    const i: Insn = { code, jt, jf, k: k >>> 0 };
    if (label !== undefined) i.label = label;
    prog.push(i);
  };
  const allow = [...new Set(options.allow)];
  for (const nr of allow) {
    if (!u32(nr)) throw new FilterError("EINVAL", `bad syscall number ${nr}`);
  }
  const conditions = new Map<number, ArgCondition>();
  for (const c of options.conditions ?? []) {
    if (
      !u32(c.nr) ||
      !Number.isInteger(c.arg) ||
      c.arg < 0 ||
      c.arg > 5 ||
      !u32(c.mask) ||
      c.values.length === 0 ||
      !c.values.every(u32)
    ) {
      throw new FilterError("EINVAL", `bad argument condition ${JSON.stringify(c)}`);
    }
    if (conditions.has(c.nr)) throw new FilterError("EINVAL", `two argument conditions for syscall ${c.nr}`);
    conditions.set(c.nr, c);
  }

  emit(BPF_LD_W_ABS, SECCOMP_DATA_ARCH);
  emit(BPF_JMP_JEQ_K, AUDIT_ARCH_X86_64, 0, "foreign");
  emit(BPF_LD_W_ABS, SECCOMP_DATA_NR);
  const conditional = allow.filter((nr) => conditions.has(nr));
  for (const nr of allow) emit(BPF_JMP_JEQ_K, nr, conditions.has(nr) ? `cond${nr}` : "allow", 0);
  emit(BPF_RET_K, SECCOMP_RET_USER_NOTIF);
  for (const nr of conditional) {
    const c = conditions.get(nr)!;
    emit(BPF_LD_W_ABS, SECCOMP_DATA_ARGS + c.arg * 8, 0, 0, `cond${nr}`); // the low word (little-endian)
    if (c.mask >>> 0 !== 0xffffffff) emit(BPF_ALU | BPF_AND | BPF_K, c.mask);
    const values = [...new Set(c.values.map((v) => (v & c.mask) >>> 0))];
    values.forEach((v, i) => emit(BPF_JMP_JEQ_K, v, "allow", i + 1 < values.length ? 0 : "notif"));
  }
  emit(BPF_RET_K, SECCOMP_RET_ALLOW, 0, 0, "allow");
  emit(BPF_RET_K, SECCOMP_RET_USER_NOTIF, 0, 0, "notif");
  emit(BPF_RET_K, SECCOMP_RET_ERRNO | ENOSYS, 0, 0, "foreign");

  if (prog.length > 4096) throw new FilterError("E2BIG", `filter of ${prog.length} instructions exceeds BPF_MAXINSNS`);
  const labels = new Map<string, number>();
  prog.forEach((insn, pc) => {
    if (insn.label !== undefined) labels.set(insn.label, pc);
  });
  const out = new Uint8Array(prog.length * 8);
  const dv = new DataView(out.buffer);
  prog.forEach((insn, pc) => {
    const rel = (t: number | string): number => {
      if (typeof t === "number") return t;
      const target = labels.get(t);
      if (target === undefined) throw new FilterError("EINVAL", `no label ${t}`);
      const off = target - pc - 1;
      if (off < 0 || off > 255) throw new FilterError("E2BIG", `jump to ${t} out of range (${off})`);
      return off;
    };
    dv.setUint16(pc * 8, insn.code, true);
    dv.setUint8(pc * 8 + 2, rel(insn.jt));
    dv.setUint8(pc * 8 + 3, rel(insn.jf));
    dv.setUint32(pc * 8 + 4, insn.k, true);
  });
  return out;
}
