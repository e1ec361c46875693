/**
 * The sandbox: an unmodified static Linux program whose system calls are
 * served by the libos. Two platforms run it: `kvm` (the program in ring 3 of
 * a KVM guest with no kernel) and `seccomp` (a host child process whose
 * system calls arrive as seccomp user notifications).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, posix, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { Kvm } from "@kindling/kvm-ioctls";
import {
  ByteBudget,
  errno,
  hostClock,
  Libos,
  type MountSpec,
  SandboxFs,
  type StdioEndpoint,
  type StdioHooks,
  vfs,
} from "@kindling/libos";
import { LoaderError, loadStaticProgram, readStaticProgram, type StaticProgram } from "@kindling/linux-loader";
import { MADV_REMOVE } from "@kindling/sys-util";
import {
  AT,
  KvmPlatform,
  SeccompPlatform,
  type SyscallServer,
  SyscallStats,
  type TaskControl,
  Tracer,
  USER_BASE,
  writeInitialStack,
} from "@kindling/syscall-tap";
import { installSupervisorJail } from "./jail.js";
import { checkOptions, describe, realPath, sandboxPath } from "./options.js";

export type PlatformName = "kvm" | "seccomp";

export interface SandboxOptions {
  /** Host directory shown as `/` (read-only unless rootWritable). Default: an empty tmpfs. */
  root?: string;
  rootWritable?: boolean;
  /** Host directories mounted inside: `{host, path, writable?}`. */
  mounts?: Array<{ host: string; path: string; writable?: boolean }>;
  /** tmpfs mount points. */
  tmpfs?: string[];
  /** Environment as KEY=VALUE strings (default: none; nothing of the host's is passed unless listed). */
  env?: string[];
  /** Working directory inside the sandbox (default "/"); it must exist there. */
  cwd?: string;
  /** Guest memory in bytes (kvm) or the address-space limit (seccomp). Default 256 MiB. */
  memory?: number;
  /** Wall-time limit in seconds. */
  timeout?: number;
  /** CPU-time limit in seconds. */
  cpuLimit?: number;
  /** Most tasks (threads and processes) the program may have at once (default 1024). */
  pids?: number;
  /** "kvm" (default where /dev/kvm is usable) or "seccomp". */
  platform?: PlatformName;
  /** Called with each decoded system call line (strace style). */
  strace?: (line: string) => void;
  /** Collect per-syscall counts and times. */
  stats?: boolean;
  /**
   * Standard streams: "inherit" (this process's 0/1/2), "pipe" (stdout and stderr captured,
   * stdin empty), or explicit endpoints.
   */
  stdio?: "inherit" | "pipe" | readonly [StdioEndpoint, StdioEndpoint, StdioEndpoint];
  /** Called once per system call name the libos does not implement. */
  onUnsupported?: (name: string) => void;
  /**
   * Jail this process before serving the program: the seccomp filter of
   * policy/supervisor-x86_64.json on every thread, irrevocably (see jail.ts;
   * `kindling run --jail` adds new namespaces around it).
   */
  jail?: boolean;
}

export interface SandboxResult {
  /** The exit status as a shell reports it: the exit code, or 128+N after signal N. */
  status: number;
  exitCode: number | null;
  signal: number | null;
  platform: PlatformName;
  /**
   * Why the sandbox stopped the program, when it did: "timeout", "cpu-limit",
   * or a reason with its detail ("deadlock: ...", "timeout: ...", "error: ...").
   */
  stopped?: string;
  stdout?: Buffer;
  stderr?: Buffer;
  syscalls: number;
  /** Per-syscall counts and times (a SyscallStats from runSync, its formatted table from run). */
  stats?: SyscallStats | string;
  /** Wall time of the run in milliseconds. */
  wallMs: number;
}

/** Bad input from the user: the message is meant to be shown as is; `status` follows shell conventions. */
export class SandboxError extends Error {
  override readonly name = "SandboxError";
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const DEFAULT_MEMORY = 256 * 1024 * 1024;
const SIGXCPU = 24;
const STACK_SIZE = 8 * 1024 * 1024;
/** Where a static-PIE program is loaded in the guest. */
const PIE_BASE = 0x40_0000;

let kvmUsable: boolean | undefined;
/** True when /dev/kvm can be opened read/write here. */
export function kvmAvailable(): boolean {
  kvmUsable ??= Kvm.isAvailable();
  return kvmUsable;
}

/** Captured output is host memory held for the sandbox: charged to its budget (ENOSPC beyond, as a full file). */
function captureSink(chunks: Buffer[], budget: () => ByteBudget | undefined): StdioHooks {
  return {
    write(data: Uint8Array): number {
      if (budget()?.charge(data.length) === false) return -errno.ENOSPC;
      chunks.push(Buffer.from(data));
      return data.length;
    },
  };
}

/** Reads and checks a host program file, mapping each failure to the shell's status. */
export function readProgram(path: string): { bytes: Uint8Array; program: StaticProgram } {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    throw new SandboxError("ENOENT", `${path}: No such file or directory`, 127);
  }
  if (st.isDirectory()) throw new SandboxError("EISDIR", `${path}: Is a directory`, 126);
  if ((st.mode & 0o111) === 0) throw new SandboxError("EACCES", `${path}: Permission denied (not executable)`, 126);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new SandboxError("EACCES", `${path}: cannot read: ${(e as Error).message}`, 126);
  }
  try {
    return { bytes, program: readStaticProgram(bytes) };
  } catch (e) {
    if (e instanceof LoaderError) {
      throw new SandboxError(e.code, `${path}: cannot run: ${e.message}`, 126);
    }
    throw e;
  }
}

export class Sandbox {
  readonly options: SandboxOptions;
  readonly platform: PlatformName;

  private constructor(options: SandboxOptions, platform: PlatformName) {
    this.options = options;
    this.platform = platform;
  }

  /**
   * Prepares a sandbox. With no `platform`, kvm is used where /dev/kvm is
   * usable and seccomp elsewhere (`fallbackReason` says why).
   */
  static async create(options: SandboxOptions = {}): Promise<Sandbox> {
    return Sandbox.createSync(options);
  }

  /**
   * Checks every option (types, ranges, the host directories, the mount
   * points and cwd inside the sandbox) and throws a SandboxError with a
   * `code` for the first bad one.
   */
  static createSync(options: SandboxOptions = {}): Sandbox {
    const platformOption = (options as { platform?: unknown } | null)?.platform;
    if (platformOption !== undefined && platformOption !== "kvm" && platformOption !== "seccomp") {
      throw new SandboxError("EINVAL", `platform must be "kvm" or "seccomp", not ${describe(platformOption)}`, 125);
    }
    let platform = platformOption as PlatformName | undefined;
    if (platform === undefined) platform = kvmAvailable() ? "kvm" : "seccomp";
    if (platform === "kvm" && !kvmAvailable()) {
      throw new SandboxError("ENOKVM", "the kvm platform needs read/write access to /dev/kvm", 125);
    }
    checkOptions(options, platform);
    // The mount table and cwd are checked by building it once (a later run builds its own).
    buildFs(options).dispose();
    return new Sandbox({ ...options }, platform);
  }

  /** Why `create()` without a platform would not pick kvm, or undefined when it would. */
  static fallbackReason(): string | undefined {
    return kvmAvailable() ? undefined : "/dev/kvm is not usable here; using the seccomp platform";
  }

  /**
   * Runs `argv[0]` (a host path to a static program) with `argv` as its
   * arguments in a worker thread, so the caller's event loop keeps running.
   * (From TypeScript sources, or with custom stdio endpoints, which cannot
   * cross threads, it runs in this thread.) The result's `stats`, when asked
   * for, is the formatted table.
   */
  async run(argv: readonly string[]): Promise<SandboxResult> {
    checkArgv(argv);
    const workerUrl = new URL("./worker.js", import.meta.url);
    const custom = Array.isArray(this.options.stdio);
    if (custom || !import.meta.url.endsWith(".js") || !existsSync(fileURLToPath(workerUrl))) {
      return this.runSync(argv);
    }
    const { strace, onUnsupported, ...rest } = this.options;
    // The worker loads the built packages: none of the parent's flags (--conditions) apply.
    const worker = new Worker(workerUrl, {
      execArgv: [],
      workerData: {
        options: {
          ...rest,
          platform: this.platform,
          strace: strace !== undefined,
          onUnsupported: onUnsupported !== undefined,
        },
        argv: [...argv],
      },
    });
    return new Promise<SandboxResult>((resolvePromise, reject) => {
      worker.on("message", (m) => {
        if (m.kind === "strace") strace?.(m.line);
        else if (m.kind === "unsupported") onUnsupported?.(m.name);
        else if (m.kind === "result") {
          const r = m.result;
          if (r.stdout) r.stdout = Buffer.from(r.stdout);
          if (r.stderr) r.stderr = Buffer.from(r.stderr);
          resolvePromise(r);
        } else if (m.kind === "error") {
          reject(m.name === "SandboxError" ? new SandboxError(m.code, m.message, m.status) : new Error(m.message));
        }
      });
      worker.on("error", reject);
      worker.on("exit", (code) => {
        if (code !== 0) reject(new Error(`the sandbox worker exited with code ${code}`));
      });
    });
  }

  runSync(argv: readonly string[]): SandboxResult {
    checkArgv(argv);
    const { bytes, program } = readProgram(argv[0]);
    const o = this.options;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let stdio: readonly [StdioEndpoint, StdioEndpoint, StdioEndpoint];
    let budget: ByteBudget | undefined;
    if (o.stdio === "pipe") stdio = ["null", captureSink(out, () => budget), captureSink(err, () => budget)];
    else if (o.stdio === undefined || o.stdio === "inherit") stdio = [0, 1, 2];
    else stdio = o.stdio;

    const fs = buildFs(o);
    budget = fs.budget;
    const stats = o.stats ? new SyscallStats() : undefined;
    const started = performance.now();
    // A system call the libos blocks in (a sleep, a pipe read) ends at the wall-time limit too.
    const deadline = o.timeout !== undefined ? hostClock.monotonicMs() + o.timeout * 1000 : undefined;
    try {
      return this.#runIn(argv, bytes, program, fs, stdio, out, err, stats, started, deadline);
    } catch (e) {
      // A typed error of a package below (a platform that cannot start, a host call refused): the user's to read.
      const x = e as { code?: unknown; message?: unknown };
      if (
        e instanceof SandboxError ||
        typeof x?.code !== "string" ||
        e instanceof TypeError ||
        e instanceof RangeError
      ) {
        throw e;
      }
      throw new SandboxError(x.code, `the sandbox failed: ${String(x.message)}`, 125);
    } finally {
      fs.dispose();
    }
  }

  #runIn(
    argv: readonly string[],
    bytes: Uint8Array,
    program: StaticProgram,
    fs: SandboxFs,
    stdio: readonly [StdioEndpoint, StdioEndpoint, StdioEndpoint],
    out: Buffer[],
    err: Buffer[],
    stats: SyscallStats | undefined,
    started: number,
    deadline: number | undefined,
  ): SandboxResult {
    const o = this.options;
    const memory = o.memory ?? DEFAULT_MEMORY;
    const hostExe = resolve(argv[0]);
    // The program sees its path in the sandbox, never the host's, as argv[0], /proc/self/exe and AT_EXECFN.
    const exe = programName(hostExe, o);
    const args = [exe, ...argv.slice(1)];

    if (this.platform === "seccomp") {
      const libos = new Libos({
        argv: args,
        env: o.env ?? [],
        exe,
        memory: { base: 0, size: 0 },
        stdio,
        fs,
        onUnsupported: o.onUnsupported ? (name) => o.onUnsupported?.(name) : undefined,
        deadline,
        maxTasks: o.pids,
      });
      const proc = SeccompPlatform.spawn({
        file: hostExe,
        argv: args,
        env: o.env ?? [],
        // The host's own task limit for the jailed child (the libos counts its tasks too).
        ...(o.pids !== undefined ? { maxTasks: o.pids } : {}),
        limits: {
          addressSpaceBytes: memory,
          cpuSeconds: o.cpuLimit !== undefined ? Math.ceil(o.cpuLimit) : undefined,
        },
      });
      const served = this.#wrap(libos, stats);
      // The host kernel's AT_EXECFN names the executable it ran (a host path, or /dev/fd/N when jailed):
      // before serving anything, point it at argv[0] (the sandbox name).
      let renamed = false;
      const server: SyscallServer = {
        onSyscall(task, ev, out) {
          if (!renamed) {
            renamed = true;
            renameExecfn(proc.pid, task);
          }
          return served.onSyscall(task, ev, out);
        },
        onFault: (task, ev, out) => served.onFault(task, ev, out),
      };
      if (o.jail) installSupervisorJail("seccomp");
      const exit = proc.run(server, o.timeout !== undefined ? { timeoutMs: o.timeout * 1000 } : {});
      const signal = libos.termSignal || (exit.killedByServer ? null : exit.signal);
      const status = libos.exited ? libos.shellStatus : exit.signal ? 128 + exit.signal : (exit.exitCode ?? 0);
      let stopped: string | undefined;
      if (exit.timedOut) stopped = "timeout";
      else if (libos.killReason) stopped = libos.killReason;
      else if (o.cpuLimit !== undefined && signal === SIGXCPU) stopped = "cpu-limit";
      return {
        status,
        exitCode: libos.exited ? (libos.termSignal ? null : libos.exitStatus) : exit.exitCode,
        signal: signal || null,
        platform: "seccomp",
        stopped,
        stdout: o.stdio === "pipe" ? Buffer.concat(out) : undefined,
        stderr: o.stdio === "pipe" ? Buffer.concat(err) : undefined,
        syscalls: proc.served,
        stats,
        wallMs: performance.now() - started,
      };
    }

    // kvm: image, stack at the top of memory, the arena for brk and mmap between them.
    const imageSize = Number(program.loadEnd - program.loadStart);
    const base = program.isPie ? BigInt(PIE_BASE) : 0n;
    const imageEnd = Number(program.loadEnd + base);
    const stackSize = Math.min(STACK_SIZE, Math.floor(memory / 8 / 4096) * 4096);
    if (Number(program.loadStart + base) < USER_BASE || imageEnd + stackSize + 4096 * 16 > memory) {
      throw new SandboxError(
        "ENOMEM",
        `${hostExe}: the program (${imageSize} bytes at 0x${(program.loadStart + base).toString(16)}) does not fit in --memory ${memory}`,
        126,
      );
    }
    const platform = KvmPlatform.create({ memorySize: memory });
    try {
      const loaded = loadStaticProgram(bytes, platform.programTarget, program.isPie ? BigInt(PIE_BASE) : undefined);
      const region = platform.guestMemory.regions()[0];
      const arenaBase = Math.ceil(Number(loaded.brkStart) / 4096) * 4096;
      const stackBottom = memory - stackSize;
      const libos = new Libos({
        argv: args,
        env: o.env ?? [],
        exe,
        memory: { base: arenaBase, size: stackBottom - arenaBase, brk: arenaBase },
        stdio,
        fs,
        onUnsupported: o.onUnsupported ? (name) => o.onUnsupported?.(name) : undefined,
        deadline,
        maxTasks: o.pids,
        discard: (addr, len) => {
          region.mmap.madvise(addr, len, MADV_REMOVE);
          return true;
        },
      });
      libos.mm.reserve(Number(loaded.loadStart), Number(loaded.loadEnd - loaded.loadStart), "image" as never, 7, exe);
      libos.mm.reserve(stackBottom, stackSize, "stack" as never, 3, "[stack]");
      const random = new Uint8Array(16);
      crypto.getRandomValues(random);
      const sp = writeInitialStack(platform.memory, memory - 64, {
        argv: args,
        envp: o.env ?? [],
        auxv: [
          [AT.PHDR, Number(loaded.phdrAddr)],
          [AT.PHENT, loaded.phentsize],
          [AT.PHNUM, loaded.phnum],
          [AT.PAGESZ, 4096],
          [AT.BASE, 0],
          [AT.FLAGS, 0],
          [AT.ENTRY, Number(loaded.entry)],
          [AT.UID, libos.ruid],
          [AT.EUID, libos.euid],
          [AT.GID, libos.rgid],
          [AT.EGID, libos.egid],
          [AT.HWCAP, 0x178bfbff],
          [AT.CLKTCK, 100],
          [AT.SECURE, 0],
          [AT.HWCAP2, 0],
        ],
        random,
        execfn: exe,
      });
      platform.start(Number(loaded.entry), sp);
      const server = this.#wrap(libos, stats);
      if (o.jail) installSupervisorJail("kvm");
      const r = platform.run(server, {
        wallMs: o.timeout !== undefined ? o.timeout * 1000 : undefined,
        cpuMs: o.cpuLimit !== undefined ? o.cpuLimit * 1000 : undefined,
      });
      let stopped: string | undefined = libos.killReason;
      let status = libos.shellStatus;
      let signal: number | null = libos.termSignal || null;
      if (r.kind === "stop") {
        stopped = r.reason;
        signal = r.reason === "cpu-limit" ? SIGXCPU : 9;
        status = 128 + signal;
      } else if (r.kind === "error") {
        stopped = `error: ${r.code}: ${r.message}`;
        signal = 9;
        status = 128 + 9;
      }
      return {
        status,
        exitCode: r.kind === "exited" && !libos.termSignal ? libos.exitStatus : null,
        signal,
        platform: "kvm",
        stopped,
        stdout: o.stdio === "pipe" ? Buffer.concat(out) : undefined,
        stderr: o.stdio === "pipe" ? Buffer.concat(err) : undefined,
        syscalls: platform.syscalls,
        stats,
        wallMs: performance.now() - started,
      };
    } finally {
      platform.close();
    }
  }

  #wrap(libos: Libos, stats: SyscallStats | undefined): SyscallServer {
    let server: SyscallServer = libos;
    if (this.options.strace) server = new Tracer(server, this.options.strace, stats ? { stats } : {});
    else if (stats) server = stats.wrap(server);
    return server;
  }
}

/**
 * On seccomp, points the program's AT_EXECFN at its argv[0] string (its
 * sandbox name) and clears the string the host kernel put there (the host
 * path). The initial stack is found from /proc/PID/stat's startstack; a stack
 * the program already changed is left alone (every step is bounded and checked).
 */
function renameExecfn(pid: number, task: TaskControl): void {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // Fields after "(comm) ": state is field 3; startstack is field 28.
    const sp = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[28 - 3]);
    const mem = task.memory;
    if (!Number.isSafeInteger(sp) || sp <= 0 || !mem.contains(sp, 8)) return;
    const argc = mem.readU64(sp);
    if (argc < 1 || argc > 1 << 20) return;
    const argv0 = mem.readU64(sp + 8);
    let p = sp + 8 * (argc + 2);
    for (let n = 0; mem.readU64(p) !== 0; n++, p += 8) if (n > 1 << 20) return;
    p += 8;
    for (let n = 0; n < 64; n++, p += 16) {
      const type = mem.readU64(p);
      if (type === AT.NULL) return;
      if (type !== AT.EXECFN) continue;
      const old = mem.readU64(p + 8);
      if (old !== argv0) {
        const name = mem.readCString(old, 4096);
        if (name) mem.fill(old, name.length, 0);
        mem.writeU64(p + 8, argv0);
      }
      return;
    }
  } catch {
    // A program that already rewrote its stack keeps what it made.
  }
}

/** argv: a non-empty array of strings without NUL bytes, the first a program path. */
function checkArgv(argv: unknown): asserts argv is readonly string[] {
  if (!Array.isArray(argv) || argv.length === 0) throw new SandboxError("EINVAL", "no program given", 125);
  for (let i = 0; i < argv.length; i++) {
    const a: unknown = argv[i];
    if (typeof a !== "string") throw new SandboxError("EINVAL", `argv[${i}] must be a string`, 125);
    if (a.includes("\0")) throw new SandboxError("EINVAL", `argv[${i}] contains a NUL byte`, 125);
  }
  if (argv[0] === "") throw new SandboxError("ENOENT", "the program path is empty", 127);
}

function depth(p: string): number {
  return p === "/" ? 0 : p.split("/").length - 1;
}

/** An FsError from building the mount table, as the operator's error; anything else is rethrown. */
function fsProblem(e: unknown, what: string): SandboxError {
  if (e instanceof vfs.FsError) {
    const detail = e.message.replace(/^E[A-Z0-9]+(: )?/, "");
    return new SandboxError(e.code, `${what}: ${detail || e.code}`, 125);
  }
  if (e instanceof SandboxError) return e;
  throw e; // not about the configuration (a missing native addon, a bug): shown as it is
}

/**
 * The sandbox's mount table: the root, then every mount, parents before
 * children whatever the order given (as container runtimes sort them). A
 * missing mount point's parent is created when it lies in a tmpfs (the
 * default root is one); elsewhere it is an error, as is a cwd that does not exist.
 */
function buildFs(o: SandboxOptions): SandboxFs {
  const specs: Array<{ spec: MountSpec; what: string }> = [];
  for (const m of o.mounts ?? []) {
    const path = sandboxPath(m.path, "mount point");
    specs.push({
      spec: { path, host: resolve(m.host), writable: m.writable ?? false },
      what: `mount ${resolve(m.host)} at ${path}`,
    });
  }
  for (const t of o.tmpfs ?? []) {
    const path = sandboxPath(t, "tmpfs");
    specs.push({ spec: { path, tmpfs: true }, what: `tmpfs at ${path}` });
  }
  specs.sort((a, b) => depth(a.spec.path) - depth(b.spec.path));
  let fs: SandboxFs;
  try {
    // One byte budget for everything the libos holds for the sandbox (tmpfs, pipes, threads): its memory.
    const budget = new ByteBudget(o.memory ?? DEFAULT_MEMORY);
    fs = new SandboxFs({
      root: o.root === undefined ? undefined : resolve(o.root),
      rootWritable: o.rootWritable,
      budget,
    });
  } catch (e) {
    throw fsProblem(e, `root ${o.root}`);
  }
  try {
    for (const { spec, what } of specs) {
      makeParents(fs, spec.path, what);
      try {
        fs.mount(spec);
      } catch (e) {
        throw fsProblem(e, what);
      }
    }
    const cwd = o.cwd ?? "/";
    try {
      fs.ns.chdir(fs.ctx, fs.ctx.root, cwd);
    } catch (e) {
      const code = e instanceof vfs.FsError ? e.code : "ENOENT";
      const why =
        code === "ENOTDIR" ? "is not a directory" : code === "EACCES" ? "cannot be entered" : "does not exist";
      throw new SandboxError(code, `cwd ${cwd} ${why} in the sandbox`, 125);
    }
    return fs;
  } catch (e) {
    fs.dispose();
    throw e;
  }
}

/** Creates the missing directories above mount point `path` where they would lie in a tmpfs. */
function makeParents(fs: SandboxFs, path: string, what: string): void {
  const parts = path.split("/").filter((x) => x !== "");
  let at = "";
  for (const part of parts.slice(0, -1)) {
    const parent = at === "" ? "/" : at;
    at = `${at}/${part}`;
    let loc: ReturnType<typeof fs.ns.resolve> | null = null;
    try {
      loc = fs.ns.resolve(fs.ctx, fs.ctx.root, at, true);
    } catch (e) {
      if (!(e instanceof vfs.FsError) || e.code !== "ENOENT") throw fsProblem(e, `${what}: ${at}`);
    }
    if (loc) {
      if (!loc.inode.isDir) throw new SandboxError("ENOTDIR", `${what}: ${at} is not a directory in the sandbox`, 125);
      continue;
    }
    const dir = fs.ns.resolve(fs.ctx, fs.ctx.root, parent, true);
    if (dir.mount.fs.type !== "tmpfs") {
      throw new SandboxError(
        "ENOENT",
        `${what}: ${at} does not exist in the sandbox (create it, or mount a tmpfs at ${parent === "/" ? at : parent} first)`,
        125,
      );
    }
    try {
      fs.ns.mkdir(fs.ctx, fs.ctx.root, at, 0o755);
    } catch (e) {
      throw fsProblem(e, `${what}: creating ${at}`);
    }
  }
}

/**
 * The program's name inside the sandbox: its path there when its directory
 * lies under the root or a mount (and no deeper mount hides it), else
 * /.kindling/NAME. The last component is kept as given (a multi-call program
 * such as busybox runs the applet its name says).
 */
export function programName(hostExe: string, o: SandboxOptions): string {
  const name = basename(hostExe);
  const dir = realPath(dirname(hostExe));
  const places: Array<{ host: string; path: string }> = [];
  const points: string[] = [];
  if (o.root !== undefined) {
    const host = realPath(resolve(o.root));
    if (host) places.push({ host, path: "/" });
  }
  for (const m of o.mounts ?? []) {
    const path = sandboxPath(m.path, "mount point");
    points.push(path);
    const host = realPath(resolve(m.host));
    if (host) places.push({ host, path });
  }
  for (const t of o.tmpfs ?? []) points.push(sandboxPath(t, "tmpfs"));
  places.sort((a, b) => depth(b.path) - depth(a.path));
  if (dir) {
    for (const place of places) {
      const rel = relative(place.host, dir);
      if (rel.startsWith("..") || rel.startsWith("/")) continue;
      const inside = posix.join(place.path, rel, name);
      const hidden = points.some((p) => depth(p) > depth(place.path) && (inside === p || inside.startsWith(`${p}/`)));
      if (!hidden) return inside;
    }
  }
  return join("/.kindling", name);
}
