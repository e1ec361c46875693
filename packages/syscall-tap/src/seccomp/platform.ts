/**
 * The seccomp platform: the program runs as a host child process under a
 * seccomp filter that turns its system calls into user notifications
 * (SECCOMP_RET_USER_NOTIF). The server answers each one with a return value,
 * or lets the kernel run it (Resume.Continue). Memory-only calls and those
 * that act on the program's own kernel context run natively (see
 * DEFAULT_NATIVE_SYSCALLS), so signals and faults are the host kernel's job:
 * a task here has `nativeSignals: true` and `nativeMemory: true`.
 */
import { release } from "node:os";
import {
  CLOCK_MONOTONIC,
  close,
  type JailOptions,
  type JailReport,
  pidfdOpen,
  SECCOMP_FILTER_FLAG_NEW_LISTENER,
  type SpawnedProcess,
  SysError,
  spawn,
  ThreadTimer,
  waitpid,
} from "@kindling/sys-util";
import { ioctlRaw, native } from "@kindling/sys-util/unsafe";
import { syscallNumber } from "../strace/names.js";
import {
  MemoryFault,
  type Registers,
  Resume,
  type SyscallEvent,
  type SyscallServer,
  type TaskControl,
} from "../types.js";
import {
  EAGAIN,
  EINTR,
  ENOENT,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  NOTIF_DATA,
  NOTIF_ID,
  NOTIF_PID,
  O_CLOEXEC,
  SECCOMP_ADDFD_FLAG_SEND,
  SECCOMP_ADDFD_FLAG_SETFD,
  SECCOMP_IOCTL_NOTIF_ADDFD,
  SECCOMP_IOCTL_NOTIF_ID_VALID,
  SECCOMP_IOCTL_NOTIF_RECV,
  SECCOMP_IOCTL_NOTIF_SEND,
  SECCOMP_IOCTL_NOTIF_SET_FLAGS,
  SECCOMP_NOTIF_ADDFD_SIZE,
  SECCOMP_NOTIF_RESP_SIZE,
  SECCOMP_NOTIF_SIZE,
  SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
  SECCOMP_USER_NOTIF_FLAG_CONTINUE,
  SYS_exit,
  SYS_kill,
  SYS_pidfd_send_signal,
  SYS_poll,
} from "./abi.js";
import { notifyFilter } from "./bpf.js";
import { namespaceIds, reapJailed } from "./jailed.js";
import { ProcessMemory } from "./memory.js";

/**
 * System calls that run natively by default, without a notification:
 * - memory-only: brk, mmap (anonymous and not MAP_HUGETLB: a file-backed or
 *   huge-page mmap is notified), munmap, mprotect, madvise (the advice values
 *   of NATIVE_MADVISE_ADVICE only), mremap;
 * - the program's own kernel context, which a server in another process
 *   cannot change: rt_sigaction, rt_sigprocmask, rt_sigreturn, sigaltstack,
 *   arch_prctl, set_tid_address, set_robust_list, rseq, futex (the ops of
 *   NATIVE_FUTEX_OPS only: the PI ops look owner tids up in the host's pid
 *   namespace), restart_syscall, exit_group.
 * Everything else (files, identity, time, kill/tgkill, clone, execve, a
 * thread's `exit`, which a server counts ...) is notified; a server may answer
 * Continue to run it natively, but only for a call whose decision read no
 * program memory (the kernel reads that memory again, after the program's
 * other threads could change it).
 */
export const DEFAULT_NATIVE_SYSCALLS: readonly string[] = [
  "brk",
  "mmap",
  "munmap",
  "mprotect",
  "madvise",
  "mremap",
  "rt_sigaction",
  "rt_sigprocmask",
  "rt_sigreturn",
  "sigaltstack",
  "arch_prctl",
  "set_tid_address",
  "set_robust_list",
  "rseq",
  "futex",
  "restart_syscall",
  "exit_group",
];

/**
 * The futex commands (op & FUTEX_CMD_MASK, with or without FUTEX_PRIVATE_FLAG
 * and FUTEX_CLOCK_REALTIME) that run natively: WAIT 0, WAKE 1, REQUEUE 3,
 * CMP_REQUEUE 4, WAKE_OP 5, WAIT_BITSET 9, WAKE_BITSET 10. They act on the
 * program's own memory. The PI commands (LOCK_PI 6, UNLOCK_PI 7, TRYLOCK_PI 8,
 * WAIT_REQUEUE_PI 11, CMP_REQUEUE_PI 12, LOCK_PI2 13) find the lock owner by
 * tid in the host's pid namespace (their errors tell which host tasks exist),
 * and unknown commands are notified.
 */
export const NATIVE_FUTEX_OPS: readonly number[] = [0, 1, 3, 4, 5, 9, 10];
/** FUTEX_CMD_MASK: ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME). */
const FUTEX_CMD_MASK = ~(128 | 256) >>> 0;

/**
 * The madvise advice values that run natively: they act on the program's own
 * pages only. NORMAL 0, RANDOM 1, SEQUENTIAL 2, WILLNEED 3, DONTNEED 4, FREE 8,
 * REMOVE 9, DONTFORK 10, DOFORK 11, HUGEPAGE 14, NOHUGEPAGE 15, DONTDUMP 16,
 * DODUMP 17, WIPEONFORK 18, KEEPONFORK 19, COLD 20, PAGEOUT 21, POPULATE_READ 22,
 * POPULATE_WRITE 23, DONTNEED_LOCKED 24, COLLAPSE 25. Notified: MERGEABLE 12 and
 * UNMERGEABLE 13 (KSM merges pages across processes: a side channel to the
 * host's memory), HWPOISON 100 and SOFT_OFFLINE 101 (they take a host physical
 * page out of service), and anything unknown.
 */
export const NATIVE_MADVISE_ADVICE: readonly number[] = [
  0, 1, 2, 3, 4, 8, 9, 10, 11, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
];

/**
 * The argument conditions of the native calls (register tests in the filter):
 * futex's op (args[1]), madvise's advice (args[2]), mmap's flags (args[3]):
 * MAP_ANONYMOUS without MAP_HUGETLB (a huge-page mapping draws on the host's
 * shared huge-page pool; a file mapping names an fd the server virtualizes).
 */
export const NATIVE_ARG_CONDITIONS: ReadonlyArray<{
  name: string;
  arg: number;
  mask: number;
  values: readonly number[];
}> = [
  { name: "futex", arg: 1, mask: FUTEX_CMD_MASK, values: NATIVE_FUTEX_OPS },
  { name: "madvise", arg: 2, mask: 0xffffffff, values: NATIVE_MADVISE_ADVICE },
  { name: "mmap", arg: 3, mask: MAP_ANONYMOUS | MAP_HUGETLB, values: [MAP_ANONYMOUS] },
];

/** Errors of the seccomp platform. */
export class SeccompPlatformError extends Error {
  override readonly name = "SeccompPlatformError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function numbersOf(names: readonly string[]): number[] {
  return names.map((n) => {
    const nr = syscallNumber(n);
    if (nr === undefined) throw new SeccompPlatformError("EINVAL", `unknown system call name ${JSON.stringify(n)}`);
    return nr;
  });
}

/**
 * The filter the platform installs: the calls of `allowNative` run natively
 * (futex, madvise and mmap only when their NATIVE_ARG_CONDITIONS hold), all
 * others are notified, wherever they come from: sys-util's spawn takes the
 * listener with pidfd_getfd and answers the child's own execve itself, so no
 * call the program could imitate needs to run natively before it starts.
 */
export function seccompPlatformFilter(allowNative: readonly string[] = DEFAULT_NATIVE_SYSCALLS): Uint8Array {
  const conditions = NATIVE_ARG_CONDITIONS.map((c) => ({ ...c, nr: numbersOf([c.name])[0]! }));
  return notifyFilter({ allow: numbersOf(allowNative), conditions });
}

export interface SeccompSpawnOptions {
  file: string;
  argv: string[];
  env?: string[];
  /** The child's host working directory (jailed: only with `emptyRoot: false`; an empty root has none). */
  cwd?: string;
  /** fds[i] becomes the child's fd i (default [0, 1, 2]). */
  fds?: number[];
  /**
   * The child's jail (default true: sys-util's `spawn({ jail })` defaults): an
   * init of its own runs it as pid 2 in new namespaces, as an unprivileged
   * per-sandbox uid without capabilities, in an empty root; when the process
   * ends, is killed or closed, every host process it started ends too. false:
   * a plain child (the caller's uid and namespaces).
   */
  jail?: boolean | Omit<JailOptions, "maxTasks">;
  /**
   * Most host tasks (processes and threads) of the program (jailed only;
   * default 1024): one more clone fails with EAGAIN.
   */
  maxTasks?: number;
  /** System call names run natively (default DEFAULT_NATIVE_SYSCALLS). */
  allowNative?: readonly string[];
  /** Ask for synchronous wake-ups (Linux 6.6+; ignored where unsupported). Default true. */
  syncWakeUp?: boolean;
  /** How to wait for notifications (default "auto"). */
  waitMode?: SeccompWaitMode;
  /**
   * Resource limits of the child (the kernel enforces them; native mmap/brk
   * fail with ENOMEM at `addressSpaceBytes`): set before its first
   * instruction when jailed, else with prlimit64 right after it starts.
   */
  limits?: SeccompLimits;
}

export interface SeccompLimits {
  /** RLIMIT_CPU: SIGXCPU at this many seconds of CPU time, SIGKILL one second later. */
  cpuSeconds?: number;
  /** RLIMIT_AS: the address-space size limit in bytes. */
  addressSpaceBytes?: number;
  /** RLIMIT_NOFILE. */
  openFiles?: number;
}

const RLIMIT_CPU = 0;
const RLIMIT_NOFILE = 7;
const RLIMIT_AS = 9;
const SYS_prlimit64 = 302;

function setLimit(pid: number, resource: number, soft: number, hard: number): void {
  const lim = new BigUint64Array([BigInt(soft), BigInt(hard)]);
  const r = native().syscall(SYS_prlimit64, pid, resource, lim, 0);
  if (r < 0) throw new SeccompPlatformError(errnoCode(-r), `prlimit64(${pid}, ${resource}) failed (errno ${-r})`);
}

/** The limits as setrlimit triples, checked (a bad value is EINVAL before anything starts). */
function limitTriples(limits: SeccompLimits): Array<{ resource: number; soft: number; hard: number }> {
  const whole = (v: number, what: string) => {
    if (!Number.isSafeInteger(v) || v < 0) throw new SeccompPlatformError("EINVAL", `bad ${what} limit ${v}`);
    return v;
  };
  const out: Array<{ resource: number; soft: number; hard: number }> = [];
  if (limits.cpuSeconds !== undefined) {
    const c = whole(limits.cpuSeconds, "cpuSeconds");
    out.push({ resource: RLIMIT_CPU, soft: c, hard: c + 1 });
  }
  if (limits.addressSpaceBytes !== undefined) {
    const a = whole(limits.addressSpaceBytes, "addressSpaceBytes");
    out.push({ resource: RLIMIT_AS, soft: a, hard: a });
  }
  if (limits.openFiles !== undefined) {
    const f = whole(limits.openFiles, "openFiles");
    out.push({ resource: RLIMIT_NOFILE, soft: f, hard: f });
  }
  return out;
}

function applyLimits(pid: number, limits: ReturnType<typeof limitTriples>): void {
  for (const l of limits) setLimit(pid, l.resource, l.soft, l.hard);
}

export interface SeccompExit {
  pid: number;
  /** Raw wait status. */
  status: number;
  exitCode: number | null;
  signal: number | null;
  /** The server ended the task (Resume.Exit); it was killed with SIGKILL. */
  killedByServer: boolean;
  /** The wall-time limit passed; the process was killed with SIGKILL. */
  timedOut: boolean;
}

/**
 * How the platform waits for the next notification:
 * - "poll": poll(listener, pidfd) then RECV (three native calls per system call; works on every
 *   kernel; `run` returns when the spawned process has exited);
 * - "recv": block in RECV (two native calls per system call); needs Linux 6.11+, where RECV
 *   fails with ENOENT once every task using the filter has exited, so `run` returns when the
 *   spawned process *and every process it forked* have exited. `run`'s wall-time limit is a
 *   one-shot sys-util ThreadTimer whose kick signal interrupts RECV (a limit set with
 *   `setTimeout` outside `run` makes `serveOne` poll instead).
 * - "auto" (default): "recv" on Linux 6.11 and later, else "poll".
 */
export type SeccompWaitMode = "auto" | "poll" | "recv";

let recvWakes: boolean | undefined;

/** True when this kernel (6.11+) ends a blocked SECCOMP_IOCTL_NOTIF_RECV once the filter has no users. */
export function recvWakesOnExit(): boolean {
  if (recvWakes === undefined) {
    const m = /^(\d+)\.(\d+)/.exec(release());
    recvWakes = m !== null && (Number(m[1]) > 6 || (Number(m[1]) === 6 && Number(m[2]) >= 11));
  }
  return recvWakes;
}

export interface SeccompRunOptions {
  /** Wall-time limit in milliseconds from now: the process is killed (SIGKILL) when it passes. */
  timeoutMs?: number;
}

const TWO32 = 2 ** 32;

/** One notification, decoded in place from the reused seccomp_notif buffer. */
export class SeccompSyscallEvent implements SyscallEvent {
  readonly kind = "syscall" as const;
  nr = 0;
  readonly #dv: DataView;
  constructor(dv: DataView) {
    this.#dv = dv;
  }
  arg(i: number): number {
    const o = NOTIF_DATA + 16 + i * 8;
    return this.#dv.getUint32(o, true) + this.#dv.getUint32(o + 4, true) * TWO32;
  }
  argI32(i: number): number {
    return this.#dv.getInt32(NOTIF_DATA + 16 + i * 8, true);
  }
  argU64(i: number): bigint {
    return this.#dv.getBigUint64(NOTIF_DATA + 16 + i * 8, true);
  }
  /** The notification's thread id (in the listener's pid namespace). */
  get pid(): number {
    return this.#dv.getUint32(NOTIF_PID, true);
  }
  /** The instruction pointer after the `syscall` instruction. */
  get instructionPointer(): bigint {
    return this.#dv.getBigUint64(NOTIF_DATA + 8, true);
  }
  /** The notification id (the cookie of SEND/ADDFD/ID_VALID). */
  get id(): bigint {
    return this.#dv.getBigUint64(NOTIF_ID, true);
  }
}

function unsupported(what: string): never {
  throw new SeccompPlatformError(
    "ENOTSUP",
    `${what} is not available on the seccomp platform (signals and registers stay with the host kernel)`,
  );
}

/** One thread of the program, as the server sees it while it is stopped in a notified system call. */
export class SeccompTask implements TaskControl {
  readonly memory: ProcessMemory;
  readonly nativeMemory = true;
  /** Signals and faults are delivered by the host kernel: the server must not deliver them. */
  readonly nativeSignals = true;
  /** Set when the current call has already been answered (returnFd). */
  answered = false;
  readonly #owner: SeccompProcess;

  constructor(
    readonly pid: number,
    owner: SeccompProcess,
    validate: boolean,
  ) {
    this.#owner = owner;
    this.memory = new ProcessMemory(pid, validate ? () => this.#mustBeValid() : undefined);
  }

  #ns: { tid: number; tgid: number } | undefined;
  /**
   * The thread id as the program itself sees it (its pid namespace: a jailed
   * program is pid 2); `pid` is the host's, for what this process does to it.
   */
  get nsTid(): number {
    this.#ns ??= namespaceIds(this.pid);
    return this.#ns.tid;
  }
  /** The thread group (process) id as the program sees it. */
  get nsTgid(): number {
    this.#ns ??= namespaceIds(this.pid);
    return this.#ns.tgid;
  }

  #mustBeValid(): void {
    if (!this.#owner.notificationValid()) {
      throw new MemoryFault(0, 0); // the task died (its tid may be reused): the bytes are not its
    }
  }

  /** True while the current notification is still pending (its task alive and waiting). */
  notificationValid(): boolean {
    return this.#owner.notificationValid();
  }

  /**
   * Installs host fd `hostFd` into the task (SECCOMP_IOCTL_NOTIF_ADDFD) at
   * `targetFd` (replacing what is there) or at the lowest free number;
   * returns the task's fd number.
   */
  installFd(hostFd: number, targetFd?: number, cloexec = false): number {
    return this.#owner.addFd(hostFd, targetFd, cloexec, false);
  }

  /**
   * Installs `hostFd` and completes the current system call with the new fd
   * number as its result, atomically (SECCOMP_ADDFD_FLAG_SEND, Linux 5.14+).
   * The server's return value is then ignored.
   */
  returnFd(hostFd: number, cloexec = false): number {
    const fd = this.#owner.addFd(hostFd, undefined, cloexec, true);
    this.answered = true;
    return fd;
  }

  getRegisters(): Registers {
    return unsupported("getRegisters");
  }
  setRegisters(_regs: Registers): void {
    unsupported("setRegisters");
  }
  getFsBase(): bigint {
    return unsupported("getFsBase");
  }
  setFsBase(_value: bigint): void {
    unsupported("setFsBase");
  }
  getGsBase(): bigint {
    return unsupported("getGsBase");
  }
  setGsBase(_value: bigint): void {
    unsupported("setGsBase");
  }
  getExtendedState(): Uint8Array {
    return unsupported("getExtendedState");
  }
  setExtendedState(_state: Uint8Array): void {
    unsupported("setExtendedState");
  }
}

const POLLIN = 1;

/** A program running under the seccomp platform. */
export class SeccompProcess {
  readonly pid: number;
  #listener: number;
  #pidfd: number;
  #exit: SeccompExit | undefined;
  #killedByServer = false;
  #timedOut = false;
  #deadline = Number.POSITIVE_INFINITY;
  #timer: ThreadTimer | undefined;
  readonly #recvMode: boolean;
  /** How this process waits for notifications (see SeccompWaitMode). */
  readonly waitMode: "poll" | "recv";
  readonly #notif = new Uint8Array(SECCOMP_NOTIF_SIZE);
  readonly #notifDv = new DataView(this.#notif.buffer);
  readonly #resp = new Uint8Array(SECCOMP_NOTIF_RESP_SIZE);
  readonly #respDv = new DataView(this.#resp.buffer);
  readonly #addfd = new Uint8Array(SECCOMP_NOTIF_ADDFD_SIZE);
  readonly #addfdDv = new DataView(this.#addfd.buffer);
  readonly #native = native();
  readonly #id = new Uint8Array(8);
  readonly #idDv = new DataView(this.#id.buffer);
  readonly #pollfds = new Uint8Array(16);
  readonly #pollDv = new DataView(this.#pollfds.buffer);
  readonly #event = new SeccompSyscallEvent(this.#notifDv);
  readonly #outcome = { resume: Resume.Return as Resume };
  readonly #main: SeccompTask;
  readonly #tasks = new Map<number, SeccompTask>();
  /** Notifications served. */
  served = 0;

  /** The jailed child (its init and pids cgroup), when jailed. */
  readonly #jailed: SpawnedProcess | undefined;
  /** What the jail applied (undefined: not jailed). */
  readonly jail: JailReport | undefined;

  constructor(
    pid: number,
    listenerFd: number,
    syncWakeUp: boolean,
    waitMode: SeccompWaitMode = "auto",
    jailed?: SpawnedProcess,
  ) {
    this.pid = pid;
    this.#jailed = jailed?.initPid !== undefined ? jailed : undefined;
    this.jail = this.#jailed?.jail;
    this.#recvMode = waitMode === "recv" || (waitMode === "auto" && recvWakesOnExit());
    this.waitMode = this.#recvMode ? "recv" : "poll";
    this.#listener = listenerFd;
    try {
      this.#pidfd = pidfdOpen(pid);
    } catch (e) {
      // Jailed, the program's parent is its init, which reaps it at once: a program that ended
      // before its first served call (a fault in its start-up) is already gone. That is an exit.
      if (!(this.#jailed && e instanceof SysError && e.code === "ESRCH")) throw e;
      this.#pidfd = -1;
    }
    this.#main = new SeccompTask(pid, this, false);
    this.#tasks.set(pid, this.#main);
    this.#pollDv.setInt32(0, listenerFd, true);
    this.#pollDv.setInt16(4, POLLIN, true);
    this.#pollDv.setInt32(8, this.#pidfd, true);
    this.#pollDv.setInt16(12, POLLIN, true);
    if (this.#pidfd < 0) {
      this.#reap();
      return;
    }
    if (syncWakeUp) {
      ioctlRaw(listenerFd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
    }
  }

  /** The main task (the spawned process). */
  get mainTask(): SeccompTask {
    return this.#main;
  }

  /** The exit status once the process is gone. */
  get exit(): SeccompExit | undefined {
    return this.#exit;
  }

  #pidfdReadable(): boolean {
    const dv = this.#pollDv;
    dv.setInt16(14, 0, true);
    for (;;) {
      const pr = this.#native.syscall(SYS_poll, this.#pollfds.subarray(8), 1, 0);
      if (pr === -EINTR) continue;
      return pr > 0 && (dv.getInt16(14, true) & POLLIN) !== 0;
    }
  }

  /** Copies the current notification id to offset 0 of `dv` (no allocation). */
  #copyId(dv: DataView): void {
    dv.setUint32(0, this.#notifDv.getUint32(NOTIF_ID, true), true);
    dv.setUint32(4, this.#notifDv.getUint32(NOTIF_ID + 4, true), true);
  }

  notificationValid(): boolean {
    this.#copyId(this.#idDv);
    return ioctlRaw(this.#listener, SECCOMP_IOCTL_NOTIF_ID_VALID, this.#id) === 0;
  }

  addFd(hostFd: number, targetFd: number | undefined, cloexec: boolean, send: boolean): number {
    const dv = this.#addfdDv;
    this.#copyId(dv);
    dv.setUint32(
      8,
      (targetFd !== undefined ? SECCOMP_ADDFD_FLAG_SETFD : 0) | (send ? SECCOMP_ADDFD_FLAG_SEND : 0),
      true,
    );
    dv.setUint32(12, hostFd, true);
    dv.setUint32(16, targetFd ?? 0, true);
    dv.setUint32(20, cloexec ? O_CLOEXEC : 0, true);
    const r = ioctlRaw(this.#listener, SECCOMP_IOCTL_NOTIF_ADDFD, this.#addfd);
    // ENOENT: the task is gone (or was interrupted); EBADF: hostFd is not open; EMFILE: the task's fd limit.
    if (r < 0) throw new SeccompPlatformError(errnoCode(-r), `SECCOMP_IOCTL_NOTIF_ADDFD failed (errno ${-r})`);
    return r;
  }

  /**
   * Waits for the next notification and serves it. Returns false once the
   * process has exited (then `exit` holds its status).
   */
  serveOne(server: SyscallServer): boolean {
    if (this.#exit) return false;
    const n = this.#native;
    if (this.#recvMode && (this.#deadline === Number.POSITIVE_INFINITY || this.#timer !== undefined)) {
      // Block in RECV itself (Linux 6.11+ ends it with ENOENT once every task has exited; the
      // deadline timer's signal ends it with EINTR).
      if (this.#timer !== undefined && performance.now() >= this.#deadline) return this.#timeout();
      this.#notif.fill(0);
      const r = n.ioctl(this.#listener, SECCOMP_IOCTL_NOTIF_RECV, this.#notif);
      if (r < 0) {
        if (r === -EINTR)
          return this.#timer !== undefined && performance.now() >= this.#deadline ? this.#timeout() : true;
        if (r === -ENOENT) {
          // A task died in its notification, or every task has exited.
          if (!this.#pidfdReadable()) return true;
          this.#reap();
          return false;
        }
        throw new SeccompPlatformError(errnoCode(-r), `SECCOMP_IOCTL_NOTIF_RECV failed (errno ${-r})`);
      }
    } else {
      for (;;) {
        this.#pollDv.setInt16(6, 0, true);
        this.#pollDv.setInt16(14, 0, true);
        const timeout =
          this.#deadline === Number.POSITIVE_INFINITY ? -1 : Math.max(0, Math.ceil(this.#deadline - performance.now()));
        const pr = n.syscall(SYS_poll, this.#pollfds, 2, timeout);
        if (pr === -EINTR || pr === -EAGAIN) continue;
        if (pr < 0) throw new SeccompPlatformError(errnoCode(-pr), `poll failed (errno ${-pr})`);
        if (pr === 0) return this.#timeout(); // the wall-time limit passed
        const lrev = this.#pollDv.getInt16(6, true);
        if (lrev & POLLIN) break;
        // Nothing to receive: the process exited (pidfd readable) or every task left the filter (POLLHUP).
        this.#reap();
        return false;
      }
      this.#notif.fill(0);
      const r = n.ioctl(this.#listener, SECCOMP_IOCTL_NOTIF_RECV, this.#notif);
      if (r < 0) {
        // ENOENT: the task died between poll and RECV; EINTR: a signal; try again.
        if (r === -ENOENT || r === -EINTR) return true;
        throw new SeccompPlatformError(errnoCode(-r), `SECCOMP_IOCTL_NOTIF_RECV failed (errno ${-r})`);
      }
    }
    this.served++;
    const ev = this.#event;
    ev.nr = this.#notifDv.getInt32(NOTIF_DATA, true);
    const tid = this.#notifDv.getUint32(NOTIF_PID, true);
    let task = tid === this.pid ? this.#main : this.#tasks.get(tid);
    if (task === undefined) {
      task = new SeccompTask(tid, this, true);
      this.#tasks.set(tid, task);
    }
    task.answered = false;
    const outcome = this.#outcome;
    outcome.resume = Resume.Return;
    let ret: number;
    try {
      ret = server.onSyscall(task, ev, outcome);
    } catch (e) {
      if (e instanceof MemoryFault) {
        ret = -14; // EFAULT: the server let a bad program pointer through
        outcome.resume = Resume.Return;
      } else if (e instanceof SeccompPlatformError && e.code === "ENOENT" && !this.notificationValid()) {
        return true; // the task died while being served (ADDFD found it gone): nothing to answer
      } else if (this.#deadline !== Number.POSITIVE_INFINITY && performance.now() >= this.#deadline) {
        return this.#timeout(); // e.g. the deadline signal interrupted the server's own I/O
      } else {
        this.kill(9);
        this.#reap();
        throw e;
      }
    }
    switch (outcome.resume as Resume) {
      case Resume.Return:
        if (!Number.isSafeInteger(ret) && !task.answered) {
          this.kill(9);
          this.#reap();
          throw new SeccompPlatformError(
            "EINVAL",
            `the server returned ${ret} for system call ${ev.nr}, not an integer`,
          );
        }
        if (!task.answered) this.#send(ret, 0);
        break;
      case Resume.Continue:
        this.#send(0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
        // A thread's exit (notified so that servers can count threads): it ends, and its tid may
        // come back as another thread; holding its task would grow with every thread ever made.
        if (ev.nr === SYS_exit && task !== this.#main) this.#tasks.delete(tid);
        break;
      case Resume.Exit:
        this.#killedByServer = true;
        this.#killTask(tid);
        break;
      default:
        this.kill(9);
        this.#reap();
        throw new SeccompPlatformError(
          "ENOTSUP",
          `resume mode ${outcome.resume} is not available on the seccomp platform (registers stay with the host kernel)`,
        );
    }
    return true;
  }

  #send(ret: number, flags: number): void {
    const dv = this.#respDv;
    this.#copyId(dv);
    if (flags !== 0 || ret >= 0) {
      const v = flags !== 0 ? 0 : ret;
      dv.setUint32(8, v % TWO32, true);
      dv.setUint32(12, Math.floor(v / TWO32) >>> 0, true);
      dv.setInt32(16, 0, true);
    } else if (ret >= -4095) {
      dv.setUint32(8, 0, true);
      dv.setUint32(12, 0, true);
      dv.setInt32(16, ret, true);
    } else {
      dv.setBigInt64(8, BigInt.asIntN(64, BigInt(Math.trunc(ret))), true);
      dv.setInt32(16, 0, true);
    }
    dv.setUint32(20, flags, true);
    const r = this.#native.ioctl(this.#listener, SECCOMP_IOCTL_NOTIF_SEND, this.#resp);
    // ENOENT: the task died (or was interrupted by a signal) while we served it; nothing to answer.
    if (r < 0 && r !== -ENOENT) {
      throw new SeccompPlatformError(errnoCode(-r), `SECCOMP_IOCTL_NOTIF_SEND failed (errno ${-r})`);
    }
  }

  #killTask(tid: number): void {
    // Killing any thread with SIGKILL ends the whole thread group. The main process through its
    // pidfd; another task by tid only while its notification is pending (it cannot have ended and
    // been reaped, its tid taken by another host process): jailed, no pid here is our child.
    if (tid === this.pid) this.kill(9);
    else if (this.notificationValid()) native().syscall(SYS_kill, tid, 9);
  }

  #reap(): void {
    if (this.#exit) return;
    // Jailed: init reports the program's status, then exits, and the namespace goes with it.
    const w = this.#jailed ? reapJailed(this.#jailed) : waitpid(this.pid, 0);
    this.#exit = {
      pid: this.pid,
      status: w.status,
      exitCode: w.exitCode,
      signal: w.signal,
      killedByServer: this.#killedByServer,
      timedOut: this.#timedOut,
    };
    this.#closeFds();
  }

  #closeFds(): void {
    if (this.#listener >= 0) {
      close(this.#listener);
      this.#listener = -1;
    }
    if (this.#pidfd >= 0) {
      close(this.#pidfd);
      this.#pidfd = -1;
    }
  }

  /** Serves notifications until the process exits; returns its status. */
  run(server: SyscallServer, options: SeccompRunOptions = {}): SeccompExit {
    if (options.timeoutMs !== undefined) this.setTimeout(options.timeoutMs);
    if (this.#recvMode && this.#deadline !== Number.POSITIVE_INFINITY && !this.#exit) {
      // In "recv" mode the deadline is a one-shot timer whose signal (sys-util's kick, no
      // SA_RESTART) interrupts the blocked RECV.
      this.#timer = new ThreadTimer(CLOCK_MONOTONIC);
      this.#timer.set(Math.max(1, Math.ceil((this.#deadline - performance.now()) * 1e6)));
    }
    try {
      while (this.serveOne(server)) {
        /* serve */
      }
    } finally {
      this.#timer?.delete();
      this.#timer = undefined;
    }
    return this.#exit!;
  }

  #timeout(): false {
    this.#timedOut = true;
    this.kill(9);
    this.#reap();
    return false;
  }

  /** Sets the wall-time limit to `ms` milliseconds from now (Infinity: none). */
  setTimeout(ms: number): void {
    if (!(ms >= 0)) throw new SeccompPlatformError("EINVAL", `bad timeout ${ms}`);
    this.#deadline = performance.now() + ms;
  }

  /** Sends a signal to the process (default SIGKILL; jailed, SIGKILL ends the whole sandbox). */
  kill(signal = 9): void {
    if (this.#exit) return;
    // Through the pidfd: a pid number the program no longer holds may already name another host process.
    if (this.#pidfd >= 0) native().syscall(SYS_pidfd_send_signal, this.#pidfd, signal, 0, 0);
    if (signal === 9 && this.#jailed) native().syscall(SYS_kill, this.#jailed.initPid!, 9);
  }

  /** Kills the process if it still runs, reaps it and closes the listener. */
  close(): SeccompExit {
    if (!this.#exit) {
      this.kill(9);
      this.#reap();
    }
    return this.#exit!;
  }
}

function errnoCode(errno: number): string {
  const names: Record<number, string> = {
    1: "EPERM",
    2: "ENOENT",
    3: "ESRCH",
    4: "EINTR",
    9: "EBADF",
    14: "EFAULT",
    16: "EBUSY",
    22: "EINVAL",
    24: "EMFILE",
    25: "ENOTTY",
  };
  return names[errno] ?? `E${errno}`;
}

/**
 * SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19+): once the server has
 * received a notification, only a fatal signal interrupts the waiting task.
 * Without it a signal (SIGALRM, SIGCHLD ...) arriving while the server works
 * interrupts the call, drops the server's answer and restarts the call: its
 * side effects would happen twice.
 */
export const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 32;
let killableRecv = true;

/** The seccomp platform. */
export const SeccompPlatform = {
  /** Starts `file` as a host child whose system calls come to the server as notifications. */
  spawn(options: SeccompSpawnOptions): SeccompProcess {
    const program = seccompPlatformFilter(options.allowNative ?? DEFAULT_NATIVE_SYSCALLS);
    const spawnOpts: Parameters<typeof spawn>[0] = {
      file: options.file,
      argv: options.argv,
      seccomp: program,
      seccompFlags: SECCOMP_FILTER_FLAG_NEW_LISTENER | (killableRecv ? SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV : 0),
    };
    if (options.env !== undefined) spawnOpts.env = options.env;
    if (options.cwd !== undefined) spawnOpts.cwd = options.cwd;
    if (options.fds !== undefined) spawnOpts.fds = options.fds;
    const limits = options.limits ? limitTriples(options.limits) : [];
    const jailed = options.jail !== false;
    if (jailed) {
      // Jailed, the limits are in place before the program's first instruction (set by its init).
      spawnOpts.jail = {
        ...(options.jail === true || options.jail === undefined ? {} : options.jail),
        rlimits: limits,
      };
      if (options.maxTasks !== undefined) spawnOpts.jail.maxTasks = options.maxTasks;
    }
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(spawnOpts);
    } catch (e) {
      // Linux before 5.19 rejects WAIT_KILLABLE_RECV: retry without it (signals may then restart served calls).
      if (!(killableRecv && e instanceof SysError && e.syscall === "seccomp" && e.errno === 22)) throw e;
      killableRecv = false;
      spawnOpts.seccompFlags = SECCOMP_FILTER_FLAG_NEW_LISTENER;
      child = spawn(spawnOpts);
    }
    if (child.listenerFd < 0) {
      native().syscall(SYS_kill, child.initPid ?? child.pid, 9);
      if (child.initPid !== undefined) reapJailed(child);
      else waitpid(child.pid, 0);
      throw new SeccompPlatformError("EINVAL", "spawn returned no seccomp listener");
    }
    let proc: SeccompProcess;
    try {
      proc = new SeccompProcess(child.pid, child.listenerFd, options.syncWakeUp ?? true, options.waitMode, child);
    } catch (e) {
      let died: { status: number } | undefined;
      if (child.initPid !== undefined) {
        // Not child.pid: the program is init's child, reaped by it at once, so its pid may already
        // name another host process. Killing init ends the program (namespace, or PDEATHSIG).
        native().syscall(SYS_kill, child.initPid, 9);
        died = reapJailed(child);
      } else {
        native().syscall(SYS_kill, child.pid, 9);
        waitpid(child.pid, 0);
      }
      close(child.listenerFd);
      if (e instanceof SysError && e.code === "ESRCH" && died) {
        throw new SeccompPlatformError("ESRCH", `the program ended before it was served (wait status ${died.status})`);
      }
      throw e;
    }
    if (!jailed && limits.length > 0) {
      try {
        applyLimits(child.pid, limits);
      } catch (e) {
        proc.close();
        throw e;
      }
    }
    return proc;
  },
};
