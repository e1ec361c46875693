// The file side of the libos: the mount namespace, the process's fs context
// (root, cwd, umask, credentials) and fd table, and the file system calls.

import { readFileSync, readlinkSync } from "node:fs";
import type { TaskControl } from "@kindling/syscall-tap";
import { RLIMIT_NOFILE } from "../abi.js";
import { ByteBudget, DEFAULT_BUDGET_BYTES, sandboxMemory } from "../budget.js";
import type { Outcome } from "../dispatch.js";
import { hostRandom, type Libos } from "../kernel.js";
import { SIGKILL } from "../signals.js";
import { FILE_MODULES } from "../syscalls/files-modules.js";
import type { StdioEndpoint, Vfs as VfsContract } from "../vfs-contract.js";
import { POLLOUT } from "./constants.js";
import { createDevfs } from "./devfs.js";
import { FdTable } from "./fdtable.js";
import { Hostfs } from "./hostfs.js";
import type { PipeWaiter } from "./pipe.js";
import { createProcfs, type ProcessView, sandboxMaps } from "./procfs.js";
import { type HostWaiter, pollHostFd, stdioDescription } from "./stdio.js";
import { DescInode } from "./synth.js";
import { Tmpfs, type TmpfsOptions } from "./tmpfs.js";
import type { FileDescription, FileSystem } from "./types.js";
import { type FsContext, type Loc, type Mount, MountNamespace } from "./vfs.js";

/** How often a host-stream wait of a host process (seccomp) looks for signals its kernel holds for it, in ms. */
const HOST_SIGNAL_POLL_MS = 20;

export type MountSpec =
  | { path: string; fs: FileSystem; readonly?: boolean }
  | { path: string; host: string; writable?: boolean }
  | { path: string; tmpfs: TmpfsOptions | true };

export interface SandboxFsOptions {
  /** The root: a FileSystem, or a host directory (read-only unless rootWritable). Default: an empty tmpfs. */
  root?: FileSystem | string;
  rootWritable?: boolean;
  /** More mounts, in order (a later mount may sit inside an earlier one). */
  mounts?: MountSpec[];
  /** Mount /dev (default true) and /proc (default true). */
  dev?: boolean;
  proc?: boolean;
  /** The initial working directory (default "/"). */
  cwd?: string;
  /** Random bytes for /dev/urandom when not attached to a Libos. */
  random?: (buf: Uint8Array) => void;
  /**
   * The sandbox's byte budget: every tmpfs here (the root, `tmpfs` mounts,
   * /dev/shm) and every pipe shares it; the Libos attached takes it too
   * (thread contexts, sysinfo). Default: 1 GiB. Sandboxes pass their memory size.
   */
  budget?: ByteBudget;
}

export class SandboxFs implements VfsContract {
  readonly ns: MountNamespace;
  readonly fds: FdTable;
  readonly ctx: FsContext;
  /** The sandbox's byte budget (see SandboxFsOptions.budget). */
  readonly budget: ByteBudget;
  #k: Libos | undefined;
  #options: SandboxFsOptions;
  /**
   * How a blocking pipe operation waits for another task to make progress
   * (set by a scheduler that runs several tasks). Null: only the calling task
   * exists, so the wait is the kernel's block(): a signal (an ITIMER_REAL
   * expiry) ends it with EINTR, and a wait nothing can end ends the program
   * as a deadlock, the core's convention.
   */
  waiter: PipeWaiter | null = null;
  /** The task and outcome of the file syscall being served (set by the syscall wrapper). */
  runTask: TaskControl | null = null;
  runOut: Outcome | null = null;

  /** A blocking wait on behalf of the running file syscall (see `waiter`). */
  wait(ready: () => boolean, partial = false): boolean | "intr" {
    if (this.waiter) return this.waiter(ready, partial);
    const k = this.#k;
    const t = this.runTask;
    const out = this.runOut;
    if (!k || !t || !out) return false;
    // Another thread can make it ready (cooperative threads, kvm): this one waits in the scheduler, others run,
    // and it runs the call again once ready. "intr": the call returns at once (its outcome is the switch).
    // A write that already put bytes returns them (a short write): the call cannot be resumed midway.
    if (k.sched !== undefined && k.sched.others > 0) {
      if (partial) return false;
      k.sched.blockUntil(k, t, out, ready, true); // -ERESTARTSYS: SA_RESTART runs it again
      return "intr";
    }
    const r = k.block(t, Number.POSITIVE_INFINITY);
    if (r === true) return "intr";
    if (r === false) return true;
    k.killBy(
      SIGKILL,
      out,
      r === "deadlock"
        ? "deadlock: a pipe wait that nothing can end"
        : "timeout: the deadline passed during a pipe wait",
    );
    return false;
  }
  /**
   * How a host stream (stdio) waits for its fd: in poll(2) slices that end at
   * the next timer expiry and at the sandbox's deadline, where the program is
   * ended ("timeout"), so a full stdout pipe or a silent stdin cannot hold the
   * sandbox past its wall-time limit. A signal for the program ends it too.
   */
  readonly hostWait: HostWaiter = (fd, events) => {
    const k = this.#k;
    const t = this.runTask;
    const out = this.runOut;
    if (!k || !t || !out) {
      pollHostFd(fd, events, -1);
      return true;
    }
    for (;;) {
      // A zero wait: signals, timers and the deadline, looked at without sleeping.
      const r = k.block(t, 0);
      if (r === true) return "intr";
      if (r !== false) {
        const what = events & POLLOUT ? "a write to" : "a read of";
        k.killBy(SIGKILL, out, `timeout: the deadline passed during ${what} the host's stdio`);
        return false;
      }
      const now = k.clock.monotonicMs();
      // A host process's own kernel may hold a signal for it (seccomp): look again now and then.
      let until = Math.min(k.deadline, k.realTimerAt);
      if (k.hostPid > 0) until = Math.min(until, now + HOST_SIGNAL_POLL_MS);
      const ms = until === Number.POSITIVE_INFINITY ? -1 : Math.min(0x7fffffff, Math.max(0, Math.ceil(until - now)));
      if (pollHostFd(fd, events, ms) !== 0) return true;
    }
  };
  /** The controlling terminal: the first stdio endpoint that is a terminal. */
  #tty: FileDescription | null = null;
  #proc: Mount | undefined;
  readonly #descInodes = new WeakMap<FileDescription, DescInode>();

  constructor(options: SandboxFsOptions = {}) {
    this.#options = options;
    this.budget = options.budget ?? new ByteBudget(DEFAULT_BUDGET_BYTES);
    const root =
      typeof options.root === "string"
        ? new Hostfs(options.root, { writable: options.rootWritable ?? false, budget: this.budget })
        : (options.root ?? new Tmpfs({ rootMode: 0o755, budget: this.budget }));
    this.ns = new MountNamespace(root, {
      readonly: typeof options.root === "string" ? !(options.rootWritable ?? false) : false,
    });
    this.fds = new FdTable(() => (this.#k ? this.#k.rlimitNumber(RLIMIT_NOFILE) : 1024), this.budget);
    this.ctx = this.ns.context();
    for (const m of options.mounts ?? []) this.mount(m);
    if (options.dev ?? true) {
      const dev = createDevfs({
        random: (b) => (this.#k ? this.#k.random(b) : (options.random ?? hostRandom)(b)),
        tty: (flags) => (this.#tty ? this.#tty.reopen(flags) : null),
      });
      dev.budget = this.budget; // open listings are host memory
      this.ns.mount("/dev", dev);
      this.ns.mount("/dev/shm", new Tmpfs({ rootMode: 0o1777, budget: this.budget }));
    }
    if (options.proc ?? true) {
      const proc = createProcfs(this.#processView());
      proc.budget = this.budget; // open listings and texts are host memory (/proc/self/fd grows with the fds)
      this.#proc = this.ns.mount("/proc", proc);
    }
    if (options.cwd) this.ns.chdir(this.ctx, this.ctx.root, options.cwd);
  }

  /** Adds a mount. */
  mount(m: MountSpec): Mount {
    if ("fs" in m) return this.ns.mount(m.path, m.fs, { readonly: m.readonly ?? false });
    if ("host" in m) {
      const writable = m.writable ?? false;
      return this.ns.mount(m.path, new Hostfs(m.host, { writable, budget: this.budget }), { readonly: !writable });
    }
    // Every tmpfs of the sandbox shares its budget (a size= cap of its own may sit below it).
    const o = m.tmpfs === true ? {} : m.tmpfs;
    return this.ns.mount(m.path, new Tmpfs({ ...o, budget: o.budget ?? this.budget }));
  }

  get kernel(): Libos | undefined {
    return this.#k;
  }

  /** Called by the Libos constructor: fds 0-2, the file system calls, credentials. */
  attach(k: Libos): void {
    this.#k = k;
    const stdio: readonly StdioEndpoint[] = k.options.stdio ?? [0, 1, 2];
    for (let i = 0; i < 3; i++) {
      const d = stdioDescription(i, stdio[i] ?? "null", this.hostWait, this.budget, () => {
        // A Node.js stream drains only after the run: a backlog beyond the sandbox's memory cannot wait.
        if (this.runOut) k.killBy(SIGKILL, this.runOut, "memory: output queued for a Node.js stream beyond the budget");
      });
      if (d.isTty() && this.#tty === null) this.#tty = d;
      this.fds.installAt(i, d, false);
    }
    for (const m of FILE_MODULES) m.register(k.table);
  }

  /** The context with credentials and umask taken from the kernel (fsuid/fsgid, groups, umask). */
  context(): FsContext {
    const k = this.#k;
    if (k) {
      const c = this.ctx;
      if (c.cred.uid !== k.fsuid || c.cred.gid !== k.fsgid || c.cred.groups !== k.groups) {
        c.cred = { uid: k.fsuid, gid: k.fsgid, groups: k.groups };
      }
      c.umask = k.umask;
    }
    return this.ctx;
  }

  /** Installs a description at the lowest free fd. */
  install(d: FileDescription, cloexec = false): number {
    return this.fds.alloc(d, 0, cloexec);
  }

  /** The location of a directory fd (for *at calls). */
  locOf(fd: number): Loc | undefined {
    return this.fds.get(fd)?.loc ?? undefined;
  }

  dispose(): void {
    this.fds.closeAll();
    this.ns.dispose();
  }

  #processView(): ProcessView {
    const k = () => this.#k;
    return {
      pid: () => k()?.pid ?? 1,
      ppid: () => k()?.ppid ?? 0,
      comm: () => {
        const exe = k()?.options.exe ?? k()?.options.argv?.[0] ?? "init";
        return exe.slice(exe.lastIndexOf("/") + 1).slice(0, 15);
      },
      exe: () => k()?.options.exe ?? "/",
      cwd: () => {
        try {
          return this.ns.getcwd(this.ctx);
        } catch {
          return "/";
        }
      },
      argv: () => k()?.options.argv ?? [],
      env: () => k()?.options.env ?? [],
      fds: () => this.fds.fds().map((fd) => [fd, this.fds.get(fd)?.path || "anon_inode:[unknown]"]),
      fdLoc: (fd) => {
        const d = this.fds.get(fd);
        if (!d) return null;
        if (d.loc) return d.loc;
        const proc = this.#proc;
        if (!proc) return null;
        let inode = this.#descInodes.get(d);
        if (!inode) {
          inode = new DescInode(proc.fs, d, 0x100000 + fd);
          this.#descInodes.set(d, inode);
        }
        return { mount: proc, inode };
      },
      cwdLoc: () => this.ctx.cwd,
      rootLoc: () => this.ctx.root,
      maps: () => mapsText(k(), this.ns),
      // The sandbox's memory, never the host's: its budget and what its program maps.
      memory: () => sandboxMemory(this.budget, k()),
      cpus: () => k()?.cpus ?? 1,
      uptimeSeconds: () => {
        const kk = k();
        return kk ? (kk.clock.monotonicMs() - kk.startMs) / 1000 : process.uptime();
      },
      mounts: () =>
        this.ns
          .mounts()
          .map((m) => `${m.fs.type} ${m.path} ${m.fs.type} ${m.readonly ? "ro" : "rw"},relatime 0 0\n`)
          .join(""),
      uid: () => k()?.ruid ?? 0,
      gid: () => k()?.rgid ?? 0,
    };
  }
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** /proc/self/maps lines from the core's address space. */
export function mapsText(k: Libos | undefined, ns?: MountNamespace): string {
  if (!k) return "";
  // A host process (seccomp): its memory is the host kernel's, and so is the truth about it (in sandbox names).
  if (k.hostPid > 0 && k.mm.mappings().length === 0) {
    try {
      const text = readFileSync(`/proc/${k.hostPid}/maps`, "latin1");
      let hostExe: string | undefined;
      try {
        hostExe = readlinkSync(`/proc/${k.hostPid}/exe`);
      } catch {}
      const mounts = (ns?.mounts() ?? [])
        .filter((m) => m.fs instanceof Hostfs)
        .map((m) => ({ host: (m.fs as Hostfs).hostPath, path: m.path }))
        .reverse(); // the deepest mount first
      return sandboxMaps(text, { hostExe, exe: k.options.exe ?? "", mounts });
    } catch {
      return "";
    }
  }
  let out = "";
  for (const m of k.mm.mappings()) {
    const perms = `${m.prot & 1 ? "r" : "-"}${m.prot & 2 ? "w" : "-"}${m.prot & 4 ? "x" : "-"}${m.flags & 1 ? "s" : "p"}`;
    const head = `${hex(m.start, 8)}-${hex(m.end, 8)} ${perms} ${hex(m.offset, 8)} 00:00 0`;
    out += m.name ? `${head.padEnd(73)}${m.name}\n` : `${head} \n`;
  }
  return out;
}
