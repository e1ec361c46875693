/**
 * The kernel object: one Libos serves one sandboxed process (all of its tasks).
 * It implements syscall-tap's SyscallServer: a platform calls `onSyscall` for
 * each system call and `onFault` for each CPU exception of the program.
 *
 * Hot path: `onSyscall` indexes a dense table of handlers by number and calls
 * one; nothing is allocated per call.
 */
import { readFileSync } from "node:fs";
import {
  type FaultEvent,
  MemoryFault,
  Resume,
  type SyscallEvent,
  type SyscallServer,
  type TaskControl,
} from "@kindling/syscall-tap";
import { RLIM_INFINITY, RLIM_NLIMITS, RLIMIT_CORE, RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_STACK } from "./abi.js";
import { ByteBudget, DEFAULT_BUDGET_BYTES } from "./budget.js";
import { createTable, type Handler, type Outcome, type SyscallTable } from "./dispatch.js";
import { EFAULT, ENOSYS, ERESTARTSYS } from "./errno.js";
import { LibosError } from "./errors.js";
import { AddressSpace, type MappingKind } from "./mm.js";
import {
  hostTid,
  programTgid,
  programTid,
  restartSyscall,
  SI_KERNEL,
  SIGALRM,
  SIGKILL,
  SignalState,
} from "./signals.js";
import { CORE_MODULES } from "./syscalls/index.js";
import { SYSCALL_TABLE_SIZE, syscallName } from "./sysno.js";
import type { SavedContext, Scheduler, ThreadState } from "./threads.js";
import type { StdioEndpoint, Vfs } from "./vfs-contract.js";

/** Time sources (injectable for tests). Values in milliseconds, fractional. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  realtimeMs(): number;
  /** Milliseconds since an arbitrary start (CLOCK_MONOTONIC, CLOCK_BOOTTIME). */
  monotonicMs(): number;
  /** CPU time used by the program, in milliseconds. */
  cpuMs(): number;
}

/** How often a wait of a host process (seccomp) looks for signals its kernel holds for it, in ms. */
const HOST_SIGNAL_POLL_MS = 5;
/** How long after a host timer's expiry a wait keeps looking for its SIGALRM, in ms. */
const HOST_TIMER_GRACE_MS = 200;

/**
 * performance.now() counts from this process's start; the host's CLOCK_MONOTONIC
 * (which process.hrtime reads) counts from boot. Programs on the seccomp platform
 * read CLOCK_MONOTONIC natively through the vDSO and pass those readings back
 * (clock_nanosleep with TIMER_ABSTIME), so the libos must use the same origin.
 */
const MONOTONIC_OFFSET_MS = Number(process.hrtime.bigint()) / 1e6 - performance.now();

export const hostClock: Clock = {
  realtimeMs: () => performance.timeOrigin + performance.now(),
  monotonicMs: () => performance.now() + MONOTONIC_OFFSET_MS,
  cpuMs: () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  },
};

export interface Identity {
  pid: number;
  ppid: number;
  uid: number;
  gid: number;
  groups: number[];
}

export interface Utsname {
  sysname: string;
  nodename: string;
  release: string;
  version: string;
  machine: string;
  domainname: string;
}

export interface LibosOptions {
  argv?: readonly string[];
  env?: readonly string[];
  /** The program's path inside the sandbox (/proc/self/exe). */
  exe?: string;
  /**
   * The program's address space: the arena mmap and brk hand out, the total
   * limit, and the ranges the embedder mapped itself (the program image, the
   * stack), which mprotect, munmap and /proc/self/maps must know about.
   */
  memory: {
    base: number;
    size: number;
    limit?: number;
    brk?: number;
    regions?: readonly MemoryRegion[];
  };
  /** Standard input, output and error (read by the file side). */
  stdio?: readonly [StdioEndpoint, StdioEndpoint, StdioEndpoint];
  /** The file side; its `attach(k)` installs the file syscalls and fds 0-2. */
  fs?: Vfs;
  identity?: Partial<Identity>;
  uname?: Partial<Utsname>;
  /** Initial resource limits: resource → [soft, hard] (RLIM_INFINITY for none). */
  rlimits?: Partial<Record<number, readonly [bigint, bigint]>>;
  /** CPUs reported by sched_getaffinity and sysinfo (default 1). */
  cpus?: number;
  clock?: Clock;
  /** Fills `buf` with random bytes (getrandom); default crypto.getRandomValues. */
  random?: (buf: Uint8Array) => void;
  /** Blocks the calling thread for `ms` milliseconds (nanosleep, futex timeouts). */
  sleep?: (ms: number) => void;
  /** Releases host memory behind an unmapped range; true when it now reads as zeros. */
  discard?: (addr: number, len: number) => boolean | undefined;
  /** Called once per syscall name the libos does not implement (it returns ENOSYS). */
  onUnsupported?: (name: string, nr: number) => void;
  /**
   * A deadline on `clock.monotonicMs()`: a call blocked past it ends the program
   * (SIGKILL, `killReason` "timeout ..."), so a sleeping program cannot hold the
   * thread beyond the sandbox's wall-time limit. Also settable as `k.deadline`.
   */
  deadline?: number;
  /**
   * The sandbox's byte budget for host memory the libos holds for the program
   * (thread contexts here; file data, names and pipes through the fs). Default:
   * the fs's budget, else one of `memory.limit ?? memory.size` (1 GiB when 0).
   */
  budget?: ByteBudget;
  /**
   * The most tasks (threads) the process may have at once (default 1024): a
   * clone beyond it fails with EAGAIN, as Linux's at RLIMIT_NPROC or pids.max.
   */
  maxTasks?: number;
}

/** A range the embedder mapped before the program started. */
export interface MemoryRegion {
  start: number;
  length: number;
  kind: MappingKind;
  /** PROT_* bits (for /proc/self/maps and mprotect). */
  prot: number;
  /** The /proc/self/maps name ("[stack]", the program's path). */
  name?: string;
}

/** One thread of the process. */
export class Task {
  /** set_tid_address: cleared and futex-woken at exit. */
  clearChildTid = 0;
  robustListHead = 0;
  robustListLen = 0;
  /** Blocked signals (bit n-1 for signal n). */
  sigmask = 0n;
  /** The mask to restore after a handler that interrupted rt_sigsuspend (saved in its frame). */
  savedMask: bigint | undefined;
  /** Signals chosen for this task while another ran (SignalState.claim). */
  claim = 0n;
  /** Woken from a wait by a signal (threads.ts): its call returns -EINTR, or starts again if no handler runs. */
  interrupted = false;
  /** Its wait is a pipe's: a handler with SA_RESTART makes the call start again (threads.ts). */
  waitRestartable = false;
  /** sigaltstack: ss_sp, ss_size, ss_flags. */
  altSp = 0;
  altSize = 0;
  altFlags = 2; // SS_DISABLE
  // Threads (see threads.ts): scheduling state, the saved context while not
  // running, the result its system call returns with, and what it waits for.
  state: ThreadState = "running";
  ctx: SavedContext | undefined;
  result = 0;
  futexAddr = -1;
  futexBitset = 0;
  wakeAt = Number.POSITIVE_INFINITY;
  timeoutResult = 0;
  /** A wait on a condition another thread makes true (a pipe's data or space): see Scheduler.blockUntil. */
  waitReady: (() => boolean) | undefined;
  constructor(readonly tid: number) {}
}

const sharedSleep = new Int32Array(new SharedArrayBuffer(4));
function defaultSleep(ms: number): void {
  let left = ms;
  const end = performance.now() + ms;
  while (left > 0) {
    Atomics.wait(sharedSleep, 0, 0, Math.min(left, 2 ** 31 - 1));
    left = end - performance.now();
  }
}

/** Random bytes from the host (crypto.getRandomValues, in its 64 KiB steps). */
export function hostRandom(buf: Uint8Array): void {
  for (let off = 0; off < buf.length; off += 65536) {
    crypto.getRandomValues(buf.subarray(off, Math.min(buf.length, off + 65536)));
  }
}

export class Libos implements SyscallServer {
  readonly options: LibosOptions;
  /** Handlers by syscall number (the file side adds its own in `fs.attach`). */
  readonly table: SyscallTable;
  readonly mm: AddressSpace;
  readonly fs: Vfs | undefined;
  readonly clock: Clock;
  readonly random: (buf: Uint8Array) => void;
  readonly sleep: (ms: number) => void;
  readonly uts: Utsname;
  readonly cpus: number;
  /** See LibosOptions.budget. */
  readonly budget: ByteBudget;

  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  ruid: number;
  euid: number;
  suid: number;
  fsuid: number;
  rgid: number;
  egid: number;
  sgid: number;
  fsgid: number;
  groups: number[];
  umask = 0o022;
  /** The task name (prctl PR_SET_NAME, /proc/self/comm). */
  comm = "";
  pdeathsig = 0;
  dumpable = 1;
  personality = 0;
  /** Resource limits: [soft, hard] at 2*r and 2*r+1. */
  readonly rlimits = new BigUint64Array(RLIM_NLIMITS * 2);
  readonly signals: SignalState;
  /** Monotonic time at creation (ms), for uptime and CPU clocks. */
  readonly startMs: number;
  readonly cpuStartMs: number;

  /** Set when the process has ended (exit_group or a fatal signal). */
  exited = false;
  /** The exit code given to exit/exit_group (0-255). */
  exitStatus = 0;
  /** The signal that ended the process, or 0. */
  termSignal = 0;
  /** Why the process was ended by the libos itself (e.g. a deadlock), if it was. */
  killReason: string | undefined;

  /**
   * ITIMER_REAL (alarm, setitimer): the next expiry on the monotonic clock (ms,
   * Infinity when disarmed) and the reload interval. It is checked when a
   * system call returns and while the program blocks; SIGALRM interrupts a
   * blocking call. ITIMER_VIRTUAL and ITIMER_PROF are kept but never fire.
   */
  realTimerAt = Number.POSITIVE_INFINITY;
  /** See LibosOptions.deadline (Infinity: none). */
  deadline = Number.POSITIVE_INFINITY;
  realTimerInterval = 0;
  readonly cpuTimers = [
    [0, 0],
    [0, 0],
  ];

  /** Calls per syscall number (cheap counters for --stats). */
  readonly counts = new Float64Array(SYSCALL_TABLE_SIZE);

  /** See LibosOptions.maxTasks. */
  readonly maxTasks: number;
  /** Live host threads of a host process (seccomp): counted at clone, uncounted at their `exit`. */
  hostThreads = 1;

  private readonly tasks = new Map<TaskControl, Task>();
  private lastControl: TaskControl | undefined;
  private lastTask: Task | undefined;
  private nextTid: number;
  private readonly reported = new Set<number>();
  private readonly enosys: Handler;

  constructor(options: LibosOptions) {
    if (options === null || typeof options !== "object" || options.memory === undefined) {
      throw new LibosError("EINVAL", "new Libos(options): options.memory is required");
    }
    this.options = options;
    this.maxTasks = options.maxTasks ?? 1024;
    if (!Number.isSafeInteger(this.maxTasks) || this.maxTasks < 1) {
      throw new LibosError(
        "EINVAL",
        `new Libos(options): maxTasks must be a positive integer, not ${options.maxTasks}`,
      );
    }
    const exe = options.exe ?? options.argv?.[0] ?? "";
    this.comm = exe.slice(exe.lastIndexOf("/") + 1).slice(0, 15);
    this.clock = options.clock ?? hostClock;
    this.random = options.random ?? hostRandom;
    this.sleep = options.sleep ?? defaultSleep;
    this.cpus = Math.max(1, Math.min(1024, Math.floor(options.cpus ?? 1)));
    this.mm = new AddressSpace({ ...options.memory, discard: options.discard });
    const fsBudget = options.fs?.budget;
    if (options.budget && fsBudget && options.budget !== fsBudget) {
      throw new LibosError("EINVAL", "new Libos(options): options.budget differs from the fs's budget (pass one)");
    }
    this.budget =
      options.budget ?? fsBudget ?? new ByteBudget(options.memory.limit || options.memory.size || DEFAULT_BUDGET_BYTES);
    for (const r of options.memory.regions ?? []) this.mm.reserve(r.start, r.length, r.kind, r.prot, r.name ?? "");
    const id = options.identity ?? {};
    this.pid = id.pid ?? 1;
    this.ppid = id.ppid ?? 0;
    this.pgid = this.pid;
    this.sid = this.pid;
    this.nextTid = this.pid + 1;
    const uid = id.uid ?? (typeof process.getuid === "function" ? process.getuid() : 0);
    const gid = id.gid ?? (typeof process.getgid === "function" ? process.getgid() : 0);
    this.ruid = this.euid = this.suid = this.fsuid = uid;
    this.rgid = this.egid = this.sgid = this.fsgid = gid;
    this.groups = [...(id.groups ?? [gid])];
    this.uts = {
      sysname: "Linux",
      nodename: "kindling",
      release: "6.1.0-kindling",
      version: "#1 SMP PREEMPT_DYNAMIC Kindling",
      machine: "x86_64",
      domainname: "(none)",
      ...options.uname,
    };
    this.rlimits.fill(RLIM_INFINITY);
    this.setRlimit(RLIMIT_STACK, 8n * 1024n * 1024n, RLIM_INFINITY);
    this.setRlimit(RLIMIT_CORE, 0n, RLIM_INFINITY);
    this.setRlimit(RLIMIT_NOFILE, 1024n, 4096n);
    this.setRlimit(RLIMIT_NPROC, 4096n, 4096n);
    for (const [r, v] of Object.entries(options.rlimits ?? {})) {
      const res = Number(r);
      if (v === undefined || !(res >= 0 && res < RLIM_NLIMITS)) continue;
      this.setRlimit(res, v[0], v[1]);
    }
    this.signals = new SignalState();
    this.startMs = this.clock.monotonicMs();
    if (options.deadline !== undefined) this.deadline = options.deadline;
    this.cpuStartMs = this.clock.cpuMs();

    const enosys: Handler = (k, _t, ev) => k.unsupported(ev.nr);
    this.enosys = enosys;
    this.table = createTable(enosys);
    for (const m of CORE_MODULES) m.register(this.table);
    this.fs = options.fs;
    this.fs?.attach?.(this);
  }

  // ---- the SyscallServer interface ----

  onSyscall(t: TaskControl, ev: SyscallEvent, out: { resume: Resume }): number {
    if (!this.idsChecked) this.adoptHostPid(t);
    const nr = ev.nr;
    let h = this.enosys;
    if (nr >= 0 && nr < SYSCALL_TABLE_SIZE) {
      h = this.table[nr];
      this.counts[nr]++;
    }
    let ret: number;
    try {
      ret = h(this, t, ev, out as Outcome);
    } catch (e) {
      ret = errnoOf(e);
    }
    if (this.realTimerAt !== Number.POSITIVE_INFINITY) this.checkTimers(t);
    // Pending signals are delivered on the way back to the program: after a call's
    // result, and after rt_sigreturn (whose restored mask may unblock one).
    if (this.signals.deliverable && (out.resume === Resume.Return || out.resume === Resume.Registers)) {
      return this.signals.deliverPending(this, t, ret, out);
    }
    // An interrupted call whose signal did not run a handler here starts again; where the
    // host kernel owns the signals (seccomp) it makes that choice itself from -ERESTARTSYS.
    if (ret === -ERESTARTSYS && out.resume === Resume.Return && this.hostPid <= 0) restartSyscall(t, out);
    return ret;
  }

  onFault(t: TaskControl, ev: FaultEvent, out: { resume: Resume }): void {
    this.signals.deliverFault(this, t, ev, out);
  }

  private idsChecked = false;
  /** The program's host process id where it is a host process the host kernel runs (seccomp), else -1. */
  hostPid = -1;
  /**
   * Where the program is a host process whose kernel owns its signals (seccomp),
   * it sees its host thread id anyway (set_tid_address runs natively and musl's
   * raise() uses it): unless an identity was given, the libos takes the host pid
   * as its pid, so getpid(), gettid() and kill/tkill to itself name one process.
   */
  private adoptHostPid(t: TaskControl): void {
    this.idsChecked = true;
    const host = hostTid(t);
    // The first call may come from any thread: the process id is its thread group's.
    if (host > 0 && this.tasks.size === 0) this.hostPid = hostTgid(host);
    if (this.options.identity?.pid !== undefined || this.tasks.size > 0) return;
    // In its own pid namespace (a jailed seccomp child) the program knows itself by that
    // namespace's ids; `hostPid` stays the host's, for what the host side reads and sets.
    const ns = programTgid(t);
    const pid = ns > 0 ? ns : this.hostPid;
    if (pid <= 0) return;
    this.pid = this.pgid = this.sid = pid;
    this.nextTid = pid + 1;
    this.hostTids = true;
  }
  /** Tasks are named by their host thread ids (a host process whose identity was adopted). */
  private hostTids = false;

  // ---- services for handlers ----

  /** The Task behind a TaskControl (one TaskControl per task; the first is the main thread). */
  task(t: TaskControl): Task {
    if (t === this.lastControl) return this.lastTask!;
    let task = this.tasks.get(t);
    if (task === undefined) {
      const own = this.hostTids ? programTid(t) : -1;
      task = new Task(own > 0 ? own : this.tasks.size === 0 ? this.pid : this.nextTid++);
      this.tasks.set(t, task);
    }
    this.lastControl = t;
    this.lastTask = task;
    return task;
  }

  /** Forgets a task that ended on its own (a host thread's exit, seccomp): its TaskControl is not used again. */
  forgetTask(t: TaskControl): void {
    this.tasks.delete(t);
    if (this.lastControl === t) {
      this.lastControl = undefined;
      this.lastTask = undefined;
    }
  }

  /** The thread scheduler, once the program has created a thread. */
  sched: Scheduler | undefined;

  /** Makes `task` the one TaskControl `t` runs (thread switches). */
  setCurrent(t: TaskControl, task: Task): void {
    this.tasks.set(t, task);
    this.lastControl = t;
    this.lastTask = task;
  }

  /** A new thread id. */
  allocTid(): number {
    return this.nextTid++;
  }

  /** Raises SIGALRM when ITIMER_REAL has expired (and reloads it). */
  checkTimers(t: TaskControl): void {
    const now = this.clock.monotonicMs();
    if (now < this.realTimerAt) return;
    const iv = this.realTimerInterval;
    this.realTimerAt = iv > 0 ? Math.max(this.realTimerAt + iv, now) : Number.POSITIVE_INFINITY;
    if (this.hostPid > 0) {
      // A host process's timer is the host kernel's (this one mirrors it): its SIGALRM
      // reaches the process itself; a wait watches for it a little longer.
      this.hostTimerGraceUntil = now + HOST_TIMER_GRACE_MS;
      return;
    }
    this.signals.raise(this.task(t), SIGALRM, { signo: SIGALRM, code: SI_KERNEL });
  }

  /** Until when a wait keeps watching for the SIGALRM of a host timer that just expired. */
  private hostTimerGraceUntil = 0;

  /**
   * True when the host kernel holds a signal for the program's host process
   * (seccomp) that it does not block: the process waits killable-only while
   * the libos serves its call, so that signal is delivered when the call ends.
   */
  private hostSignalPending(): boolean {
    let text: string;
    try {
      text = readFileSync(`/proc/${this.hostPid}/status`, "latin1");
    } catch {
      return false;
    }
    const mask = (name: string): bigint => {
      const i = text.indexOf(`\n${name}:\t`);
      if (i < 0) return 0n;
      const start = i + name.length + 3;
      return BigInt(`0x${text.slice(start, text.indexOf("\n", start))}`);
    };
    return ((mask("SigPnd") | mask("ShdPnd")) & ~mask("SigBlk")) !== 0n;
  }

  /**
   * Blocks the task for `ms` milliseconds (Infinity: until a signal). Returns
   * true when a signal the program will see (a handler runs or it dies) ended
   * the wait early (or one in `wakeSet` became pending, for sigtimedwait), false
   * when the time ran out, "deadlock" for a wait nothing can ever end, and
   * "timeout" when the deadline passed. For the last two the caller ends the
   * program with `stuck()`.
   */
  block(t: TaskControl, ms: number, wakeSet = 0n): boolean | "deadlock" | "timeout" {
    const host = this.hostPid > 0;
    const woken = () =>
      this.signals.deliverable || (this.signals.pending & wakeSet) !== 0n || (host && this.hostSignalPending());
    if (woken()) return true;
    const end = this.clock.monotonicMs() + ms;
    for (;;) {
      const now = this.clock.monotonicMs();
      let next = Math.min(end, this.realTimerAt);
      if (host && now < this.hostTimerGraceUntil) next = Math.min(next, now + HOST_SIGNAL_POLL_MS);
      if (next === Number.POSITIVE_INFINITY) return "deadlock";
      if (now >= this.deadline) return "timeout";
      let wake = Math.min(next, this.deadline);
      // A host process may also get signals from its own kernel (a timer): watch for them.
      if (host) wake = Math.min(wake, now + HOST_SIGNAL_POLL_MS);
      if (wake > now) this.sleep(wake - now);
      if (this.realTimerAt !== Number.POSITIVE_INFINITY) this.checkTimers(t);
      if (woken()) return true;
      if (this.clock.monotonicMs() >= end) return false;
    }
  }

  /** Ends a program whose wait can never end ("deadlock") or outlived the deadline ("timeout"). */
  stuck(out: Outcome, why: "deadlock" | "timeout", what: string): number {
    this.killBy(
      SIGKILL,
      out,
      why === "deadlock" ? `deadlock: ${what} that nothing can end` : `timeout: the deadline passed during ${what}`,
    );
    return 0;
  }

  /** ENOSYS for syscall `nr`, reported once per name through `onUnsupported`. */
  unsupported(nr: number): number {
    if (!this.reported.has(nr)) {
      this.reported.add(nr);
      this.options.onUnsupported?.(syscallName(nr), nr);
    }
    return -ENOSYS;
  }

  /** Ends the process with exit code `code` (exit_group). */
  exitGroup(code: number, out: Outcome): number {
    if (!this.exited) {
      this.exited = true;
      this.exitStatus = code & 0xff;
      this.releaseAtExit();
    }
    out.resume = Resume.Exit;
    return 0;
  }

  /** Ends the process by signal `sig` (a fatal signal; status 128+sig for a shell). */
  killBy(sig: number, out: Outcome, reason?: string): void {
    if (!this.exited) {
      this.exited = true;
      this.termSignal = sig;
      this.killReason = reason;
      this.releaseAtExit();
    }
    out.resume = Resume.Exit;
  }

  /** The exit status as a shell reports it: the exit code, or 128+N after signal N. */
  get shellStatus(): number {
    return this.termSignal !== 0 ? 128 + this.termSignal : this.exitStatus;
  }

  private releaseAtExit(): void {
    try {
      this.fs?.fds.closeAll();
    } catch {
      // Closing host resources at exit must not mask the exit.
    }
  }

  rlimitCur(resource: number): bigint {
    return this.rlimits[resource * 2];
  }
  rlimitMax(resource: number): bigint {
    return this.rlimits[resource * 2 + 1];
  }
  setRlimit(resource: number, soft: bigint, hard: bigint): void {
    this.rlimits[resource * 2] = soft;
    this.rlimits[resource * 2 + 1] = hard;
  }
  /** A soft limit as a number (Infinity for RLIM_INFINITY or beyond 2^53). */
  rlimitNumber(resource: number): number {
    const v = this.rlimits[resource * 2];
    return v >= 2n ** 53n ? Number.POSITIVE_INFINITY : Number(v);
  }

  /** True for the superuser (euid 0): may raise hard limits, change ids. */
  get privileged(): boolean {
    return this.euid === 0;
  }
}

/**
 * The -errno answer for an error a handler threw: -EFAULT for a MemoryFault,
 * -errno for an error carrying a Linux `errno` (sys-util's SysError, the VFS's
 * FsError). Anything else is a bug in the libos and is rethrown.
 */
/** The thread group (process) id of host thread `tid`, from /proc; `tid` when unknown. */
function hostTgid(tid: number): number {
  try {
    const m = /\nTgid:\t(\d+)/.exec(readFileSync(`/proc/${tid}/status`, "latin1"));
    return m ? Number(m[1]) : tid;
  } catch {
    return tid;
  }
}

export function errnoOf(e: unknown): number {
  if (isMemoryFault(e)) return -EFAULT;
  const errno = (e as { errno?: unknown } | null)?.errno;
  if (typeof errno === "number" && Number.isInteger(errno) && errno > 0 && errno < 4096) return -errno;
  throw e;
}

export function isMemoryFault(e: unknown): boolean {
  return e instanceof MemoryFault || (e instanceof Error && e.name === "MemoryFault");
}
