/**
 * The supervisor's jail (`kindling run --jail`, Firecracker's jailer and
 * gVisor's Sentry filter in one): the process that hosts a sandbox drops what
 * it does not need before it serves the program's first system call.
 *
 * - Outside (`runJailed`): the CLI starts a copy of itself as the child of a
 *   small init in new user, mount, pid, ipc, uts, net and cgroup namespaces
 *   whose root is an empty read-only tmpfs holding only the Node binary and its
 *   libraries, the kindling code, /dev/null, /dev/zero, /dev/urandom,
 *   /dev/random, /dev/kvm, the program, the --root and --mount sources, a
 *   procfs of its own pid namespace and an empty /tmp, each at its host path.
 * - Inside (`installSupervisorJail`, SandboxOptions.jail): once the platform
 *   is set up (modules loaded, /dev/kvm and the mounts opened, the program
 *   loaded or its host process started), a seccomp filter compiled by
 *   seccompiler from policy/supervisor-x86_64.json goes on every thread
 *   (TSYNC). A call outside the policy traps: the process writes which call it
 *   was and ends with status 159 (128 + SIGSYS).
 */
import { spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmdirSync,
} from "node:fs";
import { constants, tmpdir } from "node:os";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { applyFilterAllThreads, compileJson, syscallNumber, syscallTable } from "@kindling/seccompiler";
import { type JailOp, jailReportSigsys, jailSpawn, jailWait, SysError } from "@kindling/sys-util";
import { syscallRaw } from "@kindling/sys-util/unsafe";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The policy file (KINDLING_JAIL_POLICY overrides it). */
export function supervisorPolicyPath(): string {
  return process.env.KINDLING_JAIL_POLICY ?? join(packageRoot, "policy", "supervisor-x86_64.json");
}

/** The filter names of the policy, per platform; `enosys` goes on top of either. */
export const POLICY_FILTERS = { kvm: "supervisor_kvm", seccomp: "supervisor_seccomp", enosys: "enosys" } as const;

/** Exit status of a supervisor stopped by its policy (128 + SIGSYS). */
export const JAIL_SIGSYS_STATUS = 159;

let installed = false;

/** True once this process has its jail filter. */
export function supervisorJailed(): boolean {
  return installed;
}

/**
 * Installs the supervisor's seccomp filter on every thread of this process,
 * irrevocably. Call it after everything the platform opens up front (the
 * kvm VM and its memory, the sandbox's mounts, the seccomp platform's host
 * child) and before serving the program. A second call does nothing.
 *
 * KINDLING_JAIL_MEASURE=1 installs an allow-everything filter instead (its
 * seccomp(2) call marks the point in a trace, for
 * scripts/measure-supervisor-syscalls.mjs).
 */
export function installSupervisorJail(platform: "kvm" | "seccomp"): void {
  if (installed) return;
  if (process.env.KINDLING_JAIL_MEASURE === "1") {
    // BPF_RET|BPF_K SECCOMP_RET_ALLOW: one instruction.
    applyFilterAllThreads(new Uint8Array([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]));
    installed = true;
    probe();
    return;
  }
  const path = supervisorPolicyPath();
  const filters = compileJson(readFileSync(path, "utf8"), { arch: "x86_64" });
  const main = filters.get(POLICY_FILTERS[platform]);
  const enosys = filters.get(POLICY_FILTERS.enosys);
  if (!main) throw new Error(`${path}: no filter "${POLICY_FILTERS[platform]}"`);
  const messages: string[] = [];
  for (const [name, nr] of syscallTable("x86_64")) {
    messages[nr] =
      `kindling: --jail: the supervisor made system call ${name} (${nr}), which its policy does not allow; ` +
      `it was stopped (policy: ${path})\n`;
  }
  jailReportSigsys(
    Array.from(messages, (m) => m ?? ""),
    `kindling: --jail: the supervisor made a system call its policy does not allow; it was stopped (policy: ${path})\n`,
  );
  if (enosys) applyFilterAllThreads(enosys.program);
  applyFilterAllThreads(main.program);
  installed = true;
  probe();
}

/**
 * Test hooks: KINDLING_JAIL_PROBE makes the jailed CLI try, right after the
 * filter, something the jail must prevent, and report it on stderr:
 * `socket` (socket(AF_INET)), `ptrace` (PTRACE_ATTACH to pid 1), `spawn`
 * (child_process), `ls` (list / and /etc), `ns` (its namespaces), `threads`
 * (a worker thread).
 */
function probe(): void {
  const what = process.env.KINDLING_JAIL_PROBE;
  if (!what) return;
  const say = (s: string) => process.stderr.write(`kindling-jail-probe: ${s}\n`);
  for (const p of what.split(",")) {
    if (p === "ls") {
      say(`/ = ${JSON.stringify(readdirSync("/").sort())}`);
      if (existsSync("/etc")) say(`/etc = ${JSON.stringify(readdirSync("/etc").sort())}`);
      if (existsSync("/sys/fs/cgroup")) say(`/sys/fs/cgroup = ${JSON.stringify(readdirSync("/sys/fs/cgroup").sort())}`);
    } else if (p === "ns") {
      const ns = Object.fromEntries(
        ["user", "mnt", "pid", "net", "ipc", "uts"].map((k) => [k, readlinkSync(`/proc/self/ns/${k}`)]),
      );
      say(`ns = ${JSON.stringify(ns)}`);
    } else if (p === "socket") say(`socket = ${syscallRaw(syscallNumber("socket", "x86_64") as number, 2, 1, 0)}`);
    else if (p === "ptrace") say(`ptrace = ${syscallRaw(syscallNumber("ptrace", "x86_64") as number, 16, 1, 0, 0)}`);
    else if (p === "spawn") say(`spawn = ${spawnSync("/bin/true").status}`);
    // A new thread after the filter: clone3 says ENOSYS, glibc falls back to clone.
    else if (p === "threads") {
      const w = new Worker("require('node:worker_threads').parentPort.postMessage(1)", { eval: true });
      w.once("message", () => {
        say("threads = ok");
        void w.terminate();
      });
    }
  }
}

// ------------------------------------------------------------------ outside

/** A host path the jail shows at the same path. */
interface Exposure {
  path: string;
  writable?: boolean;
  device?: boolean;
  /** Only its directories (no bind): the working directory. */
  dirOnly?: boolean;
  /**
   * An operator path the jailed CLI opens without following symlinks (root,
   * mount sources, the trace file): a symlink on the way is shown as the same
   * symlink and not followed, so the CLI inside refuses it as it would outside
   * and nothing it points to enters the jail.
   */
  noFollow?: boolean;
}

/** The nearest ancestor with a package.json, widened to the outermost one with node_modules. */
function codeRoot(file: string): string {
  let dir = dirname(file);
  while (dir !== dirname(dir) && !existsSync(join(dir, "package.json"))) dir = dirname(dir);
  if (dir === dirname(dir)) return dirname(file);
  let root = dir;
  for (let d = dirname(dir); d !== dirname(d); d = dirname(d)) if (existsSync(join(d, "node_modules"))) root = d;
  return root;
}

let loaderCache: string[] | undefined;

/** The shared objects the dynamic loader opens for this Node binary (as it names them). */
function loaderPaths(): string[] {
  if (loaderCache) return loaderCache;
  const out: string[] = [];
  const r = spawnSync(process.execPath, [], { env: { LD_TRACE_LOADED_OBJECTS: "1" }, encoding: "utf8" });
  for (const line of (r.stdout ?? "").split("\n")) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m) out.push(m[1]);
  }
  if (existsSync("/etc/ld.so.cache")) out.push("/etc/ld.so.cache");
  // The addon itself (its realpath; the code root has the path sys-util looks up).
  for (const line of readFileSync("/proc/self/maps", "utf8").split("\n")) {
    const p = line.slice(line.indexOf("/"));
    if (line.includes("/") && p.endsWith(".node") && !out.includes(p)) out.push(p);
  }
  loaderCache = out;
  return out;
}

/**
 * Turns host paths into the jail's root: every directory on the way, every
 * symlink as the same symlink (so a path that crosses one, or is one, looks
 * inside exactly as outside: a no-follow open still refuses it), and a bind
 * of the final object. Binds of shorter paths go first so a deeper one (a
 * writable mount inside the read-only code tree) lands on top.
 */
export function planJailRoot(exposures: readonly Exposure[]): JailOp[] {
  const ops: JailOp[] = [
    { kind: "tmpfs", path: "/tmp" },
    { kind: "proc", path: "/proc" },
  ];
  const made = new Set<string>(["/", "/tmp", "/proc"]);
  const binds: string[] = [];
  const covered = (p: string) => binds.some((b) => p === b || p.startsWith(b + sep));
  const depth = (p: string) => resolve(p).split(sep).length;
  const sorted = [...exposures].sort((a, b) => depth(a.path) - depth(b.path));
  const add = (x: Exposure, path: string, hops: number): void => {
    const parts = resolve(path).split(sep).filter(Boolean);
    let cur = "";
    for (let i = 0; i < parts.length; i++) {
      cur += `/${parts[i]}`;
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(cur);
      } catch {
        return; // missing on the host: the jailed CLI reports it as it would outside
      }
      const last = i === parts.length - 1;
      if (st.isSymbolicLink()) {
        if (!made.has(cur) && !covered(cur)) {
          ops.push({ kind: "symlink", path: cur, target: readlinkSync(cur) });
          made.add(cur);
        }
        if (x.noFollow || hops > 40) return;
        const rest = parts.slice(i + 1).join("/");
        add(x, join(resolve(dirname(cur), readlinkSync(cur)), rest), hops + 1);
        return;
      }
      if (!last || x.dirOnly) {
        if (!st.isDirectory()) return;
        if (!made.has(cur) && !covered(cur)) {
          ops.push({ kind: "dir", path: cur });
          made.add(cur);
        }
        continue;
      }
      // The object itself: already visible read-only through a bind above it?
      if (covered(cur) && !x.writable && !x.device) return;
      if (binds.includes(cur)) {
        // The same path exposed twice (a `:rw` mount of the code root): the writable one wins, as outside.
        const op = ops.find((o) => o.kind === "bind" && o.path === cur);
        if (op?.kind === "bind" && x.writable) op.writable = true;
        return;
      }
      ops.push({
        kind: "bind",
        path: cur,
        source: cur,
        writable: x.writable === true,
        device: x.device === true,
        file: !st.isDirectory(),
      });
      binds.push(cur);
      made.add(cur);
    }
  };
  for (const x of sorted) add(x, x.path, 0);
  return ops;
}

/** What the jailed CLI needs from the host, besides the Node binary and the code. */
export interface JailNeeds {
  program: string;
  root?: string;
  mounts: Array<{ host: string; writable: boolean }>;
  /** A --strace=FILE: created empty if missing, shown writable. */
  straceFile?: string;
  timeoutSeconds?: number;
}

/**
 * `kindling run --jail`: runs `argv` (kindling's own argv, with --jail replaced
 * by --jailed) in a jailed copy of this CLI and returns its exit status.
 */
export function runJailed(argv: readonly string[], needs: JailNeeds, err: (s: string) => void): number {
  // The jail starts this process's own script again: from the TypeScript sources (a test
  // runner calling main()), that script is not kindling unless KINDLING_JAIL_ENTRY names it.
  const fromSources = import.meta.url.endsWith(".ts");
  const entry = process.env.KINDLING_JAIL_ENTRY ?? (fromSources ? undefined : process.argv[1]);
  if (!entry || !existsSync(entry)) {
    err("kindling: --jail: cannot find the kindling script to start inside the jail (set KINDLING_JAIL_ENTRY)\n");
    return 125;
  }
  const entryReal = resolveReal(entry);
  const exposures: Exposure[] = [
    { path: process.execPath },
    ...loaderPaths().map((path) => ({ path })),
    { path: codeRoot(entryReal) },
    { path: codeRoot(resolveReal(fileURLToPath(import.meta.url))) },
    { path: entry },
    { path: supervisorPolicyPath() },
    ...["/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/dev/kvm"]
      .filter((d) => existsSync(d))
      .map((path) => ({ path, device: true, writable: true })),
    { path: resolve(needs.program) },
    ...(needs.root !== undefined ? [{ path: resolve(needs.root), noFollow: true }] : []),
    ...needs.mounts.map((m) => ({ path: resolve(m.host), writable: m.writable, noFollow: true })),
    { path: process.cwd(), dirOnly: true },
  ];
  if (needs.straceFile !== undefined) {
    const f = resolve(needs.straceFile);
    // Created here if missing (O_EXCL: never through a symlink), so it can be shown; the
    // jailed CLI opens it with its own checks and refuses a symlink as it would outside.
    try {
      closeSync(openSync(f, "wx", 0o600));
    } catch {
      // It exists (or cannot be made): left to the jailed CLI, which reports what is wrong.
    }
    exposures.push({ path: f, writable: true, noFollow: true });
  }
  const ops = planJailRoot(exposures);
  const pids = delegatePidsCgroup();
  if (pids) {
    // The seccomp platform makes a pids cgroup per sandbox: give the jail one subtree of its own.
    for (const path of ["/sys", "/sys/fs", "/sys/fs/cgroup"]) ops.push({ kind: "dir", path });
    ops.push({ kind: "bind", path: PIDS_V1, source: pids, writable: true });
  }
  const inner = [process.execPath, ...process.execArgv, entry, ...argv];
  // NODE_EXTRA_CA_CERTS names a host file the jail does not have (and the supervisor makes no TLS connection).
  const env = Object.entries(process.env)
    .filter(([k]) => k !== "NODE_EXTRA_CA_CERTS")
    .map(([k, v]) => `${k}=${v ?? ""}`);
  const stage = mkdtempSync(join(tmpdir(), "kindling-jail-"));
  let pid: number;
  try {
    const root = process.getuid?.() === 0;
    const ids = root
      ? {}
      : { uidMap: `0 ${process.getuid?.()} 1\n`, gidMap: `0 ${process.getgid?.()} 1\n`, denySetgroups: true };
    pid = jailSpawn({ file: process.execPath, argv: inner, env, stage, ops, cwd: process.cwd(), ...ids });
  } catch (e) {
    rmdirSync(stage);
    if (pids) removeCgroupTree(pids);
    if (!(e instanceof SysError)) throw e;
    const refused = e.syscall === "clone" || e.syscall.startsWith("jail: write uid_map");
    if (refused && ["EPERM", "EACCES", "EINVAL", "ENOSPC", "EUSERS"].includes(e.code)) {
      // No namespaces here (unprivileged user namespaces disabled): the filter still applies.
      err(
        `kindling: --jail: new namespaces are not allowed here (${e.code}); the supervisor gets its seccomp filter only\n`,
      );
      const r = spawnSync(process.execPath, inner.slice(1), { stdio: "inherit" });
      return r.status ?? 128 + (r.signal ? (constants.signals[r.signal] ?? 9) : 9);
    }
    err(`kindling: --jail: could not build the jail: ${e.message}\n`);
    return 125;
  }
  rmdirSync(stage);
  // The jailed CLI enforces --timeout itself; this only catches a supervisor that does not stop.
  const backstop = needs.timeoutSeconds !== undefined ? needs.timeoutSeconds * 1000 + 5000 : undefined;
  let w: ReturnType<typeof jailWait>;
  try {
    w = jailWait(pid, backstop);
  } finally {
    if (pids) removeCgroupTree(pids);
  }
  if (w.timedOut) {
    err("kindling: --jail: the jailed supervisor did not stop at --timeout; it was killed\n");
    return 137;
  }
  if (w.exitCode !== null) return w.exitCode;
  return 128 + (w.signal ?? 9);
}

/** cgroup v1's pids hierarchy (this machine's); on cgroup v2 nothing is delegated (see design notes). */
const PIDS_V1 = "/sys/fs/cgroup/pids";

/**
 * A fresh pids cgroup for one jail, below PIDS_V1/kindling-jail (named
 * `<pid>.<n>`; those of dead kindling processes are removed first), or null
 * where there is none to make.
 */
function delegatePidsCgroup(): string | null {
  if (!existsSync(join(PIDS_V1, "cgroup.procs"))) return null;
  const dir = join(PIDS_V1, "kindling-jail");
  try {
    mkdirSync(dir, { recursive: true });
    for (const name of readdirSync(dir)) {
      const m = /^(\d+)\.\d+$/.exec(name);
      if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) removeCgroupTree(join(dir, name));
    }
    const d = join(dir, `${process.pid}.${jailSeq++}`);
    mkdirSync(d);
    return d;
  } catch {
    return null;
  }
}

let jailSeq = 0;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code !== "ESRCH";
  }
}

/** Removes a cgroup and the ones below it, killing what is left in them. */
function removeCgroupTree(d: string): void {
  try {
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(d, e.name));
    for (let i = 0; i < 100; i++) {
      for (const p of readFileSync(join(d, "cgroup.procs"), "latin1").split("\n").filter(Boolean)) {
        try {
          process.kill(Number(p), "SIGKILL");
        } catch {}
      }
      try {
        rmdirSync(d);
        return;
      } catch (e) {
        if ((e as { code?: string }).code !== "EBUSY") return;
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  } catch {
    // already gone
  }
}

function resolveReal(p: string): string {
  try {
    return realpathSync(resolve(p));
  } catch {
    return resolve(p);
  }
}

/**
 * Kindling's argv with the first `--jail` among its own options (before the
 * program) replaced by `--jailed`, which the CLI inside the jail receives.
 */
export function jailedArgv(argv: readonly string[], valueOptions: ReadonlySet<string>): string[] {
  const out = [...argv];
  let i = out[0] === "run" ? 1 : 0;
  for (; i < out.length; i++) {
    const a = out[i];
    if (a === "--") break;
    if (a === "--jail") {
      out[i] = "--jailed";
      break;
    }
    if (valueOptions.has(a)) i++;
    else if (!a.startsWith("-")) break;
  }
  return out;
}
