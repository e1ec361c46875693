import { MemoryFault, type ProgramMemory } from "../types.js";

/**
 * The program's memory under the kvm platform: guest virtual = guest
 * physical, so a program address indexes the guest memory bytes directly.
 * Only [low, high) is the program's; anything else (the shim below, past the
 * end of memory, wrapped or non-integer addresses) is a MemoryFault.
 */
export class GuestProgramMemory implements ProgramMemory {
  readonly aliases = true;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #low: number;
  readonly #high: number;

  constructor(bytes: Uint8Array, low: number, high = bytes.length) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#low = low;
    this.#high = Math.min(high, bytes.length);
  }

  /** The program's range. */
  get low(): number {
    return this.#low;
  }
  get high(): number {
    return this.#high;
  }

  contains(addr: number, len: number): boolean {
    return (
      Number.isSafeInteger(addr) &&
      Number.isSafeInteger(len) &&
      len >= 0 &&
      addr >= this.#low &&
      addr <= this.#high - len
    );
  }

  #check(addr: number, len: number): void {
    if (!this.contains(addr, len)) throw new MemoryFault(addr, len);
  }

  read(addr: number, len: number): Uint8Array {
    this.#check(addr, len);
    return this.#bytes.slice(addr, addr + len);
  }

  view(addr: number, len: number): Uint8Array {
    this.#check(addr, len);
    return this.#bytes.subarray(addr, addr + len);
  }

  write(addr: number, data: Uint8Array): void {
    this.#check(addr, data.length);
    this.#bytes.set(data, addr);
  }

  fill(addr: number, len: number, byte: number): void {
    this.#check(addr, len);
    this.#bytes.fill(byte, addr, addr + len);
  }

  readCString(addr: number, max: number): Uint8Array | null {
    if (!Number.isSafeInteger(addr) || addr < this.#low || addr >= this.#high) throw new MemoryFault(addr, 1);
    const end = Math.min(this.#high, addr + max);
    const nul = this.#bytes.indexOf(0, addr);
    if (nul !== -1 && nul < end) return this.#bytes.slice(addr, nul);
    if (end === this.#high && end < addr + max) throw new MemoryFault(addr, end - addr + 1);
    return null;
  }

  readU32(addr: number): number {
    this.#check(addr, 4);
    return this.#view.getUint32(addr, true);
  }

  writeU32(addr: number, value: number): void {
    this.#check(addr, 4);
    this.#view.setUint32(addr, value >>> 0, true);
  }

  readU64(addr: number): number {
    this.#check(addr, 8);
    return this.#view.getUint32(addr, true) + this.#view.getUint32(addr + 4, true) * 0x1_0000_0000;
  }

  writeU64(addr: number, value: number): void {
    this.#check(addr, 8);
    if (value < 0) {
      this.#view.setBigInt64(addr, BigInt(value), true);
      return;
    }
    this.#view.setUint32(addr, value >>> 0, true);
    this.#view.setUint32(addr + 4, Math.floor(value / 0x1_0000_0000) >>> 0, true);
  }

  readBigU64(addr: number): bigint {
    this.#check(addr, 8);
    return this.#view.getBigUint64(addr, true);
  }

  writeBigU64(addr: number, value: bigint): void {
    this.#check(addr, 8);
    this.#view.setBigUint64(addr, BigInt.asUintN(64, value), true);
  }
}
