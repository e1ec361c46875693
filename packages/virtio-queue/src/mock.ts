import type { GuestMemoryMmap } from "@kindling/vm-memory";
import { availRingSize, descTableSize, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT } from "./descriptor.js";
import { VirtioQueueError } from "./errors.js";
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
