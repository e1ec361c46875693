/**
 * The supervisor's jail (native/jail.cc): start a program in new user, mount,
 * pid, ipc, uts and net namespaces whose root holds only the given paths, and
 * report a system call a seccomp policy traps (SECCOMP_RET_TRAP) before the
 * process ends.
 */
import { rethrow, UsageError } from "./errors.js";
import { decodeWaitStatus, type WaitResult } from "./index.js";
import { native } from "./native.js";

/** One step of building the jail's root, applied in order; `path` is absolute inside the jail. */
export type JailOp =
  | { kind: "dir"; path: string }
  | { kind: "symlink"; path: string; target: string }
  /**
   * A host file or directory (with everything mounted below it) at `path`,
   * read-only unless `writable`, nosuid, nodev unless `device`. `source` must
   * have no symlink in any component (it is opened with RESOLVE_NO_SYMLINKS).
   */
  | { kind: "bind"; path: string; source: string; writable?: boolean; device?: boolean; file?: boolean }
  /** An empty writable tmpfs (64 MiB). */
  | { kind: "tmpfs"; path: string }
  /** procfs of the jail's own pid namespace. */
  | { kind: "proc"; path: string };

const KIND = { dir: 0, symlink: 1, bind: 2, tmpfs: 3, proc: 4 } as const;

export interface JailSpawnOptions {
  /** Host path of the program (it must also be reachable inside the jail at the same path). */
  file: string;
  argv: string[];
  env: string[];
  /** An empty host directory the jail's root is mounted on (in the jail's mount namespace only). */
  stage: string;
  ops: JailOp[];
  /** Working directory inside the jail (default "/"; "/" when it does not exist there). */
  cwd?: string;
  /**
   * The jail's uid_map and gid_map lines (default: every id to itself, which needs a root
   * parent; an unprivileged one maps its own ids, e.g. "0 1000 1", with denySetgroups).
   */
  uidMap?: string;
  gidMap?: string;
  /** Write "deny" to the jail's setgroups before its gid_map (required for an unprivileged map). */
  denySetgroups?: boolean;
}

interface JailBinding {
  jailSpawn(o: {
    file: string;
    argv: string[];
    envp: string[];
    stage: string;
    cwd: string;
    uidMap?: string;
    gidMap?: string;
    denySetgroups?: boolean;
    ops: Array<{ kind: number; path: string; source: string; writable: boolean; device: boolean; file: boolean }>;
  }): number;
  jailWait(pid: number, timeoutMs: number): [number, boolean];
  jailReportSigsys(messages: string[], unknown: string, fd: number): void;
}

const jailNative = (): JailBinding => native() as unknown as JailBinding;

/**
 * Starts `file` as the child of a small init that is pid 1 of new namespaces
 * (ids mapped one to one), its root a read-only tmpfs with only `ops`'s paths.
 * Returns the init's pid; it exits with the program's status (128+N after
 * signal N) and forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2 to it.
 * When this process dies the jail is killed. Throws a SysError naming the
 * step that failed.
 */
export function jailSpawn(options: JailSpawnOptions): number {
  if (!options.stage.startsWith("/")) throw new UsageError("EINVAL", "the jail's stage must be an absolute path");
  const ops = options.ops.map((op) => {
    if (!op.path.startsWith("/"))
      throw new UsageError("EINVAL", `jail path ${JSON.stringify(op.path)} is not absolute`);
    const source = op.kind === "bind" ? op.source : op.kind === "symlink" ? op.target : "";
    return {
      kind: KIND[op.kind],
      path: op.path,
      source,
      writable: op.kind === "bind" && op.writable === true,
      device: op.kind === "bind" && op.device === true,
      file: op.kind === "bind" && op.file === true,
    };
  });
  try {
    return jailNative().jailSpawn({
      file: options.file,
      argv: options.argv,
      envp: options.env,
      stage: options.stage,
      cwd: options.cwd ?? "/",
      uidMap: options.uidMap,
      gidMap: options.gidMap,
      denySetgroups: options.denySetgroups === true,
      ops,
    });
  } catch (e) {
    rethrow(e);
  }
}

/**
 * Waits for a jail's init. With `timeoutMs`, kills it (and so its whole pid
 * namespace) when the time passes first.
 */
export function jailWait(pid: number, timeoutMs?: number): WaitResult & { timedOut: boolean } {
  try {
    const [status, timedOut] = jailNative().jailWait(
      pid,
      timeoutMs === undefined ? -1 : Math.max(0, Math.ceil(timeoutMs)),
    );
    return { ...decodeWaitStatus(pid, status), timedOut };
  } catch (e) {
    rethrow(e);
  }
}

/**
 * Makes SIGSYS (a SECCOMP_RET_TRAP) write `messages[nr]` (or `unknown`) to
 * `fd` and end the process with status 159 (128 + SIGSYS), on whichever
 * thread made the call. The messages are prepared now: the handler only
 * writes.
 */
export function jailReportSigsys(messages: readonly string[], unknown: string, fd = 2): void {
  try {
    jailNative().jailReportSigsys([...messages], unknown, fd);
  } catch (e) {
    rethrow(e);
  }
}
