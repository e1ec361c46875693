/**
 * clone for threads (CLONE_VM|CLONE_THREAD): cooperative tasks on the same
 * vCPU (see threads.ts), or, where the program is a host process (seccomp),
 * real threads its own kernel makes. At most `maxTasks` tasks live at once.
 */

import { readFileSync } from "node:fs";
import { Resume, type TaskControl } from "@kindling/syscall-tap";
import { TASK_SIZE } from "../abi.js";
import { define, type Outcome, type SyscallTable } from "../dispatch.js";
import { E2BIG, EAGAIN, EINVAL, ENOSYS, EPERM } from "../errno.js";
import { type Libos, Task } from "../kernel.js";
import { hostTid } from "../signals.js";
import { SYS } from "../sysno.js";
import { contextCost, Scheduler } from "../threads.js";

export const CLONE_VM = 0x100;
export const CLONE_FS = 0x200;
export const CLONE_FILES = 0x400;
export const CLONE_SIGHAND = 0x800;
export const CLONE_PIDFD = 0x1000;
export const CLONE_VFORK = 0x4000;
export const CLONE_PARENT = 0x8000;
export const CLONE_THREAD = 0x10000;
export const CLONE_NEWNS = 0x20000;
export const CLONE_SYSVSEM = 0x40000;
export const CLONE_SETTLS = 0x80000;
export const CLONE_PARENT_SETTID = 0x100000;
export const CLONE_CHILD_CLEARTID = 0x200000;
export const CLONE_DETACHED = 0x400000;
export const CLONE_CHILD_SETTID = 0x1000000;
const THREAD = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
const ALLOWED =
  THREAD |
  CLONE_SYSVSEM |
  CLONE_SETTLS |
  CLONE_PARENT_SETTID |
  CLONE_CHILD_CLEARTID |
  CLONE_DETACHED |
  CLONE_CHILD_SETTID;

/**
 * Host threads (seccomp) whose clone the libos let the kernel run and that have
 * made no call since: their clone may still be in flight. Per process, by host tid.
 */
const cloning = new WeakMap<Libos, Set<number>>();

/**
 * An upper bound of a host process's live threads: `hostThreads` counts every
 * clone let through and every exit seen, so it only errs high (a clone the
 * host kernel refused). At the limit it is checked against the host's own
 * count plus the clones in flight, which is an upper bound too.
 */
function hostTaskBound(k: Libos): number {
  if (k.hostThreads < k.maxTasks) return k.hostThreads;
  let threads: number;
  try {
    const m = /\nThreads:\t(\d+)/.exec(readFileSync(`/proc/${k.hostPid}/status`, "latin1"));
    if (m === null) return k.hostThreads;
    threads = Number(m[1]);
  } catch {
    return k.hostThreads;
  }
  const bound = threads + (cloning.get(k)?.size ?? 0);
  if (bound < k.hostThreads) k.hostThreads = bound;
  return k.hostThreads;
}

/** Creates a thread (the common part of clone and clone3); returns its tid or -errno. */
function spawnThread(
  k: Libos,
  t: TaskControl,
  out: Outcome,
  flags: number,
  exitSignal: number,
  stack: bigint,
  parentTid: number,
  childTid: number,
  tls: bigint,
  nr: number,
): number {
  const f = flags;
  // copy_process's consistency rules.
  if ((f & CLONE_THREAD) !== 0 && (f & CLONE_SIGHAND) === 0) return -EINVAL;
  if ((f & CLONE_SIGHAND) !== 0 && (f & CLONE_VM) === 0) return -EINVAL;
  if ((f & (CLONE_NEWNS | CLONE_FS)) === (CLONE_NEWNS | CLONE_FS)) return -EINVAL;
  // Only threads are served; a new process (fork, vfork, posix_spawn) is not yet.
  if ((f & THREAD) !== THREAD || (f & ~ALLOWED) !== 0 || exitSignal !== 0) return k.unsupported(nr);
  const host = t.nativeMemory ? hostTid(t) : -1;
  // This thread's previous clone has returned (it makes another call): no longer in flight.
  if (host > 0) cloning.get(k)?.delete(host);
  // The task limit (Linux's pids.max / RLIMIT_NPROC answer), then copy_thread's TLS check.
  if ((t.nativeMemory ? hostTaskBound(k) : (k.sched?.tasks.length ?? 1)) >= k.maxTasks) return -EAGAIN;
  if ((f & CLONE_SETTLS) !== 0 && tls >= BigInt(TASK_SIZE)) return -EPERM;
  if (t.nativeMemory) {
    // A host process (seccomp): its own kernel makes a real thread, which the platform serves as
    // a task. Only clone comes here: every value decided on is a register (the kernel uses the
    // same ones), never program memory that another thread could change before the kernel reads it.
    k.hostThreads++;
    if (host > 0) {
      const set = cloning.get(k) ?? new Set<number>();
      cloning.set(k, set);
      set.add(host);
    }
    out.resume = Resume.Continue;
    return 0;
  }
  const parent = k.task(t);
  if (k.sched === undefined) k.sched = new Scheduler(parent, k);
  const ctx = Scheduler.capture(t);
  ctx.regs.rax = 0n;
  if (stack !== 0n) ctx.regs.rsp = stack;
  if ((f & CLONE_SETTLS) !== 0) ctx.fsBase = tls;
  // The context is host memory held for the program: charged to the sandbox (EAGAIN, as clone without memory).
  const cost = contextCost(ctx);
  if (!k.budget.charge(cost)) return -EAGAIN;
  const child = new Task(k.allocTid());
  child.sigmask = parent.sigmask;
  const mem = t.memory;
  try {
    if ((f & CLONE_PARENT_SETTID) !== 0) mem.writeU32(parentTid, child.tid);
    if ((f & CLONE_CHILD_SETTID) !== 0) mem.writeU32(childTid, child.tid);
  } catch (e) {
    k.budget.release(cost);
    throw e;
  }
  if ((f & CLONE_CHILD_CLEARTID) !== 0) child.clearChildTid = childTid;
  k.sched.add(child, ctx, cost);
  return child.tid;
}

/** sizeof(struct clone_args) in its first version (CLONE_ARGS_SIZE_VER0). */
const CLONE_ARGS_SIZE_VER0 = 64;

export function register(table: SyscallTable): void {
  define(table, "clone", (k, t, ev, out) => {
    // clone(flags, newsp, parent_tid, child_tid, tls) on x86-64.
    const flags = ev.argU64(0) > 0xffff_ffffn ? -1 : ev.arg(0);
    return spawnThread(
      k,
      t,
      out,
      flags & ~0xff,
      flags & 0xff,
      ev.argU64(1),
      ev.arg(2),
      ev.arg(3),
      ev.argU64(4),
      SYS.clone,
    );
  });
  define(table, "clone3", (k, t, ev, out) => {
    // On a host process (seccomp) the kernel would read clone_args again after the libos looked
    // (another thread could turn a thread into a fork by then): as Linux before 5.3, which makes
    // glibc fall back to clone, whose flags are registers.
    if (t.nativeMemory) return -ENOSYS;
    const addr = ev.arg(0);
    const size = ev.arg(1);
    if (size < CLONE_ARGS_SIZE_VER0 || size > 4096) return -EINVAL;
    const m = t.memory;
    const a = (i: number) => m.readBigU64(addr + i * 8);
    const flags = a(0);
    // Bytes beyond the fields known here must be zero (copy_struct_from_user).
    const known = Math.min(size, 88);
    if (size > known && m.read(addr + known, size - known).some((b) => b !== 0)) return -E2BIG;
    const exitSignal = a(4);
    const stack = a(5);
    const stackSize = a(6);
    if (flags > 0xffff_ffffn || exitSignal > 0xffn) return -EINVAL;
    if ((stack === 0n) !== (stackSize === 0n)) return -EINVAL;
    if (size >= 80 && (a(8) !== 0n || a(9) !== 0n)) return -EINVAL; // set_tid: not in a new pid namespace
    const top = stack === 0n ? 0n : stack + stackSize;
    return spawnThread(k, t, out, Number(flags), Number(exitSignal), top, Number(a(3)), Number(a(2)), a(7), SYS.clone3);
  });
  // A host thread's exit (seccomp, where it is notified only to be counted) runs in its kernel.
  const exit = table[SYS.exit];
  table[SYS.exit] = (k, t, ev, out) => {
    if (!t.nativeMemory) return exit(k, t, ev, out);
    cloning.get(k)?.delete(hostTid(t));
    if (k.hostThreads > 1) k.hostThreads--;
    k.forgetTask(t); // the platform forgets it too: its tid may come back as another thread
    out.resume = Resume.Continue;
    return 0;
  };
}
