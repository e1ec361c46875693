import type { GuestMemoryMmap, GuestMemoryRegion } from "@kindling/vm-memory";
import {
  Descriptor,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VIRTQ_DESCRIPTOR_SIZE,
} from "./descriptor.js";
import type { ChainErrorCode } from "./errors.js";

const SCRATCH = new Uint8Array(16);
const SCRATCH_VIEW = new DataView(SCRATCH.buffer);
const U32_MAX = 0xffffffff;

/** Where a descriptor table lives: its region when the whole table is in one, else per-descriptor lookups. */
function resolveTable(mem: GuestMemoryMmap, addr: number, entries: number): GuestMemoryRegion | undefined {
  if (!Number.isSafeInteger(addr)) return undefined;
  return mem.regionForRange(addr, entries * VIRTQ_DESCRIPTOR_SIZE);
}

/**
 * A chain of descriptors the driver made available, walked one descriptor at
 * a time with every rule of rust-vmm's virtio-queue:
 *
 * - a chain yields at most as many descriptors as its table holds (so cycles end);
 * - a `next` >= table size ends the chain (split ring);
 * - an indirect descriptor switches to its table: no nesting, length a multiple
 *   of 16, at most 65535 entries; the rest of the outer chain is ignored;
 * - a chain whose summed length would exceed 2^32 - 1 ends;
 * - a descriptor that is not in guest memory ends the chain.
 *
 * An early end is recorded in `error` (it never throws). The fast interface is
 * `advance()`, which fills the cursor fields (`addrLo`, `addrHi`, `len`,
 * `flags`, `next`) without allocating; `next()` and iteration give
 * {@link Descriptor} objects. Iteration consumes the chain: `clone()` first to
 * walk it twice.
 */
export class DescriptorChain implements Iterable<Descriptor> {
  readonly mem: GuestMemoryMmap;
  /** Split ring: the head descriptor index. Packed ring: the buffer id. */
  readonly headIndex: number;
  /** Whether the chain comes from a packed ring. */
  readonly packed: boolean;
  /** Packed ring: how many ring slots the chain occupies. Split: 0. */
  readonly ringSlots: number;
  /** Why the chain ended early, if it did. */
  error: ChainErrorCode | undefined = undefined;

  /** Cursor: the current descriptor (valid after advance() returned true). */
  addrLo = 0;
  addrHi = 0;
  len = 0;
  flags = 0;
  /** Split: the `next` field; packed: the buffer id field. */
  next = 0;

  #tableAddr: number;
  #tableRegion: GuestMemoryRegion | undefined;
  #tableOff: number;
  #tableSize: number;
  #nextIndex: number;
  #ttl: number;
  #isIndirect = false;
  #yielded = 0;
  #pendingNext = false;

  /**
   * @param tableAddr guest address of the descriptor table (split) or ring (packed)
   * @param tableSize entries in it (the queue size)
   * @param headIndex split: the head index; packed: the buffer id
   * @param options packed: `{ start, count }`, the ring slot of the first descriptor and how many the chain spans
   */
  constructor(
    mem: GuestMemoryMmap,
    tableAddr: number,
    tableSize: number,
    headIndex: number,
    options: { packed?: { start: number; count: number }; tableRegion?: GuestMemoryRegion } = {},
  ) {
    this.mem = mem;
    this.headIndex = headIndex;
    this.#tableAddr = tableAddr;
    this.#tableSize = tableSize;
    this.#tableRegion = options.tableRegion ?? resolveTable(mem, tableAddr, tableSize);
    this.#tableOff = this.#tableRegion === undefined ? 0 : tableAddr - this.#tableRegion.startN;
    if (options.packed !== undefined) {
      this.packed = true;
      this.ringSlots = options.packed.count;
      this.#nextIndex = options.packed.start;
      this.#ttl = options.packed.count;
    } else {
      this.packed = false;
      this.ringSlots = 0;
      this.#nextIndex = headIndex;
      this.#ttl = tableSize;
      if (headIndex >= tableSize) this.#end("INVALID_DESCRIPTOR_INDEX");
    }
  }

  /** Whether the walk is inside an indirect table. */
  get isIndirect(): boolean {
    return this.#isIndirect;
  }
  /** The current descriptor's address as a number (inexact, and outside memory, above 2^53). */
  get addrN(): number {
    return this.addrHi * 4294967296 + this.addrLo;
  }
  /** Whether the current descriptor is device-writable. */
  get isWriteOnly(): boolean {
    return (this.flags & VIRTQ_DESC_F_WRITE) !== 0;
  }

  /** A copy at the same position. */
  clone(): DescriptorChain {
    const c = new DescriptorChain(this.mem, this.#tableAddr, this.#tableSize, this.headIndex, {
      tableRegion: this.#tableRegion,
      packed: this.packed ? { start: this.#nextIndex, count: this.ringSlots } : undefined,
    });
    (c as { ringSlots: number }).ringSlots = this.ringSlots;
    c.#tableOff = this.#tableOff;
    c.#nextIndex = this.#nextIndex;
    c.#ttl = this.#ttl;
    c.#isIndirect = this.#isIndirect;
    c.#yielded = this.#yielded;
    c.#pendingNext = this.#pendingNext;
    c.error = this.error;
    c.addrLo = this.addrLo;
    c.addrHi = this.addrHi;
    c.len = this.len;
    c.flags = this.flags;
    c.next = this.next;
    return c;
  }

  #end(code: ChainErrorCode | undefined): false {
    this.#ttl = 0;
    this.#pendingNext = false;
    if (code !== undefined && this.error === undefined) this.error = code;
    return false;
  }

  #load(index: number): boolean {
    const rel = index * VIRTQ_DESCRIPTOR_SIZE;
    let view: DataView;
    let o: number;
    const r = this.#tableRegion;
    if (r !== undefined) {
      view = r.view;
      o = this.#tableOff + rel;
    } else {
      const a = this.#tableAddr + rel;
      const rr = Number.isSafeInteger(a) ? this.mem.regionForRange(a, 16) : undefined;
      if (rr !== undefined) {
        view = rr.view;
        o = a - rr.startN;
      } else {
        // A descriptor straddling two adjacent regions, or not in memory at all.
        try {
          if (!Number.isSafeInteger(a) || this.mem.read(SCRATCH, a) !== 16) return false;
        } catch {
          return false;
        }
        view = SCRATCH_VIEW;
        o = 0;
      }
    }
    this.addrLo = view.getUint32(o, true);
    this.addrHi = view.getUint32(o + 4, true);
    this.len = view.getUint32(o + 8, true);
    if (this.packed) {
      this.next = view.getUint16(o + 12, true);
      this.flags = view.getUint16(o + 14, true);
    } else {
      this.flags = view.getUint16(o + 12, true);
      this.next = view.getUint16(o + 14, true);
    }
    return true;
  }

  /** Moves to the next descriptor; false at the end of the chain (see `error`). Never throws. */
  advance(): boolean {
    for (;;) {
      if (this.#ttl === 0) {
        if (this.#pendingNext) return this.#end("CHAIN_TOO_LONG");
        return false;
      }
      let index = this.#nextIndex;
      if (index >= this.#tableSize) {
        if (this.packed && !this.#isIndirect) {
          index -= this.#tableSize;
          this.#nextIndex = index;
        } else {
          return this.#end("INVALID_DESCRIPTOR_INDEX");
        }
      }
      if (!this.#load(index)) return this.#end("INVALID_DESCRIPTOR_ADDRESS");
      if (this.packed && this.#isIndirect) {
        // In a packed indirect table only WRITE is meaningful; the rest is reserved and ignored.
        this.flags &= VIRTQ_DESC_F_WRITE;
      }
      if ((this.flags & VIRTQ_DESC_F_INDIRECT) !== 0) {
        if (this.#isIndirect) return this.#end("INVALID_INDIRECT_DESCRIPTOR");
        if ((this.len & (VIRTQ_DESCRIPTOR_SIZE - 1)) !== 0) return this.#end("INVALID_INDIRECT_DESCRIPTOR_TABLE");
        const entries = this.len / VIRTQ_DESCRIPTOR_SIZE;
        if (entries > 0xffff) return this.#end("INVALID_INDIRECT_DESCRIPTOR_TABLE");
        this.#tableAddr = this.addrN;
        this.#tableSize = entries;
        this.#tableRegion = resolveTable(this.mem, this.#tableAddr, entries);
        this.#tableOff = this.#tableRegion === undefined ? 0 : this.#tableAddr - this.#tableRegion.startN;
        this.#nextIndex = 0;
        this.#ttl = entries;
        this.#isIndirect = true;
        this.#pendingNext = false;
        continue;
      }
      const y = this.#yielded + this.len;
      if (y > U32_MAX) return this.#end("DESCRIPTOR_CHAIN_OVERFLOW");
      this.#yielded = y;
      if (this.packed) {
        this.#nextIndex = index + 1;
        this.#ttl--;
      } else if ((this.flags & VIRTQ_DESC_F_NEXT) !== 0) {
        this.#nextIndex = this.next;
        this.#ttl--;
        this.#pendingNext = true;
      } else {
        this.#ttl = 0;
        this.#pendingNext = false;
      }
      return true;
    }
  }

  /** The current descriptor as an object. */
  current(): Descriptor {
    return new Descriptor(this.addrLo, this.addrHi, this.len, this.flags, this.next);
  }

  /** The next descriptor, or undefined at the end. */
  nextDescriptor(): Descriptor | undefined {
    return this.advance() ? this.current() : undefined;
  }

  *[Symbol.iterator](): Iterator<Descriptor> {
    while (this.advance()) yield this.current();
  }

  /** The device-readable descriptors (consumes the chain). */
  *readable(): Generator<Descriptor> {
    while (this.advance()) if ((this.flags & VIRTQ_DESC_F_WRITE) === 0) yield this.current();
  }
  /** The device-writable descriptors (consumes the chain). */
  *writable(): Generator<Descriptor> {
    while (this.advance()) if ((this.flags & VIRTQ_DESC_F_WRITE) !== 0) yield this.current();
  }
}
