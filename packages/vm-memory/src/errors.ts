/** Every way a guest-memory operation can fail. */
export type GuestMemoryErrorCode =
  /** The address (or the first byte of a range) is not backed by any region. */
  | "INVALID_GUEST_ADDRESS"
  /** An address computation overflowed 64 bits (or a length is absurd). */
  | "ADDRESS_OVERFLOW"
  /** Only part of a range is backed by memory (a hole or the end of the last region). */
  | "PARTIAL_BUFFER"
  /** An offset/length is outside a slice or region. */
  | "OUT_OF_BOUNDS"
  /** The range is valid but spans two regions where one contiguous region is required. */
  | "CROSSES_REGION"
  /** An atomic access is not naturally aligned. */
  | "MISALIGNED"
  /** A region of size 0. */
  | "EMPTY_REGION"
  /** Regions not sorted by start address. */
  | "UNSORTED_REGIONS"
  /** Two regions share at least one address. */
  | "OVERLAPPING_REGIONS"
  /** A memory with no region at all. */
  | "NO_REGIONS"
  /** A region that ends above 2^53 (the number fast paths cover every region), or larger than a mapping can be. */
  | "REGION_TOO_LARGE"
  /** A value that is not a valid argument (negative, not an integer, not a power of two…). */
  | "INVALID_ARGUMENT"
  /** The operation needs a file- or memfd-backed region. */
  | "NOT_FILE_BACKED";

/** A typed guest-memory error. `addr` is the guest (or region/slice) address involved, when there is one. */
export class GuestMemoryError extends Error {
  override readonly name = "GuestMemoryError";
  readonly code: GuestMemoryErrorCode;
  readonly addr: bigint | undefined;
  /** For PARTIAL_BUFFER: bytes asked for and bytes completed. */
  readonly expected: number | undefined;
  readonly completed: number | undefined;

  constructor(
    code: GuestMemoryErrorCode,
    message: string,
    extra: { addr?: bigint | number; expected?: number; completed?: number } = {},
  ) {
    super(message);
    this.code = code;
    this.addr = extra.addr === undefined ? undefined : BigInt(extra.addr);
    this.expected = extra.expected;
    this.completed = extra.completed;
  }
}

export function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}
