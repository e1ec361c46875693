import { Ioctl, Kvm } from "@kindling/kvm-ioctls";
import { MmapRegion, SysError, UsageError } from "@kindling/sys-util";
import { addressOf } from "@kindling/sys-util/unsafe";
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

describe.skipIf(kvmUnavailable)("VmFd.setUserMemoryRegion", () => {
  it("takes only host memory inside a live MmapRegion", () => {
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    const mem = MmapRegion.anonymous(0x4000);
    const slot = (userspaceAddr: bigint, memorySize: bigint) =>
      vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0n, memorySize, userspaceAddr });
    // Node's own memory (a heap buffer's address is not a mapping of ours) and ranges past the end.
    const heap = addressOf(new Uint8Array(0x2000));
    expect(() => slot(0x7f00_0000_0000n, 0x1000n)).toThrowError(UsageError);
    expect(() => slot(mem.hostAddress + 0x1000n, 0x4000n)).toThrowError(UsageError);
    expect(() => slot(heap, 0x1000n)).toThrowError(UsageError);
    slot(mem.hostAddress, 0x4000n);
    // KVM writes a dirty bitmap of the slot's size: another size would overrun the buffer.
    expect(() => vm.getDirtyLog(0, 0n)).toThrowError(UsageError);
    expect(() => vm.getDirtyLog(1, 0x4000n)).toThrowError(UsageError);
    slot(mem.hostAddress, 0n); // deleting needs no memory
    expect(() => vm.getDirtyLog(0, 0x4000n)).toThrowError(UsageError);
    mem.unmap();
    expect(() => slot(mem.hostAddress, 0x4000n)).toThrowError(UsageError); // unmapped: refused
    vm.close();
    kvm.close();
  });
});
