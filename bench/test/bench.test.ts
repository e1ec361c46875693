// Smoke test of the sandbox benchmark: runs it in "tiny" mode (a few hundred
// iterations, 1 MiB files) and checks the shape of the result and of the
// report and chart made from it. No timing assertions: speed is measured by
// `pnpm bench`, not by tests.
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sandboxChart } from "../lib/chart.mjs";
import { readEmbedded, renderMarkdown } from "../lib/report.mjs";
import { runSandboxBench } from "../sandbox.bench.mjs";

function usable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

const hasKvm = usable("/dev/kvm");
const hasRunsc = ["/usr/bin/runsc", "/usr/local/bin/runsc"].some((p) => existsSync(p));
const hasBusybox = existsSync("/usr/bin/busybox");
const hasCc = spawnSync("cc", ["--version"], { stdio: "ignore" }).status === 0;
if (!hasCc) console.warn("bench smoke test skipped: no C compiler (cc) to build the workloads");
if (!hasKvm)
  console.warn("bench smoke test: /dev/kvm is not usable here; the kvm columns must be skipped with a reason");
if (!hasRunsc)
  console.warn("bench smoke test: runsc is not installed; the runsc columns must be skipped with a reason");

type Cell = { value?: number; min?: number; max?: number; runs?: number[]; skipped?: string };
type Workload = { title: string; unit: string; lowerIsBetter: boolean; columns: string[]; cells: Record<string, Cell> };
type Target = { id: string; met: boolean | null; value?: number; missing?: string; bound: number; op: string };

const runMjs = join(import.meta.dirname, "..", "run.mjs");
const positive = (x: unknown) => typeof x === "number" && Number.isFinite(x) && x > 0;

describe.skipIf(!hasCc)("sandbox benchmark (tiny mode)", () => {
  it("measures every column or says why not, and renders the report and chart", async () => {
    const messages: string[] = [];
    const r = await runSandboxBench({ mode: "tiny", log: (s: string) => messages.push(s) });
    expect(r.mode).toBe("tiny");
    expect(r.machine.cores).toBeGreaterThan(0);
    expect(r.machine.loadavg).toHaveLength(3);

    const workloads = r.workloads as Record<string, Workload>;
    expect(Object.keys(workloads).sort()).toEqual(["compute", "getppid", "hello", "openread", "readfile", "sha256"]);
    for (const [id, w] of Object.entries(workloads)) {
      const expected = ["native", "kvm", "seccomp", "runsc", ...(id === "hello" ? ["kvm-cli", "seccomp-cli"] : [])];
      expect(w.columns, id).toEqual(expected);
      for (const c of expected) {
        const cell = w.cells[c];
        expect(cell, `${id}/${c}`).toBeDefined();
        if (cell.skipped !== undefined) {
          expect(cell.skipped.length, `${id}/${c} reason`).toBeGreaterThan(0);
          expect(cell.value, `${id}/${c}`).toBeUndefined();
        } else {
          expect(positive(cell.value), `${id}/${c} value ${cell.value}`).toBe(true);
          expect(cell.runs?.length, `${id}/${c} runs`).toBeGreaterThan(0);
          for (const x of cell.runs ?? []) expect(positive(x)).toBe(true);
          expect(cell.min! <= cell.value! && cell.value! <= cell.max!).toBe(true);
        }
      }
      // Columns that must have run here (they can: the tools are present).
      const needBusybox = id === "sha256" && !hasBusybox;
      if (!needBusybox) {
        expect(w.cells.native.skipped, `${id}/native`).toBeUndefined();
        expect(w.cells.seccomp.skipped, `${id}/seccomp`).toBeUndefined();
        if (hasKvm) expect(w.cells.kvm.skipped, `${id}/kvm`).toBeUndefined();
        if (hasRunsc && r.runsc.available) expect(w.cells.runsc.skipped, `${id}/runsc`).toBeUndefined();
      }
    }
    if (!hasKvm) expect(workloads.getppid.cells.kvm.skipped).toMatch(/kvm/);
    if (!r.runsc.available) expect(r.runsc.reason).toMatch(/runsc/);
    else expect(r.runsc.version.length).toBeGreaterThan(0);

    // The floors.
    expect(positive(r.floors.seccomp.ns)).toBe(true);
    expect(positive(r.floors.seccomp.nsPlainWakeUp)).toBe(true);
    expect(positive(r.floors.seccomp.nsWithPoll)).toBe(true);
    if (hasKvm) {
      expect(positive(r.floors.kvmExit.cNs)).toBe(true);
      expect(positive(r.floors.kvmExit.tsNs)).toBe(true);
    } else {
      expect(r.floors.kvmExit.skipped).toMatch(/kvm/);
    }

    // Targets: a verdict with its ratio, or the reason it could not be judged.
    const targets = r.targets as Target[];
    expect(targets.map((t) => t.id)).toEqual(
      expect.arrayContaining([
        "compute-kvm",
        "compute-seccomp",
        "syscall-kvm-floor",
        "syscall-seccomp-floor",
        "seccomp-vs-runsc",
        "hello-kvm-cli",
        "hello-seccomp-cli",
        "exit-ts-vs-c",
      ]),
    );
    for (const t of targets) {
      if (t.met === null) expect(t.missing?.length, t.id).toBeGreaterThan(0);
      else {
        expect(positive(t.value), t.id).toBe(true);
        expect(t.met).toBe(t.op === "<=" ? t.value! <= t.bound : t.value! >= t.bound);
      }
    }

    // The report and the chart, and the results embedded in the report.
    const results = { sandbox: r, machine: r.machine, mode: r.mode };
    const md = renderMarkdown(results);
    expect(md).toContain("## Targets");
    expect(md).toContain("## Sandbox workloads");
    expect(md).toContain("benchmarks-chart.svg");
    expect(readEmbedded(md)).toEqual(JSON.parse(JSON.stringify(results)));
    const svg = sandboxChart(r);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("Cost of one system call");
    expect(svg).not.toContain("NaN");

    // bench/run.mjs --render-only rewrites the same report (and the chart) from the embedded results.
    const dir = mkdtempSync(join(tmpdir(), "kindling-bench-test-"));
    try {
      const out = join(dir, "benchmarks.md");
      writeFileSync(out, md);
      const run = spawnSync(process.execPath, [runMjs, "--render-only", "--out", out], { encoding: "utf8" });
      expect(run.status, run.stderr).toBe(0);
      expect(readFileSync(out, "utf8")).toBe(md);
      expect(readFileSync(join(dir, "benchmarks-chart.svg"), "utf8")).toBe(svg);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("bench/run.mjs rejects an unknown --only name", () => {
    const run = spawnSync(process.execPath, [runMjs, "--only", "nonesuch", "--no-build"], { encoding: "utf8" });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('unknown benchmark "nonesuch"');
  });
});
