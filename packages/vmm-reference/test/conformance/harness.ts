/**
 * The conformance harness (gVisor's native-vs-sandbox pattern): the same
 * program runs natively and in the sandbox on each platform, on the same
 * prepared directory tree, and stdout, stderr and the exit status must match.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as nfs from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { StdioHooks } from "@kindling/libos";
import { kvmAvailable, type PlatformName, Sandbox, type SandboxOptions } from "@kindling/vmm-reference";

export const corpusDir = fileURLToPath(new URL("../../corpus/", import.meta.url));

function tool(cmd: string, why: string): string | null {
  try {
    execFileSync(cmd, ["--version"], { stdio: "ignore" });
    return null;
  } catch {
    return why;
  }
}

/** The compilers the corpus is built with, each with the reason it is missing (or null). */
export const compilers: Array<{ cc: string; missing: string | null }> = [
  { cc: "cc", missing: tool("cc", "no C compiler (cc)") },
  { cc: "musl-gcc", missing: tool("musl-gcc", "no musl-gcc (Debian package musl-tools)") },
];
for (const c of compilers) if (c.missing) console.warn(`conformance: ${c.cc} programs skipped: ${c.missing}`);

/** The platforms, each with the reason it cannot run here (or null). */
export const platforms: Array<{ platform: PlatformName; missing: string | null }> = [
  { platform: "kvm", missing: kvmAvailable() ? null : "/dev/kvm is not usable here" },
  { platform: "seccomp", missing: null },
];
for (const p of platforms) if (p.missing) console.warn(`conformance: ${p.platform} platform skipped: ${p.missing}`);

export const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((p) => nfs.existsSync(p)) ?? null;

let work: string | undefined;
/** A private temporary directory for this test file (removed at exit). */
export function workDir(): string {
  if (!work) {
    work = nfs.mkdtempSync(join(tmpdir(), "kindling-conformance-"));
    const w = work;
    process.on("exit", () => nfs.rmSync(w, { recursive: true, force: true }));
  }
  return work;
}

const built = new Map<string, string>();
/** Builds `corpus/<name>.c` once per compiler (static) and returns the program's path. */
export function build(name: string, cc: string): string {
  const key = `${cc}/${name}`;
  const have = built.get(key);
  if (have) return have;
  const exe = join(workDir(), "bin", cc, name);
  nfs.mkdirSync(dirname(exe), { recursive: true });
  execFileSync(cc, ["-static", "-O1", "-Wall", "-o", exe, join(corpusDir, `${name}.c`)], { stdio: "pipe" });
  built.set(key, exe);
  return exe;
}

/** The C programs of the corpus (file names without `.c`). */
export function corpusPrograms(): string[] {
  return nfs
    .readdirSync(corpusDir)
    .filter((f) => f.endsWith(".c"))
    .map((f) => f.slice(0, -2))
    .sort();
}

const FIXED_TIME = new Date("2024-01-02T03:04:05Z");

/**
 * A fresh directory tree the programs work in:
 *   data/hello.txt, data/sub/n.txt, data/empty, data/link -> hello.txt,
 *   data/abs -> /etc/passwd-decoy, data/dangling -> nowhere, scratch/ (empty), etc/passwd
 * Times are fixed so listings compare equal.
 */
export function makeTree(name: string): string {
  const root = join(workDir(), "trees", `${name}-${Math.random().toString(36).slice(2, 8)}`);
  nfs.mkdirSync(join(root, "data/sub"), { recursive: true });
  nfs.mkdirSync(join(root, "scratch"));
  nfs.mkdirSync(join(root, "etc"));
  nfs.writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  nfs.writeFileSync(join(root, "etc/group"), "root:x:0:\n");
  nfs.writeFileSync(join(root, "data/hello.txt"), "hello from the host\nsecond line\n");
  nfs.writeFileSync(join(root, "data/sub/n.txt"), "3\n1\n2\n3\n");
  nfs.writeFileSync(join(root, "data/empty"), "");
  const big = Buffer.alloc(100_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 8)) & 0xff;
  nfs.writeFileSync(join(root, "data/big.bin"), big);
  nfs.symlinkSync("hello.txt", join(root, "data/link"));
  nfs.symlinkSync("nowhere", join(root, "data/dangling"));
  for (const p of ["data/hello.txt", "data/sub/n.txt", "data/empty", "data/big.bin", "data/sub", "data", "etc"]) {
    nfs.utimesSync(join(root, p), FIXED_TIME, FIXED_TIME);
  }
  for (const p of ["data/link", "data/dangling"]) nfs.lutimesSync(join(root, p), FIXED_TIME, FIXED_TIME);
  return root;
}

/** A digest of a host tree: every path, type, mode, size, time, content and link target (but `exclude`d paths). */
export function hashTree(root: string, exclude: readonly string[] = []): string {
  const h = createHash("sha256");
  const walk = (rel: string): void => {
    if (exclude.includes(rel)) return;
    const p = join(root, rel);
    const st = nfs.lstatSync(p);
    h.update(`${rel}\0${st.mode}\0${st.size}\0${st.mtimeMs}\0`);
    if (st.isSymbolicLink()) h.update(nfs.readlinkSync(p));
    else if (st.isFile()) h.update(nfs.readFileSync(p));
    else if (st.isDirectory()) for (const e of nfs.readdirSync(p).sort()) walk(join(rel, e));
  };
  walk(".");
  return h.digest("hex");
}

export interface RunResult {
  stdout: string;
  stderr: string;
  status: number;
}

export interface RunOptions {
  /** The working directory: a host path, the root of the prepared tree (the sandbox's / and cwd). */
  cwd: string;
  env?: string[];
  input?: string;
}

export const ENV = ["PATH=/bin:/usr/bin", "HOME=/", "LANG=C", "TZ=UTC"];

/** Runs a program natively: argv[0] is its host path. */
export function runNative(argv: string[], o: RunOptions): RunResult {
  const env: Record<string, string> = {};
  for (const kv of o.env ?? ENV) {
    const i = kv.indexOf("=");
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const r = spawnSync(argv[0], argv.slice(1), {
    cwd: o.cwd,
    env,
    argv0: argv[0],
    input: o.input ?? "",
    maxBuffer: 64 << 20,
    timeout: 120_000,
  });
  if (r.error) throw r.error;
  return {
    stdout: r.stdout.toString("latin1"),
    stderr: r.stderr.toString("latin1"),
    status: r.status ?? 128 + (r.signal ? (signalNumber(r.signal) ?? 0) : 0),
  };
}

function signalNumber(name: string): number | undefined {
  const n = (
    {
      SIGHUP: 1,
      SIGINT: 2,
      SIGQUIT: 3,
      SIGILL: 4,
      SIGTRAP: 5,
      SIGABRT: 6,
      SIGBUS: 7,
      SIGFPE: 8,
      SIGKILL: 9,
      SIGUSR1: 10,
      SIGSEGV: 11,
      SIGUSR2: 12,
      SIGPIPE: 13,
      SIGALRM: 14,
      SIGTERM: 15,
    } as Record<string, number>
  )[name];
  return n;
}

function sink(chunks: Buffer[]): StdioHooks {
  return {
    write(data: Uint8Array): number {
      chunks.push(Buffer.from(data));
      return data.length;
    },
  };
}

function source(input: string): StdioHooks {
  let rest = Buffer.from(input, "latin1");
  return {
    read(buf: Uint8Array): number {
      const n = Math.min(buf.length, rest.length);
      buf.set(rest.subarray(0, n));
      rest = rest.subarray(n);
      return n;
    },
  };
}

export interface SandboxRunOptions extends RunOptions {
  platform: PlatformName;
  /** Extra sandbox options (root, mounts, tmpfs ...). Default: the cwd's tree as the writable root. */
  sandbox?: Partial<SandboxOptions>;
}

/** Runs a program in the sandbox: by default the tree (cwd) is the sandbox's writable root and its cwd. */
export function runSandbox(argv: string[], o: SandboxRunOptions): RunResult & { stopped?: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sb = Sandbox.createSync({
    platform: o.platform,
    root: o.cwd,
    rootWritable: true,
    env: o.env ?? ENV,
    cwd: "/",
    memory: 256 << 20,
    timeout: Number(process.env.KINDLING_CONFORMANCE_TIMEOUT ?? 60),
    ...o.sandbox,
    stdio: [o.input !== undefined ? source(o.input) : "null", sink(out), sink(err)],
  });
  const r = sb.runSync(argv);
  return {
    stdout: Buffer.concat(out).toString("latin1"),
    stderr: Buffer.concat(err).toString("latin1"),
    status: r.status,
    ...(r.stopped ? { stopped: r.stopped } : {}),
  };
}
