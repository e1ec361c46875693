/**
 * Threads as cooperative tasks on one TaskControl (one vCPU): clone with
 * CLONE_VM|CLONE_THREAD makes a Task with its own saved user context
 * (registers, FS/GS base, extended state); the libos switches the vCPU from
 * one task to another only inside system calls, when the running task blocks
 * (a futex wait, a sleep), yields or exits. There is no preemption: a thread
 * that spins without system calls keeps the vCPU until its platform's time
 * limit (glibc and musl locks spin briefly, then wait with futex).
 */
import { type Registers, Resume, type TaskControl } from "@kindling/syscall-tap";
import type { Outcome } from "./dispatch.js";
import { EINTR } from "./errno.js";
import type { Libos, Task } from "./kernel.js";
import { defaultAction, SIG_DFL, sigbit } from "./signals.js";

export interface SavedContext {
  regs: Registers;
  fsBase: bigint;
  gsBase: bigint;
  xstate: Uint8Array;
}

export type ThreadState = "running" | "runnable" | "blocked" | "dead";

/**
 * What the host holds for one cooperative thread besides its extended state:
 * the Task, its saved registers (an object of bigints) and the scheduler's
 * bookkeeping (measured on Node 20: ~1.5 KiB). Charged to the sandbox's budget.
 */
export const CONTEXT_OVERHEAD = 2048;

/** The budget charge of a thread whose saved context is `ctx`. */
export function contextCost(ctx: SavedContext): number {
  return CONTEXT_OVERHEAD + ctx.xstate.byteLength;
}

export class Scheduler {
  /** Live tasks, in creation order. */
  readonly tasks: Task[] = [];
  current: Task;
  /** The budget charge of each thread added (returned when it exits). */
  readonly #charges = new Map<Task, number>();

  constructor(main: Task, k: Libos) {
    main.state = "running";
    this.tasks.push(main);
    this.current = main;
    k.signals.route = (cur, sig, target) => this.route(k, cur, sig, target);
  }

  /**
   * Chooses the thread that takes signal `sig` (Linux's complete_signal and
   * wants_signal): a thread-directed one goes to its `target`; a process-directed
   * one to the main thread if it does not block it and waits (or the running
   * thread blocks it), else the running thread if it does not block it, else the
   * first thread that does not. (Linux picks a main thread that merely waits for
   * a CPU too, but here it would wait for the running thread to yield: the
   * running thread takes it at once instead.) A thread other than the running
   * one gets a claim on the signal, and is woken from its wait (-EINTR).
   */
  private route(k: Libos, cur: Task, sig: number, target: Task | undefined): void {
    const bit = sigbit(sig);
    const takes = (x: Task) => x.state !== "dead" && (x.sigmask & bit) === 0n;
    let to = target;
    if (to === undefined) {
      const main = this.tasks[0];
      if (main !== undefined && main.tid === k.pid && takes(main) && (main.state === "blocked" || !takes(cur))) {
        to = main;
      } else if (takes(cur)) to = cur;
      else to = this.tasks.find(takes);
    }
    // No thread takes it now: it stays pending for the first one that unblocks it.
    if (to === undefined || !takes(to)) return;
    if (to === cur && cur.state === "running") return;
    // A signal whose default action ends the process ends it at once (complete_signal's
    // sig_fatal): no claim, so the running thread takes it too if it does not block it.
    const act = k.signals.actions[sig];
    const d = defaultAction(sig);
    if (!(act.handler === SIG_DFL && (d === "term" || d === "core"))) k.signals.claim(to, bit);
    if (to.state === "blocked") this.interrupt(to);
  }

  /** Ends `x`'s wait for a signal: -EINTR, unless no handler runs when it resumes (see load). */
  private interrupt(x: Task): void {
    this.ready(x, -EINTR);
    x.interrupted = true;
  }

  /** Live tasks other than the running one. */
  get others(): number {
    return this.tasks.length - 1;
  }

  /** The running task's user context as it will be when its system call returns. */
  static capture(t: TaskControl): SavedContext {
    const regs = t.getRegisters();
    regs.rip = regs.rcx;
    regs.rflags = regs.r11;
    return { regs, fsBase: t.getFsBase(), gsBase: t.getGsBase(), xstate: t.getExtendedState() };
  }

  /** Adds a thread; `charged`: what was taken from the sandbox's budget for it (given back at its exit). */
  add(task: Task, ctx: SavedContext, charged = 0): void {
    if (charged > 0) this.#charges.set(task, charged);
    task.ctx = ctx;
    task.state = "runnable";
    task.result = 0;
    this.tasks.push(task);
  }

  /** Puts `task` on the vCPU: its registers (rax = its pending result), bases, extended state. */
  private load(k: Libos, t: TaskControl, task: Task, out: Outcome): void {
    const c = task.ctx!;
    k.signals.release(task);
    if (task.interrupted) {
      task.interrupted = false;
      if (k.signals.restartsWait(task, task.waitRestartable)) {
        // No handler interrupts the wait (another thread took the signal, or it is
        // ignored now), or one with SA_RESTART interrupts a pipe's: the task executes
        // its `syscall` again (after the handler), as Linux restarts it.
        if (task.savedMask !== undefined) {
          task.sigmask = task.savedMask; // rt_sigsuspend sets its mask again
          task.savedMask = undefined;
        }
        c.regs.rip = BigInt.asUintN(64, c.regs.rip - 2n);
        task.result = Number(BigInt.asIntN(64, c.regs.rax)); // rax: the call's number
      }
    }
    t.setRegisters({ ...c.regs, rax: BigInt.asUintN(64, BigInt(task.result)) });
    t.setFsBase(c.fsBase);
    t.setGsBase(c.gsBase);
    t.setExtendedState(c.xstate);
    task.ctx = undefined;
    task.state = "running";
    this.current = task;
    k.setCurrent(t, task);
    k.signals.update(task);
    out.resume = Resume.Registers;
  }

  /**
   * The running task blocks: until a futex wake on `addr` (matching `bitset`),
   * until `wakeAt` on the monotonic clock (then its result is `timeoutResult`),
   * or until a signal (-EINTR). Another task runs meanwhile.
   */
  block(
    k: Libos,
    t: TaskControl,
    out: Outcome,
    wait: { addr: number; bitset: number; wakeAt: number; timeoutResult: number },
  ): number {
    const task = this.current;
    task.ctx = Scheduler.capture(t);
    task.state = "blocked";
    task.futexAddr = wait.addr;
    task.futexBitset = wait.bitset;
    task.wakeAt = wait.wakeAt;
    task.timeoutResult = wait.timeoutResult;
    task.waitRestartable = false;
    return this.run(k, t, out);
  }

  /**
   * The running task waits until `ready()` (a pipe another thread will fill or
   * drain): once it is, the task executes its `syscall` again (rax still holds
   * the call's number), as Linux restarts a call. A signal ends the wait with
   * -EINTR, or, when `restartable` (a pipe's wait) and the handler has
   * SA_RESTART, the call runs again after the handler.
   */
  blockUntil(k: Libos, t: TaskControl, out: Outcome, ready: () => boolean, restartable = false): number {
    const task = this.current;
    task.ctx = Scheduler.capture(t);
    task.state = "blocked";
    task.futexAddr = -1;
    task.wakeAt = Number.POSITIVE_INFINITY;
    task.waitReady = ready;
    task.waitRestartable = restartable;
    return this.run(k, t, out);
  }

  /** The running task lets others run (sched_yield); it resumes with `result`. */
  yield(k: Libos, t: TaskControl, out: Outcome, result: number): number {
    if (!this.tasks.some((x) => x.state === "runnable")) return result;
    const task = this.current;
    task.ctx = Scheduler.capture(t);
    task.state = "runnable";
    task.result = result;
    return this.run(k, t, out);
  }

  /** The running task has exited; the others go on (the caller ends the process after the last one). */
  exit(k: Libos, t: TaskControl, out: Outcome): number {
    const task = this.current;
    task.state = "dead";
    task.ctx = undefined;
    k.signals.release(task);
    this.tasks.splice(this.tasks.indexOf(task), 1);
    const charged = this.#charges.get(task);
    if (charged !== undefined) {
      this.#charges.delete(task);
      k.budget.release(charged);
    }
    return this.run(k, t, out);
  }

  /** Wakes up to `n` tasks waiting on `addr` whose bitset intersects `bitset`; returns how many. */
  wake(addr: number, n: number, bitset = 0xffff_ffff): number {
    let woken = 0;
    for (const x of this.tasks) {
      if (woken >= n) break;
      if (x.state !== "blocked" || x.futexAddr !== addr || (x.futexBitset & bitset) === 0) continue;
      this.ready(x, 0);
      woken++;
    }
    return woken;
  }

  /** Moves up to `n` waiters from `from` to `to` (FUTEX_REQUEUE); returns how many. */
  requeue(from: number, to: number, n: number): number {
    let moved = 0;
    for (const x of this.tasks) {
      if (moved >= n) break;
      if (x.state === "blocked" && x.futexAddr === from) {
        x.futexAddr = to;
        moved++;
      }
    }
    return moved;
  }

  private ready(x: Task, result: number): void {
    x.state = "runnable";
    x.result = result;
    x.futexAddr = -1;
    x.wakeAt = Number.POSITIVE_INFINITY;
    x.waitReady = undefined;
  }

  /** Readies the tasks whose blockUntil condition holds now: each runs its system call again. */
  private readyConditions(): void {
    for (const x of this.tasks) {
      if (x.state !== "blocked" || x.waitReady === undefined || !x.waitReady()) continue;
      const c = x.ctx!;
      c.regs.rip = BigInt.asUintN(64, c.regs.rip - 2n); // back onto `syscall`
      this.ready(x, Number(BigInt.asIntN(64, c.regs.rax))); // rax: the call's number again
    }
  }

  /** Runs the next runnable task, waiting for timeouts, timers and signals when none is. */
  private run(k: Libos, t: TaskControl, out: Outcome): number {
    for (;;) {
      const n = this.tasks.length;
      if (n === 0) return k.exitGroup(0, out);
      this.readyConditions();
      const from = Math.max(0, this.tasks.indexOf(this.current));
      for (let i = 1; i <= n; i++) {
        const x = this.tasks[(from + i) % n];
        if (x.state === "runnable") {
          this.load(k, t, x, out);
          return 0;
        }
      }
      // Everyone waits. A pending signal ends the wait of a thread that does not block it.
      if (this.interruptBySignal(k)) continue;
      // Else sleep until the earliest timeout, timer or the deadline.
      let wakeAt = k.realTimerAt;
      for (const x of this.tasks) if (x.wakeAt < wakeAt) wakeAt = x.wakeAt;
      if (wakeAt === Number.POSITIVE_INFINITY) return k.stuck(out, "deadlock", "a wait of every thread");
      const now = k.clock.monotonicMs();
      if (now >= k.deadline) return k.stuck(out, "timeout", "a wait of every thread");
      const until = Math.min(wakeAt, k.deadline);
      if (until > now) k.sleep(until - now);
      const after = k.clock.monotonicMs();
      for (const x of this.tasks) if (x.state === "blocked" && x.wakeAt <= after) this.ready(x, x.timeoutResult);
      if (k.realTimerAt !== Number.POSITIVE_INFINITY) k.checkTimers(t);
    }
  }

  /** Readies one waiting thread that a pending signal can interrupt (-EINTR); true if one was. */
  private interruptBySignal(k: Libos): boolean {
    const pending = k.signals.pending;
    if (pending === 0n) return false;
    for (const x of this.tasks) {
      if (x.state === "blocked" && (pending & ~x.sigmask) !== 0n) {
        this.interrupt(x);
        return true;
      }
    }
    return false;
  }
}
