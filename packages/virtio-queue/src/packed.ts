import { GuestAddress, type GuestMemoryMmap, type GuestMemoryRegion } from "@kindling/vm-memory";
import { DescriptorChain } from "./chain.js";
import {
  VIRTQ_DESC_F_AVAIL,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_USED,
  VIRTQ_DESC_F_WRITE,
  VRING_PACKED_EVENT_FLAG_DESC,
  VRING_PACKED_EVENT_FLAG_DISABLE,
  VRING_PACKED_EVENT_FLAG_ENABLE,
} from "./descriptor.js";
import { VirtioQueueError, type VirtioQueueErrorCode } from "./errors.js";
import { area, checkMaxSize, combine, err, toAddr, type VirtQueue } from "./queue.js";

/** Bytes of an event suppression structure (off_wrap u16, flags u16). */
export const PACKED_EVENT_SIZE = 4;

/** The saved state of a packed queue. */
export interface PackedQueueState {
  maxSize: number;
  size: number;
  ready: boolean;
  descTable: bigint;
  driverArea: bigint;
  deviceArea: bigint;
  nextAvail: number;
  availWrap: boolean;
  nextUsed: number;
  usedWrap: boolean;
  eventIdxEnabled: boolean;
  /** Ring slots used since the last needsNotification (defaults to 0). */
  numAdded?: number;
  /** Buffers popped and not yet used: [buffer id, ring slots it spans]. */
  inFlight: Array<[number, number]>;
}

/**
 * The device side of a packed virtqueue (VIRTIO_F_RING_PACKED): one ring of
 * descriptors that the driver marks available and the device marks used,
 * with wrap counters, and event suppression structures in the driver and
 * device areas. Same device-facing interface as the split {@link Queue}:
 * `headIndex` of a popped chain is its buffer id, which `addUsed` takes back.
 *
 * Rules: size in [1, max size] (need not be a power of two), ring 16-byte
 * aligned, event areas 4-byte aligned; a chain longer than the ring is
 * INVALID_AVAIL_RING_INDEX; a buffer id >= size is INVALID_DESCRIPTOR_INDEX
 * (the bad buffer is skipped); addUsed takes only ids in flight.
 */
export class PackedQueue implements VirtQueue {
  readonly maxSize: number;
  #size: number;
  #ready = false;
  #desc = 0n;
  #driver = 0n;
  #device = 0n;
  #nextAvail = 0;
  #availWrap = true;
  #nextUsed = 0;
  #usedWrap = true;
  #eventIdx = false;
  #numAdded = 0;
  #slots: Uint16Array;

  #cacheMem: GuestMemoryMmap | undefined;
  #ring!: GuestMemoryRegion;
  #ringOff = 0;
  #ringN = 0;
  #ringU16: Uint16Array | undefined;
  #drv!: GuestMemoryRegion;
  #drvOff = 0;
  #dev!: GuestMemoryRegion;
  #devOff = 0;
  /** Reused for every chain (the constructor does not keep it). */
  readonly #chainOptions: { packed: { start: number; count: number }; tableRegion: GuestMemoryRegion | undefined } = {
    packed: { start: 0, count: 0 },
    tableRegion: undefined,
  };

  constructor(maxSize: number) {
    checkMaxSize(maxSize, false);
    this.maxSize = maxSize;
    this.#size = maxSize;
    this.#slots = new Uint16Array(maxSize);
  }

  get size(): number {
    return this.#size;
  }
  get ready(): boolean {
    return this.#ready;
  }
  get eventIdxEnabled(): boolean {
    return this.#eventIdx;
  }
  get nextAvail(): number {
    return this.#nextAvail;
  }
  get availWrapCounter(): boolean {
    return this.#availWrap;
  }
  get nextUsed(): number {
    return this.#nextUsed;
  }
  get usedWrapCounter(): boolean {
    return this.#usedWrap;
  }
  descTable(): GuestAddress {
    return new GuestAddress(this.#desc);
  }

  setSize(size: number): void {
    if (!Number.isInteger(size) || size <= 0 || size > this.maxSize) {
      throw err("INVALID_SIZE", `queue size ${size} is not in [1, ${this.maxSize}]`);
    }
    this.#size = size;
    this.#cacheMem = undefined;
  }
  setReady(ready: boolean): void {
    this.#ready = ready;
    this.#cacheMem = undefined;
  }
  setEventIdx(enabled: boolean): void {
    this.#eventIdx = enabled;
  }
  setDescTableAddress(low?: number, high?: number): void {
    this.setDescTable(combine(this.#desc, low, high));
  }
  setAvailRingAddress(low?: number, high?: number): void {
    this.setDriverArea(combine(this.#driver, low, high));
  }
  setUsedRingAddress(low?: number, high?: number): void {
    this.setDeviceArea(combine(this.#device, low, high));
  }
  setDescTable(addr: GuestAddress | bigint | number): void {
    const a = toAddr(addr);
    if (a % 16n !== 0n) throw err("INVALID_DESC_TABLE_ALIGN", `0x${a.toString(16)}`);
    this.#desc = a;
    this.#cacheMem = undefined;
  }
  /** The driver event suppression structure (driver area): 4-byte aligned. */
  setDriverArea(addr: GuestAddress | bigint | number): void {
    const a = toAddr(addr);
    if (a % 4n !== 0n) throw err("INVALID_AVAIL_RING_ALIGN", `0x${a.toString(16)}`);
    this.#driver = a;
    this.#cacheMem = undefined;
  }
  /** The device event suppression structure (device area): 4-byte aligned. */
  setDeviceArea(addr: GuestAddress | bigint | number): void {
    const a = toAddr(addr);
    if (a % 4n !== 0n) throw err("INVALID_USED_RING_ALIGN", `0x${a.toString(16)}`);
    this.#device = a;
    this.#cacheMem = undefined;
  }

  reset(): void {
    this.#ready = false;
    this.#size = this.maxSize;
    this.#desc = 0n;
    this.#driver = 0n;
    this.#device = 0n;
    this.#nextAvail = 0;
    this.#availWrap = true;
    this.#nextUsed = 0;
    this.#usedWrap = true;
    this.#eventIdx = false;
    this.#numAdded = 0;
    this.#slots.fill(0);
    this.#cacheMem = undefined;
  }

  #problem(mem: GuestMemoryMmap): [VirtioQueueErrorCode, string] | undefined {
    if (!this.#ready) return ["QUEUE_NOT_READY", "the queue is not ready"];
    if (area(mem, this.#desc, 16 * this.#size) === undefined)
      return ["INVALID_QUEUE_ADDRESS", `descriptor ring at 0x${this.#desc.toString(16)} is not in memory`];
    if (area(mem, this.#driver, PACKED_EVENT_SIZE) === undefined)
      return ["INVALID_QUEUE_ADDRESS", `driver area at 0x${this.#driver.toString(16)} is not in memory`];
    if (area(mem, this.#device, PACKED_EVENT_SIZE) === undefined)
      return ["INVALID_QUEUE_ADDRESS", `device area at 0x${this.#device.toString(16)} is not in memory`];
    return undefined;
  }
  isValid(mem: GuestMemoryMmap): boolean {
    return this.#problem(mem) === undefined;
  }
  #prepare(mem: GuestMemoryMmap): void {
    if (this.#cacheMem === mem) return;
    const p = this.#problem(mem);
    if (p !== undefined) throw err(p[0], p[1]);
    this.#ring = area(mem, this.#desc, 16 * this.#size)!;
    this.#ringN = Number(this.#desc);
    this.#ringOff = this.#ringN - this.#ring.startN;
    this.#ringU16 = (this.#ringOff & 1) === 0 ? this.#ring.atomics.u16 : undefined;
    this.#drv = area(mem, this.#driver, 4)!;
    this.#drvOff = Number(this.#driver) - this.#drv.startN;
    this.#dev = area(mem, this.#device, 4)!;
    this.#devOff = Number(this.#device) - this.#dev.startN;
    this.#cacheMem = mem;
  }

  #flagsAt(slot: number): number {
    const o = this.#ringOff + slot * 16 + 14;
    return this.#ringU16 !== undefined ? Atomics.load(this.#ringU16, o >>> 1) : this.#ring.view.getUint16(o, true);
  }
  #isAvail(flags: number, wrap: boolean): boolean {
    const a = (flags & VIRTQ_DESC_F_AVAIL) !== 0;
    const u = (flags & VIRTQ_DESC_F_USED) !== 0;
    return a === wrap && u !== wrap;
  }

  /** Whether the descriptor at next_avail is available. */
  hasAvailable(mem: GuestMemoryMmap): boolean {
    this.#prepare(mem);
    return this.#isAvail(this.#flagsAt(this.#nextAvail), this.#availWrap);
  }

  popDescriptorChain(mem: GuestMemoryMmap): DescriptorChain | undefined {
    this.#prepare(mem);
    const size = this.#size;
    const start = this.#nextAvail;
    let f = this.#flagsAt(start);
    if (!this.#isAvail(f, this.#availWrap)) return undefined;
    let idx = start;
    let wrap = this.#availWrap;
    let count = 1;
    while ((f & VIRTQ_DESC_F_NEXT) !== 0 && (f & VIRTQ_DESC_F_INDIRECT) === 0) {
      if (count >= size) {
        throw err("INVALID_AVAIL_RING_INDEX", `a chain at slot ${start} is longer than the ${size}-entry ring`);
      }
      idx++;
      if (idx === size) {
        idx = 0;
        wrap = !wrap;
      }
      f = this.#flagsAt(idx);
      count++;
    }
    const id = this.#ring.view.getUint16(this.#ringOff + idx * 16 + 12, true);
    idx++;
    if (idx === size) {
      idx = 0;
      wrap = !wrap;
    }
    this.#nextAvail = idx;
    this.#availWrap = wrap;
    if (id >= size) {
      throw err("INVALID_DESCRIPTOR_INDEX", `buffer id ${id} is not below the queue size ${size} (buffer skipped)`);
    }
    this.#slots[id] = count;
    const o = this.#chainOptions;
    o.packed.start = start;
    o.packed.count = count;
    o.tableRegion = this.#ring;
    return new DescriptorChain(mem, this.#ringN, size, id, o);
  }

  /** Writes the used descriptor for buffer `id` and moves past the slots the buffer spanned. */
  addUsed(mem: GuestMemoryMmap, id: number, len: number): void {
    this.#prepare(mem);
    if (!Number.isInteger(id) || id < 0 || id >= this.#size || this.#slots[id] === 0) {
      throw err("INVALID_DESCRIPTOR_INDEX", `buffer id ${id} is not in flight`);
    }
    if (!Number.isInteger(len) || len < 0 || len > 0xffffffff) {
      throw err("INVALID_ARGUMENT", `used length ${len} is not a u32`);
    }
    const o = this.#ringOff + this.#nextUsed * 16;
    const view = this.#ring.view;
    view.setUint32(o + 8, len, true);
    view.setUint16(o + 12, id, true);
    const flags = (this.#usedWrap ? VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED : 0) | (len > 0 ? VIRTQ_DESC_F_WRITE : 0);
    if (this.#ringU16 !== undefined) Atomics.store(this.#ringU16, (o + 14) >>> 1, flags);
    else view.setUint16(o + 14, flags, true);
    this.#ring.bitmap?.mark(o + 8, 8);
    const n = this.#slots[id];
    this.#slots[id] = 0;
    let next = this.#nextUsed + n;
    if (next >= this.#size) {
      next -= this.#size;
      this.#usedWrap = !this.#usedWrap;
    }
    this.#nextUsed = next;
    this.#numAdded = Math.min(this.#numAdded + n, 0xffff);
  }

  #writeDeviceEvent(offWrap: number, flags: number): void {
    const v = this.#dev.view;
    v.setUint16(this.#devOff, offWrap, true);
    if ((this.#devOff & 1) === 0) Atomics.store(this.#dev.atomics.u16, (this.#devOff + 2) >>> 1, flags);
    else v.setUint16(this.#devOff + 2, flags, true);
    this.#dev.bitmap?.mark(this.#devOff, 4);
  }

  enableNotification(mem: GuestMemoryMmap): boolean {
    this.#prepare(mem);
    if (this.#eventIdx) {
      this.#writeDeviceEvent(this.#nextAvail | (this.#availWrap ? 0x8000 : 0), VRING_PACKED_EVENT_FLAG_DESC);
    } else {
      this.#writeDeviceEvent(0, VRING_PACKED_EVENT_FLAG_ENABLE);
    }
    return this.#isAvail(this.#flagsAt(this.#nextAvail), this.#availWrap);
  }

  disableNotification(mem: GuestMemoryMmap): void {
    this.#prepare(mem);
    this.#writeDeviceEvent(0, VRING_PACKED_EVENT_FLAG_DISABLE);
  }

  /**
   * Whether to interrupt the driver for the buffers used since the last call,
   * from the driver event suppression structure: ENABLE → yes, DISABLE → no,
   * DESC (with EVENT_IDX) → vring_need_event on the wrap-adjusted event offset.
   */
  needsNotification(mem: GuestMemoryMmap): boolean {
    this.#prepare(mem);
    const v = this.#drv.view;
    const flags =
      (this.#drvOff & 1) === 0
        ? Atomics.load(this.#drv.atomics.u16, (this.#drvOff + 2) >>> 1)
        : v.getUint16(this.#drvOff + 2, true);
    const added = this.#numAdded;
    this.#numAdded = 0;
    if (added === 0) return false;
    if (flags === VRING_PACKED_EVENT_FLAG_DISABLE) return false;
    if (flags !== VRING_PACKED_EVENT_FLAG_DESC || !this.#eventIdx) return flags !== VRING_PACKED_EVENT_FLAG_DISABLE;
    const offWrap = v.getUint16(this.#drvOff, true);
    let event = offWrap & 0x7fff;
    const wrap = (offWrap & 0x8000) !== 0;
    if (wrap !== this.#usedWrap) event -= this.#size;
    const newIdx = this.#nextUsed;
    const old = newIdx - added;
    return ((newIdx - event - 1) & 0xffff) < ((newIdx - old) & 0xffff);
  }

  state(): PackedQueueState {
    const inFlight: Array<[number, number]> = [];
    this.#slots.forEach((n, id) => {
      if (n !== 0) inFlight.push([id, n]);
    });
    return {
      maxSize: this.maxSize,
      size: this.#size,
      ready: this.#ready,
      descTable: this.#desc,
      driverArea: this.#driver,
      deviceArea: this.#device,
      nextAvail: this.#nextAvail,
      availWrap: this.#availWrap,
      nextUsed: this.#nextUsed,
      usedWrap: this.#usedWrap,
      eventIdxEnabled: this.#eventIdx,
      numAdded: this.#numAdded,
      inFlight,
    };
  }

  static fromState(s: PackedQueueState): PackedQueue {
    try {
      const q = new PackedQueue(s.maxSize);
      q.setSize(s.size);
      q.setDescTable(s.descTable);
      q.setDriverArea(s.driverArea);
      q.setDeviceArea(s.deviceArea);
      const idxOk = (n: unknown) => typeof n === "number" && Number.isInteger(n) && n >= 0 && n < s.size;
      if (!idxOk(s.nextAvail) || !idxOk(s.nextUsed)) throw err("INVALID_ARGUMENT", "ring positions outside the ring");
      q.#nextAvail = s.nextAvail;
      q.#nextUsed = s.nextUsed;
      q.#availWrap = s.availWrap === true;
      q.#usedWrap = s.usedWrap === true;
      q.#eventIdx = s.eventIdxEnabled === true;
      const added = s.numAdded ?? 0;
      if (!Number.isInteger(added) || added < 0 || added > 0xffff) throw err("INVALID_ARGUMENT", "bad numAdded");
      q.#numAdded = added;
      for (const [id, n] of s.inFlight) {
        if (!idxOk(id) || !Number.isInteger(n) || n < 1 || n > s.size)
          throw err("INVALID_ARGUMENT", "bad in-flight entry");
        q.#slots[id] = n;
      }
      q.#ready = s.ready === true;
      return q;
    } catch (e) {
      throw new VirtioQueueError("INVALID_STATE", `invalid packed queue state: ${(e as Error).message}`, { cause: e });
    }
  }
}
