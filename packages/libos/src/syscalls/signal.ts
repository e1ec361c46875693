/** Signal syscalls: rt_sigaction, rt_sigprocmask, rt_sigpending, rt_sigsuspend, sigaltstack, rt_sigreturn, kill, tkill, tgkill, pause. */
import { syscallRaw } from "@kindling/sys-util/unsafe";
import { Resume, type TaskControl } from "@kindling/syscall-tap";
import { define, type Handler, type Outcome, type SyscallTable } from "../dispatch.js";
import { EAGAIN, EINTR, EINVAL, ENOMEM, EPERM, ESRCH } from "../errno.js";
import type { Libos, Task } from "../kernel.js";
import {
  altStackFlags,
  hostTid,
  MINSIGSTKSZ,
  NSIG,
  programTid,
  restoreFrame,
  SA_KNOWN,
  SI_TKILL,
  SI_USER,
  SIG_BLOCK,
  SIG_SETMASK,
  SIG_UNBLOCK,
  SIGKILL,
  SIGSEGV,
  SIGSTOP,
  SS_AUTODISARM,
  SS_DISABLE,
  SS_ONSTACK,
  UNBLOCKABLE,
} from "../signals.js";
import { SYS } from "../sysno.js";
import { readTimespecMs } from "./time.js";

const SIGSET_SIZE = 8;
/** A thread's wait that only a signal ends (its result is then -EINTR). */
const FOREVER = { addr: -1, bitset: 0, wakeAt: Number.POSITIVE_INFINITY, timeoutResult: 0 };
const SYS_tkill = 200;

function validSignal(sig: number): boolean {
  return sig >= 1 && sig <= NSIG;
}

/**
 * Raises `sig` on the process from itself: process-directed (kill), or for the
 * thread `target` (tgkill, tkill), which takes it unless it blocks it (the
 * pending set is the process's, so then another thread may).
 */
function sendToSelf(k: Libos, t: TaskControl, task: Task, sig: number, code: number, target?: Task): number {
  if (sig === 0) return 0;
  const tid = hostTid(t);
  if (tid >= 0) return syscallRaw(SYS_tkill, tid, sig); // the host kernel delivers it
  k.signals.raise(task, sig, { signo: sig, code, pid: k.pid, uid: k.ruid }, target);
  return 0;
}

/** The live thread `tid` of the process, or undefined. */
function threadOf(k: Libos, task: Task, tid: number): Task | undefined {
  if (tid === task.tid) return task;
  return k.sched?.tasks.find((x) => x.tid === tid && x.state !== "dead");
}

/** On a platform whose kernel owns signal state (seccomp), the call runs there. */
function native(t: TaskControl, out: Outcome): boolean {
  if (hostTid(t) < 0) return false;
  out.resume = Resume.Continue;
  return true;
}

/** Wraps a handler of signal state so that it runs natively where the host kernel owns signals. */
function ownState(h: Handler): Handler {
  return (k, t, ev, out) => (native(t, out) ? 0 : h(k, t, ev, out));
}

export function register(table: SyscallTable): void {
  define(table, "rt_sigaction", (k, t, ev) => {
    const sig = ev.argI32(0);
    const act = ev.arg(1);
    const oact = ev.arg(2);
    if (ev.arg(3) !== SIGSET_SIZE) return -EINVAL;
    if (!validSignal(sig)) return -EINVAL;
    if (act !== 0 && (sig === SIGKILL || sig === SIGSTOP)) return -EINVAL;
    const a = k.signals.actions[sig];
    const old = { ...a };
    if (act !== 0) {
      const m = t.memory;
      const handler = m.readBigU64(act);
      const flags = Number(m.readBigU64(act + 8) & 0xffff_ffffn);
      const restorer = m.readBigU64(act + 16);
      const mask = m.readBigU64(act + 24);
      a.handler = handler;
      a.flags = (flags & SA_KNOWN) >>> 0;
      a.restorer = restorer;
      a.mask = mask & ~UNBLOCKABLE;
      const task = k.task(t);
      if (k.signals.isIgnored(sig)) k.signals.discard(task, sig);
    }
    if (oact !== 0) {
      const b = new BigUint64Array([old.handler, BigInt(old.flags >>> 0), old.restorer, old.mask]);
      t.memory.write(oact, new Uint8Array(b.buffer));
    }
    return 0;
  });

  define(table, "rt_sigprocmask", (k, t, ev) => {
    const how = ev.argI32(0);
    const set = ev.arg(1);
    const oset = ev.arg(2);
    if (ev.arg(3) !== SIGSET_SIZE) return -EINVAL;
    const task = k.task(t);
    const old = task.sigmask;
    if (set !== 0) {
      const s = t.memory.readBigU64(set) & ~UNBLOCKABLE;
      if (how === SIG_BLOCK) task.sigmask = old | s;
      else if (how === SIG_UNBLOCK) task.sigmask = old & ~s;
      else if (how === SIG_SETMASK) task.sigmask = s;
      else return -EINVAL;
      k.signals.update(task);
    }
    if (oset !== 0) t.memory.writeBigU64(oset, old);
    return 0;
  });

  define(table, "rt_sigpending", (k, t, ev) => {
    if (ev.arg(1) > SIGSET_SIZE) return -EINVAL;
    const task = k.task(t);
    const pending = k.signals.pending & task.sigmask;
    const b = new Uint8Array(new BigUint64Array([pending]).buffer).subarray(0, ev.arg(1));
    t.memory.write(ev.arg(0), b);
    return 0;
  });

  define(table, "rt_sigsuspend", (k, t, ev, out) => {
    if (ev.arg(1) !== SIGSET_SIZE) return -EINVAL;
    const task = k.task(t);
    const mask = t.memory.readBigU64(ev.arg(0)) & ~UNBLOCKABLE;
    const old = task.sigmask;
    task.sigmask = mask;
    k.signals.update(task);
    const sched = k.sched;
    if (sched !== undefined && sched.others > 0) {
      // The handler's frame saves the mask from before the suspend; other threads run meanwhile.
      task.savedMask = old;
      if (k.signals.deliverable) return -EINTR;
      return sched.block(k, t, out, FOREVER);
    }
    const r = k.block(t, Number.POSITIVE_INFINITY);
    if (typeof r === "string") {
      task.sigmask = old;
      k.signals.update(task);
      return k.stuck(out, r, "rt_sigsuspend");
    }
    // The handler's frame saves the mask from before the suspend.
    task.savedMask = old;
    return -EINTR;
  });

  define(table, "pause", (k, t, _ev, out) => {
    k.signals.update(k.task(t));
    const sched = k.sched;
    if (sched !== undefined && sched.others > 0 && !k.signals.deliverable) return sched.block(k, t, out, FOREVER);
    const r = k.block(t, Number.POSITIVE_INFINITY);
    if (typeof r === "string") return k.stuck(out, r, "pause");
    return -EINTR;
  });

  define(table, "rt_sigtimedwait", (k, t, ev, out) => {
    if (ev.arg(3) !== SIGSET_SIZE) return -EINVAL;
    const task = k.task(t);
    const set = t.memory.readBigU64(ev.arg(0)) & ~UNBLOCKABLE;
    const timeout = ev.arg(2);
    let ms = Number.POSITIVE_INFINITY;
    if (timeout !== 0) {
      ms = readTimespecMs(t.memory, timeout);
      if (Number.isNaN(ms)) return -EINVAL;
    }
    // Wait for one of `set` (pending or raised by a timer meanwhile), or for another signal.
    const end = k.clock.monotonicMs() + ms;
    while ((k.signals.pending & set) === 0n && !k.signals.deliverable) {
      const left = end - k.clock.monotonicMs();
      if (left <= 0) return -EAGAIN;
      const r = k.block(t, left, set);
      if (typeof r === "string") return k.stuck(out, r, "rt_sigtimedwait");
      if (r === false && (k.signals.pending & set) === 0n) return -EAGAIN;
    }
    const ready = k.signals.pending & set;
    if (ready === 0n) return -EINTR;
    {
      let sig = 1;
      while ((ready & (1n << BigInt(sig - 1))) === 0n) sig++;
      const info = k.signals.info[sig];
      k.signals.discard(task, sig);
      if (ev.arg(1) !== 0) {
        const b = new Uint8Array(128);
        const dv = new DataView(b.buffer);
        dv.setInt32(0, sig, true);
        dv.setInt32(8, info?.code ?? SI_USER, true);
        dv.setInt32(16, info?.pid ?? 0, true);
        dv.setUint32(20, info?.uid ?? 0, true);
        t.memory.write(ev.arg(1), b);
      }
      return sig;
    }
  });

  define(table, "sigaltstack", (k, t, ev) => {
    const ss = ev.arg(0);
    const oss = ev.arg(1);
    const task = k.task(t);
    const sp = Number(t.getRegisters().rsp & 0xffff_ffff_ffffn);
    const oldFlags = altStackFlags(task, sp);
    const old = [task.altSp, oldFlags, task.altSize];
    if (ss !== 0) {
      const m = t.memory;
      const ssSp = m.readU64(ss);
      const ssFlags = m.readU32(ss + 8);
      const ssSize = m.readU64(ss + 16);
      if ((oldFlags & SS_ONSTACK) !== 0) return -EPERM;
      const mode = ssFlags & ~SS_AUTODISARM;
      if (mode !== SS_DISABLE && mode !== SS_ONSTACK && mode !== 0) return -EINVAL;
      if (mode === SS_DISABLE) {
        task.altSp = 0;
        task.altSize = 0;
        task.altFlags = SS_DISABLE;
      } else {
        if (ssSize < MINSIGSTKSZ) return -ENOMEM;
        task.altSp = ssSp;
        task.altSize = ssSize;
        task.altFlags = ssFlags & SS_AUTODISARM;
      }
    }
    if (oss !== 0) {
      const b = new Uint8Array(24);
      const dv = new DataView(b.buffer);
      dv.setBigUint64(0, BigInt(old[0]), true);
      dv.setUint32(8, old[1] >>> 0, true);
      dv.setBigUint64(16, BigInt(old[2]), true);
      t.memory.write(oss, b);
    }
    return 0;
  });

  define(table, "rt_sigreturn", (k, t, _ev, out) => {
    const task = k.task(t);
    if (!restoreFrame(k, t, task)) {
      k.killBy(SIGSEGV, out);
      return 0;
    }
    out.resume = Resume.Registers;
    return 0;
  });

  define(table, "kill", (k, t, ev, out) => {
    const pid = ev.argI32(0);
    const sig = ev.argI32(1);
    if (sig < 0 || sig > NSIG) return -EINVAL;
    const self = pid === k.pid || pid === 0 || (pid < -1 && -pid === k.pgid);
    if (!self) return -ESRCH; // -1 reaches every process but the caller: none here
    // The host pid itself (seccomp): the program's own kernel sends it, with Linux's siginfo.
    if (pid === k.pid && pid === programTid(t) && native(t, out)) return 0;
    return sendToSelf(k, t, k.task(t), sig, SI_USER);
  });
  define(table, "tgkill", (k, t, ev, out) => {
    const tgid = ev.argI32(0);
    const tid = ev.argI32(1);
    const sig = ev.argI32(2);
    if (tgid <= 0 || tid <= 0 || sig < 0 || sig > NSIG) return -EINVAL;
    const task = k.task(t);
    const target = tgid === k.pid ? threadOf(k, task, tid) : undefined;
    if (target === undefined) return -ESRCH;
    if (tgid === programTid(t) && tid === tgid && native(t, out)) return 0;
    return sendToSelf(k, t, task, sig, SI_TKILL, target);
  });
  define(table, "tkill", (k, t, ev, out) => {
    const tid = ev.argI32(0);
    const sig = ev.argI32(1);
    if (tid <= 0 || sig < 0 || sig > NSIG) return -EINVAL;
    const task = k.task(t);
    const target = threadOf(k, task, tid);
    if (target === undefined) return -ESRCH;
    if (tid === programTid(t) && native(t, out)) return 0;
    return sendToSelf(k, t, task, sig, SI_TKILL, target);
  });
  for (const name of [
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigpending",
    "rt_sigsuspend",
    "pause",
    "rt_sigtimedwait",
    "sigaltstack",
    "rt_sigreturn",
  ] as const) {
    table[SYS[name]] = ownState(table[SYS[name]]);
  }
}
