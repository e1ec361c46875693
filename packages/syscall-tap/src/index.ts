// @kindling/syscall-tap: Intercepting a program's system calls: KVM-guest, seccomp user-notification and ptrace platforms, and an strace-like tracer.
export {};
