import type { VmFd } from "@kindling/kvm-ioctls";
import { MmapRegion } from "@kindling/sys-util";

/** Anonymous guest memory registered as one slot (tests only; real VMMs use @kindling/vm-memory). */
export class TestMemory {
  readonly region: MmapRegion;
  readonly bytes: Uint8Array;
  constructor(
    readonly guestBase: number,
    readonly size: number,
  ) {
    this.region = MmapRegion.anonymous(size);
    this.bytes = this.region.bytes();
  }
  register(vm: VmFd, slot = 0, flags = 0): void {
    vm.setUserMemoryRegion({
      slot,
      guestPhysAddr: BigInt(this.guestBase),
      memorySize: BigInt(this.size),
      userspaceAddr: this.region.hostAddress,
      flags,
    });
  }
  write(gpa: number, data: ArrayLike<number>): void {
    this.bytes.set(data, gpa - this.guestBase);
  }
  view(): DataView {
    return new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }
}
