// @kindling/libos: A library OS: the Linux x86-64 syscall ABI served in TypeScript (tasks, fds, VFS, pipes, memory, time, signals).
export {};
