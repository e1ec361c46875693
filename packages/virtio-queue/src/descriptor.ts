import { GuestAddress } from "@kindling/vm-memory";

/** This descriptor continues via the `next` field (split) or the following slot (packed). */
export const VIRTQ_DESC_F_NEXT = 0x1;
/** The device writes this buffer (otherwise it reads it). */
export const VIRTQ_DESC_F_WRITE = 0x2;
/** The buffer holds a table of indirect descriptors. */
export const VIRTQ_DESC_F_INDIRECT = 0x4;
/** Packed ring: the available flag (bit 7). */
export const VIRTQ_DESC_F_AVAIL = 1 << 7;
/** Packed ring: the used flag (bit 15). */
export const VIRTQ_DESC_F_USED = 1 << 15;

/** Driver → device: "do not interrupt me" (split avail.flags). */
export const VRING_AVAIL_F_NO_INTERRUPT = 0x1;
/** Device → driver: "do not notify me" (split used.flags). */
export const VRING_USED_F_NO_NOTIFY = 0x1;

/** Packed event suppression flags. */
export const VRING_PACKED_EVENT_FLAG_ENABLE = 0x0;
export const VRING_PACKED_EVENT_FLAG_DISABLE = 0x1;
export const VRING_PACKED_EVENT_FLAG_DESC = 0x2;
/** Bit of off_wrap holding the wrap counter. */
export const VRING_PACKED_EVENT_F_WRAP_CTR = 15;

/** The largest queue size virtio allows. */
export const MAX_QUEUE_SIZE = 32768;
/** Bytes in one descriptor (split and packed). */
export const VIRTQ_DESCRIPTOR_SIZE = 16;
export const VIRTQ_DESC_ALIGN = 16;
export const VIRTQ_AVAIL_ALIGN = 2;
export const VIRTQ_USED_ALIGN = 4;
/** Bytes of the avail ring for a queue of `size`: flags, idx, ring[size], used_event. */
export const availRingSize = (size: number): number => 6 + 2 * size;
/** Bytes of the used ring for a queue of `size`: flags, idx, ring[size] of {id, len}, avail_event. */
export const usedRingSize = (size: number): number => 6 + 8 * size;
/** Bytes of the descriptor table. */
export const descTableSize = (size: number): number => 16 * size;

/** The feature bits that change queue behaviour. */
export const VIRTIO_F_INDIRECT_DESC = 28;
export const VIRTIO_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;
export const VIRTIO_F_RING_PACKED = 34;

/** One descriptor as read from guest memory. `addrHi`/`addrLo` hold the exact 64-bit address. */
export class Descriptor {
  constructor(
    readonly addrLo: number,
    readonly addrHi: number,
    readonly len: number,
    readonly flags: number,
    /** Split: the next index; packed: the buffer id. */
    readonly next: number,
  ) {}
  /** The buffer's guest address. */
  get addr(): GuestAddress {
    return new GuestAddress((BigInt(this.addrHi) << 32n) | BigInt(this.addrLo));
  }
  /** The address as a number (above 2^53 it is inexact, and outside any memory). */
  get addrN(): number {
    return this.addrHi * 4294967296 + this.addrLo;
  }
  isWriteOnly(): boolean {
    return (this.flags & VIRTQ_DESC_F_WRITE) !== 0;
  }
  hasNext(): boolean {
    return (this.flags & VIRTQ_DESC_F_NEXT) !== 0;
  }
  refersToIndirectTable(): boolean {
    return (this.flags & VIRTQ_DESC_F_INDIRECT) !== 0;
  }
}
