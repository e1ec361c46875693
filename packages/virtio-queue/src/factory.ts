import { PackedQueue } from "./packed.js";
import { Queue, type VirtQueue } from "./queue.js";

/**
 * A queue for the negotiated ring layout: a {@link PackedQueue} when the
 * driver accepted VIRTIO_F_RING_PACKED, else a split {@link Queue}.
 */
export function createVirtQueue(maxSize: number, packed: boolean): VirtQueue {
  return packed ? new PackedQueue(maxSize) : new Queue(maxSize);
}
