/**
 * @kindling/kvm-ioctls: safe, typed wrappers of the KVM API for x86-64, in
 * the shape of rust-vmm's kvm-ioctls: Kvm → VmFd → VcpuFd / DeviceFd.
 */
export * from "./codec.js";
export * from "./constants.js";
export type { VcpuExit, VcpuExitKind } from "./exit.js";
export { SystemEventType } from "./exit.js";
export { CpuId, decodeMsrs, encodeMsrs, KVM_MAX_CPUID_ENTRIES, Kvm, KvmError } from "./kvm.js";
export * from "./structs.js";
export { VcpuFd } from "./vcpu.js";
export { type Datamatch, DeviceFd, type IoEventAddress, type UserMemoryRegion, VmFd } from "./vm.js";
export * from "./x86.js";
