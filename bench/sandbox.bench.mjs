// The sandbox benchmark (issue 6, "Performance"): the same static programs,
// measured in one run on one machine, natively, in the Kindling sandbox on
// the kvm and seccomp platforms, and in gVisor (`runsc --platform=ptrace do`),
// next to the raw C floors of both Kindling platforms (a KVM ring-3 exit and
// a seccomp user-notification round trip).
//
//   node bench/sandbox.bench.mjs [--quick | --tiny] [--json FILE]
//
// Prints the result as JSON (bench/run.mjs turns it into docs/benchmarks.md).
// Imports the BUILT packages (dist/); run through bench/run.mjs, which builds
// them first when they are stale.
//
// Workloads (C sources in bench/workloads/, built with `cc -static -O2`):
//   getppid   a getppid loop, timed inside the program: ns per call
//   openread  open/read/close of a 1 KiB file, timed inside: ns per system call
//   readfile  read(2) of a 256 MiB file with a 128 KiB buffer, timed inside: MiB/s
//   sha256    busybox sha256sum of a 100 MiB file: wall time of the whole run
//   hello     start to exit of a program that prints one line: wall time, many runs
//   compute   a dependent xorshift/multiply chain with no system calls: ns per iteration
// Timed-inside workloads use CLOCK_MONOTONIC in the program, so process and
// sandbox start-up are not part of them. Rounds are interleaved across the
// columns (round 1 on every column, then round 2 ...) so that a change in the
// machine's load hits every column alike; each cell is the median of its rounds.
import { execFileSync } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { kvmAvailable, Sandbox } from "@kindling/vmm-reference";
import { exitRoundTrip } from "./exit-roundtrip.mjs";
import { cliRunner, DATA, libraryRunner, nativeRunner, probeRunsc, RUNSC_FLAGS, runscRunner } from "./lib/runners.mjs";
import { buildWorkload, machineFacts, median, parseKv, summary } from "./lib/util.mjs";

/** Iteration counts and sizes per mode. `other`: every column but native (a syscall costs µs there). */
export const MODES = {
  full: {
    getppid: { native: 1_000_000, other: 50_000 },
    openread: { native: 200_000, other: 10_000 },
    readMiB: 256,
    shaMiB: 100,
    compute: 300_000_000,
    rounds: 5,
    helloRuns: 30,
    helloRunsSlow: 12,
    floor: { iterations: 50_000, rounds: 5 },
    exit: { iterations: 20_000, rounds: 5 },
  },
  quick: {
    getppid: { native: 100_000, other: 5_000 },
    openread: { native: 20_000, other: 1_000 },
    readMiB: 32,
    shaMiB: 16,
    compute: 30_000_000,
    rounds: 3,
    helloRuns: 7,
    helloRunsSlow: 3,
    floor: { iterations: 5_000, rounds: 3 },
    exit: { iterations: 3_000, rounds: 3 },
  },
  tiny: {
    getppid: { native: 10_000, other: 300 },
    openread: { native: 1_000, other: 100 },
    readMiB: 1,
    shaMiB: 1,
    compute: 1_000_000,
    rounds: 1,
    helloRuns: 2,
    helloRunsSlow: 1,
    floor: { iterations: 300, rounds: 1 },
    exit: { iterations: 300, rounds: 1 },
  },
};

const BUSYBOX = "/usr/bin/busybox";
const READ_BUFFER = 128 * 1024;

/** Writes `mib` MiB of pseudo-random bytes to `path`; returns its sha256. */
function makeFile(path, mib) {
  const chunk = Buffer.alloc(1 << 20);
  const h = createHash("sha256");
  const fd = openSync(path, "w");
  try {
    for (let i = 0; i < mib; i++) {
      randomFillSync(chunk);
      h.update(chunk);
      writeSync(fd, chunk);
    }
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

function tail(text, n = 3) {
  return String(text ?? "")
    .trim()
    .split("\n")
    .slice(-n)
    .join(" / ");
}

/**
 * The workloads. `args(sizes, column)` gives the argv after the executable;
 * `metric(out, run)` turns the parsed output and the run into the cell's
 * number; `check(out, run, ref)` compares with the native run's output.
 */
function workloads(bins, sizes, shaDigest) {
  const iters = (w, col) => String(col === "native" ? sizes[w].native : sizes[w].other);
  return [
    {
      id: "getppid",
      title: "getppid loop",
      unit: "ns/call",
      lower: true,
      exe: bins.getppid,
      args: (col) => [iters("getppid", col)],
      metric: (out) => out.ns_per_call,
    },
    {
      id: "openread",
      title: "open/read/close loop (1 KiB file)",
      unit: "ns/syscall",
      lower: true,
      exe: bins.openread,
      args: (col) => [`${DATA}/small`, iters("openread", col)],
      metric: (out) => out.ns_per_iteration / out.syscalls_per_iteration,
      check: (out) =>
        out.bytes_per_iteration === 1024 || `read ${out.bytes_per_iteration} bytes per iteration, not 1024`,
    },
    {
      id: "readfile",
      title: `read a ${sizes.readMiB} MiB file (${READ_BUFFER / 1024} KiB reads)`,
      unit: "MiB/s",
      lower: false,
      exe: bins.readfile,
      args: () => [`${DATA}/big`, String(READ_BUFFER)],
      metric: (out) => out.mib_per_s,
      check: (out, ref) => (out.bytes === ref.bytes && out.checksum === ref.checksum) || "read different bytes",
    },
    {
      id: "sha256",
      title: `busybox sha256sum of ${sizes.shaMiB} MiB`,
      unit: "ms",
      lower: true,
      exe: BUSYBOX,
      args: () => ["sha256sum", `${DATA}/sha`],
      metric: (_out, run) => run.wallMs,
      parse: (stdout) => ({ digest: stdout.trim().split(/\s+/)[0] }),
      check: (out) => out.digest === shaDigest || `printed ${out.digest}, expected ${shaDigest}`,
    },
    {
      id: "hello",
      title: "hello: start to exit",
      unit: "ms",
      lower: true,
      exe: bins.hello,
      args: () => [],
      metric: (_out, run) => run.wallMs,
      parse: (stdout) => ({ text: stdout }),
      check: (out) => out.text === "hello\n" || `printed ${JSON.stringify(out.text.slice(0, 40))}`,
      withCli: true,
    },
    {
      id: "compute",
      title: "compute-bound loop",
      unit: "ns/iteration",
      lower: true,
      exe: bins.compute,
      args: () => [String(sizes.compute)],
      metric: (out) => out.ns_per_iteration,
      check: (out, ref) => out.checksum === ref.checksum || "computed a different checksum",
    },
  ];
}

function seccompFloor(exe, { iterations, rounds }, log) {
  const run = (sync, poll) =>
    parseKv(
      execFileSync(exe, [String(iterations), sync ? "1" : "0", poll ? "1" : "0"], {
        encoding: "utf8",
        timeout: 600_000,
      }),
    );
  const sync = [];
  const plain = [];
  const polled = [];
  let syncWakeUp = 0;
  for (let i = 0; i < rounds; i++) {
    const s = run(true, false);
    syncWakeUp = s.sync_wake_up;
    sync.push(s.ns_per_round_trip);
    plain.push(run(false, false).ns_per_round_trip);
    polled.push(run(true, true).ns_per_round_trip);
    log(
      `  seccomp floor round ${i + 1}: ${s.ns_per_round_trip} ns (sync wake-up), ${plain.at(-1)} ns (plain), ${polled.at(-1)} ns (poll + sync)\n`,
    );
  }
  return {
    iterations,
    rounds,
    ns: median(sync),
    runs: sync,
    nsPlainWakeUp: median(plain),
    runsPlainWakeUp: plain,
    nsWithPoll: median(polled),
    runsWithPoll: polled,
    syncWakeUp: syncWakeUp === 1,
  };
}

/**
 * Runs the whole sandbox benchmark and returns its result (plain JSON data).
 * Options: mode "full" | "quick" | "tiny"; log (progress to stderr by default);
 * floors (default true): also measure the C floors and the exit round trip.
 */
export async function runSandboxBench({ mode = "full", log = (s) => process.stderr.write(s), floors = true } = {}) {
  const sizes = MODES[mode];
  if (!sizes) throw new Error(`unknown mode ${mode}`);
  const machineStart = machineFacts();
  const t0 = performance.now();
  log(`sandbox bench (${mode}): building the workloads\n`);
  const bins = {};
  for (const w of ["getppid", "openread", "readfile", "compute", "hello", "seccomp-floor"]) bins[w] = buildWorkload(w);

  const dataDir = mkdtempSync(join(tmpdir(), "kindling-bench-data-"));
  try {
    log(`sandbox bench: writing ${sizes.readMiB} + ${sizes.shaMiB} MiB of data to ${dataDir}\n`);
    writeFileSync(join(dataDir, "small"), Buffer.alloc(1024, "k"));
    makeFile(join(dataDir, "big"), sizes.readMiB);
    const shaDigest = makeFile(join(dataDir, "sha"), sizes.shaMiB);

    // Columns and why any is missing.
    const kvm = kvmAvailable()
      ? { available: true }
      : { available: false, reason: "/dev/kvm is not usable here (absent, or no read/write access)" };
    const seccomp = { available: true };
    try {
      const r = Sandbox.createSync({ platform: "seccomp", stdio: "pipe" }).runSync([bins.hello]);
      if (r.status !== 0) throw new Error(`hello exited with status ${r.status}`);
    } catch (e) {
      seccomp.available = false;
      seccomp.reason = `the seccomp platform cannot run here: ${e.message}`;
    }
    const runsc = probeRunsc(bins.hello);
    if (!runsc.available) log(`sandbox bench: runsc columns skipped: ${runsc.reason}\n`);
    const columns = [
      nativeRunner(dataDir),
      libraryRunner("kvm", dataDir, Sandbox, kvm),
      libraryRunner("seccomp", dataDir, Sandbox, seccomp),
      runscRunner(dataDir, runsc),
    ];
    const cliColumns = [cliRunner("kvm", dataDir, kvm), cliRunner("seccomp", dataDir, seccomp)];
    const busyboxOk = (() => {
      try {
        return execFileSync(BUSYBOX, ["true"], { stdio: "ignore" }) !== undefined;
      } catch {
        return false;
      }
    })();

    const results = {};
    for (const w of workloads(bins, sizes, shaDigest)) {
      const cols = w.withCli ? [...columns, ...cliColumns] : columns;
      const cells = {};
      const raw = {};
      const outs = {};
      const syscalls = {};
      for (const c of cols) {
        if (!c.available) cells[c.id] = { skipped: c.reason };
        else if (w.exe === BUSYBOX && !busyboxOk)
          cells[c.id] = { skipped: `${BUSYBOX} is absent (Debian busybox-static)` };
        else raw[c.id] = [];
      }
      const runsFor = (id) =>
        w.id !== "hello" ? sizes.rounds : id === "runsc" || id.endsWith("-cli") ? sizes.helloRunsSlow : sizes.helloRuns;
      const maxRuns = Math.max(...Object.keys(raw).map(runsFor), 0);
      if (w.id === "hello") {
        // One untimed run per column: page cache, JIT, lazily loaded modules.
        for (const c of cols) {
          if (!raw[c.id]) continue;
          try {
            c.run(w.exe, w.args(c.id), { timeoutS: 120 });
          } catch {
            // A failure shows in the timed runs, with its message.
          }
        }
      }
      log(`sandbox bench: ${w.title}\n`);
      for (let round = 0; round < maxRuns; round++) {
        for (const c of cols) {
          if (!raw[c.id] || round >= runsFor(c.id)) continue;
          let run;
          try {
            run = c.run(w.exe, w.args(c.id), { timeoutS: 600 });
          } catch (e) {
            run = { status: -1, stdout: "", stderr: String(e?.stack ?? e), wallMs: 0 };
          }
          const out = run.status === 0 ? (w.parse ?? parseKv)(run.stdout) : undefined;
          const value = out ? w.metric(out, run) : Number.NaN;
          let problem;
          if (run.status !== 0) problem = `exited with status ${run.status}: ${tail(run.stderr || run.stdout)}`;
          else if (!(value > 0) || !Number.isFinite(value)) problem = `no result in its output: ${tail(run.stdout)}`;
          else if (w.check && (c.id === "native" || outs.native)) {
            // Compared with the native run's output (native itself: with its own, plus any fixed expectation).
            const ok = w.check(out, outs.native ?? out);
            if (ok !== true) problem = `wrong output: ${ok}`;
          }
          if (problem) {
            cells[c.id] = { skipped: `failed: ${problem}` };
            delete raw[c.id];
            log(`  ${c.id}: FAILED ${problem}\n`);
            continue;
          }
          if (c.id === "native" && !outs.native) outs.native = out;
          raw[c.id].push(value);
          if (run.syscalls !== undefined) syscalls[c.id] = run.syscalls;
          log(`  ${c.id}: ${value.toFixed(value < 10 ? 3 : 1)} ${w.unit}\n`);
        }
      }
      for (const [id, xs] of Object.entries(raw)) {
        const s = summary(xs);
        cells[id] = { value: s.median, min: s.min, max: s.max, runs: xs };
        // System calls the libos served in the last run (library columns).
        if (syscalls[id] !== undefined) cells[id].syscalls = syscalls[id];
      }
      results[w.id] = {
        title: w.title,
        unit: w.unit,
        lowerIsBetter: w.lower,
        columns: cols.map((c) => c.id),
        cells,
      };
    }

    // What `kindling run` pays before the sandbox starts: a bare Node.js start to exit.
    if (results.hello) {
      const node = [];
      for (let i = 0; i < sizes.helloRunsSlow; i++) {
        const t = performance.now();
        execFileSync(process.execPath, ["-e", "0"], { stdio: "ignore" });
        node.push(performance.now() - t);
      }
      results.hello.nodeStartupMs = median(node);
      // ... and a Node.js start that also loads the CLI's modules (dist/cli.js and its imports) without running it.
      const cli = join(fileURLToPath(new URL("..", import.meta.url)), "packages/vmm-reference/dist/cli.js");
      if (existsSync(cli)) {
        const load = [];
        for (let i = 0; i < sizes.helloRunsSlow; i++) {
          const t = performance.now();
          execFileSync(process.execPath, ["--input-type=module", "-e", `await import(${JSON.stringify(cli)})`], {
            stdio: "ignore",
          });
          load.push(performance.now() - t);
        }
        results.hello.cliLoadMs = median(load);
      }
    }

    // sha256 net of start-up: the whole run minus the median hello of the same column.
    for (const [id, cell] of Object.entries(results.sha256.cells)) {
      const hello = results.hello.cells[id];
      if (cell.value !== undefined) {
        cell.mibPerS = sizes.shaMiB / (cell.value / 1000);
        if (hello?.value !== undefined && cell.value > hello.value) {
          cell.netMs = cell.value - hello.value;
          cell.netMibPerS = sizes.shaMiB / (cell.netMs / 1000);
        }
      }
    }

    let floorsResult;
    if (floors) {
      log("sandbox bench: C floors\n");
      floorsResult = {};
      try {
        floorsResult.seccomp = seccompFloor(bins["seccomp-floor"], sizes.floor, log);
      } catch (e) {
        floorsResult.seccomp = { skipped: `the C seccomp floor failed: ${tail(e.stderr || e.message)}` };
      }
      if (kvm.available) {
        try {
          floorsResult.kvmExit = exitRoundTrip(sizes.exit);
          log(
            `  kvm exit round trip: C ${floorsResult.kvmExit.cNs.toFixed(0)} ns, TS ${floorsResult.kvmExit.tsNs.toFixed(0)} ns\n`,
          );
        } catch (e) {
          floorsResult.kvmExit = { skipped: `the exit round trip failed: ${tail(e.stderr || e.message)}` };
        }
      } else {
        floorsResult.kvmExit = { skipped: kvm.reason };
      }
    }

    const machineEnd = machineFacts();
    return {
      mode,
      sizes: { ...sizes, readBuffer: READ_BUFFER },
      machine: { ...machineStart, loadavgEnd: machineEnd.loadavg },
      seconds: (performance.now() - t0) / 1000,
      runsc: { ...runsc, flags: RUNSC_FLAGS },
      workloads: results,
      floors: floorsResult,
      targets: targets(results, floorsResult),
    };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const v = (cell) => (cell && cell.value !== undefined ? cell.value : undefined);

/**
 * The issue's targets, each { id, label, value, bound, op, met, measured }.
 * `met` is null when an input is missing (`missing` says which and why).
 */
export function targets(w, floors) {
  const out = [];
  const add = (id, label, op, bound, a, b, fmt, extra = {}) => {
    const row = { id, label, op, bound, ...extra };
    if (
      a === undefined ||
      b === undefined ||
      (typeof a === "object" && a.skipped) ||
      (typeof b === "object" && b.skipped)
    ) {
      row.met = null;
      row.missing = [a, b]
        .filter((x) => x === undefined || x?.skipped)
        .map((x) => x?.skipped ?? "not measured")
        .join("; ");
    } else {
      row.value = a / b;
      row.met = op === "<=" ? row.value <= bound : row.value >= bound;
      row.measured = fmt(a, b);
    }
    out.push(row);
  };
  const ns = (x) => `${x >= 1000 ? `${(x / 1000).toFixed(2)} µs` : `${x.toFixed(0)} ns`}`;
  const cellOr = (cell) => (cell?.skipped ? cell : v(cell));
  const floorOr = (f, key) => (f === undefined ? undefined : f.skipped ? f : f[key]);

  // Compute-bound work: speed relative to native = native time / sandbox time.
  for (const c of ["kvm", "seccomp"]) {
    add(
      `compute-${c}`,
      `compute-bound speed, ${c} / native`,
      ">=",
      0.95,
      v(w.compute.cells.native),
      cellOr(w.compute.cells[c]),
      (a, b) => `${b.toFixed(3)} ns/iteration in the sandbox, ${a.toFixed(3)} native`,
    );
  }
  // Per-syscall cost vs the platform's C floor.
  add(
    "syscall-kvm-floor",
    "getppid on kvm vs the C KVM ring-3 exit",
    "<=",
    1.25,
    cellOr(w.getppid.cells.kvm),
    floorOr(floors?.kvmExit, "cNs"),
    (a, b) => `${ns(a)} vs ${ns(b)}`,
  );
  add(
    "syscall-seccomp-floor",
    "getppid on seccomp vs the C user-notification round trip",
    "<=",
    1.25,
    cellOr(w.getppid.cells.seccomp),
    floorOr(floors?.seccomp, "ns"),
    (a, b) => `${ns(a)} vs ${ns(b)}`,
  );
  add(
    "openread-kvm-floor",
    "open/read/close per syscall on kvm vs the C KVM exit (informational)",
    "<=",
    1.25,
    cellOr(w.openread.cells.kvm),
    floorOr(floors?.kvmExit, "cNs"),
    (a, b) => `${ns(a)} vs ${ns(b)}`,
    { informational: true },
  );
  add(
    "openread-seccomp-floor",
    "open/read/close per syscall on seccomp vs the C notification (informational)",
    "<=",
    1.25,
    cellOr(w.openread.cells.seccomp),
    floorOr(floors?.seccomp, "ns"),
    (a, b) => `${ns(a)} vs ${ns(b)}`,
    { informational: true },
  );
  // seccomp platform vs runsc-ptrace per syscall: runsc cost / seccomp cost.
  add(
    "seccomp-vs-runsc",
    "getppid: runsc-ptrace cost / seccomp-platform cost",
    ">=",
    2,
    cellOr(w.getppid.cells.runsc),
    cellOr(w.getppid.cells.seccomp),
    (a, b) => `${ns(a)} vs ${ns(b)}`,
  );
  add(
    "seccomp-vs-runsc-openread",
    "open/read/close: runsc-ptrace / seccomp per syscall (informational)",
    ">=",
    2,
    cellOr(w.openread.cells.runsc),
    cellOr(w.openread.cells.seccomp),
    (a, b) => `${ns(a)} vs ${ns(b)}`,
    { informational: true },
  );
  // hello start-to-exit vs runsc: sandbox / runsc <= 1.
  for (const c of ["kvm-cli", "seccomp-cli", "kvm", "seccomp"]) {
    const how = c.endsWith("-cli") ? `\`kindling run\` (${c.slice(0, -4)})` : `Sandbox library (${c})`;
    add(
      `hello-${c}`,
      `hello start to exit: ${how} / runsc`,
      "<=",
      1,
      cellOr(w.hello.cells[c]),
      cellOr(w.hello.cells.runsc),
      (a, b) => `${a.toFixed(1)} ms vs ${b.toFixed(1)} ms`,
    );
  }
  // TS vs C exit round trip.
  add(
    "exit-ts-vs-c",
    "kvm exit round trip: TypeScript loop / C loop",
    "<=",
    1.1,
    floorOr(floors?.kvmExit, "tsNs"),
    floorOr(floors?.kvmExit, "cNs"),
    (a, b) => `${ns(a)} vs ${ns(b)}`,
  );
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const mode = process.argv.includes("--tiny") ? "tiny" : process.argv.includes("--quick") ? "quick" : "full";
  const r = await runSandboxBench({ mode });
  const j = process.argv.indexOf("--json");
  const text = `${JSON.stringify(r, null, 2)}\n`;
  if (j > 0) writeFileSync(process.argv[j + 1], text);
  else process.stdout.write(text);
}
