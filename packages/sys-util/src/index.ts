/**
 * @kindling/sys-util: the one native seam of Kindling.
 *
 * Thin, typed wrappers of Linux system calls that Node.js does not expose.
 * Every failure is a {@link SysError} carrying `errno` and `code`; misuse of a
 * wrapper (a closed fd, use after unmap) is a {@link UsageError}.
 */
import { constants as bufferConstants } from "node:buffer";
import { check, rethrow, SysError, UsageError } from "./errors.js";
import { type NativeBinding, type NativeJailReport, type NativeSpawnOptions, native } from "./native.js";
import { closeProcsFd, makePidsCgroup, removeCgroup } from "./pids-cgroup.js";

export * from "./constants.js";
export { check, errnoName, errnoValue, SysError, UsageError } from "./errors.js";
export * from "./ioctl-numbers.js";
// The raw hatches (native(), syscall, unchecked ioctl, addressOf, prctl) are in "@kindling/sys-util/unsafe".
export type { NativeSpawnOptions } from "./native.js";
export * from "./supervisor-jail.js";

import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
} from "./constants.js";
import { IOC_NONE, iocDir, iocSize, LEGACY_POINTER_IOCTLS } from "./ioctl-numbers.js";

// ------------------------------------------------------------------ fds

/** open(2). Returns the new fd. */
export function open(path: string, flags: number, mode = 0): number {
  return check(native().open(path, flags, mode), "open", path);
}

/** close(2). */
export function close(fd: number): void {
  check(native().close(fd), "close");
}

/**
 * ioctl(2), checked against the request: a request that encodes a direction
 * takes a buffer (passed by pointer) of exactly `_IOC_SIZE(request)` bytes, as
 * does a pre-_IOC request known to take a pointer (`LEGACY_POINTER_IOCTLS`);
 * any other request takes a number (passed by value), never a buffer. A
 * mismatch is a UsageError (EINVAL) and nothing reaches the kernel: a short
 * buffer would let the kernel write past it, a number in place of a pointer
 * would be a raw address. Returns the ioctl's non-negative result; a failure is a SysError.
 * (Structs that themselves hold pointers, and variable-length structs, are
 * for `ioctlUnchecked` in "@kindling/sys-util/unsafe".)
 */
export function ioctl(
  fd: number,
  request: number | bigint,
  arg?: number | bigint | ArrayBufferView | ArrayBuffer,
): number {
  const req = ioctlRequest(request);
  const size = ioctlPointerSize(req);
  const name = `0x${req.toString(16)}`;
  const isBuffer = arg instanceof ArrayBuffer || ArrayBuffer.isView(arg);
  if (size !== undefined) {
    if (!isBuffer) {
      throw new UsageError("EINVAL", `ioctl ${name} takes a pointer to ${size} bytes: pass a buffer, not a number`);
    }
    if (arg.byteLength !== size) {
      throw new UsageError("EINVAL", `ioctl ${name} takes ${size} bytes; the buffer has ${arg.byteLength}`);
    }
  } else if (isBuffer) {
    throw new UsageError("EINVAL", `ioctl ${name} encodes no argument size: it takes a number, not a buffer`);
  } else if (arg !== undefined && typeof arg !== "number" && typeof arg !== "bigint") {
    throw new UsageError("EINVAL", `ioctl ${name}: the argument must be a number, a bigint or a buffer`);
  }
  return check(native().ioctl(fd, req, arg ?? 0), "ioctl", name);
}

/** The kernel takes the request as an unsigned int: a value outside 32 bits is refused, not truncated. */
function ioctlRequest(request: number | bigint): number {
  const r = typeof request === "bigint" ? request : Number.isSafeInteger(request) ? BigInt(request) : -1n;
  if (r < -(2n ** 31n) || r >= 2n ** 32n) {
    throw new UsageError("EINVAL", `ioctl request ${String(request)} is not a 32-bit number`);
  }
  return Number(BigInt.asUintN(32, r));
}

/**
 * The size of what `request`'s argument points to, or undefined when it takes
 * its argument by value.
 */
export function ioctlPointerSize(request: number): number | undefined {
  if (iocDir(request) !== IOC_NONE) return iocSize(request);
  return LEGACY_POINTER_IOCTLS.get(request);
}

/** memfd_create(2). */
export function memfdCreate(name: string, flags = 0): number {
  return check(native().memfdCreate(name, flags), "memfd_create", name);
}

/** ftruncate(2). */
export function ftruncate(fd: number, length: number | bigint): void {
  check(native().ftruncate(fd, length), "ftruncate");
}

function viewRange(buf: ArrayBufferLike | ArrayBufferView, offset: number, length: number | undefined): number {
  const size = ArrayBuffer.isView(buf) ? buf.byteLength : buf.byteLength;
  const len = length ?? size - offset;
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(len) || offset < 0 || len < 0 || offset + len > size) {
    throw new UsageError("ERANGE", `range [${offset}, +${len}) outside a buffer of ${size} bytes`);
  }
  return len;
}

/**
 * pread(2) straight into `buf[offset, offset+length)`. A negative `position`
 * reads at the file's current offset (read(2)). Returns the bytes read.
 */
export function pread(
  fd: number,
  buf: ArrayBufferLike | ArrayBufferView,
  offset = 0,
  length?: number,
  position: number | bigint = -1,
): number {
  const len = viewRange(buf, offset, length);
  return check(native().pread(fd, buf, offset, len, position), "pread");
}

/** pwrite(2) straight from `buf[offset, offset+length)`; negative `position` writes at the current offset. */
export function pwrite(
  fd: number,
  buf: ArrayBufferLike | ArrayBufferView,
  offset = 0,
  length?: number,
  position: number | bigint = -1,
): number {
  const len = viewRange(buf, offset, length);
  return check(native().pwrite(fd, buf, offset, len, position), "pwrite");
}

/** An eventfd(2): a 64-bit counter the kernel can signal (ioeventfd) or wait on (irqfd). */
export class EventFd {
  #fd: number;
  constructor(initval = 0, flags = 0) {
    this.#fd = check(native().eventfd(initval, flags), "eventfd");
  }
  get fd(): number {
    if (this.#fd < 0) throw new UsageError("EBADF", "EventFd is closed");
    return this.#fd;
  }
  /** Adds `value` to the counter. */
  write(value: number | bigint = 1): void {
    check(native().eventfdWrite(this.fd, value), "eventfd write");
  }
  /** Reads and resets the counter (blocks unless EFD_NONBLOCK; then EAGAIN when zero). */
  read(): bigint {
    const v = native().eventfdRead(this.fd);
    if (v < 0n) throw new SysError("eventfd read", Number(-v));
    return v;
  }
  /** Reads the counter without blocking; 0n when nothing was signalled (needs EFD_NONBLOCK). */
  tryRead(): bigint {
    const v = native().eventfdRead(this.fd);
    if (v < 0n) {
      if (Number(-v) === 11) return 0n; // EAGAIN
      throw new SysError("eventfd read", Number(-v));
    }
    return v;
  }
  close(): void {
    if (this.#fd >= 0) {
      native().close(this.#fd);
      this.#fd = -1;
    }
  }
}

// ------------------------------------------------------------------ memory

/** The largest mapping one MmapRegion can expose (an ArrayBuffer's maximum length). */
export const MAX_MAPPING_LENGTH: number = bufferConstants.MAX_LENGTH;

/**
 * A memory mapping owned by JavaScript. `buffer` is an external ArrayBuffer
 * over the mapped bytes; the mapping is removed exactly once, by `unmap()` or
 * by the garbage collector. After `unmap()`, every access through this object
 * is a UsageError and old views of `buffer` read as empty (it is detached).
 */
export class MmapRegion {
  #buffer: ArrayBuffer | undefined;
  readonly length: number;
  readonly hostAddress: bigint;

  private constructor(buffer: ArrayBuffer) {
    this.#buffer = buffer;
    this.length = buffer.byteLength;
    this.hostAddress = native().addressOf(buffer);
  }

  /** mmap(2) with explicit arguments. */
  static map(length: number, prot: number, flags: number, fd = -1, offset: number | bigint = 0): MmapRegion {
    if (!Number.isSafeInteger(length) || length <= 0) {
      throw new SysError("mmap", 22, `length ${length}`);
    }
    // There is no address argument: a fixed mapping would land at 0 over whatever is there.
    if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0) {
      throw new UsageError("EINVAL", "MmapRegion.map takes no address: MAP_FIXED is refused");
    }
    if (length > MAX_MAPPING_LENGTH) {
      throw new UsageError(
        "ERANGE",
        `a mapping of ${length} bytes exceeds the largest ArrayBuffer (${MAX_MAPPING_LENGTH})`,
      );
    }
    try {
      return new MmapRegion(native().mmap(length, prot, flags, fd, offset));
    } catch (e) {
      rethrow(e);
    }
  }

  /** Anonymous private read/write memory. */
  static anonymous(length: number): MmapRegion {
    return MmapRegion.map(length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  }

  /** A shared (or private, copy-on-write) read/write mapping of a file or memfd. */
  static file(fd: number, length: number, offset: number | bigint = 0, shared = true): MmapRegion {
    return MmapRegion.map(length, PROT_READ | PROT_WRITE, shared ? MAP_SHARED : MAP_PRIVATE, fd, offset);
  }

  get mapped(): boolean {
    return this.#buffer !== undefined;
  }

  /** The mapped bytes as an ArrayBuffer. */
  get buffer(): ArrayBuffer {
    if (this.#buffer === undefined) throw new UsageError("EUNMAPPED", "mapping used after unmap()");
    return this.#buffer;
  }

  /** A Uint8Array view of `[offset, offset+length)`, bounds-checked. */
  bytes(offset = 0, length = this.length - offset): Uint8Array {
    viewRange(this.buffer, offset, length);
    return new Uint8Array(this.buffer, offset, length);
  }

  madvise(offset: number, length: number, advice: number): void {
    viewRange(this.buffer, offset, length);
    check(native().madvise(this.buffer, offset, length, advice), "madvise");
  }

  mprotect(offset: number, length: number, prot: number): void {
    viewRange(this.buffer, offset, length);
    check(native().mprotect(this.buffer, offset, length, prot), "mprotect");
  }

  msync(offset: number, length: number, flags = 4 /* MS_SYNC */): void {
    viewRange(this.buffer, offset, length);
    check(native().msync(this.buffer, offset, length, flags), "msync");
  }

  /** Removes the mapping now. A second call is a UsageError. */
  unmap(): void {
    const b = this.buffer;
    this.#buffer = undefined;
    check(native().munmap(b), "munmap");
  }
}

// ------------------------------------------------------------------ system calls

/** The kernel thread id of the calling thread. */
export function gettid(): number {
  return native().gettid();
}

const SYS_tgkill = 234;
const SYS_openat2 = 437;
const SYS_pidfd_open = 434;

/** tgkill(2): a signal to one thread. */
export function tgkill(tgid: number, tid: number, sig: number): void {
  check(native().syscall(SYS_tgkill, tgid, tid, sig), "tgkill");
}

/** pidfd_open(2). */
export function pidfdOpen(pid: number, flags = 0): number {
  return check(native().syscall(SYS_pidfd_open, pid, flags), "pidfd_open");
}

export interface OpenHow {
  flags: number;
  mode?: number;
  resolve?: number;
}

/** openat2(2): `resolve` takes RESOLVE_* flags (RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS…). */
export function openat2(dirfd: number, path: string, how: OpenHow): number {
  const r = openat2Raw(dirfd, path, how);
  return check(r, "openat2", path);
}

/** openat2(2) returning -errno instead of throwing. */
export function openat2Raw(dirfd: number, path: string, how: OpenHow): number {
  const p = Buffer.from(`${path}\0`, "utf8");
  const h = new BigUint64Array([BigInt(how.flags >>> 0), BigInt(how.mode ?? 0), BigInt(how.resolve ?? 0)]);
  return native().syscall(SYS_openat2, dirfd, p, h, 24);
}

// ------------------------------------------------------------------ seccomp and processes

/**
 * Installs a classic-BPF seccomp program (an array of 8-byte sock_filter) on
 * the calling thread, after PR_SET_NO_NEW_PRIVS. `flags` takes SECCOMP_FILTER_FLAG_*
 * (TSYNC applies it to every thread). Returns seccomp(2)'s result.
 */
export function seccompInstall(program: Uint8Array, flags = 0): number {
  if (program.byteLength === 0 || program.byteLength % 8 !== 0) {
    throw new UsageError("EINVAL", "a seccomp program is a non-empty array of 8-byte instructions");
  }
  return check(native().seccompInstall(program, flags), "seccomp");
}

export interface SpawnOptions {
  file: string;
  argv: string[];
  env?: string[];
  cwd?: string;
  /** fds[i] becomes the child's fd i; -1 closes it. Default [0, 1, 2]. */
  fds?: number[];
  /** A seccomp program installed just before execve. */
  seccomp?: Uint8Array;
  seccompFlags?: number;
  /** PTRACE_TRACEME then SIGSTOP before the filter and execve (not with `jail`). */
  traceme?: boolean;
  /** PR_SET_NO_NEW_PRIVS before the filter (default true). */
  noNewPrivs?: boolean;
  /**
   * Jail the child (true: the defaults of JailOptions): an init of its own runs
   * the program as pid 2 in new namespaces, unprivileged, in an empty root,
   * under a task limit. `cwd` applies only with `emptyRoot: false` (else
   * `jail.notes` says it was ignored). End it with
   * `endJail` after waiting for `initPid`.
   */
  jail?: JailOptions | boolean;
}

export interface JailOptions {
  /** Host uid the program runs as (default 2^20 + the host pid of the sandbox's init: unique per live sandbox). */
  uid?: number;
  /** Host gid (default the uid). */
  gid?: number;
  /**
   * Most host tasks (processes and threads) of the program: a pids cgroup
   * where one can be made, and RLIMIT_NPROC of the sandbox's own uid (both
   * one more, for the sandbox's init). Creating one more fails with EAGAIN.
   * Default 1024; 0: no limit.
   */
  maxTasks?: number;
  /**
   * Resource limits set in the child before the program's first instruction
   * (setrlimit; a limit cannot be raised above this process's hard limit).
   */
  rlimits?: Array<{ resource: number; soft: number; hard: number }>;
  /** New pid, mount, ipc, uts and net namespaces (and user, when not root) where the kernel allows. Default true. */
  namespaces?: boolean;
  /** pivot_root into an empty read-only tmpfs (the program file is executed from an fd opened before). Default true. */
  emptyRoot?: boolean;
}

/** What a jailed spawn applied; `notes` says what the kernel refused and what was done instead. */
export interface JailReport extends Omit<NativeJailReport, "cgroup"> {
  /** How the task limit is enforced. */
  taskLimit: Array<"cgroup" | "rlimit">;
  /** The sandbox's pids cgroup (removed by endJail). */
  cgroup?: string;
}

export interface SpawnedProcess {
  /** The program's host pid. */
  pid: number;
  /** The seccomp user-notification listener when SECCOMP_FILTER_FLAG_NEW_LISTENER was asked; else -1. */
  listenerFd: number;
  /** Jailed: the sandbox's init (this process's child, the program's parent). Killing it ends the sandbox. */
  initPid?: number;
  /** Jailed: read end of a pipe on which init writes the program's 4-byte wait status (EOF if init was killed). */
  statusFd?: number;
  jail?: JailReport;
}

/** The default task limit of a jailed spawn. */
export const DEFAULT_MAX_TASKS = 1024;

/** fork + execve with an optional seccomp filter installed in the child before exec. */
export function spawn(options: SpawnOptions): SpawnedProcess {
  const o: NativeSpawnOptions = {
    file: options.file,
    argv: options.argv,
    envp: options.env ?? Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ""}`),
    noNewPrivs: options.noNewPrivs ?? true,
  };
  if (options.cwd !== undefined) o.cwd = options.cwd;
  if (options.fds !== undefined) o.fds = options.fds;
  if (options.seccomp !== undefined) o.seccomp = options.seccomp;
  if (options.seccompFlags !== undefined) o.seccompFlags = options.seccompFlags;
  if (options.traceme !== undefined) o.traceme = options.traceme;
  if (!options.jail) {
    try {
      const r = native().spawn(o);
      return { pid: r.pid, listenerFd: r.listenerFd };
    } catch (e) {
      rethrow(e);
    }
  }
  const j: JailOptions = options.jail === true ? {} : options.jail;
  const maxTasks = j.maxTasks ?? DEFAULT_MAX_TASKS;
  if (!Number.isSafeInteger(maxTasks) || maxTasks < 0 || maxTasks > 4194304) {
    throw new UsageError("EINVAL", `jail.maxTasks must be an integer from 0 to 4194304, not ${maxTasks}`);
  }
  for (const k of ["uid", "gid"] as const) {
    const v = j[k];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1 || v > 0xfffffffe)) {
      throw new UsageError("EINVAL", `jail.${k} must be an integer from 1 to 4294967294, not ${v}`);
    }
  }
  const rl: number[] = [];
  for (const l of j.rlimits ?? []) {
    for (const v of [l.resource, l.soft, l.hard]) {
      if (!Number.isSafeInteger(v) || v < -1) throw new UsageError("EINVAL", `jail.rlimits: bad value ${v}`);
    }
    rl.push(l.resource, l.soft, l.hard);
  }
  // The host counts the sandbox's init too.
  const hostTasks = maxTasks > 0 ? maxTasks + 1 : 0;
  const made = hostTasks > 0 ? makePidsCgroup(hostTasks) : { cgroup: null, why: "" };
  const nj: NonNullable<NativeSpawnOptions["jail"]> = {
    maxTasks: hostTasks,
    rlimits: rl,
    cgroupProcsFd: made.cgroup?.procsFd ?? -1,
    namespaces: j.namespaces ?? true,
    emptyRoot: j.emptyRoot ?? true,
  };
  if (j.uid !== undefined) nj.uid = j.uid;
  if (j.gid !== undefined) nj.gid = j.gid;
  o.jail = nj;
  let r: ReturnType<NativeBinding["spawn"]>;
  try {
    r = native().spawn(o);
  } catch (e) {
    if (made.cgroup) removeCgroup(made.cgroup.path);
    rethrow(e);
  } finally {
    if (made.cgroup) closeProcsFd(made.cgroup);
  }
  const { cgroup: joined, ...applied } = r.jail!;
  const report: JailReport = { ...applied, maxTasks, taskLimit: [], notes: [...applied.notes] };
  if (maxTasks > 0) {
    if (joined && made.cgroup) {
      report.taskLimit.push("cgroup");
      report.cgroup = made.cgroup.path;
    } else {
      if (made.cgroup) removeCgroup(made.cgroup.path); // the child could not join it
      if (made.why) report.notes.push(`pids cgroup: ${made.why}`);
    }
    report.taskLimit.push("rlimit");
  }
  return { pid: r.pid, listenerFd: r.listenerFd, initPid: r.initPid!, statusFd: r.statusFd!, jail: report };
}

/**
 * Ends what a jailed spawn left once its init has been reaped: kills any
 * process still in its pids cgroup and removes the cgroup. Returns false if
 * the cgroup could not be removed.
 */
export function endJail(p: SpawnedProcess): boolean {
  return p.jail?.cgroup !== undefined ? removeCgroup(p.jail.cgroup) : true;
}

export interface WaitResult {
  pid: number;
  /** The raw wait status. */
  status: number;
  /** Exit code when the child exited normally. */
  exitCode: number | null;
  /** Terminating signal when the child was killed. */
  signal: number | null;
  /** Stop signal when the child is stopped (traced). */
  stopSignal: number | null;
}

export function decodeWaitStatus(pid: number, status: number): WaitResult {
  const sig = status & 0x7f;
  return {
    pid,
    status,
    exitCode: sig === 0 ? (status >> 8) & 0xff : null,
    signal: sig !== 0 && sig !== 0x7f ? sig : null,
    stopSignal: (status & 0xff) === 0x7f ? (status >> 8) & 0xff : null,
  };
}

/** waitpid(2), retried on EINTR. With WNOHANG and nothing to report, pid is 0. */
export function waitpid(pid: number, options = 0): WaitResult {
  const [r, status] = native().waitpid(pid, options);
  check(r, "waitpid");
  return decodeWaitStatus(r, status);
}

// ------------------------------------------------------------------ kicking a vCPU

/**
 * Making a thread that is inside KVM_RUN return: a signal (without SA_RESTART)
 * whose handler also sets `kvm_run.immediate_exit` of the thread's registered
 * kvm_run, so a kick that lands just before KVM_RUN is not lost.
 */
export const kick = {
  /** The signal used for kicks; installs its handler on first use. */
  signal(): number {
    return native().kickSignal();
  },
  /**
   * Registers the kvm_run mapping the calling thread runs (null clears it). It
   * must be a live MmapRegion buffer (else a TypeError); unmapping or collecting
   * it clears the target of every thread first.
   */
  setTarget(kvmRun: ArrayBuffer | null): void {
    native().kickSignal();
    native().setKickTarget(kvmRun);
  },
  /** Kicks thread `tid` of this process. */
  thread(tid: number): void {
    tgkill(process.pid, tid, native().kickSignal());
  },
};

/**
 * A POSIX timer that delivers the kick signal to the thread that created it:
 * with CLOCK_MONOTONIC for wall-time limits, CLOCK_THREAD_CPUTIME_ID for CPU time.
 */
export class ThreadTimer {
  #id: number;
  constructor(clockId: number) {
    native().kickSignal();
    this.#id = check(native().threadTimerCreate(clockId), "timer_create");
  }
  /** Arms the timer to fire once after `ns` (and every `intervalNs` after, if non-zero); 0 disarms. */
  set(ns: number | bigint, intervalNs: number | bigint = 0): void {
    if (this.#id < 0) throw new UsageError("EBADF", "ThreadTimer is deleted");
    check(native().threadTimerSet(this.#id, ns, intervalNs), "timer_settime");
  }
  delete(): void {
    if (this.#id >= 0) {
      native().threadTimerDelete(this.#id);
      this.#id = -1;
    }
  }
}

/**
 * Whether the host range [hostAddress, hostAddress + length) lies inside one
 * live MmapRegion (for code that hands host memory to the kernel by address,
 * such as a KVM memory slot: only memory this process mapped and still maps).
 */
export function isMapped(hostAddress: bigint, length: bigint | number): boolean {
  const len = BigInt(length);
  if (hostAddress < 0n || len <= 0n || hostAddress + len > 2n ** 64n) return false;
  return native().mappingContains(hostAddress, len);
}

/** Convenience for constants commonly passed with shared mappings. */
export const MAP_SHARED_RW = { prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED } as const;
