/**
 * ProgramMemory over another process's address space, through
 * process_vm_readv/process_vm_writev (they honour the target's page
 * protections like the kernel's own copy_to/from_user: no FOLL_FORCE).
 */
import { readFileSync } from "node:fs";
import { addressOf, native } from "@kindling/sys-util/unsafe";
import { MemoryFault, type ProgramMemory } from "../types.js";
import { SYS_process_vm_readv, SYS_process_vm_writev } from "./abi.js";

/** Above every x86-64 user address (5-level paging ends below 2^56). */
const USER_LIMIT = 2 ** 56;
/** The largest single copy: bigger transfers are the caller's to split (a hostile length must not allocate). */
export const MAX_COPY = 1 << 30;
const SCRATCH = 64 * 1024;
const PAGE = 4096;
const TWO32 = 2 ** 32;

function setU64(dv: DataView, off: number, v: number): void {
  dv.setUint32(off, v % TWO32, true);
  dv.setUint32(off + 4, Math.floor(v / TWO32), true);
}

/**
 * The copy buffer and iovecs, one set for every ProcessMemory of this JavaScript
 * thread rather than one per task: a task held 64 KiB for as long as it lived
 * (64 MiB at 1024 threads, charged to no sandbox's budget). Sharing is safe
 * because the supervisor serves one notification at a time on this thread and
 * every use of the buffer ends before the method that filled it returns (reads
 * hand out copies). Made at the first ProcessMemory.
 */
interface Scratch {
  buf: Uint8Array;
  dv: DataView;
  addr: number;
  local: Uint8Array;
  localDv: DataView;
  remote: Uint8Array;
  remoteDv: DataView;
}
let shared: Scratch | undefined;
function sharedScratch(): Scratch {
  if (shared === undefined) {
    const buf = new Uint8Array(SCRATCH);
    const local = new Uint8Array(16);
    const remote = new Uint8Array(16);
    shared = {
      buf,
      dv: new DataView(buf.buffer),
      addr: Number(addressOf(buf)),
      local,
      localDv: new DataView(local.buffer),
      remote,
      remoteDv: new DataView(remote.buffer),
    };
  }
  return shared;
}

export class ProcessMemory implements ProgramMemory {
  readonly aliases = false;

  #containsByMaps(addr: number, len: number): boolean {
    let maps: Array<[number, number]>;
    try {
      maps = readMaps(this.pid);
    } catch {
      return false;
    }
    let p = addr;
    const end = addr + len;
    for (const [s, e] of maps) {
      if (e <= p) continue;
      if (s > p) return false;
      p = e;
      if (p >= end) return true;
    }
    return false;
  }
  readonly #scratch: Uint8Array;
  readonly #scratchDv: DataView;
  readonly #scratchAddr: number;
  readonly #local: Uint8Array;
  readonly #localDv: DataView;
  readonly #remote: Uint8Array;
  readonly #remoteDv: DataView;
  /** Called after every successful read; throws when the data can no longer be trusted (the task is gone). */
  #validate: (() => void) | undefined;

  constructor(
    readonly pid: number,
    validate?: () => void,
  ) {
    const sc = sharedScratch();
    this.#scratch = sc.buf;
    this.#scratchDv = sc.dv;
    this.#scratchAddr = sc.addr;
    this.#local = sc.local;
    this.#localDv = sc.localDv;
    this.#remote = sc.remote;
    this.#remoteDv = sc.remoteDv;
    this.#validate = validate;
  }

  #checkRange(addr: number, len: number): void {
    if (
      !Number.isSafeInteger(addr) ||
      !Number.isSafeInteger(len) ||
      addr < 0 ||
      len < 0 ||
      addr + len > USER_LIMIT ||
      (len > 0 && addr === 0)
    ) {
      throw new MemoryFault(Number.isFinite(addr) ? addr : 0, Number.isFinite(len) ? len : 0);
    }
  }

  /** One transfer of `len` bytes between local address `local` and remote `addr`; MemoryFault unless complete. */
  #transfer(nr: number, local: number, addr: number, len: number): void {
    if (len === 0) return;
    setU64(this.#localDv, 0, local);
    setU64(this.#localDv, 8, len);
    setU64(this.#remoteDv, 0, addr);
    setU64(this.#remoteDv, 8, len);
    const r = native().syscall(nr, this.pid, this.#local, 1, this.#remote, 1, 0);
    if (r !== len) throw new MemoryFault(addr, len);
  }

  #readInto(addr: number, len: number, dst: Uint8Array | null): Uint8Array {
    this.#checkRange(addr, len);
    if (len === 0) return dst ?? new Uint8Array(0);
    if (dst === null && len <= SCRATCH) {
      this.#transfer(SYS_process_vm_readv, this.#scratchAddr, addr, len);
      this.#validate?.();
      return this.#scratch;
    }
    if (dst === null) {
      // Probe both ends first so a hostile length over unmapped memory allocates nothing.
      if (len > MAX_COPY) throw new MemoryFault(addr, len);
      this.#transfer(SYS_process_vm_readv, this.#scratchAddr, addr, 1);
      this.#transfer(SYS_process_vm_readv, this.#scratchAddr, addr + len - 1, 1);
    }
    const out = dst ?? new Uint8Array(len);
    this.#transfer(SYS_process_vm_readv, Number(addressOf(out)), addr, len);
    this.#validate?.();
    return out;
  }

  read(addr: number, len: number): Uint8Array {
    this.#checkRange(addr, len);
    if (len <= SCRATCH) return this.#readInto(addr, len, null).slice(0, len);
    return this.#readInto(addr, len, null);
  }

  view(addr: number, len: number): Uint8Array {
    return this.read(addr, len);
  }

  write(addr: number, data: Uint8Array): void {
    this.#checkRange(addr, data.byteLength);
    if (data.byteLength === 0) return;
    if (data.byteLength <= SCRATCH) {
      this.#scratch.set(data);
      this.#transfer(SYS_process_vm_writev, this.#scratchAddr, addr, data.byteLength);
    } else {
      this.#transfer(SYS_process_vm_writev, Number(addressOf(data)), addr, data.byteLength);
    }
  }

  fill(addr: number, len: number, byte: number): void {
    this.#checkRange(addr, len);
    for (let done = 0; done < len; ) {
      const n = Math.min(SCRATCH, len - done);
      this.#scratch.fill(byte & 0xff, 0, n);
      this.#transfer(SYS_process_vm_writev, this.#scratchAddr, addr + done, n);
      done += n;
    }
  }

  readCString(addr: number, max: number): Uint8Array | null {
    if (!Number.isSafeInteger(max) || max < 0) throw new MemoryFault(addr, 0);
    this.#checkRange(addr, 1);
    const parts: Uint8Array[] = [];
    let total = 0;
    let p = addr;
    // Read page by page so a string ending just before an unmapped page is still read.
    while (total < max) {
      const n = Math.min(PAGE - (p % PAGE), max - total, SCRATCH);
      this.#checkRange(p, n);
      const buf = this.#readInto(p, n, null);
      const nul = buf.subarray(0, n).indexOf(0);
      if (nul >= 0) {
        parts.push(buf.slice(0, nul));
        total += nul;
        return parts.length === 1 ? parts[0]! : concat(parts, total);
      }
      parts.push(buf.slice(0, n));
      total += n;
      p += n;
    }
    return null;
  }

  readU32(addr: number): number {
    this.#readInto(addr, 4, null);
    return this.#scratchDv.getUint32(0, true);
  }

  writeU32(addr: number, value: number): void {
    this.#checkRange(addr, 4);
    this.#scratchDv.setUint32(0, value >>> 0, true);
    this.#transfer(SYS_process_vm_writev, this.#scratchAddr, addr, 4);
  }

  readU64(addr: number): number {
    this.#readInto(addr, 8, null);
    return this.#scratchDv.getUint32(0, true) + this.#scratchDv.getUint32(4, true) * TWO32;
  }

  writeU64(addr: number, value: number): void {
    this.#checkRange(addr, 8);
    setU64(this.#scratchDv, 0, value);
    this.#transfer(SYS_process_vm_writev, this.#scratchAddr, addr, 8);
  }

  readBigU64(addr: number): bigint {
    this.#readInto(addr, 8, null);
    return this.#scratchDv.getBigUint64(0, true);
  }

  writeBigU64(addr: number, value: bigint): void {
    this.#checkRange(addr, 8);
    this.#scratchDv.setBigUint64(0, BigInt.asUintN(64, value), true);
    this.#transfer(SYS_process_vm_writev, this.#scratchAddr, addr, 8);
  }

  /**
   * True when every byte of the range is readable in the target now: one
   * probe per page for small ranges, /proc/PID/maps for large ones.
   */
  contains(addr: number, len: number): boolean {
    try {
      this.#checkRange(addr, len);
      if (len === 0) return true;
      if (len > 64 * PAGE) return this.#containsByMaps(addr, len);
      for (let p = addr; p < addr + len; p = (Math.floor(p / PAGE) + 1) * PAGE) {
        this.#transfer(SYS_process_vm_readv, this.#scratchAddr, p, 1);
      }
      return true;
    } catch (e) {
      if (e instanceof MemoryFault) return false;
      throw e;
    }
  }
}

function readMaps(pid: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const line of readFileSync(`/proc/${pid}/maps`, "utf8").split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) r/.exec(line);
    if (m) out.push([Number.parseInt(m[1]!, 16), Number.parseInt(m[2]!, 16)]);
  }
  return out;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}
