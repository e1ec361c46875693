/** Error codes raised by the devices of `@kindling/vm-superio`. */
export type SuperIoErrorCode =
  /** The receive FIFO has no room for more input. */
  | "FULL_FIFO"
  /** A `Trigger` threw while the device raised an interrupt or event. */
  | "TRIGGER_FAILED"
  /** A saved state cannot be restored (a field is not a byte, the FIFO is too long, …). */
  | "INVALID_STATE"
  /** An argument is out of range (an offset, a byte value, a date). */
  | "INVALID_ARGUMENT";

/** The one error class of this package; `code` says what went wrong, `field` names the culprit. */
export class SuperIoError extends Error {
  override readonly name = "SuperIoError";
  readonly code: SuperIoErrorCode;
  readonly field: string | undefined;
  constructor(code: SuperIoErrorCode, message: string, options?: { field?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options?.field;
  }
}
