// @kindling/vm-memory: Guest memory for VMMs: GuestAddress, GuestMemoryMmap, bounds-checked Bytes access, volatile slices, dirty bitmaps.
export {};
