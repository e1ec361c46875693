/** Every way a virtqueue operation can fail. */
export type VirtioQueueErrorCode =
  /** Max size is 0, not a power of two, or above 32768. */
  | "INVALID_MAX_SIZE"
  /** Size is 0, above the max size, or (split ring) not a power of two. */
  | "INVALID_SIZE"
  /** Descriptor table not 16-byte aligned. */
  | "INVALID_DESC_TABLE_ALIGN"
  /** Available ring (driver area) not 2-byte aligned (packed: 4). */
  | "INVALID_AVAIL_RING_ALIGN"
  /** Used ring (device area) not 4-byte aligned. */
  | "INVALID_USED_RING_ALIGN"
  /** The queue is not ready (or was reset). */
  | "QUEUE_NOT_READY"
  /** A ring area is not inside guest memory (each area must lie in one region). */
  | "INVALID_QUEUE_ADDRESS"
  /** The driver published more available entries than the queue holds (avail_idx - next_avail > size). */
  | "INVALID_AVAIL_RING_INDEX"
  /** A head/buffer id >= queue size (addUsed), or a chain's next >= size. */
  | "INVALID_DESCRIPTOR_INDEX"
  /** An indirect descriptor inside an indirect table. */
  | "INVALID_INDIRECT_DESCRIPTOR"
  /** An indirect table whose length is not a multiple of 16 or holds more than 65535 entries. */
  | "INVALID_INDIRECT_DESCRIPTOR_TABLE"
  /** A chain whose summed length exceeds 2^32 - 1 bytes. */
  | "DESCRIPTOR_CHAIN_OVERFLOW"
  /** A chain still linked after as many descriptors as its table holds (a cycle). */
  | "CHAIN_TOO_LONG"
  /** A descriptor that cannot be read from guest memory. */
  | "INVALID_DESCRIPTOR_ADDRESS"
  /** A buffer that is not entirely inside one guest memory region. */
  | "INVALID_BUFFER"
  /** A read/write beyond what the chain's buffers hold. */
  | "UNEXPECTED_EOF"
  /** A used length that is not a u32, or another bad argument. */
  | "INVALID_ARGUMENT"
  /** A saved state that does not describe a valid queue. */
  | "INVALID_STATE";

/** Error codes that end a descriptor chain's iteration (recorded in `chain.error`). */
export type ChainErrorCode =
  | "INVALID_DESCRIPTOR_INDEX"
  | "INVALID_INDIRECT_DESCRIPTOR"
  | "INVALID_INDIRECT_DESCRIPTOR_TABLE"
  | "DESCRIPTOR_CHAIN_OVERFLOW"
  | "CHAIN_TOO_LONG"
  | "INVALID_DESCRIPTOR_ADDRESS";

/** A typed virtqueue error. */
export class VirtioQueueError extends Error {
  override readonly name = "VirtioQueueError";
  readonly code: VirtioQueueErrorCode;
  constructor(code: VirtioQueueErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
