import { constants as bufferConstants } from "node:buffer";
import {
  close as closeFd,
  ftruncate,
  MADV_DONTNEED,
  MADV_REMOVE,
  MAP_ANONYMOUS,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MAP_SHARED,
  MFD_CLOEXEC,
  MmapRegion,
  memfdCreate,
  PROT_READ,
  PROT_WRITE,
  pread,
  pwrite,
} from "@kindling/sys-util";
import {
  type AddressLike,
  AddressValue,
  addrToNumber,
  type GuestAddress,
  type MemoryRegionAddress,
  toU64,
} from "./address.js";
import type { AtomicWidth } from "./atomic.js";
import { DirtyBitmap } from "./bitmap.js";
import type { ByteCodec } from "./codec.js";
import { GuestMemoryError, hex } from "./errors.js";
import { type FileOffset, GuestMemoryRegion, MAX_GUEST_ADDRESS_NUMBER } from "./region.js";
import { VolatileSlice } from "./volatile.js";

const maxLength = bufferConstants.MAX_LENGTH;
const PAGE = 4096;

/**
 * The largest single mapping: an ArrayBuffer cannot be longer than
 * buffer.constants.MAX_LENGTH (2^32 on Node 20), so a longer range is split
 * into adjacent regions of at most this size.
 */
export const MAX_MAPPING_SIZE = Math.min(maxLength, 2 ** 32);

/** One region to create: its guest start, size, and (for fromRangesWithFiles) its backing file. */
export interface RangeSpec {
  start: AddressLike;
  size: number;
  /** File (or memfd) and offset to map; absent for anonymous/memfd backing from options. */
  file?: { fd: number; offset?: bigint | number };
}

export interface GuestMemoryOptions {
  /**
   * "anonymous" (default): private anonymous memory.
   * "memfd": one memfd holds every region (at page-aligned offsets), mapped shared
   * unless `shared: false`; the memory can then be copied-on-write with `copyOnWrite()`.
   */
  backing?: "anonymous" | "memfd";
  /** For memfd/file backing: MAP_SHARED (default) or MAP_PRIVATE (copy-on-write). */
  shared?: boolean;
  /** Name of the memfd (shows in /proc/self/maps). */
  memfdName?: string;
  /** Track host-side writes in a per-region dirty bitmap. */
  dirtyTracking?: boolean;
  /** Page size of the dirty bitmaps (default 4096). */
  dirtyPageSize?: number;
  /** Add MAP_NORESERVE (default true for anonymous and memfd memory). */
  noReserve?: boolean;
}

function validateRanges(ranges: ReadonlyArray<{ start: bigint; size: number }>): void {
  if (ranges.length === 0) throw new GuestMemoryError("NO_REGIONS", "guest memory needs at least one region");
  let prevEnd = -1n;
  let prevStart = -1n;
  for (const r of ranges) {
    if (!Number.isSafeInteger(r.size) || r.size <= 0) {
      throw new GuestMemoryError(
        r.size === 0 ? "EMPTY_REGION" : "INVALID_ARGUMENT",
        `region at ${hex(r.start)} has size ${r.size}`,
        { addr: r.start },
      );
    }
    if (r.start + BigInt(r.size) > BigInt(MAX_GUEST_ADDRESS_NUMBER)) {
      throw new GuestMemoryError("REGION_TOO_LARGE", `region at ${hex(r.start)} ends above 2^53 - 1`, {
        addr: r.start,
      });
    }
    if (r.start < prevStart) {
      throw new GuestMemoryError("UNSORTED_REGIONS", `region at ${hex(r.start)} comes after ${hex(prevStart)}`, {
        addr: r.start,
      });
    }
    if (r.start < prevEnd) {
      throw new GuestMemoryError("OVERLAPPING_REGIONS", `region at ${hex(r.start)} overlaps the previous one`, {
        addr: r.start,
      });
    }
    prevStart = r.start;
    prevEnd = r.start + BigInt(r.size);
  }
}

function startOf(a: AddressLike): bigint {
  return a instanceof AddressValue ? a.value : toU64(a, "region start");
}

/**
 * Guest physical memory made of mmap'ed regions, with bounds-checked access.
 *
 * Every Bytes method takes an address as a GuestAddress, a bigint or a number
 * (the number form is the fast path); values are little-endian.
 */
export class GuestMemoryMmap {
  readonly #regions: GuestMemoryRegion[];
  #last: GuestMemoryRegion;
  #memfd: number;
  #closed = false;
  readonly #options: GuestMemoryOptions;

  private constructor(regions: GuestMemoryRegion[], memfd: number, options: GuestMemoryOptions) {
    this.#regions = regions;
    this.#last = regions[0];
    this.#memfd = memfd;
    this.#options = options;
  }

  /** Builds memory from sorted, non-overlapping, non-empty ranges. */
  static fromRanges(ranges: ReadonlyArray<{ start: AddressLike; size: number }>, options: GuestMemoryOptions = {}) {
    return GuestMemoryMmap.fromRangesWithFiles(ranges, options);
  }

  /** Like fromRanges; a range with `file` maps that file (shared unless `options.shared === false`). */
  static fromRangesWithFiles(ranges: ReadonlyArray<RangeSpec>, options: GuestMemoryOptions = {}): GuestMemoryMmap {
    const given = ranges.map((r) => ({ start: startOf(r.start), size: r.size, file: r.file }));
    validateRanges(given);
    // Ranges longer than one mapping become several adjacent regions.
    const specs: typeof given = [];
    for (const g of given) {
      for (let done = 0; done < g.size; done += MAX_MAPPING_SIZE) {
        const size = Math.min(MAX_MAPPING_SIZE, g.size - done);
        const file =
          g.file === undefined
            ? undefined
            : { fd: g.file.fd, offset: toU64(g.file.offset ?? 0, "file offset") + BigInt(done) };
        specs.push({ start: g.start + BigInt(done), size, file });
      }
    }
    const backing = options.backing ?? "anonymous";
    if (backing !== "anonymous" && backing !== "memfd") {
      throw new GuestMemoryError("INVALID_ARGUMENT", `unknown backing ${String(backing)}`);
    }
    const shared = options.shared ?? true;
    const noReserve = options.noReserve ?? true;
    const rw = PROT_READ | PROT_WRITE;
    let memfd = -1;
    const fileOffsets: bigint[] = [];
    if (backing === "memfd") {
      let total = 0n;
      for (const s of specs) {
        fileOffsets.push(total);
        total += (BigInt(s.size) + BigInt(PAGE - 1)) & ~BigInt(PAGE - 1);
      }
      memfd = memfdCreate(options.memfdName ?? "kindling-guest-memory", MFD_CLOEXEC);
      try {
        ftruncate(memfd, total);
      } catch (e) {
        closeFd(memfd);
        throw e;
      }
    }
    const regions: GuestMemoryRegion[] = [];
    try {
      specs.forEach((s, i) => {
        let mmap: MmapRegion;
        let file: FileOffset | undefined;
        let isShared = false;
        if (s.file !== undefined) {
          const offset = toU64(s.file.offset ?? 0, "file offset");
          file = { fd: s.file.fd, offset };
          isShared = shared;
          mmap = MmapRegion.map(s.size, rw, shared ? MAP_SHARED : MAP_PRIVATE, s.file.fd, offset);
        } else if (backing === "memfd") {
          file = { fd: memfd, offset: fileOffsets[i] };
          isShared = shared;
          mmap = MmapRegion.map(
            s.size,
            rw,
            (shared ? MAP_SHARED : MAP_PRIVATE) | (noReserve ? MAP_NORESERVE : 0),
            memfd,
            fileOffsets[i],
          );
        } else {
          mmap = MmapRegion.map(s.size, rw, MAP_PRIVATE | MAP_ANONYMOUS | (noReserve ? MAP_NORESERVE : 0));
        }
        const bitmap = options.dirtyTracking ? new DirtyBitmap(s.size, options.dirtyPageSize) : undefined;
        regions.push(new GuestMemoryRegion(mmap, s.start, { file, shared: isShared, bitmap }));
      });
    } catch (e) {
      for (const r of regions) r.mmap.unmap();
      if (memfd >= 0) closeFd(memfd);
      throw e;
    }
    return new GuestMemoryMmap(regions, memfd, options);
  }

  /** Wraps regions built by hand (validated like fromRanges). */
  static fromRegions(regions: GuestMemoryRegion[]): GuestMemoryMmap {
    validateRanges(regions.map((r) => ({ start: r.start.value, size: r.size })));
    return new GuestMemoryMmap([...regions], -1, {});
  }

  /**
   * A new memory with `region` added (validated like fromRanges). The new
   * memory shares the existing regions with this one: closing either unmaps
   * them for both, so close only the one you keep. The memfd (if any) stays
   * owned by this memory.
   */
  insertRegion(region: GuestMemoryRegion): GuestMemoryMmap {
    const regions = [...this.#regions, region].sort((a, b) => a.startN - b.startN);
    validateRanges(regions.map((r) => ({ start: r.start.value, size: r.size })));
    return new GuestMemoryMmap(regions, -1, this.#options);
  }

  /**
   * A new memory without the region that starts at `start` and has `size`
   * bytes, and that region; INVALID_GUEST_ADDRESS when there is no such region.
   */
  removeRegion(start: AddressLike, size: number): [GuestMemoryMmap, GuestMemoryRegion] {
    const a = addrToNumber(start);
    const i = this.#regions.findIndex((r) => r.startN === a && r.size === size);
    if (i < 0) throw invalidAddress(start);
    const rest = this.#regions.filter((_, j) => j !== i);
    if (rest.length === 0) throw new GuestMemoryError("NO_REGIONS", "cannot remove the last region");
    return [new GuestMemoryMmap(rest, -1, this.#options), this.#regions[i]];
  }

  /**
   * A new memory whose every region is a private (copy-on-write) mapping of
   * this memory's file or memfd: writes in the copy stay in the copy. Pages
   * the copy has not written still show later writes to the source, so take
   * the copy of a source that no longer changes (a frozen image, a snapshot).
   * Throws NOT_FILE_BACKED when a region is anonymous.
   */
  copyOnWrite(options: { dirtyTracking?: boolean } = {}): GuestMemoryMmap {
    if (this.#regions.length === 0) throw new GuestMemoryError("NO_REGIONS", "the memory is closed");
    const tracking = options.dirtyTracking ?? this.#options.dirtyTracking;
    const regions: GuestMemoryRegion[] = [];
    try {
      for (const r of this.#regions) {
        const f = r.fileOffset();
        if (f === undefined) {
          throw new GuestMemoryError("NOT_FILE_BACKED", `region at ${r.start} is anonymous memory`, {
            addr: r.start.value,
          });
        }
        const mmap = MmapRegion.map(r.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, f.fd, f.offset);
        const bitmap = tracking ? new DirtyBitmap(r.size, this.#options.dirtyPageSize) : undefined;
        regions.push(new GuestMemoryRegion(mmap, r.start, { file: f, shared: false, bitmap }));
      }
    } catch (e) {
      for (const r of regions) r.mmap.unmap();
      throw e;
    }
    return new GuestMemoryMmap(regions, -1, { ...this.#options, dirtyTracking: tracking });
  }

  /** The memfd this memory created (owned: closed by close()), or -1. */
  get memfd(): number {
    return this.#memfd;
  }

  /** Unmaps every region and closes the owned memfd. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const r of this.#regions) if (r.mmap.mapped) r.mmap.unmap();
    // Every later access finds no region: a typed INVALID_GUEST_ADDRESS, not a detached buffer.
    this.#regions.length = 0;
    this.#last = CLOSED;
    if (this.#memfd >= 0) {
      closeFd(this.#memfd);
      this.#memfd = -1;
    }
  }

  // ---------------------------------------------------------------- regions

  regions(): readonly GuestMemoryRegion[] {
    return this.#regions;
  }
  numRegions(): number {
    return this.#regions.length;
  }
  /** Total bytes of all regions. */
  totalSize(): number {
    let t = 0;
    for (const r of this.#regions) t += r.size;
    return t;
  }
  /** The last valid guest address of the highest region. */
  lastAddr(): GuestAddress {
    if (this.#regions.length === 0) throw new GuestMemoryError("NO_REGIONS", "the memory is closed");
    return this.#regions[this.#regions.length - 1].lastAddr();
  }

  /** The region containing guest address `a` (number fast path), or undefined. */
  findRegionN(a: number): GuestMemoryRegion | undefined {
    const last = this.#last;
    if (a >= last.startN && a < last.endN) return last;
    const rs = this.#regions;
    let lo = 0;
    let hi = rs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = rs[mid];
      if (a < r.startN) hi = mid - 1;
      else if (a >= r.endN) lo = mid + 1;
      else {
        this.#last = r;
        return r;
      }
    }
    return undefined;
  }

  /** The region containing `addr`, or undefined. */
  findRegion(addr: AddressLike): GuestMemoryRegion | undefined {
    const a = addrToNumber(addr);
    return a < 0 ? undefined : this.findRegionN(a);
  }

  /**
   * The one region holding all of `[a, a+len)` (number fast path), or undefined
   * (a hole, the end of memory, or a range spanning two regions).
   */
  regionForRange(a: number, len: number): GuestMemoryRegion | undefined {
    const r = this.findRegionN(a);
    if (r === undefined || len > r.endN - a || len < 0) return undefined;
    return r;
  }

  addressInRange(addr: AddressLike): boolean {
    return this.findRegion(addr) !== undefined;
  }
  /** `addr` when it is backed by memory, else undefined. */
  checkAddress(addr: GuestAddress): GuestAddress | undefined {
    return this.addressInRange(addr) ? addr : undefined;
  }
  /** `addr + offset` when it is backed by memory, else undefined. */
  checkedOffset(addr: GuestAddress, offset: bigint | number): GuestAddress | undefined {
    const r = addr.checkedAdd(offset);
    return r === undefined ? undefined : this.checkAddress(r);
  }
  /** The region and region-relative address of `addr`, or undefined. */
  toRegionAddr(addr: GuestAddress): { region: GuestMemoryRegion; addr: MemoryRegionAddress } | undefined {
    const region = this.findRegion(addr);
    if (region === undefined) return undefined;
    const ra = region.toRegionAddr(addr);
    return ra === undefined ? undefined : { region, addr: ra };
  }

  /** Whether every byte of `[addr, addr+len)` is backed (possibly by several adjacent regions). */
  checkRange(addr: AddressLike, len: number | bigint): boolean {
    const a = addrToNumber(addr);
    if (a < 0) return false;
    const n = typeof len === "bigint" ? (len <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(len) : -1) : len;
    if (!Number.isSafeInteger(n) || n < 0) return false;
    if (n === 0) return this.findRegionN(a) !== undefined;
    let cur = a;
    const end = a + n;
    while (cur < end) {
      const r = this.findRegionN(cur);
      if (r === undefined) return false;
      cur = r.endN;
    }
    return true;
  }

  /** Host virtual address of guest address `addr`. */
  getHostAddress(addr: AddressLike): bigint {
    const a = addrToNumber(addr);
    const r = a < 0 ? undefined : this.findRegionN(a);
    if (r === undefined) throw invalidAddress(addr);
    return r.hostAddress + BigInt(a - r.startN);
  }

  #single(addr: AddressLike, count: number, what: string): [GuestMemoryRegion, number] {
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new GuestMemoryError("INVALID_ARGUMENT", `${what}: length ${count} is invalid`);
    }
    const a = addrToNumber(addr);
    const r = a < 0 ? undefined : this.findRegionN(a);
    if (r === undefined) throw invalidAddress(addr);
    if (count > r.endN - a) {
      const code = this.checkRange(a, count) ? "CROSSES_REGION" : "OUT_OF_BOUNDS";
      throw new GuestMemoryError(code, `${what}: [${hex(a)}, +${count}) does not fit in one region`, { addr: a });
    }
    return [r, a - r.startN];
  }

  /** A bounds-checked slice of `[addr, addr+count)`; the range must lie in one region. */
  getSlice(addr: AddressLike, count: number): VolatileSlice {
    const [r, off] = this.#single(addr, count, "getSlice");
    return new VolatileSlice(r.bytes.subarray(off, off + count), r.bitmap, off);
  }

  /**
   * A raw Uint8Array view of `[addr, addr+count)` (no copy), checked to lie in
   * one region. Writes through it are not dirty-tracked: call markDirty.
   */
  getBytes(addr: AddressLike, count: number): Uint8Array {
    const [r, off] = this.#single(addr, count, "getBytes");
    return r.bytes.subarray(off, off + count);
  }

  /** The slices (one per region) covering `[addr, addr+count)`; INVALID_GUEST_ADDRESS at a hole. */
  getSlices(addr: AddressLike, count: number): VolatileSlice[] {
    const out: VolatileSlice[] = [];
    this.#access(addr, count, "getSlices", true, (r, off, n) => {
      out.push(new VolatileSlice(r.bytes.subarray(off, off + n), r.bitmap, off));
    });
    return out;
  }

  /** Marks host-written bytes dirty (for writes made through raw views). */
  markDirty(addr: AddressLike, count: number): void {
    this.#access(addr, count, "markDirty", false, (r, off, n) => r.bitmap?.mark(off, n));
  }

  /**
   * Visits `[addr, addr+count)` region by region. Returns the bytes visited.
   * The first address must be valid (else INVALID_GUEST_ADDRESS); later holes
   * end the walk (strict: INVALID_GUEST_ADDRESS at the hole).
   */
  #access(
    addr: AddressLike,
    count: number,
    what: string,
    strict: boolean,
    fn: (r: GuestMemoryRegion, off: number, n: number, done: number) => unknown,
  ): number {
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new GuestMemoryError("INVALID_ARGUMENT", `${what}: length ${count} is invalid`);
    }
    if (count === 0) return 0;
    const a = addrToNumber(addr);
    let r = a < 0 ? undefined : this.findRegionN(a);
    if (r === undefined) throw invalidAddress(addr);
    let done = 0;
    let cur = a;
    while (done < count) {
      const off = cur - r.startN;
      const n = Math.min(count - done, r.endN - cur);
      const got = fn(r, off, n, done);
      const step = typeof got === "number" ? got : n;
      done += step;
      if (step < n) break;
      cur += step;
      if (done === count) break;
      const next = this.findRegionN(cur);
      if (next === undefined) {
        if (strict) throw invalidAddress(cur);
        break;
      }
      r = next;
    }
    return done;
  }

  // ---------------------------------------------------------------- Bytes

  /** Copies up to buf.length bytes from guest memory; returns the count (short at a hole). */
  read(buf: Uint8Array, addr: AddressLike): number {
    const a = addrToNumber(addr);
    const r = a < 0 ? undefined : this.findRegionN(a);
    const n = buf.byteLength;
    if (r !== undefined && n <= r.endN - a) {
      const off = a - r.startN;
      buf.set(r.bytes.subarray(off, off + n));
      return n;
    }
    return this.#access(addr, n, "read", false, (rr, off, len, done) => {
      buf.set(rr.bytes.subarray(off, off + len), done);
    });
  }

  /** Copies up to buf.length bytes into guest memory; returns the count (short at a hole). */
  write(buf: Uint8Array, addr: AddressLike): number {
    const a = addrToNumber(addr);
    const r = a < 0 ? undefined : this.findRegionN(a);
    const n = buf.byteLength;
    if (r !== undefined && n <= r.endN - a) {
      const off = a - r.startN;
      r.bytes.set(buf, off);
      r.bitmap?.mark(off, n);
      return n;
    }
    return this.#access(addr, n, "write", false, (rr, off, len, done) => {
      rr.bytes.set(done === 0 && len === n ? buf : buf.subarray(done, done + len), off);
      rr.bitmap?.mark(off, len);
    });
  }

  /** Fills exactly buf.length bytes, or throws (INVALID_GUEST_ADDRESS / PARTIAL_BUFFER). */
  readSlice(buf: Uint8Array, addr: AddressLike): void {
    const n = this.read(buf, addr);
    if (n !== buf.byteLength) throw partial(addr, buf.byteLength, n);
  }

  /** Writes exactly buf.length bytes, or throws (INVALID_GUEST_ADDRESS / PARTIAL_BUFFER). */
  writeSlice(buf: Uint8Array, addr: AddressLike): void {
    if (!this.checkRange(addr, buf.byteLength) && buf.byteLength > 0) {
      // Do not write a prefix of something that cannot be written whole.
      const a = addrToNumber(addr);
      if (a < 0 || this.findRegionN(a) === undefined) throw invalidAddress(addr);
      let done = 0;
      let cur = a;
      for (let r = this.findRegionN(cur); r !== undefined && done < buf.byteLength; r = this.findRegionN(cur)) {
        done += Math.min(buf.byteLength - done, r.endN - cur);
        cur = r.endN;
      }
      throw partial(addr, buf.byteLength, done);
    }
    this.write(buf, addr);
  }

  /** Decodes a value with `codec` from guest memory (may span adjacent regions). */
  readObj<T>(codec: ByteCodec<T>, addr: AddressLike): T {
    const a = addrToNumber(addr);
    const r = a < 0 ? undefined : this.findRegionN(a);
    if (r !== undefined && codec.size <= r.endN - a) return codec.decode(r.view, a - r.startN);
    const tmp = new Uint8Array(codec.size);
    this.readSlice(tmp, addr);
    return codec.decode(new DataView(tmp.buffer), 0);
  }

  /** Encodes `value` with `codec` into guest memory (may span adjacent regions; all or nothing). */
  writeObj<T>(value: T, codec: ByteCodec<T>, addr: AddressLike): void {
    const a = addrToNumber(addr);
    const r = a < 0 ? undefined : this.findRegionN(a);
    if (r !== undefined && codec.size <= r.endN - a) {
      const off = a - r.startN;
      codec.encode(value, r.view, off);
      r.bitmap?.mark(off, codec.size);
      return;
    }
    const tmp = new Uint8Array(codec.size);
    codec.encode(value, new DataView(tmp.buffer), 0);
    this.writeSlice(tmp, addr);
  }

  #scalarRegion(addr: AddressLike, size: number): GuestMemoryRegion | undefined {
    const a = addrToNumber(addr);
    const r = a < 0 ? undefined : this.findRegionN(a);
    return r !== undefined && size <= r.endN - a ? r : undefined;
  }

  readU8(addr: AddressLike): number {
    const r = this.#scalarRegion(addr, 1);
    if (r === undefined) throw invalidAddress(addr);
    return r.bytes[addrToNumber(addr) - r.startN];
  }
  readU16(addr: AddressLike): number {
    const r = this.#scalarRegion(addr, 2);
    if (r !== undefined) return r.view.getUint16(addrToNumber(addr) - r.startN, true);
    return this.#slowRead(addr, 2).getUint16(0, true);
  }
  readU32(addr: AddressLike): number {
    const r = this.#scalarRegion(addr, 4);
    if (r !== undefined) return r.view.getUint32(addrToNumber(addr) - r.startN, true);
    return this.#slowRead(addr, 4).getUint32(0, true);
  }
  readU64(addr: AddressLike): bigint {
    const r = this.#scalarRegion(addr, 8);
    if (r !== undefined) return r.view.getBigUint64(addrToNumber(addr) - r.startN, true);
    return this.#slowRead(addr, 8).getBigUint64(0, true);
  }
  #slowRead(addr: AddressLike, n: number): DataView {
    const tmp = new Uint8Array(n);
    this.readSlice(tmp, addr);
    return new DataView(tmp.buffer);
  }
  #slowWrite(addr: AddressLike, n: number, fill: (v: DataView) => void): void {
    const tmp = new Uint8Array(n);
    fill(new DataView(tmp.buffer));
    this.writeSlice(tmp, addr);
  }

  writeU8(value: number, addr: AddressLike): void {
    const r = this.#scalarRegion(addr, 1);
    if (r === undefined) throw invalidAddress(addr);
    const off = addrToNumber(addr) - r.startN;
    r.bytes[off] = value;
    r.bitmap?.mark(off, 1);
  }
  writeU16(value: number, addr: AddressLike): void {
    const r = this.#scalarRegion(addr, 2);
    if (r === undefined) {
      this.#slowWrite(addr, 2, (v) => v.setUint16(0, value, true));
      return;
    }
    const off = addrToNumber(addr) - r.startN;
    r.view.setUint16(off, value, true);
    r.bitmap?.mark(off, 2);
  }
  writeU32(value: number, addr: AddressLike): void {
    const r = this.#scalarRegion(addr, 4);
    if (r === undefined) {
      this.#slowWrite(addr, 4, (v) => v.setUint32(0, value, true));
      return;
    }
    const off = addrToNumber(addr) - r.startN;
    r.view.setUint32(off, value, true);
    r.bitmap?.mark(off, 4);
  }
  writeU64(value: bigint, addr: AddressLike): void {
    const v64 = BigInt.asUintN(64, value);
    const r = this.#scalarRegion(addr, 8);
    if (r === undefined) {
      this.#slowWrite(addr, 8, (v) => v.setBigUint64(0, v64, true));
      return;
    }
    const off = addrToNumber(addr) - r.startN;
    r.view.setBigUint64(off, v64, true);
    r.bitmap?.mark(off, 8);
  }

  // ---------------------------------------------------------------- atomics

  #atomicTarget(addr: AddressLike, width: AtomicWidth): [GuestMemoryRegion, number] {
    const a = addrToNumber(addr);
    const r = a < 0 ? undefined : this.findRegionN(a);
    if (r === undefined) throw invalidAddress(addr);
    if (a % width !== 0) {
      throw new GuestMemoryError("MISALIGNED", `atomic ${width * 8}-bit access at ${hex(a)} is not aligned`, {
        addr: a,
      });
    }
    if (width > r.endN - a) {
      throw new GuestMemoryError("OUT_OF_BOUNDS", `atomic access at ${hex(a)} runs past its region`, { addr: a });
    }
    return [r, a - r.startN];
  }

  /** Atomic load of an aligned unsigned value of `width` bytes (8 → bigint). */
  load(addr: AddressLike, width: 1 | 2 | 4): number;
  load(addr: AddressLike, width: 8): bigint;
  load(addr: AddressLike, width: AtomicWidth): number | bigint {
    const [r, off] = this.#atomicTarget(addr, width);
    return r.atomics.load(off, width);
  }
  /** Atomic (sequentially consistent) store of an aligned value. */
  store(value: number | bigint, addr: AddressLike, width: AtomicWidth): void {
    const [r, off] = this.#atomicTarget(addr, width);
    r.atomics.store(off, width, value);
    r.bitmap?.mark(off, width);
  }
  /** Atomic fetch-and-add; returns the previous value. */
  fetchAdd(value: number | bigint, addr: AddressLike, width: AtomicWidth): number | bigint {
    const [r, off] = this.#atomicTarget(addr, width);
    const old = r.atomics.fetchAdd(off, width, value);
    r.bitmap?.mark(off, width);
    return old;
  }
  /** Atomic compare-and-exchange; returns the previous value. */
  compareExchange(expected: number | bigint, value: number | bigint, addr: AddressLike, width: AtomicWidth) {
    const [r, off] = this.#atomicTarget(addr, width);
    const old = r.atomics.compareExchange(off, width, expected, value);
    r.bitmap?.mark(off, width);
    return old;
  }
  loadU8(addr: AddressLike): number {
    return this.load(addr, 1);
  }
  loadU16(addr: AddressLike): number {
    return this.load(addr, 2);
  }
  loadU32(addr: AddressLike): number {
    return this.load(addr, 4);
  }
  loadU64(addr: AddressLike): bigint {
    return this.load(addr, 8);
  }
  storeU8(value: number, addr: AddressLike): void {
    this.store(value, addr, 1);
  }
  storeU16(value: number, addr: AddressLike): void {
    this.store(value, addr, 2);
  }
  storeU32(value: number, addr: AddressLike): void {
    this.store(value, addr, 4);
  }
  storeU64(value: bigint, addr: AddressLike): void {
    this.store(value, addr, 8);
  }

  // ---------------------------------------------------------------- file I/O

  /**
   * Reads up to `count` bytes from `fd` straight into guest memory (pread(2)
   * on the mapping, no intermediate buffer). `position` < 0 reads at the
   * file's offset. Returns the bytes read (short at EOF or a memory hole).
   */
  readFrom(fd: number, addr: AddressLike, count: number, position: number | bigint = -1): number {
    let pos = typeof position === "bigint" ? position : BigInt(position);
    return this.#access(addr, count, "readFrom", false, (r, off, n) => {
      const got = pread(fd, r.mmap.buffer, off, n, pos);
      if (pos >= 0n) pos += BigInt(got);
      r.bitmap?.mark(off, got);
      return got;
    });
  }

  /** Like readFrom, but fills all `count` bytes or throws PARTIAL_BUFFER (EOF or hole). */
  readExactFrom(fd: number, addr: AddressLike, count: number, position: number | bigint = -1): void {
    let done = 0;
    let pos = typeof position === "bigint" ? position : BigInt(position);
    const a = addrToNumber(addr);
    if (a < 0 && count > 0) throw invalidAddress(addr);
    while (done < count) {
      const n = this.readFrom(fd, a + done, count - done, pos);
      if (n === 0) throw partial(addr, count, done);
      done += n;
      if (pos >= 0n) pos += BigInt(n);
    }
  }

  /** Writes up to `count` bytes of guest memory to `fd` (pwrite(2) from the mapping). */
  writeTo(fd: number, addr: AddressLike, count: number, position: number | bigint = -1): number {
    let pos = typeof position === "bigint" ? position : BigInt(position);
    return this.#access(addr, count, "writeTo", false, (r, off, n) => {
      const put = pwrite(fd, r.mmap.buffer, off, n, pos);
      if (pos >= 0n) pos += BigInt(put);
      return put;
    });
  }

  /** Like writeTo, but writes all `count` bytes or throws PARTIAL_BUFFER. */
  writeAllTo(fd: number, addr: AddressLike, count: number, position: number | bigint = -1): void {
    let done = 0;
    let pos = typeof position === "bigint" ? position : BigInt(position);
    const a = addrToNumber(addr);
    if (a < 0 && count > 0) throw invalidAddress(addr);
    while (done < count) {
      const n = this.writeTo(fd, a + done, count - done, pos);
      if (n === 0) throw partial(addr, count, done);
      done += n;
      if (pos >= 0n) pos += BigInt(n);
    }
  }

  // ---------------------------------------------------------------- releasing memory

  /**
   * Gives the host pages of `[addr, addr+len)` back to the kernel: the range
   * reads as zeros afterwards (anonymous memory: MADV_DONTNEED; shared memfd
   * or file: MADV_REMOVE, which punches a hole in the file), except in private
   * file mappings, where it reads the file's bytes again. `addr` and `len` must
   * be page-aligned (INVALID_ARGUMENT) and the range backed (INVALID_GUEST_ADDRESS
   * / PARTIAL_BUFFER, nothing discarded). Marks the range dirty.
   */
  discard(addr: AddressLike, len: number): void {
    const a = addrToNumber(addr);
    if (a < 0 || a % PAGE !== 0 || !Number.isSafeInteger(len) || len < 0 || len % PAGE !== 0) {
      throw new GuestMemoryError("INVALID_ARGUMENT", `discard needs a page-aligned range, got ${String(addr)} +${len}`);
    }
    if (len === 0) return;
    if (!this.checkRange(a, len)) {
      if (this.findRegionN(a) === undefined) throw invalidAddress(addr);
      throw partial(addr, len, 0);
    }
    this.#access(a, len, "discard", true, (r, off, n) => {
      const f = r.fileOffset();
      const advice = f !== undefined && r.shared ? MADV_REMOVE : MADV_DONTNEED;
      r.mmap.madvise(off, n, advice);
      r.bitmap?.mark(off, n);
    });
  }

  // ---------------------------------------------------------------- dirty tracking

  /** Guest addresses (page starts) of host-dirtied pages in every region, ascending. */
  dirtyPages(): bigint[] {
    const out: bigint[] = [];
    for (const r of this.#regions) {
      if (r.bitmap === undefined) continue;
      for (const p of r.bitmap.dirtyPages()) out.push(BigInt(r.startN + p * r.bitmap.pageSize));
    }
    return out;
  }
  /** Clears every region's dirty bitmap. */
  resetDirty(): void {
    for (const r of this.#regions) r.bitmap?.reset();
  }
}

/** The region every lookup hits after close(): it contains no address. */
const CLOSED = { startN: 0, endN: 0 } as GuestMemoryRegion;

function invalidAddress(addr: AddressLike): GuestMemoryError {
  const v = typeof addr === "number" ? (Number.isSafeInteger(addr) && addr >= 0 ? addr : undefined) : addr;
  const shown = typeof v === "number" || typeof v === "bigint" ? hex(v) : v === undefined ? String(addr) : String(v);
  return new GuestMemoryError("INVALID_GUEST_ADDRESS", `guest address ${shown} is not backed by memory`, {
    addr: v instanceof AddressValue ? v.value : v,
  });
}

function partial(addr: AddressLike, expected: number, completed: number): GuestMemoryError {
  return new GuestMemoryError(
    "PARTIAL_BUFFER",
    `only ${completed} of ${expected} bytes at ${String(addr)} are backed`,
    {
      addr: addr instanceof AddressValue ? addr.value : typeof addr === "bigint" || addr >= 0 ? addr : undefined,
      expected,
      completed,
    },
  );
}
