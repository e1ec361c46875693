import type { GuestMemoryMmap } from "./mmap.js";

/** The argument of KVM_SET_USER_MEMORY_REGION (struct kvm_userspace_memory_region). */
export interface UserMemoryRegion {
  slot: number;
  guestPhysAddr: bigint;
  memorySize: bigint;
  userspaceAddr: bigint;
  flags: number;
}

/** Anything that can register a memory slot: kvm-ioctls' VmFd satisfies it. */
export interface UserMemoryRegionSink {
  setUserMemoryRegion(region: UserMemoryRegion): void;
}

/** KVM_MEM_LOG_DIRTY_PAGES. */
export const KVM_MEM_LOG_DIRTY_PAGES = 1;
/** KVM_MEM_READONLY. */
export const KVM_MEM_READONLY = 2;

export interface RegisterOptions {
  /** Slot of the first region; the others follow (default 0). */
  firstSlot?: number;
  /** kvm_userspace_memory_region.flags for every region (default 0). */
  flags?: number;
}

/** Registers every region of `mem` with a VM, one slot each; returns what was registered. */
export function registerWithVm(
  mem: GuestMemoryMmap,
  vm: UserMemoryRegionSink,
  options: RegisterOptions = {},
): UserMemoryRegion[] {
  const first = options.firstSlot ?? 0;
  const out: UserMemoryRegion[] = [];
  mem.regions().forEach((r, i) => {
    const region: UserMemoryRegion = {
      slot: first + i,
      guestPhysAddr: r.start.value,
      memorySize: BigInt(r.size),
      userspaceAddr: r.hostAddress,
      flags: options.flags ?? 0,
    };
    vm.setUserMemoryRegion(region);
    out.push(region);
  });
  return out;
}
