import { type BzImage, type BzImageLoadOptions, loadBzImage } from "./bzimage.js";
import { loadElfKernel } from "./elf.js";
import { LoaderError } from "./errors.js";
import type { GuestMemoryTarget } from "./memory.js";

/** What `loadKernel` loaded, whatever the format. */
export interface KernelLoadResult {
  format: "elf" | "bzimage";
  /** Lowest guest address written. */
  loadStart: bigint;
  /** One past the highest guest address written. */
  kernelEnd: bigint;
  /** Entry for the 64-bit boot protocol (RSI = zero page), when the kernel has one. */
  entry64: bigint | undefined;
  /** Entry for PVH (EBX = hvm_start_info), for an ELF kernel with the Xen PVH note. */
  pvhEntry: bigint | undefined;
  /** The bzImage (for `BootParams.fromBzImage`), when the kernel was one. */
  bzImage: BzImage | undefined;
}

/**
 * Loads a kernel image of either format, as `kindling boot --kernel vmlinux|bzImage` takes it:
 * an ELF `vmlinux` (by its magic) or a bzImage (by its setup header). A file that is neither is
 * a `BAD_MAGIC` error.
 */
export function loadKernel(
  mem: GuestMemoryTarget,
  bytes: Uint8Array,
  options: { kernelOffset?: bigint; highmemStart?: bigint; bzImage?: BzImageLoadOptions } = {},
): KernelLoadResult {
  if (!(bytes instanceof Uint8Array)) {
    throw new LoaderError("INVALID_ARGUMENT", "the kernel must be a Uint8Array", { field: "bytes" });
  }
  if (bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
    const r = loadElfKernel(mem, bytes, { kernelOffset: options.kernelOffset, highmemStart: options.highmemStart });
    return {
      format: "elf",
      loadStart: r.loadStart,
      kernelEnd: r.kernelEnd,
      entry64: r.kernelLoad,
      pvhEntry: r.pvhEntry,
      bzImage: undefined,
    };
  }
  const r = loadBzImage(mem, bytes, { highmemStart: options.highmemStart, ...options.bzImage });
  return {
    format: "bzimage",
    loadStart: r.kernelLoad,
    kernelEnd: r.kernelEnd,
    entry64: r.entry64,
    pvhEntry: undefined,
    bzImage: r.image,
  };
}
