/**
 * The system calls the jailed supervisor must never be allowed, on either
 * platform, whatever a measurement saw: they start or trace processes, or open
 * sockets. measure-supervisor-syscalls.mjs keeps them out of
 * policy/supervisor-x86_64.json; test/jail.test.ts checks that both filters trap them.
 */
export const NEVER = [
  "execve",
  "execveat",
  "fork",
  "vfork",
  "ptrace",
  "socket",
  "socketpair",
  "connect",
  "bind",
  "listen",
];
