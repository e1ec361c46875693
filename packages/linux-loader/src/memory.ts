import type { GuestMemoryMmap } from "@kindling/vm-memory";
import { hex, LoaderError } from "./errors.js";

/**
 * What the loaders need from guest memory. `@kindling/vm-memory`'s `GuestMemoryMmap` satisfies it;
 * so can a recording wrapper in tests.
 */
export interface GuestMemoryTarget {
  /** Whether every byte of `[addr, addr+len)` is backed. */
  checkRange(addr: bigint, len: number | bigint): boolean;
  /** Writes all of `buf` at `addr` or throws. */
  writeSlice(buf: Uint8Array, addr: bigint): void;
}

/** Guest memory that can also tell its regions (for E820 maps and initrd placement). */
export interface GuestMemoryLayout extends GuestMemoryTarget {
  regions(): ReadonlyArray<{ readonly start: { readonly value: bigint }; readonly size: number }>;
}

// Compile-time check that @kindling/vm-memory's GuestMemoryMmap is accepted by every loader.
type Fits<T extends GuestMemoryLayout> = T;
/** `@kindling/vm-memory`'s `GuestMemoryMmap`, which every loader here accepts. */
export type VmGuestMemory = Fits<GuestMemoryMmap>;

export const U64_MAX = (1n << 64n) - 1n;
export const PAGE_SIZE = 0x1000n;

/** Throws OUT_OF_GUEST_MEMORY unless `[addr, addr+len)` is backed (and does not overflow). */
export function checkGuestRange(mem: GuestMemoryTarget, addr: bigint, len: bigint, what: string): void {
  if (addr < 0n || len < 0n || addr + len > U64_MAX + 1n) {
    throw new LoaderError("OVERFLOW", `${what}: [${hex(addr)}, +${hex(len)}) overflows 64 bits`, { field: what });
  }
  if (!mem.checkRange(addr, len)) {
    throw new LoaderError("OUT_OF_GUEST_MEMORY", `${what}: [${hex(addr)}, +${hex(len)}) is not in guest memory`, {
      field: what,
    });
  }
}

const ZERO_CHUNK = new Uint8Array(64 * 1024);

/** Zero-fills `[addr, addr+len)` (already checked) in chunks. */
export function zeroFill(mem: GuestMemoryTarget, addr: bigint, len: bigint): void {
  let done = 0n;
  const chunk = BigInt(ZERO_CHUNK.length);
  while (done < len) {
    const n = len - done < chunk ? len - done : chunk;
    mem.writeSlice(n === chunk ? ZERO_CHUNK : ZERO_CHUNK.subarray(0, Number(n)), addr + done);
    done += n;
  }
}

/** Writes file bytes `[offset, offset+size)` (already checked against the file) at `addr`. */
export function copyToGuest(mem: GuestMemoryTarget, bytes: Uint8Array, offset: number, size: number, addr: bigint) {
  if (size > 0) mem.writeSlice(bytes.subarray(offset, offset + size), addr);
}

export function alignUp(v: bigint, a: bigint): bigint {
  return (v + a - 1n) & ~(a - 1n);
}
export function alignDown(v: bigint, a: bigint): bigint {
  return v & ~(a - 1n);
}
