// @kindling/kvm-ioctls: Safe, typed wrappers of the KVM API: Kvm, VmFd, VcpuFd, DeviceFd and zero-copy VcpuExit decoding (x86-64).
export {};
