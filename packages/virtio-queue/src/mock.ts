import type { GuestMemoryMmap } from "@kindling/vm-memory";
import {
  availRingSize,
  descTableSize,
  VIRTQ_DESC_F_AVAIL,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_USED,
} from "./descriptor.js";
import { VirtioQueueError } from "./errors.js";
import { PackedQueue } from "./packed.js";
import { Queue } from "./queue.js";

/** A descriptor as a test writes it. `next` defaults to the following index when NEXT is set. */
export interface MockDescriptor {
  addr: bigint | number;
  len: number;
  flags?: number;
  next?: number;
}

function writeDesc(mem: GuestMemoryMmap, at: number, d: MockDescriptor, next: number): void {
  const a = BigInt(d.addr);
  mem.writeU32(Number(a & 0xffffffffn), at);
  mem.writeU32(Number((a >> 32n) & 0xffffffffn), at + 4);
  mem.writeU32(d.len >>> 0, at + 8);
  mem.writeU16((d.flags ?? 0) & 0xffff, at + 12);
  mem.writeU16(next & 0xffff, at + 14);
}

/**
 * The driver side of a split queue laid out in guest memory, for tests: it
 * writes descriptors (direct and indirect), publishes chains in the available
 * ring and reads back what the device put in the used ring.
 */
export class MockSplitQueue {
  readonly mem: GuestMemoryMmap;
  readonly size: number;
  readonly descTableAddr: number;
  readonly availAddr: number;
  readonly usedAddr: number;
  /** First address after the used ring (16-aligned): free for buffers and indirect tables. */
  readonly end: number;
  #nextFree = 0;

  constructor(mem: GuestMemoryMmap, start: bigint | number, size: number) {
    const s = Number(start);
    if (s % 16 !== 0) throw new VirtioQueueError("INVALID_DESC_TABLE_ALIGN", "mock queue start must be 16-aligned");
    this.mem = mem;
    this.size = size;
    this.descTableAddr = s;
    this.availAddr = s + descTableSize(size);
    this.usedAddr = Math.ceil((this.availAddr + availRingSize(size)) / 4) * 4;
    this.end = Math.ceil((this.usedAddr + 6 + 8 * size) / 16) * 16;
  }

  /** A Queue configured for this layout (ready unless told otherwise). */
  createQueue(options: { maxSize?: number; eventIdx?: boolean; ready?: boolean } = {}): Queue {
    const q = new Queue(options.maxSize ?? this.size);
    q.setSize(this.size);
    q.setDescTable(this.descTableAddr);
    q.setAvailRing(this.availAddr);
    q.setUsedRing(this.usedAddr);
    q.setEventIdx(options.eventIdx ?? false);
    q.setReady(options.ready ?? true);
    return q;
  }

  /** Writes descriptor `index` of the table. */
  writeDescriptor(index: number, d: MockDescriptor): void {
    writeDesc(this.mem, this.descTableAddr + 16 * index, d, d.next ?? 0);
  }
  readDescriptor(index: number): { addr: bigint; len: number; flags: number; next: number } {
    const at = this.descTableAddr + 16 * index;
    return {
      addr: this.mem.readU64(at),
      len: this.mem.readU32(at + 8),
      flags: this.mem.readU16(at + 12),
      next: this.mem.readU16(at + 14),
    };
  }

  /** Writes an indirect table at `addr` (16-byte entries, NEXT links to the following entry by default). */
  writeIndirectTable(addr: bigint | number, descs: MockDescriptor[]): void {
    descs.forEach((d, i) => {
      writeDesc(this.mem, Number(addr) + 16 * i, d, d.next ?? i + 1);
    });
  }

  /**
   * Writes `descs` as one chain at consecutive table indices starting at
   * `head` (default: the next free index, wrapping), linking each to the
   * next, and publishes the head. Returns the head index.
   */
  addChain(descs: MockDescriptor[], head?: number): number {
    if (descs.length === 0) throw new VirtioQueueError("INVALID_ARGUMENT", "a chain needs a descriptor");
    const h = head ?? this.#nextFree;
    for (let i = 0; i < descs.length; i++) {
      const idx = (h + i) % this.size;
      const last = i === descs.length - 1;
      const flags = (descs[i].flags ?? 0) | (last ? 0 : VIRTQ_DESC_F_NEXT);
      this.writeDescriptor(idx, {
        ...descs[i],
        flags: last ? flags & ~VIRTQ_DESC_F_NEXT : flags,
        next: descs[i].next ?? (h + i + 1) % this.size,
      });
    }
    this.#nextFree = (h + descs.length) % this.size;
    this.publish(h);
    return h;
  }

  /** A chain of one descriptor pointing at an indirect table holding `descs`. Returns the head. */
  addIndirectChain(tableAddr: bigint | number, descs: MockDescriptor[], head?: number): number {
    this.writeIndirectTable(
      tableAddr,
      descs.map((d, i) => ({
        ...d,
        flags: (d.flags ?? 0) | (i < descs.length - 1 ? VIRTQ_DESC_F_NEXT : 0),
      })),
    );
    return this.addChain([{ addr: tableAddr, len: 16 * descs.length, flags: VIRTQ_DESC_F_INDIRECT }], head);
  }

  /** Puts `head` in the available ring and increments avail.idx. */
  publish(head: number): void {
    const idx = this.availIdx();
    this.mem.writeU16(head, this.availAddr + 4 + 2 * (idx % this.size));
    this.mem.storeU16((idx + 1) & 0xffff, this.availAddr + 2);
  }

  availIdx(): number {
    return this.mem.loadU16(this.availAddr + 2);
  }
  setAvailIdx(idx: number): void {
    this.mem.storeU16(idx & 0xffff, this.availAddr + 2);
  }
  setAvailRingEntry(pos: number, head: number): void {
    this.mem.writeU16(head, this.availAddr + 4 + 2 * (pos % this.size));
  }
  setAvailFlags(flags: number): void {
    this.mem.storeU16(flags, this.availAddr);
  }
  /** used_event, read by a device with EVENT_IDX. */
  setUsedEvent(idx: number): void {
    this.mem.storeU16(idx & 0xffff, this.availAddr + 4 + 2 * this.size);
  }
  usedIdx(): number {
    return this.mem.loadU16(this.usedAddr + 2);
  }
  usedFlags(): number {
    return this.mem.loadU16(this.usedAddr);
  }
  /** avail_event, written by a device with EVENT_IDX. */
  availEvent(): number {
    return this.mem.loadU16(this.usedAddr + 4 + 8 * this.size);
  }
  /** Used ring entry `pos` (taken modulo size). */
  usedElem(pos: number): { id: number; len: number } {
    const at = this.usedAddr + 4 + 8 * (pos % this.size);
    return { id: this.mem.readU32(at), len: this.mem.readU32(at + 4) };
  }
}

/**
 * The driver side of a packed queue in guest memory, for tests: it makes
 * chains available with the driver's wrap counter, reaps used descriptors,
 * and writes the driver event suppression structure.
 */
export class MockPackedQueue {
  readonly mem: GuestMemoryMmap;
  readonly size: number;
  readonly ringAddr: number;
  readonly driverArea: number;
  readonly deviceArea: number;
  readonly end: number;
  nextAvail = 0;
  availWrap = true;
  nextUsed = 0;
  usedWrap = true;
  /** Slots each in-flight buffer id spans. */
  readonly inFlight = new Map<number, number>();
  #nextId = 0;

  constructor(mem: GuestMemoryMmap, start: bigint | number, size: number) {
    const s = Number(start);
    if (s % 16 !== 0) throw new VirtioQueueError("INVALID_DESC_TABLE_ALIGN", "mock queue start must be 16-aligned");
    this.mem = mem;
    this.size = size;
    this.ringAddr = s;
    this.driverArea = s + 16 * size;
    this.deviceArea = this.driverArea + 4;
    this.end = Math.ceil((this.deviceArea + 4) / 16) * 16;
  }

  createQueue(options: { maxSize?: number; eventIdx?: boolean; ready?: boolean } = {}): PackedQueue {
    const q = new PackedQueue(options.maxSize ?? this.size);
    q.setSize(this.size);
    q.setDescTable(this.ringAddr);
    q.setDriverArea(this.driverArea);
    q.setDeviceArea(this.deviceArea);
    q.setEventIdx(options.eventIdx ?? false);
    q.setReady(options.ready ?? true);
    return q;
  }

  /** Free ring slots (a driver never makes more available than this). */
  freeSlots(): number {
    let used = 0;
    for (const n of this.inFlight.values()) used += n;
    return this.size - used;
  }

  #writeSlot(slot: number, d: MockDescriptor, id: number, flags: number, publish: boolean): void {
    const at = this.ringAddr + 16 * slot;
    this.mem.writeU64(BigInt(d.addr), at);
    this.mem.writeU32(d.len >>> 0, at + 8);
    this.mem.writeU16(id, at + 12);
    if (publish) this.mem.storeU16(flags, at + 14);
    else this.mem.writeU16(flags, at + 14);
  }

  /**
   * Makes `descs` available as one buffer with id `id` (default: a rolling
   * counter). The head's flags are written last. Returns the id.
   */
  addChain(descs: MockDescriptor[], id?: number): number {
    if (descs.length === 0 || descs.length > this.freeSlots()) {
      throw new VirtioQueueError("INVALID_ARGUMENT", `no room for ${descs.length} descriptors`);
    }
    const bufId = id ?? this.#nextId;
    this.#nextId = (bufId + 1) % this.size;
    const wrapBits = (w: boolean) => (w ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED);
    const head = this.nextAvail;
    const headWrap = this.availWrap;
    let slot = head;
    let wrap = headWrap;
    for (let i = 0; i < descs.length; i++) {
      const last = i === descs.length - 1;
      const flags = ((descs[i].flags ?? 0) & ~VIRTQ_DESC_F_NEXT) | (last ? 0 : VIRTQ_DESC_F_NEXT) | wrapBits(wrap);
      if (i > 0) this.#writeSlot(slot, descs[i], bufId, flags, false);
      slot++;
      if (slot === this.size) {
        slot = 0;
        wrap = !wrap;
      }
    }
    const headFlags =
      ((descs[0].flags ?? 0) & ~VIRTQ_DESC_F_NEXT) | (descs.length > 1 ? VIRTQ_DESC_F_NEXT : 0) | wrapBits(headWrap);
    this.#writeSlot(head, descs[0], bufId, headFlags, true);
    this.nextAvail = slot;
    this.availWrap = wrap;
    this.inFlight.set(bufId, (this.inFlight.get(bufId) ?? 0) + descs.length);
    return bufId;
  }

  /** A one-slot buffer pointing at an indirect table of `descs` (packed format). */
  addIndirectChain(tableAddr: bigint | number, descs: MockDescriptor[], id?: number): number {
    descs.forEach((d, i) => {
      const at = Number(tableAddr) + 16 * i;
      this.mem.writeU64(BigInt(d.addr), at);
      this.mem.writeU32(d.len >>> 0, at + 8);
      this.mem.writeU16(0, at + 12);
      this.mem.writeU16(d.flags ?? 0, at + 14);
    });
    return this.addChain([{ addr: tableAddr, len: 16 * descs.length, flags: VIRTQ_DESC_F_INDIRECT }], id);
  }

  /** Reads every used descriptor the device published since the last call. */
  reapUsed(): Array<{ id: number; len: number }> {
    const out: Array<{ id: number; len: number }> = [];
    for (;;) {
      const at = this.ringAddr + 16 * this.nextUsed;
      const flags = this.mem.loadU16(at + 14);
      const a = (flags & VIRTQ_DESC_F_AVAIL) !== 0;
      const u = (flags & VIRTQ_DESC_F_USED) !== 0;
      if (a !== this.usedWrap || u !== this.usedWrap) break;
      const id = this.mem.readU16(at + 12);
      const len = this.mem.readU32(at + 8);
      out.push({ id, len });
      const n = this.inFlight.get(id);
      if (n === undefined) throw new VirtioQueueError("INVALID_DESCRIPTOR_INDEX", `device used unknown id ${id}`);
      this.inFlight.delete(id);
      this.nextUsed += n;
      if (this.nextUsed >= this.size) {
        this.nextUsed -= this.size;
        this.usedWrap = !this.usedWrap;
      }
    }
    return out;
  }

  /** Writes the driver event suppression structure. */
  setDriverEvent(flags: number, offWrap = 0): void {
    this.mem.writeU16(offWrap, this.driverArea);
    this.mem.storeU16(flags, this.driverArea + 2);
  }
  /** Reads the device event suppression structure. */
  deviceEvent(): { offWrap: number; flags: number } {
    return { offWrap: this.mem.readU16(this.deviceArea), flags: this.mem.readU16(this.deviceArea + 2) };
  }
}
