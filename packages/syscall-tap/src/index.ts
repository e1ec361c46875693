// @kindling/syscall-tap: intercepting a program's system calls.
export * from "./types.js";
export * from "./seccomp/index.js";
export * from "./strace/index.js";
export * from "./kvm/index.js";
