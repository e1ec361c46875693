/**
 * The kindling command line.
 *
 *   kindling run [options] PROGRAM [ARGS...]   run a static Linux program in the sandbox
 *   kindling demo                              run the bundled demo program
 */
import { closeSync, existsSync, fstatSync, writeSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { vfs } from "@kindling/libos";
import { O_CREAT, O_NOFOLLOW, O_NONBLOCK, O_TRUNC, O_WRONLY } from "@kindling/sys-util";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { jailedArgv, runJailed } from "./jail.js";
import { MAX_PIDS } from "./options.js";
import { kvmAvailable, Sandbox, SandboxError, type SandboxOptions } from "./sandbox.js";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Parses sizes like 512M, 1G, 65536 (bytes). */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)(i?[bB])?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`"${text}" is not a size (examples: 256M, 1G, 1048576)`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as "" | "k" | "m" | "g"];
  const bytes = Math.round(Number(m[1]) * mult);
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError(`${text} is too large`);
  const aligned = Math.ceil(bytes / (2 * 1024 * 1024)) * 2 * 1024 * 1024;
  if (aligned < 16 * 1024 * 1024) throw new InvalidArgumentError(`${text} is less than the 16M minimum`);
  return aligned;
}

function parseSeconds(text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !(n > 0) || !Number.isFinite(n)) {
    throw new InvalidArgumentError(`"${text}" is not a positive number of seconds`);
  }
  return n;
}

function parsePids(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1 || n > MAX_PIDS) {
    throw new InvalidArgumentError(`"${text}" is not a number of tasks from 1 to ${MAX_PIDS}`);
  }
  return n;
}

interface MountFlag {
  host: string;
  path: string;
  writable: boolean;
}

/** HOST:GUEST[:rw|:ro]; HOST relative to the current directory, GUEST absolute. */
export function parseMount(spec: string): MountFlag {
  const parts = spec.split(":");
  if (
    parts.length < 2 ||
    parts.length > 3 ||
    !parts[0] ||
    !parts[1] ||
    (parts.length === 3 && parts[2] !== "rw" && parts[2] !== "ro")
  ) {
    throw new InvalidArgumentError(`"${spec}" is not HOST:GUEST, HOST:GUEST:rw or HOST:GUEST:ro`);
  }
  if (!parts[1].startsWith("/")) {
    throw new InvalidArgumentError(`the mount point "${parts[1]}" must be an absolute path inside the sandbox`);
  }
  return { host: resolve(parts[0]), path: parts[1], writable: parts[2] === "rw" };
}

function collectMount(value: string, previous: MountFlag[]): MountFlag[] {
  return [...previous, parseMount(value)];
}

function collectTmpfs(value: string, previous: string[]): string[] {
  if (!value.startsWith("/")) throw new InvalidArgumentError(`"${value}" must be an absolute path inside the sandbox`);
  return [...previous, value];
}

/** KEY=VALUE, or KEY alone (its value taken from kindling's environment, when set there). */
function collectEnv(value: string, previous: string[]): string[] {
  const i = value.indexOf("=");
  const key = i < 0 ? value : value.slice(0, i);
  if (key === "" || /[\0\s]/.test(key)) throw new InvalidArgumentError(`"${value}" is not KEY=VALUE or KEY`);
  return [...previous, value];
}

interface RunFlags {
  root?: string;
  mount: MountFlag[];
  tmpfs: string[];
  env: string[];
  inheritEnv?: boolean;
  /** Accepted for old scripts: the environment starts empty anyway. */
  clearEnv?: boolean;
  pids?: number;
  cwd?: string;
  memory?: number;
  timeout?: number;
  cpuLimit?: number;
  platform?: "kvm" | "seccomp";
  strace?: string | boolean;
  stats?: boolean;
  jail?: boolean;
  /** Set by `--jail` for the copy of the CLI inside the jail. */
  jailed?: boolean;
}

/**
 * The program's environment: empty (as the library's), plus --inherit-env
 * (all of kindling's), plus each --env KEY=VALUE or --env KEY (kindling's value).
 */
export function environment(flags: Pick<RunFlags, "env" | "inheritEnv">, host = process.env): string[] {
  const env = new Map<string, string>();
  if (flags.inheritEnv) for (const [k, v] of Object.entries(host)) if (v !== undefined) env.set(k, v);
  for (const kv of flags.env) {
    const i = kv.indexOf("=");
    if (i < 0) {
      const v = host[kv];
      if (v !== undefined) env.set(kv, v);
    } else env.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/**
 * Opens the --strace file: no symbolic link in any component (a sandbox could
 * have planted one), created 0600 or truncated, and only a regular file or a
 * character device (not a directory, and not a FIFO, which would block).
 */
export function openTraceFile(path: string): number {
  let fd: number;
  try {
    fd = vfs.openOperatorPath(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK, 0o600);
  } catch (e) {
    if (!(e instanceof vfs.FsError)) throw e;
    const why =
      e.code === "EISDIR"
        ? "is a directory"
        : e.code === "ENOENT"
          ? "its directory does not exist"
          : e.code === "ELOOP"
            ? e.message.replace(/^ELOOP: /, "")
            : `cannot be opened (${e.code})`;
    throw new SandboxError(e.code, `--strace=${path}: ${why}`, 125);
  }
  const st = fstatSync(fd);
  if (!st.isFile() && !st.isCharacterDevice()) {
    closeSync(fd);
    throw new SandboxError("EINVAL", `--strace=${path}: not a regular file`, 125);
  }
  return fd;
}

/** Runs a program in the sandbox as the CLI does; returns the exit status. */
export function runProgram(
  program: string,
  args: string[],
  flags: RunFlags,
  err: (s: string) => void,
  jailArgv?: string[],
): number {
  let platform = flags.platform;
  if (platform === undefined && !kvmAvailable()) {
    err("kindling: /dev/kvm is not usable here (no access or no KVM); falling back to --platform=seccomp\n");
    platform = "seccomp";
  }
  let traceFd = -1;
  const options: SandboxOptions = {
    mounts: flags.mount,
    tmpfs: flags.tmpfs,
    env: environment(flags),
    stdio: "inherit",
    platform,
    stats: flags.stats,
  };
  if (flags.root !== undefined) options.root = resolve(flags.root);
  if (flags.cwd !== undefined) options.cwd = flags.cwd;
  if (flags.memory !== undefined) options.memory = flags.memory;
  if (flags.timeout !== undefined) options.timeout = flags.timeout;
  if (flags.cpuLimit !== undefined) options.cpuLimit = flags.cpuLimit;
  if (flags.pids !== undefined) options.pids = flags.pids;
  if (flags.jailed) options.jail = true;
  const traceFile = typeof flags.strace === "string" && flags.strace !== "" ? flags.strace : undefined;
  if (flags.strace !== undefined && flags.strace !== false) {
    if (traceFile !== undefined) options.strace = (line) => writeSync(traceFd, `${line}\n`);
    else options.strace = (line) => err(`${line}\n`);
  }
  // Unimplemented calls return ENOSYS (as rseq does in gVisor); --stats names them once each.
  const unsupported: string[] = [];
  options.onUnsupported = (name) => {
    unsupported.push(name);
  };
  try {
    const sb = Sandbox.createSync(options);
    if (flags.jail && !flags.jailed && jailArgv) {
      const needs = {
        program,
        root: flags.root,
        mounts: flags.mount,
        straceFile: traceFile,
        timeoutSeconds: flags.timeout,
      };
      return runJailed(jailArgv, needs, err);
    }
    // Opened once the configuration is known to be good, so a refused run leaves the file alone.
    if (traceFile !== undefined) traceFd = openTraceFile(traceFile);
    const r = sb.runSync([program, ...args]);
    if (r.stopped) err(`kindling: the program was stopped: ${r.stopped}\n`);
    if (flags.stats && r.stats) {
      err(`kindling: ${r.syscalls} system calls on the ${r.platform} platform in ${r.wallMs.toFixed(1)} ms\n`);
      err(typeof r.stats === "string" ? r.stats : r.stats.table());
      if (unsupported.length > 0) err(`kindling: not implemented (ENOSYS): ${unsupported.join(", ")}\n`);
    }
    return r.status;
  } catch (e) {
    return reportError(e, err);
  } finally {
    if (traceFd >= 0) closeSync(traceFd);
  }
}

/**
 * Prints an error as one line and returns the status: a SandboxError's own;
 * 125 for anything else, which is a bug of kindling's (its stack only with
 * KINDLING_DEBUG=1: a user should see what went wrong, not where).
 */
function reportError(e: unknown, err: (s: string) => void): number {
  if (e instanceof SandboxError) {
    err(`kindling: ${e.message}\n`);
    return e.status;
  }
  const x = e as { name?: unknown; code?: unknown; message?: unknown; stack?: unknown } | null;
  const what = typeof x?.message === "string" ? x.message : String(e);
  const code = typeof x?.code === "string" ? ` (${x.code})` : "";
  err(`kindling: internal error: ${typeof x?.name === "string" ? `${x.name}: ` : ""}${what}${code}\n`);
  if (process.env.KINDLING_DEBUG && typeof x?.stack === "string") err(`${x.stack}\n`);
  else err("kindling: this is a bug in kindling; KINDLING_DEBUG=1 prints where it happened\n");
  return 125;
}

function demoProgram(): string {
  const built = join(packageRoot, "build", "demo", "kindling-demo");
  if (existsSync(built)) return built;
  throw new SandboxError(
    "ENOENT",
    `the demo program is not built (run: node ${join(packageRoot, "scripts/build-demo.mjs")})`,
    127,
  );
}

/**
 * `--strace` takes its file only as `--strace=FILE`: a bare `--strace` must not
 * swallow the program path that follows it. Rewrites a bare one (among
 * kindling's own options, before the program) to `--strace=`.
 */
export function normalizeStrace(argv: readonly string[], valueOptions: ReadonlySet<string>): string[] {
  const out = [...argv];
  let i = out[0] === "run" || out[0] === "demo" ? 1 : 0;
  for (; i < out.length; i++) {
    const a = out[i];
    if (a === "--") break;
    if (a === "--strace") out[i] = "--strace=";
    else if (valueOptions.has(a)) i++;
    else if (!a.startsWith("-")) break;
  }
  return out;
}

/** The CLI. Returns the process exit status. */
export async function main(argv: string[], io = { out: process.stdout, err: process.stderr }): Promise<number> {
  const err = (s: string) => {
    io.err.write(s);
  };
  let status = 0;
  const cli = new Command("kindling")
    .description("Run untrusted static Linux programs in a KVM sandbox whose kernel is a TypeScript library OS.")
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: err });

  const run = cli
    .command("run")
    .description("run a static x86-64 Linux program in the sandbox")
    .argument("<program>", "host path of a static x86-64 Linux executable")
    .argument("[args...]", "its arguments")
    .passThroughOptions()
    .addHelpText(
      "after",
      "\nHost paths (--root, --mount sources, --strace=FILE) must be real paths: a symbolic link in any\n" +
        "component is refused, as a sandbox with a writable mount could have planted it (that includes\n" +
        "links such as /bin -> usr/bin: give the real path). Relative paths start at the current directory.\n" +
        "The program starts with an empty environment and sees its sandbox path, never its host path.\n" +
        "A bad option prints one line and exits 125.",
    )
    .option("--root <dir>", "host directory shown as / (read-only)")
    .option(
      "--mount <host:guest[:rw]>",
      "mount a host directory (read-only unless :rw); repeatable",
      collectMount,
      [] as MountFlag[],
    )
    .option("--tmpfs <path>", "mount an in-memory file system at an absolute path; repeatable", collectTmpfs, [])
    .option(
      "--env <K=V|K>",
      "set a variable (K alone: kindling's value of K); repeatable. The environment starts empty",
      collectEnv,
      [],
    )
    .option("--inherit-env", "pass all of kindling's environment to the program")
    .addOption(new Option("--clear-env", "(the default now: the environment starts empty)").hideHelp())
    .option("--cwd <dir>", "working directory inside the sandbox (absolute; it must exist there)", "/")
    .option(
      "--memory <size>",
      "memory for the program and all the sandbox holds for it (16M to 4G on kvm; default 256M)",
      parseSize,
    )
    .option("--timeout <seconds>", "wall-time limit", parseSeconds)
    .option("--cpu-limit <seconds>", "CPU-time limit", parseSeconds)
    .option("--pids <n>", "most tasks (threads and processes) at once (default 1024)", parsePids)
    .addOption(new Option("--platform <name>", "where the program runs").choices(["kvm", "seccomp"]))
    .option(
      "--strace [file]",
      "trace the system calls the libos serves (to stderr; --strace=FILE: to FILE; on seccomp the memory calls run natively, untraced)",
    )
    .option("--stats", "print system call counts and times at exit")
    .option("--jail", "jail kindling itself: new namespaces with only what it needs, and a seccomp filter")
    .addOption(new Option("--jailed").hideHelp())
    .action((program: string, args: string[], flags: RunFlags) => {
      status = runProgram(program, args, flags, err, jailedArgv(normalizeStrace(argv, valueOptions), valueOptions));
    });

  cli
    .command("demo")
    .description("run the bundled demo program (greets, reads a mounted file, measures the sandbox)")
    .addOption(new Option("--platform <name>", "where the program runs").choices(["kvm", "seccomp"]))
    .option("--strace [file]", "trace the system calls the libos serves")
    .option("--stats", "print system call counts and times at exit")
    .action((flags: Partial<RunFlags>) => {
      const data = join(packageRoot, "demo", "data");
      err(`kindling: running the demo program with ${data} mounted read-only at /data\n`);
      try {
        status = runProgram(
          demoProgram(),
          [],
          { mount: [parseMount(`${data}:/data`)], tmpfs: ["/tmp"], env: [], ...flags },
          err,
        );
      } catch (e) {
        status = reportError(e, err);
      }
    });

  // The options of `run` that take a value (derived, so a new one cannot be missed).
  const valueOptions = new Set(run.options.filter((o) => o.required && o.long).map((o) => o.long as string));
  try {
    await cli.parseAsync(normalizeStrace(argv, valueOptions), { from: "user" });
  } catch (e) {
    // Commander has printed its own message (an unknown option, a bad value, --help).
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 125;
    return reportError(e, err);
  }
  return status;
}
