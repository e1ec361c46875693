import { pread, pwrite } from "@kindling/sys-util";
import { type AtomicWidth, checkAligned } from "./atomic.js";
import type { DirtyBitmap } from "./bitmap.js";
import type { ByteCodec } from "./codec.js";
import { GuestMemoryError } from "./errors.js";

function checkSpan(offset: number, count: number, len: number, what: string): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(count) ||
    offset < 0 ||
    count < 0 ||
    offset > len ||
    count > len - offset
  ) {
    throw new GuestMemoryError("OUT_OF_BOUNDS", `${what} [${offset}, +${count}) outside a slice of ${len} bytes`, {
      addr: Number.isSafeInteger(offset) && offset >= 0 ? offset : undefined,
    });
  }
}

/**
 * A bounds-checked window over guest memory. Every access is checked against
 * the slice's length; offsets are numbers relative to the slice's start.
 * Writes through the slice mark the region's dirty bitmap (if it has one);
 * writes through the raw `asUint8Array()` view do not (call `markDirty`).
 */
export class VolatileSlice {
  readonly #bytes: Uint8Array;
  readonly #bitmap: DirtyBitmap | undefined;
  readonly #bitmapBase: number;
  #view: DataView | undefined;

  /**
   * @param bytes the raw bytes the slice covers
   * @param bitmap the dirty bitmap of the region the bytes belong to
   * @param bitmapBase offset of `bytes[0]` in that region
   */
  constructor(bytes: Uint8Array, bitmap?: DirtyBitmap, bitmapBase = 0) {
    this.#bytes = bytes;
    this.#bitmap = bitmap;
    this.#bitmapBase = bitmapBase;
  }

  /** Length in bytes. */
  get length(): number {
    return this.#bytes.byteLength;
  }
  len(): number {
    return this.#bytes.byteLength;
  }
  isEmpty(): boolean {
    return this.#bytes.byteLength === 0;
  }
  get bitmap(): DirtyBitmap | undefined {
    return this.#bitmap;
  }

  /** The raw bytes (no copy). Writes through it are not dirty-tracked. */
  asUint8Array(): Uint8Array {
    return this.#bytes;
  }

  /** Marks `[offset, offset+count)` of the slice dirty. */
  markDirty(offset = 0, count = this.length - offset): void {
    this.#bitmap?.mark(this.#bitmapBase + offset, count);
  }

  #dv(): DataView {
    if (this.#view === undefined) {
      this.#view = new DataView(this.#bytes.buffer, this.#bytes.byteOffset, this.#bytes.byteLength);
    }
    return this.#view;
  }

  /** `[offset, offset+count)` of this slice. */
  subslice(offset: number, count: number): VolatileSlice {
    checkSpan(offset, count, this.length, "subslice");
    return new VolatileSlice(this.#bytes.subarray(offset, offset + count), this.#bitmap, this.#bitmapBase + offset);
  }
  /** Everything from `count` on. */
  offset(count: number): VolatileSlice {
    checkSpan(count, 0, this.length, "offset");
    return this.subslice(count, this.length - count);
  }
  /** `[0, mid)` and `[mid, len)`. */
  splitAt(mid: number): [VolatileSlice, VolatileSlice] {
    checkSpan(mid, 0, this.length, "splitAt");
    return [this.subslice(0, mid), this.subslice(mid, this.length - mid)];
  }

  /** Copies min(len, buf.length) bytes into `buf`; returns the count. */
  copyTo(buf: Uint8Array): number {
    const n = Math.min(this.length, buf.byteLength);
    buf.set(n === this.length ? this.#bytes : this.#bytes.subarray(0, n));
    return n;
  }
  /** Copies min(len, src.length) bytes from `src`; returns the count. */
  copyFrom(src: Uint8Array): number {
    const n = Math.min(this.length, src.byteLength);
    this.#bytes.set(n === src.byteLength ? src : src.subarray(0, n));
    this.markDirty(0, n);
    return n;
  }
  /** Copies min(len, dst.len) bytes into another slice (overlap-safe); returns the count. */
  copyToVolatileSlice(dst: VolatileSlice): number {
    return dst.copyFrom(this.#bytes);
  }
  /** Fills the slice with `byte`. */
  fill(byte: number): void {
    this.#bytes.fill(byte);
    this.markDirty();
  }

  /** Reads up to buf.length bytes at `offset`; returns the count. */
  read(buf: Uint8Array, offset: number): number {
    checkSpan(offset, 0, this.length, "read");
    const n = Math.min(buf.byteLength, this.length - offset);
    buf.set(this.#bytes.subarray(offset, offset + n));
    return n;
  }
  /** Writes up to buf.length bytes at `offset`; returns the count. */
  write(buf: Uint8Array, offset: number): number {
    checkSpan(offset, 0, this.length, "write");
    const n = Math.min(buf.byteLength, this.length - offset);
    this.#bytes.set(n === buf.byteLength ? buf : buf.subarray(0, n), offset);
    this.markDirty(offset, n);
    return n;
  }
  /** Reads exactly buf.length bytes or throws OUT_OF_BOUNDS. */
  readSlice(buf: Uint8Array, offset: number): void {
    checkSpan(offset, buf.byteLength, this.length, "readSlice");
    buf.set(this.#bytes.subarray(offset, offset + buf.byteLength));
  }
  writeSlice(buf: Uint8Array, offset: number): void {
    checkSpan(offset, buf.byteLength, this.length, "writeSlice");
    this.#bytes.set(buf, offset);
    this.markDirty(offset, buf.byteLength);
  }
  readObj<T>(codec: ByteCodec<T>, offset: number): T {
    checkSpan(offset, codec.size, this.length, "readObj");
    return codec.decode(this.#dv(), offset);
  }
  writeObj<T>(value: T, codec: ByteCodec<T>, offset: number): void {
    checkSpan(offset, codec.size, this.length, "writeObj");
    codec.encode(value, this.#dv(), offset);
    this.markDirty(offset, codec.size);
  }
  readU8(offset: number): number {
    checkSpan(offset, 1, this.length, "readU8");
    return this.#bytes[offset];
  }
  readU16(offset: number): number {
    checkSpan(offset, 2, this.length, "readU16");
    return this.#dv().getUint16(offset, true);
  }
  readU32(offset: number): number {
    checkSpan(offset, 4, this.length, "readU32");
    return this.#dv().getUint32(offset, true);
  }
  readU64(offset: number): bigint {
    checkSpan(offset, 8, this.length, "readU64");
    return this.#dv().getBigUint64(offset, true);
  }
  writeU8(value: number, offset: number): void {
    checkSpan(offset, 1, this.length, "writeU8");
    this.#bytes[offset] = value;
    this.markDirty(offset, 1);
  }
  writeU16(value: number, offset: number): void {
    checkSpan(offset, 2, this.length, "writeU16");
    this.#dv().setUint16(offset, value, true);
    this.markDirty(offset, 2);
  }
  writeU32(value: number, offset: number): void {
    checkSpan(offset, 4, this.length, "writeU32");
    this.#dv().setUint32(offset, value, true);
    this.markDirty(offset, 4);
  }
  writeU64(value: bigint, offset: number): void {
    checkSpan(offset, 8, this.length, "writeU64");
    this.#dv().setBigUint64(offset, BigInt.asUintN(64, value), true);
    this.markDirty(offset, 8);
  }

  #atomicArray(offset: number, width: AtomicWidth): [Uint8Array | Uint16Array | Uint32Array | BigUint64Array, number] {
    checkSpan(offset, width, this.length, "atomic access");
    const abs = this.#bytes.byteOffset + offset;
    checkAligned(abs, width);
    const buf = this.#bytes.buffer;
    switch (width) {
      case 1:
        return [this.#bytes, offset];
      case 2:
        return [new Uint16Array(buf, abs, 1), 0];
      case 4:
        return [new Uint32Array(buf, abs, 1), 0];
      default:
        return [new BigUint64Array(buf, abs, 1), 0];
    }
  }
  /** Atomic load of an aligned 1/2/4-byte unsigned value. */
  load(offset: number, width: 1 | 2 | 4): number {
    const [a, i] = this.#atomicArray(offset, width);
    return Atomics.load(a as Uint32Array, i);
  }
  /** Atomic load of an aligned 8-byte value. */
  load64(offset: number): bigint {
    const [a, i] = this.#atomicArray(offset, 8);
    return Atomics.load(a as BigUint64Array, i);
  }
  store(value: number, offset: number, width: 1 | 2 | 4): void {
    const [a, i] = this.#atomicArray(offset, width);
    Atomics.store(a as Uint32Array, i, value);
    this.markDirty(offset, width);
  }
  store64(value: bigint, offset: number): void {
    const [a, i] = this.#atomicArray(offset, 8);
    Atomics.store(a as BigUint64Array, i, BigInt.asUintN(64, value));
    this.markDirty(offset, 8);
  }

  /** pread(2) from `fd` straight into `[offset, offset+count)`; returns bytes read. */
  readFrom(fd: number, offset: number, count: number, position: number | bigint = -1): number {
    checkSpan(offset, count, this.length, "readFrom");
    if (count === 0) return 0;
    const n = pread(fd, this.#bytes, offset, count, position);
    this.markDirty(offset, n);
    return n;
  }
  /** pwrite(2) of `[offset, offset+count)` to `fd`; returns bytes written. */
  writeTo(fd: number, offset: number, count: number, position: number | bigint = -1): number {
    checkSpan(offset, count, this.length, "writeTo");
    if (count === 0) return 0;
    return pwrite(fd, this.#bytes, offset, count, position);
  }
}
