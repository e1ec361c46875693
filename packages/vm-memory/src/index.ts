// @kindling/vm-memory: guest memory for VMMs: GuestAddress, GuestMemoryMmap,
// bounds-checked Bytes access, volatile slices, dirty bitmaps.
export {
  type AddressLike,
  AddressValue,
  addrToNumber,
  GuestAddress,
  MemoryRegionAddress,
  toU64,
  U64_MAX,
} from "./address.js";
export { AtomicViews, type AtomicWidth } from "./atomic.js";
export { DirtyBitmap } from "./bitmap.js";
export { type ByteCodec, codecs } from "./codec.js";
export { GuestMemoryError, type GuestMemoryErrorCode } from "./errors.js";
export {
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  type RegisterOptions,
  registerWithVm,
  type UserMemoryRegion,
  type UserMemoryRegionSink,
} from "./kvm.js";
export { GuestMemoryMmap, type GuestMemoryOptions, MAX_MAPPING_SIZE, type RangeSpec } from "./mmap.js";
export { type FileOffset, GuestMemoryRegion, MAX_GUEST_ADDRESS_NUMBER } from "./region.js";
export { VolatileSlice } from "./volatile.js";
