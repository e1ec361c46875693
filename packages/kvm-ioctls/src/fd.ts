import { IOC_NONE, iocDir, iocSize, SysError, close as sysClose, UsageError } from "@kindling/sys-util";
import { ioctlRaw } from "@kindling/sys-util/unsafe";

/**
 * An owned file descriptor of the KVM API. Calls after close() are a
 * UsageError (EBADF), never a call on a recycled fd number.
 */
export class KvmFdBase {
  #fd: number;
  constructor(fd: number) {
    this.#fd = fd;
  }

  /** The raw fd (throws after close). */
  get fd(): number {
    if (this.#fd < 0) throw new UsageError("EBADF", `${this.constructor.name} is closed`);
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  close(): void {
    if (this.#fd >= 0) {
      sysClose(this.#fd);
      this.#fd = -1;
    }
  }

  /** ioctl on this fd; a failure is a SysError naming the request. */
  protected ioctl(name: string, request: number, arg?: number | bigint | ArrayBufferView | ArrayBuffer): number {
    // The unchecked ioctl, for the variable-length KVM structs (cpuid2, msrs, irq routing:
    // a header of _IOC_SIZE bytes and entries after it); never shorter than the header.
    if (iocDir(request) !== IOC_NONE) {
      const len = arg instanceof ArrayBuffer || ArrayBuffer.isView(arg) ? arg.byteLength : -1;
      if (len < iocSize(request)) {
        throw new UsageError("EINVAL", `${name} takes a buffer of at least ${iocSize(request)} bytes`);
      }
    }
    const r = ioctlRaw(this.fd, request, arg ?? 0);
    if (r < 0) throw new SysError(name, -r);
    return r;
  }
}
