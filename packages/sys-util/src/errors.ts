import { constants } from "node:os";

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  // The first name wins for aliases (EAGAIN before EWOULDBLOCK, EDEADLK before EDEADLOCK).
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}

/** The symbolic name of an errno value ("EINVAL"), or "E<n>" when unknown. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** The errno value of a symbolic name, or undefined. */
export function errnoValue(name: string): number | undefined {
  return (constants.errno as Record<string, number>)[name];
}

/** A failed system call: carries the errno and its symbolic code. */
export class SysError extends Error {
  override readonly name = "SysError";
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;

  constructor(syscall: string, errno: number, detail?: string) {
    const code = errnoName(errno);
    super(`${syscall}${detail ? ` (${detail})` : ""} failed: ${code}`);
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
  }
}

/** Misuse of a wrapper (use after unmap, a closed fd, a range outside a buffer). */
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** Turns a raw kernel-convention result (-errno on failure) into a value or a SysError. */
export function check(result: number, syscall: string, detail?: string): number {
  if (result < 0) throw new SysError(syscall, -result, detail);
  return result;
}

/** Converts an error thrown by the addon (carrying `errno`) into a SysError. */
export function rethrow(err: unknown): never {
  if (err instanceof Error && typeof (err as { errno?: unknown }).errno === "number") {
    const e = err as Error & { errno: number; syscall?: string };
    throw new SysError(e.syscall ?? "syscall", e.errno);
  }
  throw err;
}
