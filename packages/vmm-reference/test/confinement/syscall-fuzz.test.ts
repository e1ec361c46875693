/**
 * Random system calls with random arguments (corpus/confine/syscall_fuzz.c) on
 * each platform, for a bounded time: the host never throws (runSync returns a
 * result, and a `stopped` that is not a limit is an internal error), never
 * crashes (the sandboxes run in a child Node process, fuzz-runner.ts), leaves
 * no host process behind, and the host tree outside the writable part, a
 * read-only mount and a secret file beside the tree are unchanged.
 *
 * KINDLING_FUZZ_SECONDS  seconds per platform (default 20)
 * KINDLING_FUZZ_SEED     the first seed (default 1; seeds then count up)
 * KINDLING_FUZZ_SEEDS    exact seeds, comma-separated (to reproduce a failure)
 * KINDLING_FUZZ_CALLS    calls per seed (default 2000)
 * KINDLING_FUZZ_VERBOSE  1: print one line per seed and the last calls of each
 */
import { spawn } from "node:child_process";
import * as nfs from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { SYSCALL_NAMES } from "@kindling/libos";
import { describe, expect, it } from "vitest";
import { build, compilers, platforms } from "../conformance/harness.js";
import type { FuzzJob, SeedResult } from "./fuzz-runner.js";
import { descendantsOf, processesRunning, repoRoot, runnerArgs, runnerMissing } from "./leak-counters.js";

const SECONDS = Number(process.env.KINDLING_FUZZ_SECONDS ?? 20);
const FIRST_SEED = Number(process.env.KINDLING_FUZZ_SEED ?? 1);
const SEEDS = process.env.KINDLING_FUZZ_SEEDS?.split(",").map(Number);
const CALLS = Number(process.env.KINDLING_FUZZ_CALLS ?? 2000);

const ccs = compilers.filter((c) => c.missing === null).map((c) => c.cc);
const skip = runnerMissing ?? (ccs.length === 0 ? "no C compiler" : null);
if (skip) console.warn(`syscall fuzz skipped: ${skip}`);

/** A log line "<i> <nr> <args>" with the call's name, for a person reading a failure. */
function named(line: string): string {
  const m = /^(\d+) (\d+) /.exec(line);
  if (!m) return line;
  const nr = Number(m[2]);
  const name = SYSCALL_NAMES[nr & ~0x40000000] || "?";
  return `${line}   # ${nr & 0x40000000 ? "x32 " : ""}${name}`;
}

/** The index of the last call a seed's log shows. */
function lastCall(r: SeedResult): number {
  for (let i = r.tail.length - 1; i >= 0; i--) {
    const m = /^(\d+) /.exec(r.tail[i]);
    if (m) return Number(m[1]) + 1;
  }
  return 0;
}

/** How long a platform's run may take: its seeds (each ends within its 3 s timeout) and starting the runner. */
const budget = (SEEDS ? SEEDS.length * 10 : SECONDS + 10) * 1000 + 90_000;

describe.skipIf(skip)("random system calls cannot break the host", () => {
  for (const { platform, missing } of platforms) {
    it.skipIf(missing)(
      `${platform}: ${SEEDS ? `seeds ${SEEDS.join(",")}` : `${SECONDS} s of seeds from ${FIRST_SEED}`}, ${CALLS} calls each`,
      async () => {
        const exes: Record<string, string> = {};
        // A copy named for this process (comm is 15 bytes), so a leftover is told from another run's fuzzer.
        for (const cc of ccs) {
          exes[cc] = join(dirname(build("confine/syscall_fuzz", cc)), `fz${process.pid}${cc[0]}`);
          nfs.copyFileSync(build("confine/syscall_fuzz", cc), exes[cc]);
          nfs.chmodSync(exes[cc], 0o755);
        }
        const eventsFile = join(nfs.mkdtempSync(join(tmpdir(), "kindling-fuzz-")), "events.jsonl");
        const job: FuzzJob = {
          platform,
          exes,
          firstSeed: FIRST_SEED,
          seconds: SECONDS,
          calls: CALLS,
          events: eventsFile,
          ...(SEEDS ? { seeds: SEEDS } : {}),
        };
        // Asynchronous, so vitest's worker keeps answering its parent during a long run.
        const child = await new Promise<{ status: number | null; signal: string | null; stderr: string }>((done) => {
          const c = spawn(process.execPath, runnerArgs("fuzz-runner.ts", [JSON.stringify(job)]), {
            cwd: repoRoot,
            stdio: ["ignore", "ignore", "pipe"],
          });
          let stderr = "";
          c.stderr.on("data", (d: Buffer) => {
            stderr = (stderr + d.toString()).slice(-16_000);
          });
          // Each seed's sandbox has a 3 s timeout; beyond this the host side hangs.
          const timer = setTimeout(() => c.kill("SIGKILL"), budget - 30_000);
          c.on("close", (status, signal) => {
            clearTimeout(timer);
            done({ status, signal, stderr });
          });
        });
        const events = (nfs.existsSync(eventsFile) ? nfs.readFileSync(eventsFile, "utf8") : "")
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l) as { dir?: string; start?: number } & Partial<SeedResult>);
        nfs.rmSync(dirname(eventsFile), { recursive: true, force: true });
        const results = events.filter((e): e is SeedResult & { dir?: string } => e.seed !== undefined);
        const dir = events.find((e) => e.dir)?.dir;
        const lastStart = [...events].reverse().find((e) => e.start !== undefined)?.start;
        const repro = (seed: number | undefined) =>
          `reproduce: KINDLING_FUZZ_SEEDS=${seed} pnpm exec vitest run packages/vmm-reference/test/confinement/syscall-fuzz.test.ts -t ${platform}`;

        const report: string[] = [];
        for (const r of results) {
          if (!r.failure) continue;
          report.push(
            `seed ${r.seed} (${platform}, ${r.cc}, ${r.layout}, status ${r.status}${r.stopped ? `, stopped: ${r.stopped}` : ""}):\n${r.failure}\nlast calls:\n${r.tail.map(named).join("\n")}\n${repro(r.seed)}`,
          );
        }
        if (child.status !== 0 || child.signal !== null) {
          report.push(
            `the host process running the sandboxes died or hung (status ${child.status}, signal ${child.signal}) during seed ${lastStart}:\n${child.stderr.slice(-4000)}\n${repro(lastStart)}`,
          );
        }
        const left = [...descendantsOf(), ...Object.values(exes).flatMap((e) => processesRunning(e))];
        if (left.length > 0) report.push(`host processes left behind: ${left.join(", ")}`);

        const calls = results.reduce((n, r) => n + (r.done ? CALLS : lastCall(r)), 0);
        const summary = `${platform}: ${results.length} seeds, ${calls} calls, ${results.filter((r) => r.done).length} ran to the end; statuses ${[...new Set(results.map((r) => r.status))].sort().join(",")}`;
        console.log(summary);
        if (process.env.KINDLING_FUZZ_VERBOSE === "1") {
          for (const r of results) {
            console.log(
              `seed ${r.seed} ${r.cc} ${r.layout} ${r.ms} ms status ${r.status} ${r.stopped ?? ""} ${r.done ?? `ended after call ${lastCall(r)}`}\n  ${r.tail.slice(-4).map(named).join("\n  ")}`,
            );
          }
        }
        // The runner's own exit handler removes its trees, unless it crashed.
        if (dir) nfs.rmSync(dir, { recursive: true, force: true });
        expect(report.join("\n\n"), summary).toBe("");
        // The fuzzer really ran: it made calls (a runner that runs nothing must not pass).
        expect(calls).toBeGreaterThanOrEqual(Math.min(CALLS, 100));
      },
      budget + 30_000,
    );
  }
});
