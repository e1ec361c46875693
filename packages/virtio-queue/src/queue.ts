import { GuestAddress, type GuestMemoryMmap, type GuestMemoryRegion } from "@kindling/vm-memory";
import { DescriptorChain } from "./chain.js";
import {
  availRingSize,
  descTableSize,
  MAX_QUEUE_SIZE,
  usedRingSize,
  VIRTQ_AVAIL_ALIGN,
  VIRTQ_DESC_ALIGN,
  VIRTQ_USED_ALIGN,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_USED_F_NO_NOTIFY,
} from "./descriptor.js";
import { VirtioQueueError, type VirtioQueueErrorCode } from "./errors.js";

/**
 * What a device needs from a virtqueue, split or packed. The transport writes
 * the configuration (size, addresses, ready); the device pops chains, adds
 * used buffers and asks whether to interrupt the driver.
 */
export interface VirtQueue {
  readonly maxSize: number;
  readonly size: number;
  readonly ready: boolean;
  readonly eventIdxEnabled: boolean;
  setSize(size: number): void;
  setReady(ready: boolean): void;
  /** Descriptor table (split) / descriptor ring (packed): either 32-bit half may be omitted. */
  setDescTableAddress(low?: number, high?: number): void;
  /** Available ring (split) / driver event suppression area (packed). */
  setAvailRingAddress(low?: number, high?: number): void;
  /** Used ring (split) / device event suppression area (packed). */
  setUsedRingAddress(low?: number, high?: number): void;
  setEventIdx(enabled: boolean): void;
  isValid(mem: GuestMemoryMmap): boolean;
  popDescriptorChain(mem: GuestMemoryMmap): DescriptorChain | undefined;
  addUsed(mem: GuestMemoryMmap, headIndex: number, len: number): void;
  enableNotification(mem: GuestMemoryMmap): boolean;
  disableNotification(mem: GuestMemoryMmap): void;
  needsNotification(mem: GuestMemoryMmap): boolean;
  reset(): void;
}

/** The saved state of a split queue (rust-vmm's QueueState). */
export interface QueueState {
  maxSize: number;
  size: number;
  ready: boolean;
  descTable: bigint;
  availRing: bigint;
  usedRing: bigint;
  nextAvail: number;
  nextUsed: number;
  eventIdxEnabled: boolean;
  /** Used entries added since the last needsNotification (not in rust-vmm's state; defaults to 0). */
  numAdded?: number;
}

export function err(code: VirtioQueueErrorCode, message: string): VirtioQueueError {
  return new VirtioQueueError(code, message);
}

export function checkMaxSize(maxSize: number, pow2: boolean): void {
  if (
    !Number.isInteger(maxSize) ||
    maxSize <= 0 ||
    maxSize > MAX_QUEUE_SIZE ||
    (pow2 && (maxSize & (maxSize - 1)) !== 0)
  ) {
    throw err("INVALID_MAX_SIZE", `queue max size ${maxSize} is not ${pow2 ? "a power of two " : ""}in [1, 32768]`);
  }
}

/** Combines a 64-bit address from optional 32-bit halves (as the virtio-mmio registers write them). */
export function combine(old: bigint, low: number | undefined, high: number | undefined): bigint {
  const lo = low === undefined ? old & 0xffffffffn : BigInt(low >>> 0);
  const hi = high === undefined ? old >> 32n : BigInt(high >>> 0);
  return (hi << 32n) | lo;
}

/** Resolves an area to the one region holding it, as (region, offset); undefined when it is not in memory. */
export function area(mem: GuestMemoryMmap, addr: bigint, len: number): GuestMemoryRegion | undefined {
  if (addr > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return mem.regionForRange(Number(addr), len);
}

/**
 * The device side of a split virtqueue, with rust-vmm's validation rules.
 * The hot path (pop, addUsed, needsNotification) caches where the three ring
 * areas are for the memory last used, and reads them as numbers.
 */
export class Queue implements VirtQueue {
  readonly maxSize: number;
  #size: number;
  #ready = false;
  #descTable = 0n;
  #availRing = 0n;
  #usedRing = 0n;
  #nextAvail = 0;
  #nextUsed = 0;
  #eventIdx = false;
  #numAdded = 0;

  // Cache of the resolved ring areas for #cacheMem.
  #cacheMem: GuestMemoryMmap | undefined;
  #descRegion: GuestMemoryRegion | undefined;
  #descN = 0;
  #avail!: GuestMemoryRegion;
  #availOff = 0;
  #availU16: Uint16Array | undefined;
  #used!: GuestMemoryRegion;
  #usedOff = 0;
  #usedU16: Uint16Array | undefined;
  /** Reused for every chain (the constructor does not keep it). */
  readonly #chainOptions: { tableRegion: GuestMemoryRegion | undefined } = { tableRegion: undefined };

  /** A queue of at most `maxSize` entries (a power of two in [1, 32768]). */
  constructor(maxSize: number) {
    checkMaxSize(maxSize, true);
    this.maxSize = maxSize;
    this.#size = maxSize;
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
  /** The device's next index into the available ring (a free-running u16). */
  get nextAvail(): number {
    return this.#nextAvail;
  }
  /** The device's next index into the used ring (a free-running u16). */
  get nextUsed(): number {
    return this.#nextUsed;
  }
  descTable(): GuestAddress {
    return new GuestAddress(this.#descTable);
  }
  availRing(): GuestAddress {
    return new GuestAddress(this.#availRing);
  }
  usedRing(): GuestAddress {
    return new GuestAddress(this.#usedRing);
  }

  /** Size: a power of two, non-zero, at most maxSize; otherwise INVALID_SIZE and no change. */
  setSize(size: number): void {
    if (!Number.isInteger(size) || size <= 0 || size > this.maxSize || (size & (size - 1)) !== 0) {
      throw err("INVALID_SIZE", `queue size ${size} is not a power of two in [1, ${this.maxSize}]`);
    }
    this.#size = size;
    this.#cacheMem = undefined;
  }
  setReady(ready: boolean): void {
    this.#ready = ready;
    this.#cacheMem = undefined;
  }
  setDescTableAddress(low?: number, high?: number): void {
    this.setDescTable(combine(this.#descTable, low, high));
  }
  setAvailRingAddress(low?: number, high?: number): void {
    this.setAvailRing(combine(this.#availRing, low, high));
  }
  setUsedRingAddress(low?: number, high?: number): void {
    this.setUsedRing(combine(this.#usedRing, low, high));
  }
  /** The descriptor table's address: 16-byte aligned, else INVALID_DESC_TABLE_ALIGN and no change. */
  setDescTable(addr: GuestAddress | bigint | number): void {
    const a = toAddr(addr);
    if (a % BigInt(VIRTQ_DESC_ALIGN) !== 0n) throw err("INVALID_DESC_TABLE_ALIGN", `0x${a.toString(16)}`);
    this.#descTable = a;
    this.#cacheMem = undefined;
  }
  /** The available ring's address: 2-byte aligned, else INVALID_AVAIL_RING_ALIGN and no change. */
  setAvailRing(addr: GuestAddress | bigint | number): void {
    const a = toAddr(addr);
    if (a % BigInt(VIRTQ_AVAIL_ALIGN) !== 0n) throw err("INVALID_AVAIL_RING_ALIGN", `0x${a.toString(16)}`);
    this.#availRing = a;
    this.#cacheMem = undefined;
  }
  /** The used ring's address: 4-byte aligned, else INVALID_USED_RING_ALIGN and no change. */
  setUsedRing(addr: GuestAddress | bigint | number): void {
    const a = toAddr(addr);
    if (a % BigInt(VIRTQ_USED_ALIGN) !== 0n) throw err("INVALID_USED_RING_ALIGN", `0x${a.toString(16)}`);
    this.#usedRing = a;
    this.#cacheMem = undefined;
  }
  setEventIdx(enabled: boolean): void {
    this.#eventIdx = enabled;
  }
  setNextAvail(n: number): void {
    this.#nextAvail = n & 0xffff;
  }
  setNextUsed(n: number): void {
    this.#nextUsed = n & 0xffff;
  }

  /** Back to the state after construction (not ready, size = max size, addresses 0). */
  reset(): void {
    this.#ready = false;
    this.#size = this.maxSize;
    this.#descTable = 0n;
    this.#availRing = 0n;
    this.#usedRing = 0n;
    this.#nextAvail = 0;
    this.#nextUsed = 0;
    this.#numAdded = 0;
    this.#eventIdx = false;
    this.#cacheMem = undefined;
  }

  /** Why the queue cannot be used with `mem`, or undefined when it can. */
  #problem(mem: GuestMemoryMmap): [VirtioQueueErrorCode, string] | undefined {
    if (!this.#ready) return ["QUEUE_NOT_READY", "the queue is not ready"];
    const s = this.#size;
    if (area(mem, this.#descTable, descTableSize(s)) === undefined)
      return ["INVALID_QUEUE_ADDRESS", `descriptor table at 0x${this.#descTable.toString(16)} is not in memory`];
    if (area(mem, this.#availRing, availRingSize(s)) === undefined)
      return ["INVALID_QUEUE_ADDRESS", `available ring at 0x${this.#availRing.toString(16)} is not in memory`];
    if (area(mem, this.#usedRing, usedRingSize(s)) === undefined)
      return ["INVALID_QUEUE_ADDRESS", `used ring at 0x${this.#usedRing.toString(16)} is not in memory`];
    return undefined;
  }

  /** Whether the queue is ready and its three areas each lie inside one region of `mem`. */
  isValid(mem: GuestMemoryMmap): boolean {
    return this.#problem(mem) === undefined;
  }

  #prepare(mem: GuestMemoryMmap): void {
    if (this.#cacheMem === mem) return;
    const p = this.#problem(mem);
    if (p !== undefined) throw err(p[0], p[1]);
    const s = this.#size;
    this.#descN = Number(this.#descTable);
    this.#descRegion = area(mem, this.#descTable, descTableSize(s));
    this.#avail = area(mem, this.#availRing, availRingSize(s))!;
    this.#availOff = Number(this.#availRing) - this.#avail.startN;
    this.#availU16 = (this.#availOff & 1) === 0 ? this.#avail.atomics.u16 : undefined;
    this.#used = area(mem, this.#usedRing, usedRingSize(s))!;
    this.#usedOff = Number(this.#usedRing) - this.#used.startN;
    this.#usedU16 = (this.#usedOff & 1) === 0 ? this.#used.atomics.u16 : undefined;
    this.#cacheMem = mem;
  }

  #availLoad(rel: number): number {
    const o = this.#availOff + rel;
    return this.#availU16 !== undefined ? Atomics.load(this.#availU16, o >>> 1) : this.#avail.view.getUint16(o, true);
  }
  #usedStore(rel: number, v: number): void {
    const o = this.#usedOff + rel;
    if (this.#usedU16 !== undefined) Atomics.store(this.#usedU16, o >>> 1, v);
    else this.#used.view.setUint16(o, v, true);
    this.#used.bitmap?.mark(o, 2);
  }

  /** avail.idx as the driver last published it. */
  availIdx(mem: GuestMemoryMmap): number {
    this.#prepare(mem);
    return this.#availLoad(2);
  }
  /** used.idx as the device last published it. */
  usedIdx(mem: GuestMemoryMmap): number {
    this.#prepare(mem);
    const o = this.#usedOff + 2;
    return this.#usedU16 !== undefined ? Atomics.load(this.#usedU16, o >>> 1) : this.#used.view.getUint16(o, true);
  }
  /** used_event (the avail ring's trailing field). */
  usedEvent(mem: GuestMemoryMmap): number {
    this.#prepare(mem);
    return this.#availLoad(4 + 2 * this.#size);
  }

  /** How many chains are waiting; INVALID_AVAIL_RING_INDEX when the driver claims more than the queue holds. */
  pending(mem: GuestMemoryMmap): number {
    this.#prepare(mem);
    const n = (this.#availLoad(2) - this.#nextAvail) & 0xffff;
    if (n > this.#size) {
      throw err(
        "INVALID_AVAIL_RING_INDEX",
        `avail.idx is ${n} entries ahead of next_avail, the queue holds ${this.#size}`,
      );
    }
    return n;
  }

  /** The chain at `next_avail` (and moves past it), or undefined when none is available. */
  popDescriptorChain(mem: GuestMemoryMmap): DescriptorChain | undefined {
    if (this.pending(mem) === 0) return undefined;
    return this.#take(mem);
  }

  #take(mem: GuestMemoryMmap): DescriptorChain | undefined {
    const s = this.#size;
    if (s === 0) return undefined;
    const head = this.#availLoad(4 + (this.#nextAvail % s) * 2);
    this.#nextAvail = (this.#nextAvail + 1) & 0xffff;
    this.#chainOptions.tableRegion = this.#descRegion;
    return new DescriptorChain(mem, this.#descN, s, head, this.#chainOptions);
  }

  /** An iterator over the chains available now (rust-vmm's AvailIter). */
  iter(mem: GuestMemoryMmap): AvailIter {
    const n = this.pending(mem);
    return new AvailIter(this, mem, (this.#nextAvail + n) & 0xffff, (m) => this.#take(m));
  }

  /**
   * Puts head `headIndex` with `len` written bytes in the used ring, then
   * publishes the new used.idx (after the element, with a barrier).
   */
  addUsed(mem: GuestMemoryMmap, headIndex: number, len: number): void {
    this.#prepare(mem);
    if (!Number.isInteger(headIndex) || headIndex < 0 || headIndex >= this.#size) {
      throw err("INVALID_DESCRIPTOR_INDEX", `used head ${headIndex} is not below the queue size ${this.#size}`);
    }
    if (!Number.isInteger(len) || len < 0 || len > 0xffffffff) {
      throw err("INVALID_ARGUMENT", `used length ${len} is not a u32`);
    }
    const off = this.#usedOff + 4 + (this.#nextUsed % this.#size) * 8;
    const view = this.#used.view;
    view.setUint32(off, headIndex, true);
    view.setUint32(off + 4, len, true);
    this.#used.bitmap?.mark(off, 8);
    this.#nextUsed = (this.#nextUsed + 1) & 0xffff;
    this.#numAdded = (this.#numAdded + 1) & 0xffff;
    this.#usedStore(2, this.#nextUsed);
  }

  /**
   * Turns driver notifications back on (used.flags, or avail_event = next_avail
   * with EVENT_IDX) and says whether chains arrived meanwhile.
   */
  enableNotification(mem: GuestMemoryMmap): boolean {
    this.#prepare(mem);
    if (this.#eventIdx) this.#usedStore(4 + 8 * this.#size, this.#nextAvail);
    else this.#usedStore(0, 0);
    return this.#availLoad(2) !== this.#nextAvail;
  }

  /** Asks the driver not to notify (used.flags NO_NOTIFY; nothing to do with EVENT_IDX). */
  disableNotification(mem: GuestMemoryMmap): void {
    this.#prepare(mem);
    if (!this.#eventIdx) this.#usedStore(0, VRING_USED_F_NO_NOTIFY);
  }

  /**
   * Whether the driver wants an interrupt for the buffers added since the
   * last call. With EVENT_IDX: Linux's vring_need_event(used_event, new, old);
   * without: unless avail.flags has VRING_AVAIL_F_NO_INTERRUPT.
   */
  needsNotification(mem: GuestMemoryMmap): boolean {
    this.#prepare(mem);
    const usedIdx = this.#nextUsed;
    if (this.#eventIdx) {
      const usedEvent = this.#availLoad(4 + 2 * this.#size);
      const old = (usedIdx - this.#numAdded) & 0xffff;
      this.#numAdded = 0;
      return ((usedIdx - usedEvent - 1) & 0xffff) < ((usedIdx - old) & 0xffff);
    }
    this.#numAdded = 0;
    return (this.#availLoad(0) & VRING_AVAIL_F_NO_INTERRUPT) === 0;
  }

  state(): QueueState {
    return {
      maxSize: this.maxSize,
      size: this.#size,
      ready: this.#ready,
      descTable: this.#descTable,
      availRing: this.#availRing,
      usedRing: this.#usedRing,
      nextAvail: this.#nextAvail,
      nextUsed: this.#nextUsed,
      eventIdxEnabled: this.#eventIdx,
      numAdded: this.#numAdded,
    };
  }

  /** A queue from saved state; INVALID_STATE (with the rule broken as `cause`) when it is not valid. */
  static fromState(state: QueueState): Queue {
    try {
      const q = new Queue(state.maxSize);
      q.setSize(state.size);
      q.setDescTable(state.descTable);
      q.setAvailRing(state.availRing);
      q.setUsedRing(state.usedRing);
      if (!isU16(state.nextAvail) || !isU16(state.nextUsed)) {
        throw err("INVALID_ARGUMENT", "next_avail/next_used are not u16 values");
      }
      q.#nextAvail = state.nextAvail;
      q.#nextUsed = state.nextUsed;
      if (state.numAdded !== undefined && !isU16(state.numAdded)) {
        throw err("INVALID_ARGUMENT", "numAdded is not a u16 value");
      }
      q.#numAdded = state.numAdded ?? 0;
      q.#eventIdx = state.eventIdxEnabled === true;
      q.#ready = state.ready === true;
      return q;
    } catch (e) {
      throw new VirtioQueueError("INVALID_STATE", `invalid queue state: ${(e as Error).message}`, { cause: e });
    }
  }
}

function isU16(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 0xffff;
}

export function toAddr(addr: GuestAddress | bigint | number): bigint {
  if (addr instanceof GuestAddress) return addr.value;
  const a = BigInt(addr);
  if (a < 0n || a >= 1n << 64n) throw err("INVALID_ARGUMENT", `address ${a} is not a u64`);
  return a;
}

/** Iterates the chains that were available when it was made; can step back one. */
export class AvailIter implements IterableIterator<DescriptorChain> {
  readonly #queue: Queue;
  readonly #mem: GuestMemoryMmap;
  readonly #lastIndex: number;
  readonly #take: (m: GuestMemoryMmap) => DescriptorChain | undefined;

  constructor(
    queue: Queue,
    mem: GuestMemoryMmap,
    lastIndex: number,
    take: (m: GuestMemoryMmap) => DescriptorChain | undefined,
  ) {
    this.#queue = queue;
    this.#mem = mem;
    this.#lastIndex = lastIndex;
    this.#take = take;
  }
  next(): IteratorResult<DescriptorChain> {
    if (this.#queue.nextAvail === this.#lastIndex) return { done: true, value: undefined };
    const c = this.#take(this.#mem);
    return c === undefined ? { done: true, value: undefined } : { done: false, value: c };
  }
  /** Un-pops the last chain: the next call yields it again. */
  goToPreviousPosition(): void {
    this.#queue.setNextAvail(this.#queue.nextAvail - 1);
  }
  [Symbol.iterator](): IterableIterator<DescriptorChain> {
    return this;
  }
}
