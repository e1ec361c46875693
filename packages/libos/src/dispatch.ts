import type { Resume, SyscallEvent, TaskControl } from "@kindling/syscall-tap";
import type { Libos } from "./kernel.js";
import { SYS, SYSCALL_TABLE_SIZE, type SyscallName } from "./sysno.js";

/** What a handler may change before the task resumes (`Resume.Return` unless set). */
export interface Outcome {
  resume: Resume;
}

/**
 * A system call handler: returns the value for rax (>= 0, or -errno). It may
 * set `out.resume` (Registers after rewriting registers, Exit when the task ends).
 * Program memory goes through `t.memory`; a MemoryFault thrown from it becomes
 * -EFAULT in the dispatcher, so handlers need not catch it.
 */
export type Handler = (k: Libos, t: TaskControl, ev: SyscallEvent, out: Outcome) => number;

/** A dense table indexed by syscall number; every slot holds a function. */
export type SyscallTable = Handler[];

/** A module of handlers: `register` fills its slots. */
export interface SyscallModule {
  register(table: SyscallTable): void;
}

export function createTable(fallback: Handler): SyscallTable {
  const table = new Array<Handler>(SYSCALL_TABLE_SIZE);
  for (let i = 0; i < SYSCALL_TABLE_SIZE; i++) table[i] = fallback;
  return table;
}

/** Sets the handler of syscall `name`. */
export function define(table: SyscallTable, name: SyscallName, handler: Handler): void {
  table[SYS[name]] = handler;
}
