// @kindling/virtio-queue: the device side of virtio split and packed virtqueues,
// with every validation rule a hostile guest needs.
export { DescriptorChain } from "./chain.js";
export * from "./descriptor.js";
export { type ChainErrorCode, VirtioQueueError, type VirtioQueueErrorCode } from "./errors.js";
export { createVirtQueue } from "./factory.js";
export { type MockDescriptor, MockPackedQueue, MockSplitQueue } from "./mock.js";
export { PACKED_EVENT_SIZE, PackedQueue, type PackedQueueState } from "./packed.js";
export { AvailIter, Queue, type QueueState, type VirtQueue } from "./queue.js";
export { ChainBuffers, Reader, ReaderWriter, readerWriter, Writer } from "./reader.js";
