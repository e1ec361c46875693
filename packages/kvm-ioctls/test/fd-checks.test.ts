import { Ioctl, Kvm } from "@kindling/kvm-ioctls";
import { SysError, UsageError } from "@kindling/sys-util";
import { describe, expect, it } from "vitest";
import { KvmFdBase } from "../src/fd.js";
import { kvmUnavailable } from "./helpers.js";

// KvmFdBase uses the unchecked ioctl (the kvm structs with entries after a
// header need it) but never hands the kernel less than the request's _IOC_SIZE.
class Probe extends KvmFdBase {
  call(request: number, arg?: number | Uint8Array): number {
    return this.ioctl("probe", request, arg);
  }
  override close(): void {} // the fd is the Kvm's
}

describe.skipIf(kvmUnavailable)("KvmFdBase ioctl", () => {
  it("refuses a buffer shorter than _IOC_SIZE, or a number, for a request that takes a pointer", () => {
    const kvm = Kvm.open();
    const p = new Probe(kvm.fd);
    expect(() => p.call(Ioctl.KVM_GET_MSR_INDEX_LIST, new Uint8Array(3))).toThrowError(UsageError);
    expect(() => p.call(Ioctl.KVM_GET_MSR_INDEX_LIST, 0x1000)).toThrowError(UsageError);
    // The header alone (nmsrs = 0) reaches the kernel, which asks for room (E2BIG) and fills nmsrs.
    const header = new Uint8Array(4);
    expect(() => p.call(Ioctl.KVM_GET_MSR_INDEX_LIST, header)).toThrowError(SysError);
    const n = new DataView(header.buffer).getUint32(0, true);
    expect(n).toBeGreaterThan(0);
    // A header with entries after it is fine.
    const list = new Uint8Array(4 + 4 * n);
    new DataView(list.buffer).setUint32(0, n, true);
    expect(p.call(Ioctl.KVM_GET_MSR_INDEX_LIST, list)).toBe(0);
    kvm.close();
  });
});
