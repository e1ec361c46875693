/**
 * Host resources of this process, counted from /proc: what a sandbox that
 * ends must give back (fds, threads, mappings, memfds, memory) and the host
 * processes it must not leave behind; and how a test starts one of this
 * folder's runners (fuzz-runner.ts, sandbox-runner.ts, cli-runner.ts) as a
 * child Node process, whose threads and processes are then its own.
 */
import * as nfs from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface HostCounts {
  /** Open fds (entries of /proc/self/fd, less the one readdir itself uses). */
  fds: number;
  /** fds that are memfds (their link reads "/memfd:…"). */
  memfds: number;
  /** Threads of this process (/proc/self/status Threads:). */
  threads: number;
  /** Lines of /proc/self/maps. */
  maps: number;
  /** Resident set size in bytes (/proc/self/status VmRSS). */
  rss: number;
  /** V8 heap in use after a full gc, in bytes. */
  heapUsed: number;
  /** Live host processes descended from this one (pids). */
  descendants: number[];
}

function statusField(status: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status);
  if (!m) throw new Error(`/proc/self/status has no ${name}`);
  return Number(m[1]);
}

/** pid → ppid of every process in /proc (stat field 4, after the parenthesised name). */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of nfs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = nfs.readFileSync(`/proc/${e}/stat`, "latin1");
    } catch {
      continue; // it ended meanwhile
    }
    // The name may contain spaces and parentheses: the fields start after the last ")".
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // rest[0] is the state; a zombie (Z) still counts: nobody reaped it.
    out.set(Number(e), Number(rest[1]));
  }
  return out;
}

/** The pids whose PPID chain leads to `root` (children, grandchildren, …). */
export function descendantsOf(root: number = process.pid): number[] {
  const pp = parents();
  const out: number[] = [];
  for (const pid of pp.keys()) {
    let p = pp.get(pid);
    for (let hops = 0; p !== undefined && p > 1 && hops < 64; hops++) {
      if (p === root) {
        out.push(pid);
        break;
      }
      p = pp.get(p);
    }
  }
  return out.sort((a, b) => a - b);
}

/**
 * Host processes running the program at host path `exe`, anywhere on the host: by their
 * executable, command line or name (comm, the first 15 bytes of the file name: a jailed
 * program's exe link names its path inside the jail, and a program may unmap its argv).
 * Finds one that escaped and was reparented to init, which the PPID chain misses.
 */
export function processesRunning(exe: string): number[] {
  const comm = basename(exe).slice(0, 15);
  const out: number[] = [];
  for (const e of nfs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (nfs.readFileSync(`/proc/${e}/comm`, "latin1").trimEnd() === comm) {
        out.push(Number(e));
        continue;
      }
      const cmd = nfs.readFileSync(`/proc/${e}/cmdline`, "latin1");
      if (cmd.split("\0")[0] === exe || nfs.readlinkSync(`/proc/${e}/exe`) === exe) out.push(Number(e));
    } catch {
      // gone, or a kernel thread (no exe)
    }
  }
  return out;
}

const gc = (globalThis as { gc?: () => void }).gc;
/** True when a full gc can be forced (vitest's forks run with --expose-gc). */
export const canGc = gc !== undefined;

/** A snapshot of this process's host resources, after a full gc (twice: finalizers free native memory). */
export function hostCounts(): HostCounts {
  if (gc) {
    gc();
    gc();
  }
  const names = nfs.readdirSync("/proc/self/fd");
  let memfds = 0;
  for (const n of names) {
    try {
      if (nfs.readlinkSync(`/proc/self/fd/${n}`).startsWith("/memfd:")) memfds++;
    } catch {
      // the readdir's own fd, closed by now
    }
  }
  const status = nfs.readFileSync("/proc/self/status", "latin1");
  const maps = nfs.readFileSync("/proc/self/maps", "latin1");
  return {
    fds: names.length - 1,
    memfds,
    threads: statusField(status, "Threads"),
    maps: maps.split("\n").filter((l) => l !== "").length,
    rss: statusField(status, "VmRSS") * 1024,
    heapUsed: process.memoryUsage().heapUsed,
    descendants: descendantsOf(),
  };
}

/** "fds 40 → 41 (+1)" lines for a failure message. */
export function describeCounts(before: HostCounts, after: HostCounts): string {
  const rows: string[] = [];
  for (const k of ["fds", "memfds", "threads", "maps", "rss", "heapUsed"] as const) {
    rows.push(`${k} ${before[k]} → ${after[k]} (${after[k] - before[k] >= 0 ? "+" : ""}${after[k] - before[k]})`);
  }
  rows.push(`descendants [${before.descendants.join(",")}] → [${after.descendants.join(",")}]`);
  return rows.join("\n");
}

/** The repository's root: the runners' cwd, so its vitest config applies. */
export const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));

/** vite-node (vitest's own dependency) runs a TypeScript runner with the repo's source conditions. */
const viteNode = ((): string | null => {
  try {
    const fromVitest = createRequire(createRequire(import.meta.url).resolve("vitest/package.json"));
    return join(dirname(fromVitest.resolve("vite-node/package.json")), "vite-node.mjs");
  } catch {
    return null;
  }
})();

/** Why no runner can be started here, or null. */
export const runnerMissing: string | null = viteNode === null ? "vite-node (a vitest dependency) not found" : null;

/** Node's arguments to run the runner `name` of this folder with `args` (spawn it with cwd `repoRoot`). */
export function runnerArgs(name: string, args: string[]): string[] {
  if (viteNode === null) throw new Error(runnerMissing!);
  const runner = fileURLToPath(new URL(`./${name}`, import.meta.url));
  return [viteNode, "--config", join(repoRoot, "vitest.config.ts"), runner, ...args];
}
