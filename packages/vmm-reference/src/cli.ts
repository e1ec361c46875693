/**
 * The kindling command line.
 *
 *   kindling run [options] PROGRAM [ARGS...]   run a static Linux program in the sandbox
 *   kindling demo                              run the bundled demo program
 */
import { closeSync, existsSync, openSync, writeSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { kvmAvailable, Sandbox, SandboxError, type SandboxOptions } from "./sandbox.js";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Parses sizes like 512M, 1G, 65536 (bytes). */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)(i?[bB])?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`"${text}" is not a size (examples: 256M, 1G, 1048576)`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as "" | "k" | "m" | "g"];
  const bytes = Math.round(Number(m[1]) * mult);
  const aligned = Math.ceil(bytes / (2 * 1024 * 1024)) * 2 * 1024 * 1024;
  if (aligned < 16 * 1024 * 1024) throw new InvalidArgumentError(`${text} is less than the 16M minimum`);
  return aligned;
}

function parseSeconds(text: string): number {
  const n = Number(text);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`"${text}" is not a positive number of seconds`);
  return n;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseMount(spec: string): { host: string; path: string; writable: boolean } {
  const parts = spec.split(":");
  if (
    parts.length < 2 ||
    parts.length > 3 ||
    !parts[0] ||
    !parts[1] ||
    (parts[2] && parts[2] !== "rw" && parts[2] !== "ro")
  ) {
    throw new InvalidArgumentError(`"${spec}" is not HOST:GUEST[:rw]`);
  }
  if (!parts[1].startsWith("/")) throw new InvalidArgumentError(`mount point "${parts[1]}" must be absolute`);
  return { host: resolve(parts[0]), path: parts[1], writable: parts[2] === "rw" };
}

interface RunFlags {
  root?: string;
  mount: string[];
  tmpfs: string[];
  env: string[];
  clearEnv?: boolean;
  cwd?: string;
  memory?: number;
  timeout?: number;
  cpuLimit?: number;
  platform?: "kvm" | "seccomp";
  strace?: string | boolean;
  stats?: boolean;
}

function environment(flags: RunFlags): string[] {
  const env = new Map<string, string>();
  if (!flags.clearEnv) for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env.set(k, v);
  for (const kv of flags.env) {
    const i = kv.indexOf("=");
    if (i <= 0) throw new InvalidArgumentError(`--env "${kv}" is not K=V`);
    env.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/** Runs a program in the sandbox as the CLI does; returns the exit status. */
export function runProgram(program: string, args: string[], flags: RunFlags, err: (s: string) => void): number {
  let platform = flags.platform;
  if (platform === undefined && !kvmAvailable()) {
    err("kindling: /dev/kvm is not usable here (no access or no KVM); falling back to --platform=seccomp\n");
    platform = "seccomp";
  }
  let traceFd = -1;
  const options: SandboxOptions = {
    mounts: flags.mount.map(parseMount),
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
  if (flags.strace !== undefined && flags.strace !== false) {
    if (typeof flags.strace === "string" && flags.strace !== "") {
      traceFd = openSync(flags.strace, "w");
      options.strace = (line) => writeSync(traceFd, `${line}\n`);
    } else {
      options.strace = (line) => err(`${line}\n`);
    }
  }
  // Unimplemented calls return ENOSYS (as rseq does in gVisor); --stats names them once each.
  const unsupported: string[] = [];
  options.onUnsupported = (name) => {
    unsupported.push(name);
  };
  try {
    const sb = Sandbox.createSync(options);
    const r = sb.runSync([program, ...args]);
    if (r.stopped) err(`kindling: the program was stopped: ${r.stopped}\n`);
    if (flags.stats && r.stats) {
      err(`kindling: ${r.syscalls} system calls on the ${r.platform} platform in ${r.wallMs.toFixed(1)} ms\n`);
      err(typeof r.stats === "string" ? r.stats : r.stats.table());
      if (unsupported.length > 0) err(`kindling: not implemented (ENOSYS): ${unsupported.join(", ")}\n`);
    }
    return r.status;
  } catch (e) {
    if (e instanceof SandboxError) {
      err(`kindling: ${e.message}\n`);
      return e.status;
    }
    throw e;
  } finally {
    if (traceFd >= 0) closeSync(traceFd);
  }
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
    .option("--root <dir>", "host directory shown as / (read-only)")
    .option("--mount <host:guest[:rw]>", "mount a host directory (read-only unless :rw); repeatable", collect, [])
    .option("--tmpfs <path>", "mount an in-memory file system; repeatable", collect, [])
    .option("--env <K=V>", "set an environment variable; repeatable", collect, [])
    .option("--clear-env", "start from an empty environment instead of kindling's")
    .option("--cwd <dir>", "working directory inside the sandbox", "/")
    .option("--memory <size>", "memory for the program (e.g. 256M, 1G)", parseSize)
    .option("--timeout <seconds>", "wall-time limit", parseSeconds)
    .option("--cpu-limit <seconds>", "CPU-time limit", parseSeconds)
    .addOption(new Option("--platform <name>", "where the program runs").choices(["kvm", "seccomp"]))
    .option("--strace [file]", "trace every system call (to stderr; --strace=FILE: to FILE)")
    .option("--stats", "print system call counts and times at exit")
    .action((program: string, args: string[], flags: RunFlags) => {
      status = runProgram(program, args, flags, err);
    });

  cli
    .command("demo")
    .description("run the bundled demo program (greets, reads a mounted file, measures the sandbox)")
    .addOption(new Option("--platform <name>", "where the program runs").choices(["kvm", "seccomp"]))
    .option("--strace [file]", "trace every system call")
    .option("--stats", "print system call counts and times at exit")
    .action((flags: Partial<RunFlags>) => {
      const data = join(packageRoot, "demo", "data");
      err(`kindling: running the demo program with ${data} mounted read-only at /data\n`);
      try {
        status = runProgram(
          demoProgram(),
          [],
          { mount: [`${data}:/data`], tmpfs: ["/tmp"], env: [], clearEnv: true, ...flags },
          err,
        );
      } catch (e) {
        if (!(e instanceof SandboxError)) throw e;
        err(`kindling: ${e.message}\n`);
        status = e.status;
      }
    });

  // The options of `run` that take a value (derived, so a new one cannot be missed).
  const valueOptions = new Set(run.options.filter((o) => o.required && o.long).map((o) => o.long as string));
  try {
    await cli.parseAsync(normalizeStrace(argv, valueOptions), { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 125;
    throw e;
  }
  return status;
}
