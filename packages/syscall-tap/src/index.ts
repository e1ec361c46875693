// @kindling/syscall-tap: intercepting a program's system calls.

export * from "./kvm/index.js";
export * from "./seccomp/index.js";
export * from "./strace/index.js";
export * from "./types.js";
