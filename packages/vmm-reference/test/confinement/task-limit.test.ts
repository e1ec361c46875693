// Finding 6 (a task limit). corpus/confine/task_limit.c creates threads until
// pthread_create fails. The libos's `maxTasks` (default 1024, the process's
// tasks with its main thread) makes clone fail with EAGAIN, as Linux at
// pids.max: 1023 threads on both platforms. On seccomp they are host threads
// (before: 5,000 of them, the child being root, RLIMIT_NPROC did not hold); on
// kvm cooperative contexts in the host process (before: unlimited). The
// sandbox runs in a child process (sandbox-runner.ts) while this test counts
// the host's threads: the program's on seccomp, the runner's on kvm.
import { spawn } from "node:child_process";
import * as nfs from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { build, compilers, platforms } from "../conformance/harness.js";
import { processesRunning } from "./leak-counters.js";

const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));
const runner = fileURLToPath(new URL("./sandbox-runner.ts", import.meta.url));

function viteNode(): string | null {
  try {
    const fromVitest = createRequire(createRequire(import.meta.url).resolve("vitest/package.json"));
    return join(dirname(fromVitest.resolve("vite-node/package.json")), "vite-node.mjs");
  } catch {
    return null;
  }
}
const vn = viteNode();
const cc = compilers.find((c) => c.cc === "cc")!;

function threadsOf(pid: number): number {
  try {
    const m = /^Threads:\s+(\d+)/m.exec(nfs.readFileSync(`/proc/${pid}/status`, "latin1"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0; // it ended meanwhile
  }
}

describe.each(platforms)("a task limit on $platform", ({ platform, missing }) => {
  const skip = missing ?? cc.missing ?? (vn === null ? "vite-node (a vitest dependency) not found" : null);
  it.skipIf(skip !== null)("5000 pthread_create stop at 1023 threads with EAGAIN", { timeout: 180_000 }, async () => {
    const exe = build("confine/task_limit", "cc");
    const job = { platform, argv: [exe, "5000", "1500"], tree: `task-limit-${platform}` };
    const child = spawn(
      process.execPath,
      [vn!, "--config", join(repoRoot, "vitest.config.ts"), runner, JSON.stringify(job)],
      {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    // The host's threads for this sandbox: the program's own (seccomp), the runner's (kvm).
    let most = 0;
    const sample = setInterval(() => {
      const n =
        platform === "seccomp"
          ? processesRunning(exe) // (the runner's command line names the program too)
              .filter((pid) => pid !== child.pid)
              .reduce((sum, pid) => sum + threadsOf(pid), 0)
          : threadsOf(child.pid!);
      most = Math.max(most, n);
    }, 20);
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    clearInterval(sample);
    console.info(`task limit on ${platform}: at most ${most} host threads seen`);
    expect(code, err.slice(-4000)).toBe(0);
    const line = out.split("\n").find((l) => l.startsWith('{"result"'));
    expect(line, err.slice(-4000)).toBeDefined();
    const r = (JSON.parse(line!) as { result: { stdout: string; status: number } }).result;
    expect(r.stdout).toBe("created=1023 error=EAGAIN\njoined=1023\n");
    expect(r.status).toBe(0);
    if (platform === "seccomp") {
      expect(most).toBeGreaterThan(1000); // the sampling saw the threads
      expect(most).toBeLessThanOrEqual(1024 + 1); // (+1: a jail's init, where there is one)
    } else {
      expect(most).toBeLessThan(64); // cooperative: no host thread per program thread
    }
    expect(processesRunning(exe).filter((pid) => pid !== child.pid)).toEqual([]);
  });
});
