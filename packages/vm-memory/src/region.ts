import { type MmapRegion, pread, pwrite } from "@kindling/sys-util";
import { AddressValue, GuestAddress, MemoryRegionAddress, toU64 } from "./address.js";
import { AtomicViews } from "./atomic.js";
import type { DirtyBitmap } from "./bitmap.js";
import { GuestMemoryError, hex } from "./errors.js";
import { VolatileSlice } from "./volatile.js";

/** Where a region's bytes come from in a file (or memfd). */
export interface FileOffset {
  fd: number;
  offset: bigint;
}

/** The largest address the number fast paths handle: every region ends at or below it. */
export const MAX_GUEST_ADDRESS_NUMBER = Number.MAX_SAFE_INTEGER;

/**
 * One contiguous range of guest physical memory backed by one host mapping.
 * Hot paths use the number fields (`startN`, `endN`, `size`, `bytes`, `view`)
 * directly: `bytes[addr - startN]` is guest address `addr`.
 */
export class GuestMemoryRegion {
  /** Guest physical address of the first byte. */
  readonly start: GuestAddress;
  /** `start` as a number. */
  readonly startN: number;
  /** One past the last byte, as a number. */
  readonly endN: number;
  /** Size in bytes. */
  readonly size: number;
  /** Host virtual address of the first byte (for KVM_SET_USER_MEMORY_REGION). */
  readonly hostAddress: bigint;
  /** The mapping. */
  readonly mmap: MmapRegion;
  /** The whole region as bytes (no dirty tracking through it). */
  readonly bytes: Uint8Array;
  /** The whole region as a DataView. */
  readonly view: DataView;
  /** Whether the mapping is MAP_SHARED. */
  readonly shared: boolean;
  /** The host-write dirty bitmap, when tracking is on. */
  readonly bitmap: DirtyBitmap | undefined;
  readonly #file: FileOffset | undefined;
  /** Typed views for Atomics. */
  readonly atomics: AtomicViews;

  constructor(
    mmap: MmapRegion,
    start: GuestAddress | bigint | number,
    options: { file?: FileOffset; shared?: boolean; bitmap?: DirtyBitmap } = {},
  ) {
    const s = start instanceof AddressValue ? start.value : toU64(start, "region start");
    if (mmap.length <= 0) throw new GuestMemoryError("EMPTY_REGION", `region at ${hex(s)} has size 0`, { addr: s });
    if (s + BigInt(mmap.length) > BigInt(MAX_GUEST_ADDRESS_NUMBER)) {
      throw new GuestMemoryError(
        "REGION_TOO_LARGE",
        `region [${hex(s)}, +${hex(mmap.length)}) ends above 2^53 - 1, the highest supported guest address`,
        { addr: s },
      );
    }
    this.start = new GuestAddress(s);
    this.startN = Number(s);
    this.size = mmap.length;
    this.endN = this.startN + this.size;
    this.mmap = mmap;
    this.hostAddress = mmap.hostAddress;
    this.bytes = new Uint8Array(mmap.buffer);
    this.view = new DataView(mmap.buffer);
    this.shared = options.shared ?? false;
    this.bitmap = options.bitmap;
    this.#file = options.file;
    this.atomics = new AtomicViews(mmap.buffer);
  }

  len(): number {
    return this.size;
  }
  startAddr(): GuestAddress {
    return this.start;
  }
  /** The last valid guest address of the region. */
  lastAddr(): GuestAddress {
    return new GuestAddress(this.endN - 1);
  }
  fileOffset(): FileOffset | undefined {
    return this.#file;
  }

  /** The address itself when it is inside the region, else undefined. */
  checkAddress(addr: MemoryRegionAddress): MemoryRegionAddress | undefined {
    return this.addressInRange(addr) ? addr : undefined;
  }
  addressInRange(addr: MemoryRegionAddress): boolean {
    return addr.value < BigInt(this.size);
  }
  /** `base + offset` when it is inside the region, else undefined. */
  checkedOffset(base: MemoryRegionAddress, offset: bigint | number): MemoryRegionAddress | undefined {
    const r = base.checkedAdd(offset);
    return r === undefined ? undefined : this.checkAddress(r);
  }
  /** The region-relative address of a guest address inside this region, else undefined. */
  toRegionAddr(addr: GuestAddress): MemoryRegionAddress | undefined {
    const off = addr.checkedOffsetFrom(this.start);
    if (off === undefined) return undefined;
    return this.checkAddress(new MemoryRegionAddress(off));
  }
  /** Whether guest address `addr` (a number) falls in the region. */
  containsN(addr: number): boolean {
    return addr >= this.startN && addr < this.endN;
  }

  /** The host virtual address of a region-relative address. */
  getHostAddress(addr: MemoryRegionAddress | number): bigint {
    const off = regionOffset(addr);
    if (off < 0 || off >= this.size) {
      throw new GuestMemoryError("INVALID_GUEST_ADDRESS", `${hex(off)} is outside a region of ${this.size} bytes`, {
        addr: off >= 0 ? off : undefined,
      });
    }
    return this.hostAddress + BigInt(off);
  }

  /** A bounds-checked slice of `[offset, offset+count)` of the region. */
  getSlice(offset: MemoryRegionAddress | number, count: number): VolatileSlice {
    const off = regionOffset(offset);
    if (off < 0 || !Number.isSafeInteger(count) || count < 0 || off > this.size || count > this.size - off) {
      throw new GuestMemoryError("OUT_OF_BOUNDS", `[${off}, +${count}) is outside a region of ${this.size} bytes`, {
        addr: off >= 0 ? off : undefined,
      });
    }
    return new VolatileSlice(this.bytes.subarray(off, off + count), this.bitmap, off);
  }

  /**
   * pread(2) from `fd` straight into region bytes `[offset, offset+count)`
   * (bounds-checked); marks them dirty; returns the bytes read.
   */
  readFrom(fd: number, offset: number, count: number, position: number | bigint = -1): number {
    this.#checkSpan(offset, count);
    if (count === 0) return 0;
    const n = pread(fd, this.bytes, offset, count, position);
    this.bitmap?.mark(offset, n);
    return n;
  }

  /** pwrite(2) of region bytes `[offset, offset+count)` to `fd`; returns the bytes written. */
  writeTo(fd: number, offset: number, count: number, position: number | bigint = -1): number {
    this.#checkSpan(offset, count);
    if (count === 0) return 0;
    return pwrite(fd, this.bytes, offset, count, position);
  }

  #checkSpan(off: number, count: number): void {
    if (
      !Number.isSafeInteger(off) ||
      !Number.isSafeInteger(count) ||
      off < 0 ||
      count < 0 ||
      off > this.size ||
      count > this.size - off
    ) {
      throw new GuestMemoryError("OUT_OF_BOUNDS", `[${off}, +${count}) is outside a region of ${this.size} bytes`);
    }
  }

  /** The whole region as a slice. */
  asVolatileSlice(): VolatileSlice {
    return new VolatileSlice(this.bytes, this.bitmap, 0);
  }
}

function regionOffset(a: MemoryRegionAddress | number): number {
  if (typeof a === "number") return Number.isSafeInteger(a) ? a : -1;
  return a.value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(a.value) : -1;
}
