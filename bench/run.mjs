#!/usr/bin/env node
// Runs Kindling's benchmarks and writes docs/benchmarks.md and
// docs/benchmarks-chart.svg.
//
//   pnpm bench                       # everything, full size (several minutes)
//   node bench/run.mjs --quick       # fewer iterations, small files: a smoke test
//   node bench/run.mjs --only sandbox --only virtio
//
// Benchmarks: sandbox (bench/sandbox.bench.mjs, including the C floors and the
// kvm exit round trip), exit-roundtrip (bench/exit-roundtrip.mjs alone, when
// the sandbox benchmark is not run), virtio (bench/virtio-queue.bench.mjs) and
// seccompiler (bench/seccompiler-instructions.mjs). With --only, the others'
// results from the previous docs/benchmarks.md are kept (they are embedded in
// it). The packages are built first (`pnpm exec lerna run build`) when any
// dist/ is older than its src/.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { parseArgs } from "node:util";
import { sandboxChart } from "./lib/chart.mjs";
import { readEmbedded, renderMarkdown } from "./lib/report.mjs";
import { benchDir, ensureBuilt, machineFacts, repoRoot } from "./lib/util.mjs";

const NAMES = ["sandbox", "exit-roundtrip", "virtio", "seccompiler"];

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    tiny: { type: "boolean", default: false },
    only: { type: "string", multiple: true },
    out: { type: "string", default: join(repoRoot, "docs", "benchmarks.md") },
    json: { type: "string" },
    "no-build": { type: "boolean", default: false },
    "render-only": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  process.stdout.write(
    `usage: node bench/run.mjs [--quick] [--only NAME]... [--out FILE] [--json FILE] [--no-build]\n` +
      `  NAME: ${NAMES.join(", ")}\n` +
      "  --quick   fewer iterations and smaller files (a smoke test)\n" +
      "  --tiny    the smallest sizes (what the vitest smoke test runs)\n" +
      "  --no-build  do not build stale packages first\n" +
      "  --render-only  measure nothing: rewrite the report and chart from the results embedded in --out\n" +
      "  --out     the markdown report (default docs/benchmarks.md; the chart goes beside it)\n" +
      "  --json    also write the raw results as JSON\n",
  );
  process.exit(0);
}

const only = (values.only ?? []).flatMap((x) => x.split(","));
for (const n of only) {
  if (!NAMES.includes(n)) {
    process.stderr.write(`bench: unknown benchmark "${n}" (one of: ${NAMES.join(", ")})\n`);
    process.exit(2);
  }
}
const selected = only.length ? NAMES.filter((n) => only.includes(n)) : NAMES;
const mode = values.tiny ? "tiny" : values.quick ? "quick" : "full";
const log = (s) => process.stderr.write(s);

const outPath = values.out;
const chartPath = join(outPath, "..", "benchmarks-chart.svg");
const previous = existsSync(outPath) ? readEmbedded(readFileSync(outPath, "utf8")) : {};
if (values["render-only"]) {
  writeFileSync(outPath, renderMarkdown(previous));
  if (previous.sandbox) writeFileSync(chartPath, sandboxChart(previous.sandbox));
  log(`bench: rewrote ${relative(process.cwd(), outPath)} from its embedded results\n`);
  process.exit(0);
}
const build = values["no-build"] ? { built: false, stale: [] } : ensureBuilt(log);
const results = { ...previous, machine: machineFacts(), mode, build };
let status = 0;

function fail(name, e) {
  status = 1;
  log(`bench: ${name} failed: ${e?.stack ?? e}\n`);
  return { skipped: `failed: ${String(e?.message ?? e).split("\n")[0]}`, date: new Date().toISOString() };
}

if (selected.includes("sandbox")) {
  try {
    const { runSandboxBench } = await import("./sandbox.bench.mjs");
    results.sandbox = await runSandboxBench({ mode, log });
    const k = results.sandbox.floors?.kvmExit;
    if (selected.includes("exit-roundtrip") && k)
      results.exitRoundTrip = { ...k, mode, date: results.sandbox.machine.date };
  } catch (e) {
    results.sandbox = undefined;
    fail("sandbox", e);
  }
}

if (selected.includes("exit-roundtrip") && (!selected.includes("sandbox") || !results.exitRoundTrip)) {
  try {
    const { exitRoundTrip } = await import("./exit-roundtrip.mjs");
    const { MODES } = await import("./sandbox.bench.mjs");
    log("bench: kvm exit round trip\n");
    results.exitRoundTrip = { ...exitRoundTrip(MODES[mode].exit), mode, date: new Date().toISOString() };
  } catch (e) {
    results.exitRoundTrip = fail("exit-roundtrip", e);
  }
}

/** Runs one of the existing standalone benchmark scripts with --out to a temporary file. */
function runScript(name, script) {
  const dir = mkdtempSync(join(tmpdir(), "kindling-bench-"));
  try {
    const out = join(dir, "out.md");
    log(`bench: ${name} (node ${relative(repoRoot, join(benchDir, script))})\n`);
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [join(benchDir, script), "--out", out], {
      cwd: repoRoot,
      stdio: ["ignore", "ignore", "pipe"],
      encoding: "utf8",
      timeout: 1800_000,
    });
    const seconds = (performance.now() - t0) / 1000;
    if (r.status !== 0 || !existsSync(out)) {
      status = 1;
      const why = (r.stderr || String(r.error ?? "")).trim().split("\n").slice(-3).join(" / ");
      log(`bench: ${name} failed (status ${r.status}): ${why}\n`);
      return { skipped: `\`${script}\` failed (status ${r.status}): ${why}`, date: new Date().toISOString() };
    }
    return { markdown: readFileSync(out, "utf8"), seconds, date: new Date().toISOString() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (selected.includes("virtio")) results.virtio = runScript("virtio", "virtio-queue.bench.mjs");
if (selected.includes("seccompiler")) results.seccompiler = runScript("seccompiler", "seccompiler-instructions.mjs");

mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, renderMarkdown(results));
if (results.sandbox) writeFileSync(chartPath, sandboxChart(results.sandbox));
if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
log(
  `bench: wrote ${relative(process.cwd(), outPath)}${results.sandbox ? ` and ${relative(process.cwd(), chartPath)}` : ""}\n`,
);
for (const t of results.sandbox?.targets ?? []) {
  if (t.informational) continue;
  log(`  ${t.met === null ? "n/a " : t.met ? "met " : "MISS"} ${t.label}: ${t.value?.toFixed(2) ?? t.missing}\n`);
}
process.exitCode = status;
