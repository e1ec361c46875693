/** Every way loading can fail. */
export type LoaderErrorCode =
  /** The file is shorter than a structure or range it declares. */
  | "TRUNCATED"
  /** Not an ELF file (bad magic) / not a bzImage (no 0xAA55 or "HdrS"). */
  | "BAD_MAGIC"
  /** A 32-bit ELF file (ELFCLASS32). */
  | "ELF_32BIT"
  /** A big-endian ELF file (ELFDATA2MSB). */
  | "BIG_ENDIAN"
  /** An ELF file for another machine than x86-64. */
  | "WRONG_MACHINE"
  /** An ELF file that is not an executable (relocatable object, core dump…). */
  | "NOT_EXECUTABLE"
  /** A program with a PT_INTERP segment: it needs a dynamic linker. */
  | "DYNAMICALLY_LINKED"
  /** A header field holds a value that is not allowed (the error names the field). */
  | "INVALID_FIELD"
  /** Address or size arithmetic overflows, or leaves the allowed address space. */
  | "OVERFLOW"
  /** Two loadable segments overlap, or are not in ascending address order. */
  | "OVERLAPPING_SEGMENTS"
  /** Nothing to load. */
  | "NO_LOADABLE_SEGMENTS"
  /** A range to write is not entirely inside guest memory. */
  | "OUT_OF_GUEST_MEMORY"
  /** A bzImage uses a boot protocol older than 2.00 or cannot be loaded high. */
  | "UNSUPPORTED"
  /** An argument given by the caller is invalid. */
  | "INVALID_ARGUMENT"
  /** Command line: a character outside printable ASCII. */
  | "CMDLINE_INVALID_ASCII"
  /** Command line: a key (or an unquoted value) has a space. */
  | "CMDLINE_HAS_SPACE"
  /** Command line: a key has an equals sign. */
  | "CMDLINE_HAS_EQUALS"
  /** Command line: quotes that do not enclose a whole value. */
  | "CMDLINE_INVALID_QUOTE"
  /** Command line: an empty key or a missing value. */
  | "CMDLINE_MISSING_VALUE"
  /** Command line: the result, with its NUL, would exceed the capacity. */
  | "CMDLINE_TOO_LARGE"
  /** Command line: a virtio-mmio device of size 0. */
  | "CMDLINE_MMIO_SIZE"
  /** Initrd: it does not fit below the limit. */
  | "INITRD_TOO_LARGE";

/** The one error class of `@kindling/linux-loader`: `code` says what, `field` names the culprit. */
export class LoaderError extends Error {
  override readonly name = "LoaderError";
  readonly code: LoaderErrorCode;
  readonly field: string | undefined;
  constructor(code: LoaderErrorCode, message: string, options?: { field?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options?.field;
  }
}

export function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}
