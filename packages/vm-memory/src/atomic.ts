import { GuestMemoryError, hex } from "./errors.js";

/** Widths of the atomic accesses: 1, 2, 4 or 8 bytes. */
export type AtomicWidth = 1 | 2 | 4 | 8;

/**
 * Lazily built full-length typed views of one ArrayBuffer, for Atomics.
 * The mapping starts page-aligned, so a naturally aligned offset in the
 * buffer is a naturally aligned host address.
 */
export class AtomicViews {
  readonly #buffer: ArrayBuffer;
  #u8?: Uint8Array;
  #u16?: Uint16Array;
  #u32?: Uint32Array;
  #u64?: BigUint64Array;

  constructor(buffer: ArrayBuffer) {
    this.#buffer = buffer;
  }
  get u8(): Uint8Array {
    if (this.#u8 === undefined) this.#u8 = new Uint8Array(this.#buffer);
    return this.#u8;
  }
  get u16(): Uint16Array {
    if (this.#u16 === undefined) this.#u16 = new Uint16Array(this.#buffer, 0, this.#buffer.byteLength >>> 1);
    return this.#u16;
  }
  get u32(): Uint32Array {
    if (this.#u32 === undefined) this.#u32 = new Uint32Array(this.#buffer, 0, Math.floor(this.#buffer.byteLength / 4));
    return this.#u32;
  }
  get u64(): BigUint64Array {
    if (this.#u64 === undefined)
      this.#u64 = new BigUint64Array(this.#buffer, 0, Math.floor(this.#buffer.byteLength / 8));
    return this.#u64;
  }

  /** Atomic load of an unsigned value at byte `offset` (must be aligned to `width`). */
  load(offset: number, width: AtomicWidth): number | bigint {
    checkAligned(offset, width);
    switch (width) {
      case 1:
        return Atomics.load(this.u8, offset);
      case 2:
        return Atomics.load(this.u16, offset >>> 1);
      case 4:
        return Atomics.load(this.u32, offset / 4);
      default:
        return Atomics.load(this.u64, offset / 8);
    }
  }

  /** Atomic (sequentially consistent) store. */
  store(offset: number, width: AtomicWidth, value: number | bigint): void {
    checkAligned(offset, width);
    switch (width) {
      case 1:
        Atomics.store(this.u8, offset, Number(value));
        return;
      case 2:
        Atomics.store(this.u16, offset >>> 1, Number(value));
        return;
      case 4:
        Atomics.store(this.u32, offset / 4, Number(value));
        return;
      default:
        Atomics.store(this.u64, offset / 8, BigInt.asUintN(64, BigInt(value)));
    }
  }

  /** Atomic fetch-and-add; returns the old value. */
  fetchAdd(offset: number, width: AtomicWidth, value: number | bigint): number | bigint {
    checkAligned(offset, width);
    switch (width) {
      case 1:
        return Atomics.add(this.u8, offset, Number(value));
      case 2:
        return Atomics.add(this.u16, offset >>> 1, Number(value));
      case 4:
        return Atomics.add(this.u32, offset / 4, Number(value));
      default:
        return Atomics.add(this.u64, offset / 8, BigInt.asUintN(64, BigInt(value)));
    }
  }

  /** Atomic compare-and-exchange; returns the old value. */
  compareExchange(
    offset: number,
    width: AtomicWidth,
    expected: number | bigint,
    value: number | bigint,
  ): number | bigint {
    checkAligned(offset, width);
    switch (width) {
      case 1:
        return Atomics.compareExchange(this.u8, offset, Number(expected), Number(value));
      case 2:
        return Atomics.compareExchange(this.u16, offset >>> 1, Number(expected), Number(value));
      case 4:
        return Atomics.compareExchange(this.u32, offset / 4, Number(expected), Number(value));
      default:
        return Atomics.compareExchange(
          this.u64,
          offset / 8,
          BigInt.asUintN(64, BigInt(expected)),
          BigInt.asUintN(64, BigInt(value)),
        );
    }
  }
}

export function checkAligned(offset: number, width: number): void {
  if (width !== 1 && width !== 2 && width !== 4 && width !== 8) {
    throw new GuestMemoryError("INVALID_ARGUMENT", `atomic width ${width} is not 1, 2, 4 or 8`);
  }
  if (offset % width !== 0) {
    throw new GuestMemoryError("MISALIGNED", `atomic ${width * 8}-bit access at ${hex(offset)} is not aligned`, {
      addr: offset,
    });
  }
}
