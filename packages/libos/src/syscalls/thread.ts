/** clone for threads (CLONE_VM|CLONE_THREAD): cooperative tasks on the same vCPU (see threads.ts). */
import { define, type SyscallTable } from "../dispatch.js";
import { EINVAL } from "../errno.js";
import { Task } from "../kernel.js";
import { SYS } from "../sysno.js";
import { Scheduler } from "../threads.js";

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

export function register(table: SyscallTable): void {
  define(table, "clone", (k, t, ev) => {
    const flags = ev.argU64(0) > 0xffff_ffffn ? -1 : ev.arg(0);
    const exitSignal = flags & 0xff;
    const f = flags & ~0xff;
    // copy_process's consistency rules.
    if ((f & CLONE_THREAD) !== 0 && (f & CLONE_SIGHAND) === 0) return -EINVAL;
    if ((f & CLONE_SIGHAND) !== 0 && (f & CLONE_VM) === 0) return -EINVAL;
    if ((f & (CLONE_NEWNS | CLONE_FS)) === (CLONE_NEWNS | CLONE_FS)) return -EINVAL;
    // Only threads are served; a new process (fork, vfork, posix_spawn) is not yet.
    if ((f & THREAD) !== THREAD || (f & ~ALLOWED) !== 0 || exitSignal !== 0) return k.unsupported(SYS.clone);
    const parent = k.task(t);
    if (k.sched === undefined) k.sched = new Scheduler(parent);
    const ctx = Scheduler.capture(t);
    ctx.regs.rax = 0n;
    const newsp = ev.argU64(1);
    if (newsp !== 0n) ctx.regs.rsp = newsp;
    if ((f & CLONE_SETTLS) !== 0) ctx.fsBase = ev.argU64(4);
    const child = new Task(k.allocTid());
    child.sigmask = parent.sigmask;
    const mem = t.memory;
    if ((f & CLONE_PARENT_SETTID) !== 0) mem.writeU32(ev.arg(2), child.tid);
    if ((f & CLONE_CHILD_SETTID) !== 0) mem.writeU32(ev.arg(3), child.tid);
    if ((f & CLONE_CHILD_CLEARTID) !== 0) child.clearChildTid = ev.arg(3);
    k.sched.add(child, ctx);
    return child.tid;
  });
}
