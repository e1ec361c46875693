/** A libos usage error (bad options from the embedder), never raised for program input. */
export class LibosError extends Error {
  override readonly name = "LibosError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
