// @kindling/seccompiler: Firecracker-format seccomp filters compiled to BPF, a BPF interpreter, and filter installation.
export {};
