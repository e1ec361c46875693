/**
 * @kindling/sys-util/unsafe: the raw escape hatches, for code that builds
 * kernel structures itself (a VMM's ioctls, a library OS's host calls).
 *
 * Nothing here checks what the kernel will do with an address: `syscall` and
 * `ioctlRaw` pass numbers as they are (a number the kernel reads as a pointer
 * reads or writes this process's memory wherever it points), buffers by their
 * address with no size check against the request, and `native()` is the whole
 * addon. The main entry (`@kindling/sys-util`) has the typed, size-checked
 * wrappers; import from here only where those cannot serve.
 */
import { check } from "./errors.js";
import { native } from "./native.js";

export type { NativeBinding } from "./native.js";
export { native } from "./native.js";

type Arg = number | bigint | ArrayBufferView | ArrayBuffer;

/** ioctl(2) with no check of `arg` against the request; returns the result or -errno. */
export function ioctlRaw(fd: number, request: number | bigint, arg?: Arg): number {
  return native().ioctl(fd, request, arg ?? 0);
}

/** ioctl(2) with no check of `arg` against the request; throws SysError on failure. */
export function ioctlUnchecked(fd: number, request: number | bigint, arg?: Arg): number {
  return check(ioctlRaw(fd, request, arg), "ioctl", `0x${request.toString(16)}`);
}

/** The host address of a buffer's first byte (for kernel structs that hold pointers). */
export function addressOf(buf: ArrayBufferLike | ArrayBufferView): bigint {
  return native().addressOf(buf);
}

/** syscall(2). Buffers are passed by address. Returns the result or throws SysError. */
export function syscall(nr: number, ...args: Arg[]): number {
  return check(native().syscall(nr, ...args), `syscall ${nr}`);
}

/** syscall(2) returning -errno instead of throwing. */
export function syscallRaw(nr: number, ...args: Arg[]): number {
  return native().syscall(nr, ...args);
}

const SYS_prctl = 157;

/** prctl(2): several options take a pointer in a number argument. */
export function prctl(option: number, a2: number | bigint = 0, a3: number | bigint = 0, a4 = 0, a5 = 0): number {
  return check(native().syscall(SYS_prctl, option, a2, a3, a4, a5), "prctl");
}
