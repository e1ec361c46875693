// Finding 6 (a task limit). corpus/confine/task_limit.c creates threads until
// pthread_create fails. The libos's `maxTasks` (default 1024, the process's
// tasks with its main thread) makes clone fail with EAGAIN, as Linux at
// pids.max: 1023 threads on both platforms. On seccomp they are host threads
// (before: 5,000 of them, the child being root, RLIMIT_NPROC did not hold); on
// kvm cooperative contexts in the host process (before: unlimited). The
// sandbox runs in a child process (sandbox-runner.ts) while this test counts
// the host's threads: the program's on seccomp, the runner's on kvm.
import { spawn, spawnSync } from "node:child_process";
import * as nfs from "node:fs";
import { describe, expect, it } from "vitest";
import { build, compilers, platforms } from "../conformance/harness.js";
import { processesRunning, repoRoot, runnerArgs, runnerMissing } from "./leak-counters.js";

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
  const skip = missing ?? cc.missing ?? runnerMissing;
  it.skipIf(skip !== null)("5000 pthread_create stop at 1023 threads with EAGAIN", { timeout: 180_000 }, async () => {
    const exe = build("confine/task_limit", "cc");
    const job = { platform, argv: [exe, "5000", "1500"], tree: `task-limit-${platform}` };
    const child = spawn(process.execPath, runnerArgs("sandbox-runner.ts", [JSON.stringify(job)]), {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
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

// Threads that end must not leave host memory behind: on seccomp each thread's
// `exit` is seen (to count it) and its task is then forgotten by the platform
// and the libos. Without that every task kept a 64 KiB copy buffer until the
// sandbox ended: 40,000 threads made and joined one after the other grew the
// host process by 1.5 GB. The peak RSS of a runner process (sandbox-runner.ts)
// of a long run must stay near that of a short one.
function runInChild(
  platform: string,
  argv: string[],
  tree: string,
): { stdout: string; status: number; maxRssKb: number } {
  const job = { platform, argv, tree };
  const r = spawnSync(process.execPath, runnerArgs("sandbox-runner.ts", [JSON.stringify(job)]), {
    cwd: repoRoot,
    encoding: "utf8",
    maxBuffer: 16 << 20,
    timeout: 110_000,
    killSignal: "SIGKILL",
  });
  const line = r.stdout.split("\n").find((l) => l.startsWith('{"result"'));
  if (r.status !== 0 || line === undefined) throw new Error(`runner failed (${r.status}): ${r.stderr.slice(-4000)}`);
  const j = JSON.parse(line) as { result: { stdout: string; status: number }; maxRssKb: number };
  return { ...j.result, maxRssKb: j.maxRssKb };
}

describe.each(platforms)("thread churn on $platform", ({ platform, missing }) => {
  const skip = missing ?? cc.missing ?? runnerMissing;
  // Cooperative threads (kvm) cost about 2 ms each here: fewer.
  const n = platform === "kvm" ? 5000 : 40000;
  it.skipIf(skip !== null)(`${n} threads made and joined one by one hold no host memory`, { timeout: 240_000 }, () => {
    const exe = build("confine/thread_churn", "cc");
    const short = runInChild(platform, [exe, "100"], `churn-short-${platform}`);
    const long = runInChild(platform, [exe, String(n)], `churn-long-${platform}`);
    expect(short.stdout).toBe("done 100\n");
    expect(long.stdout).toBe(`done ${n}\n`);
    expect(long.status).toBe(0);
    const grewMb = (long.maxRssKb - short.maxRssKb) / 1024;
    console.info(
      `thread churn on ${platform}: peak RSS ${short.maxRssKb >> 10} MiB (100 threads), ${long.maxRssKb >> 10} MiB (${n})`,
    );
    expect(grewMb).toBeLessThan(128);
  });
});
