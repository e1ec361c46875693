import { GuestMemoryError } from "./errors.js";

/**
 * One bit per page of a region: set when the host (the VMM) writes to that
 * page through vm-memory. Guest writes are tracked by KVM's dirty log instead.
 */
export class DirtyBitmap {
  readonly pageSize: number;
  readonly numPages: number;
  readonly size: number;
  readonly #bits: Uint32Array;
  readonly #shift: number;

  constructor(size: number, pageSize = 4096) {
    if (!Number.isSafeInteger(pageSize) || pageSize <= 0 || (pageSize & (pageSize - 1)) !== 0) {
      throw new GuestMemoryError("INVALID_ARGUMENT", `page size ${pageSize} is not a power of two`);
    }
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new GuestMemoryError("INVALID_ARGUMENT", `bitmap size ${size} is invalid`);
    }
    this.size = size;
    this.pageSize = pageSize;
    this.#shift = Math.log2(pageSize);
    this.numPages = Math.ceil(size / pageSize);
    this.#bits = new Uint32Array(Math.ceil(this.numPages / 32));
  }

  /** Marks every page that intersects `[offset, offset + len)` (clamped to the region). */
  mark(offset: number, len: number): void {
    if (len <= 0 || offset >= this.size || offset < 0) return;
    const end = Math.min(offset + len, this.size);
    const first = Math.floor(offset / this.pageSize);
    const last = Math.floor((end - 1) / this.pageSize);
    const bits = this.#bits;
    for (let p = first; p <= last; p++) bits[p >>> 5] |= 1 << (p & 31);
  }

  /** Whether the page containing `offset` is dirty. */
  isDirty(offset: number): boolean {
    if (offset < 0 || offset >= this.size) return false;
    const p = Math.floor(offset / this.pageSize);
    return (this.#bits[p >>> 5] & (1 << (p & 31))) !== 0;
  }

  /** Whether any page intersecting the range is dirty. */
  isRangeDirty(offset: number, len: number): boolean {
    if (len <= 0) return false;
    const end = Math.min(offset + len, this.size);
    for (let p = Math.floor(Math.max(offset, 0) / this.pageSize); p * this.pageSize < end; p++) {
      if ((this.#bits[p >>> 5] & (1 << (p & 31))) !== 0) return true;
    }
    return false;
  }

  /** Indices of the dirty pages, ascending. */
  dirtyPages(): number[] {
    const out: number[] = [];
    const bits = this.#bits;
    for (let w = 0; w < bits.length; w++) {
      let word = bits[w];
      while (word !== 0) {
        const b = 31 - Math.clz32(word & -word);
        out.push(w * 32 + b);
        word &= word - 1;
      }
    }
    return out;
  }

  /** A copy of the raw bits (bit p of word p>>5 = page p). */
  snapshot(): Uint32Array {
    return this.#bits.slice();
  }

  /** Clears every bit. */
  reset(): void {
    this.#bits.fill(0);
  }

  /** Returns the dirty pages and clears the bitmap. */
  take(): number[] {
    const pages = this.dirtyPages();
    this.reset();
    return pages;
  }

  /** log2(pageSize). */
  get pageShift(): number {
    return this.#shift;
  }
}
