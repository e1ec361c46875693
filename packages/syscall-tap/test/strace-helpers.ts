import { MemoryFault, type ProgramMemory, type SyscallEvent } from "@kindling/syscall-tap";

/** ProgramMemory over one buffer mapped at `base`; everything else faults. */
export class ArrayMemory implements ProgramMemory {
  readonly aliases = true;
  readonly bytes: Uint8Array;
  constructor(
    readonly base: number,
    size: number,
  ) {
    this.bytes = new Uint8Array(size);
  }
  #off(addr: number, len: number): number {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(len) || len < 0 || !this.contains(addr, len)) {
      throw new MemoryFault(Number.isFinite(addr) ? addr : 0, Number.isFinite(len) ? len : 0);
    }
    return addr - this.base;
  }
  contains(addr: number, len: number): boolean {
    return addr >= this.base && len >= 0 && addr + len <= this.base + this.bytes.length;
  }
  read(addr: number, len: number): Uint8Array {
    const o = this.#off(addr, len);
    return this.bytes.slice(o, o + len);
  }
  view(addr: number, len: number): Uint8Array {
    const o = this.#off(addr, len);
    return this.bytes.subarray(o, o + len);
  }
  write(addr: number, data: Uint8Array): void {
    this.bytes.set(data, this.#off(addr, data.length));
  }
  fill(addr: number, len: number, byte: number): void {
    const o = this.#off(addr, len);
    this.bytes.fill(byte, o, o + len);
  }
  readCString(addr: number, max: number): Uint8Array | null {
    for (let i = 0; i < max; i++) {
      const o = this.#off(addr + i, 1);
      if (this.bytes[o] === 0) return this.bytes.slice(o - i, o);
    }
    return null;
  }
  readU32(addr: number): number {
    return new DataView(this.bytes.buffer).getUint32(this.#off(addr, 4), true);
  }
  writeU32(addr: number, v: number): void {
    new DataView(this.bytes.buffer).setUint32(this.#off(addr, 4), v, true);
  }
  readU64(addr: number): number {
    return Number(this.readBigU64(addr));
  }
  writeU64(addr: number, v: number): void {
    this.writeBigU64(addr, BigInt(v));
  }
  readBigU64(addr: number): bigint {
    return new DataView(this.bytes.buffer).getBigUint64(this.#off(addr, 8), true);
  }
  writeBigU64(addr: number, v: bigint): void {
    new DataView(this.bytes.buffer).setBigUint64(this.#off(addr, 8), v, true);
  }
  /** Puts a NUL-terminated string at `addr` and returns addr. */
  putString(addr: number, s: string | Uint8Array): number {
    const b = typeof s === "string" ? new TextEncoder().encode(s) : s;
    this.write(addr, b);
    this.write(addr + b.length, new Uint8Array([0]));
    return addr;
  }
}

/** A SyscallEvent from raw 64-bit arguments. */
export function event(nr: number, ...args: Array<number | bigint>): SyscallEvent {
  const a = args.map((x) => BigInt.asUintN(64, BigInt(x)));
  while (a.length < 6) a.push(0n);
  return {
    kind: "syscall",
    nr,
    arg: (i) => Number(a[i]!),
    argI32: (i) => Number(BigInt.asIntN(32, a[i]!)),
    argU64: (i) => a[i]!,
  };
}
