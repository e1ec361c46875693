// Finding 4: --timeout must hold while the program waits on the host's stdio.
// Before, a write to a full stdout pipe waited in the host kernel (a blocking
// pipe) or in poll(2) with no timeout (Node leaves fd 1 O_NONBLOCK), never
// looking at the deadline: `kindling run --timeout 2 bigout | sleep 30` ended
// after 30 s, and with a reader that never reads, never. The same for a read of
// a stdin that never gets data. Now no host I/O of the libos blocks the host
// thread (its own O_NONBLOCK description of a pipe or terminal, MSG_DONTWAIT
// on a socket) and every wait ends at the deadline: the program is stopped
// ("timeout", status 137) about 2 s after it started.
//
// The CLI runs in a child process (cli-runner.ts) with stdio of the test's
// choosing: a FIFO nobody reads (blocking, as a shell's pipe), a socket nobody
// reads (what Node's spawn gives), a FIFO whose writer never writes.
import { type ChildProcess, execFileSync, type StdioOptions, spawn } from "node:child_process";
import * as nfs from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { build, compilers, platforms, workDir } from "../conformance/harness.js";
import { repoRoot, runnerArgs, runnerMissing } from "./leak-counters.js";

const cc = compilers.find((c) => c.cc === "cc")!;

interface Outcome {
  /** main()'s status and wall time, from the runner; null when it never reported. */
  result: { status: number; ms: number } | null;
  stderr: string;
  /** The child was killed because it outlived the test's own limit. */
  hung: boolean;
}

/** Runs `kindling run ...args` in a child with `stdio` (fd 3 is the runner's report); kills it after `limitMs`. */
function kindling(args: string[], stdio: StdioOptions, limitMs: number, onSpawn?: (c: ChildProcess) => void) {
  return new Promise<Outcome>((resolve) => {
    const child = spawn(process.execPath, runnerArgs("cli-runner.ts", args), {
      cwd: repoRoot,
      stdio,
    });
    onSpawn?.(child);
    let stderr = "";
    let report = "";
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    (child.stdio[3] as NodeJS.ReadableStream | null)?.on("data", (d) => {
      report += d;
    });
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill("SIGKILL");
    }, limitMs);
    child.on("close", () => {
      clearTimeout(timer);
      const line = report.trim().split("\n").pop();
      resolve({ result: line ? JSON.parse(line) : null, stderr, hung });
    });
  });
}

let fifos = 0;
function fifo(): string {
  const p = join(workDir(), `deadline-fifo-${process.pid}-${fifos++}`);
  execFileSync("mkfifo", [p]);
  return p;
}

/** The checks: stopped at the deadline (2 s, with slack for a loaded machine), "timeout", status 137. */
function expectStoppedAtDeadline(o: Outcome): void {
  expect(o.hung, o.stderr).toBe(false);
  expect(o.result, o.stderr).not.toBeNull();
  expect(o.result!.status, o.stderr).toBe(137);
  expect(o.result!.ms).toBeGreaterThanOrEqual(1900);
  expect(o.result!.ms).toBeLessThan(10_000);
  expect(o.stderr).toMatch(/stopped: timeout/);
}

describe.each(platforms)(
  "--timeout holds while the program waits on the host's stdio ($platform)",
  ({ platform, missing }) => {
    const skip = missing ?? cc.missing ?? runnerMissing;
    const run = (exe: string) => ["run", "--platform", platform, "--timeout", "2", exe];

    it.skipIf(skip !== null)("a program writing forever to a FIFO nobody reads", { timeout: 120_000 }, async () => {
      const exe = build("confine/bigout", "cc");
      const path = fifo();
      const reader = nfs.openSync(path, nfs.constants.O_RDONLY | nfs.constants.O_NONBLOCK); // holds it open, never reads
      const writer = nfs.openSync(path, nfs.constants.O_WRONLY); // blocking, as a shell's pipe
      try {
        const o = await kindling(run(exe), ["ignore", writer, "pipe", "pipe"], 60_000);
        expectStoppedAtDeadline(o);
      } finally {
        nfs.closeSync(writer);
        nfs.closeSync(reader);
        nfs.rmSync(path);
      }
    });

    it.skipIf(skip !== null)("a program writing forever to a socket nobody reads", { timeout: 120_000 }, async () => {
      const exe = build("confine/bigout", "cc");
      const o = await kindling(run(exe), ["ignore", "pipe", "pipe", "pipe"], 60_000, (c) => c.stdout?.pause());
      expectStoppedAtDeadline(o);
    });

    it.skipIf(skip !== null)("a program reading a stdin FIFO that never gets data", { timeout: 120_000 }, async () => {
      const exe = build("confine/stdin_wait", "cc");
      const path = fifo();
      const first = nfs.openSync(path, nfs.constants.O_RDONLY | nfs.constants.O_NONBLOCK);
      const writer = nfs.openSync(path, nfs.constants.O_WRONLY); // held open, never writes: no EOF either
      const reader = nfs.openSync(`/proc/self/fd/${first}`, nfs.constants.O_RDONLY); // a blocking read end
      try {
        const o = await kindling(run(exe), [reader, "pipe", "pipe", "pipe"], 60_000);
        expectStoppedAtDeadline(o);
      } finally {
        for (const fd of [reader, writer, first]) nfs.closeSync(fd);
        nfs.rmSync(path);
      }
    });
  },
);
