// docs/benchmarks.md from the results of bench/run.mjs. The results are also
// embedded in the file (an HTML comment at its end) so that `--only NAME`
// can re-run one benchmark and keep the others' last results.
import { fmtNs } from "./util.mjs";

const MARK = "kindling-bench-results";

/** The results embedded in a previous docs/benchmarks.md, or {}. */
export function readEmbedded(markdown) {
  const m = new RegExp(`<!-- ${MARK}\\n([\\s\\S]*?)\\n-->`).exec(markdown ?? "");
  if (!m) return {};
  try {
    return JSON.parse(m[1]);
  } catch {
    return {};
  }
}

function embed(results) {
  // "--" may not appear inside an HTML comment; in JSON it can only occur inside strings.
  return `<!-- ${MARK}\n${JSON.stringify(results).replace(/--/g, "-\\u002d")}\n-->\n`;
}

const COLUMN_LABELS = {
  native: "native",
  kvm: "kindling kvm",
  seccomp: "kindling seccomp",
  runsc: "runsc ptrace",
  "kvm-cli": "`kindling run` kvm",
  "seccomp-cli": "`kindling run` seccomp",
};

const SHORT = {
  getppid: "getppid",
  openread: "open/read/close",
  readfile: "file read",
  sha256: "sha256sum",
  hello: "hello",
  compute: "compute",
};

const val = (cell) => (cell && cell.value !== undefined ? cell.value : undefined);

function fmtValue(x, unit) {
  if (x === undefined) return "–";
  if (unit === "ns/call" || unit === "ns/syscall") return fmtNs(x);
  if (unit === "ns/iteration") return `${x.toFixed(3)} ns`;
  if (unit === "ms") return x >= 100 ? `${x.toFixed(0)} ms` : `${x.toFixed(x >= 10 ? 1 : 2)} ms`;
  if (unit === "MiB/s") return `${x.toFixed(0)} MiB/s`;
  return `${x.toPrecision(4)} ${unit}`;
}

function rel(wl, id) {
  const n = val(wl.cells.native);
  const s = val(wl.cells[id]);
  if (n === undefined || s === undefined) return undefined;
  return wl.lowerIsBetter ? n / s : s / n;
}

function fmtRel(x) {
  if (x === undefined) return "";
  return x >= 0.1 ? `${x.toFixed(2)}×` : `${x.toPrecision(2)}×`;
}

function metText(t) {
  if (t.met === null) return "not measured";
  return t.met ? "**met**" : "**not met**";
}

const opText = (t) => `${t.op === "<=" ? "≤" : "≥"} ${t.bound}`;

/** One sentence per unmet target, with the numbers behind it. */
function gapText(t, s) {
  const w = s.workloads;
  const f = s.floors ?? {};
  const runs = (cell, f = fmtNs) => (cell?.runs ? `runs: ${cell.runs.map((x) => f(x)).join(", ")}` : "");
  const nsIt = (x) => `${x.toFixed(3)} ns`;
  const g = (id) => val(w.getppid.cells[id]);
  switch (true) {
    case t.id.startsWith("compute-"): {
      const c = t.id.slice("compute-".length);
      const sb = w.compute.cells[c];
      const nat = w.compute.cells.native;
      const spread = (cell) => (cell.max - cell.min) / cell.value;
      const noise = Math.max(spread(sb), spread(nat));
      const gap = 1 / t.value - 1;
      return `The loop makes no system call in its timed part: the gap is CPU time the program did not get, or ran more slowly. Per iteration in the sandbox, ${runs(sb, nsIt)}; native, ${runs(nat, nsIt)}. ${
        noise >= gap
          ? `The spread between runs (${(noise * 100).toFixed(0)}%) is as large as the gap (${(gap * 100).toFixed(0)}%): this is noise from the machine's load until a quiet run shows otherwise.`
          : `The spread between runs (${(noise * 100).toFixed(0)}%) is smaller than the gap (${(gap * 100).toFixed(0)}%).`
      }`;
    }
    case t.id === "syscall-kvm-floor": {
      const ts = f.kvmExit?.tsNs;
      const c = f.kvmExit?.cNs;
      if (ts === undefined || c === undefined) return "";
      return `Decomposition of one getppid on the kvm platform: the C exit round trip ${fmtNs(c)}; the same exits driven by syscall-tap's TypeScript loop with a trivial server ${fmtNs(ts)} (+${fmtNs(ts - c)}); the full path through the libos ${fmtNs(g("kvm"))} (${g("kvm") >= ts ? "+" : ""}${fmtNs(g("kvm") - ts)} for the libos dispatch and the sandbox's run loop). ${runs(w.getppid.cells.kvm)}.`;
    }
    case t.id === "syscall-seccomp-floor": {
      const c = f.seccomp?.ns;
      if (c === undefined) return "";
      const p = f.seccomp.nsWithPoll;
      return `One getppid on the seccomp platform costs ${fmtNs(g("seccomp"))} against ${fmtNs(c)} for the C supervisor (blocking RECV + SEND; ${fmtNs(f.seccomp.nsPlainWakeUp)} without the synchronous wake-up)${p !== undefined ? ` and ${fmtNs(p)} for the C supervisor doing the platform's poll + RECV + SEND` : ""}: ${p !== undefined ? `of the ${fmtNs(g("seccomp") - c)} difference, the poll accounts for ${fmtNs(p - c)} and the TypeScript side (the same calls through N-API, and the libos) for ${fmtNs(g("seccomp") - p)}` : `the TypeScript side (poll + RECV + SEND through N-API, and the libos) adds ${fmtNs(g("seccomp") - c)}`}. ${runs(w.getppid.cells.seccomp)}.`;
    }
    case t.id.startsWith("seccomp-vs-runsc"):
      return `runsc (ptrace) ${fmtNs(t.id.endsWith("openread") ? val(w.openread.cells.runsc) : g("runsc"))} per call against ${fmtNs(t.id.endsWith("openread") ? val(w.openread.cells.seccomp) : g("seccomp"))} on the seccomp platform (ratio ${t.value.toFixed(2)}). The seccomp platform's cost is bounded below by the notification round trip (${fmtNs(f.seccomp?.ns ?? Number.NaN)} in C here).`;
    case t.id.startsWith("hello-"): {
      const c = t.id.slice("hello-".length);
      const node = w.hello.nodeStartupMs;
      const lib = c.endsWith("-cli") ? val(w.hello.cells[c.slice(0, -4)]) : undefined;
      const load = w.hello.cliLoadMs;
      if (!c.endsWith("-cli") || node === undefined) {
        return `${COLUMN_LABELS[c]}: ${fmtValue(val(w.hello.cells[c]), "ms")} against ${fmtValue(val(w.hello.cells.runsc), "ms")} for runsc.`;
      }
      return `${COLUMN_LABELS[c]}: ${fmtValue(val(w.hello.cells[c]), "ms")} against ${fmtValue(val(w.hello.cells.runsc), "ms")} for runsc. Where the time goes: a bare \`node -e 0\` takes ${fmtValue(node, "ms")}${load !== undefined ? `; Node.js plus loading the CLI's modules (\`import("dist/cli.js")\`, nothing run) ${fmtValue(load, "ms")}` : ""}; the sandbox run itself (library, in a warm process) ${fmtValue(lib, "ms")}.`;
    }
    case t.id === "exit-ts-vs-c": {
      const e = f.kvmExit;
      return `TypeScript ${fmtNs(e.tsNs)} against C ${fmtNs(e.cNs)} per exit (runs, TS: ${e.tsAll.map((x) => fmtNs(x)).join(", ")}; C: ${e.cAll.map((x) => fmtNs(x)).join(", ")}).`;
    }
    default:
      return "";
  }
}

function machineSection(m, mode) {
  const lines = [];
  lines.push("| | |", "|---|---|");
  lines.push(`| date | ${m.date.slice(0, 16).replace("T", " ")} UTC |`);
  lines.push(
    `| CPU | ${m.cpu}, ${m.cores} cores${m.cpuFlags ? ` (cpu flags: ${m.cpuFlags})` : " (no vmx/svm flag)"} |`,
  );
  lines.push(`| kernel | Linux ${m.kernel}${m.kvmModule ? `, KVM module ${m.kvmModule}` : ""} |`);
  lines.push(`| Node.js | ${m.node} |`);
  lines.push(
    `| load average (1, 5, 15 min) | ${m.loadavg.join(", ")} at the start${m.loadavgEnd ? `; ${m.loadavgEnd.join(", ")} at the end` : ""} |`,
  );
  lines.push(
    `| mode | ${mode}${mode !== "full" ? " (fewer iterations and smaller files: a smoke test, not a measurement)" : ""} |`,
  );
  const load = Math.max(m.loadavg[0], m.loadavgEnd?.[0] ?? 0);
  if (load > m.cores * 0.75) {
    lines.push(
      "",
      `> The machine was busy (load average ${load} on ${m.cores} cores) while this ran: absolute times are inflated and noisy. Ratios from one interleaved run are more trustworthy than absolute numbers, but still noisy; regenerate on a quiet machine (\`pnpm bench\`) before quoting them.`,
    );
  }
  return lines.join("\n");
}

function sandboxSection(s) {
  const out = [];
  const w = s.workloads;
  const z = s.sizes;
  out.push("## Sandbox workloads", "");
  out.push(
    `Measured by \`bench/sandbox.bench.mjs\` in one run (${s.seconds.toFixed(0)} s): static C programs from \`bench/workloads/\` (\`cc -static -O2\`) and Debian's static busybox, run natively, in the sandbox through the \`Sandbox\` library on each platform (\`Sandbox.createSync({platform, stdio: "pipe", mounts: [{host: DATA, path: "/data"}]}).runSync(argv)\`, created anew for every run), through the \`kindling run\` CLI (hello only), and under gVisor. Rounds are interleaved across the columns; each cell is the median of ${z.rounds} rounds (hello: ${z.helloRuns} runs, ${z.helloRunsSlow} for runsc and the CLI, after one untimed run each). The loops are timed inside the program (CLOCK_MONOTONIC), so start-up is not part of them; sha256sum and hello are wall times of the whole run.`,
    "",
  );
  const cols = ["native", "kvm", "seccomp", "runsc"];
  out.push(`| workload | unit | ${cols.map((c) => COLUMN_LABELS[c]).join(" | ")} |`);
  out.push(`|---|---|${cols.map(() => "---:").join("|")}|`);
  for (const id of ["getppid", "openread", "readfile", "sha256", "hello", "compute"]) {
    const wl = w[id];
    if (!wl) continue;
    const unit = wl.unit === "ns/call" || wl.unit === "ns/syscall" ? wl.unit.replace("ns", "time") : wl.unit;
    const cells = cols.map((c) => {
      const cell = wl.cells[c];
      if (!cell) return "–";
      if (cell.skipped) return "skipped¹";
      const r = c === "native" ? "" : ` (${fmtRel(rel(wl, c))})`;
      return `${fmtValue(cell.value, wl.unit)}${r}`;
    });
    out.push(`| ${wl.title} | ${unit} | ${cells.join(" | ")} |`);
  }
  out.push("");
  out.push(
    "In parentheses: speed relative to native (native time / sandbox time; for the file read, the MiB/s ratio). Higher is better; 1× is native speed.",
    "",
  );
  // sha256 net of start-up and hello through the CLI.
  const sha = w.sha256;
  if (sha) {
    const parts = cols
      .filter((c) => sha.cells[c]?.netMs !== undefined)
      .map(
        (c) => `${COLUMN_LABELS[c]} ${sha.cells[c].netMs.toFixed(0)} ms (${sha.cells[c].netMibPerS.toFixed(0)} MiB/s)`,
      );
    if (parts.length) {
      out.push(
        `sha256sum of ${z.shaMiB} MiB net of start-up (the run minus the column's median hello): ${parts.join(", ")}.`,
        "",
      );
    }
  }
  const hello = w.hello;
  if (hello) {
    const parts = ["kvm-cli", "seccomp-cli"]
      .map((c) => [c, hello.cells[c]])
      .map(([c, cell]) => `${COLUMN_LABELS[c]} ${cell?.skipped ? `skipped¹` : fmtValue(val(cell), "ms")}`);
    out.push(
      `hello through the CLI (a new \`node packages/vmm-reference/bin/kindling.js run\` process each time): ${parts.join(", ")}${hello.nodeStartupMs !== undefined ? `; a bare \`node -e 0\` takes ${fmtValue(hello.nodeStartupMs, "ms")} here` : ""}${hello.cliLoadMs !== undefined ? `, and Node.js plus loading the CLI's modules ${fmtValue(hello.cliLoadMs, "ms")}` : ""}. Native hello is \`spawnSync\` from Node.`,
      "",
    );
  }
  const counted = Object.entries(w).filter(([, wl]) => ["kvm", "seccomp"].some((c) => wl.cells[c]?.syscalls));
  if (counted.length) {
    out.push(
      "System calls that reached the sandbox per run (every call on kvm; on seccomp, the ones not allowed to run natively), which is what the per-call costs above multiply:",
      "",
      `| | ${counted.map(([id]) => SHORT[id] ?? id).join(" | ")} |`,
      `|---|${counted.map(() => "---:").join("|")}|`,
    );
    for (const c of ["kvm", "seccomp"]) {
      out.push(
        `| ${COLUMN_LABELS[c]} | ${counted.map(([, wl]) => (wl.cells[c]?.syscalls ?? "–").toLocaleString("en")).join(" | ")} |`,
      );
    }
    out.push("");
  }
  const skipped = [];
  for (const id of Object.keys(w)) {
    for (const [c, cell] of Object.entries(w[id].cells)) {
      if (cell.skipped) skipped.push(`${w[id].title}, ${COLUMN_LABELS[c] ?? c}: ${cell.skipped}`);
    }
  }
  if (skipped.length) {
    out.push("¹ Skipped cells and why:", "");
    for (const x of skipped) out.push(`- ${x}`);
    out.push("");
  }
  out.push(
    `Sizes: getppid ${z.getppid.native.toLocaleString("en")} calls natively, ${z.getppid.other.toLocaleString("en")} elsewhere; open/read/close ${z.openread.native.toLocaleString("en")} / ${z.openread.other.toLocaleString("en")} iterations; file read ${z.readMiB} MiB with ${z.readBuffer / 1024} KiB reads; sha256sum of ${z.shaMiB} MiB; compute ${z.compute.toLocaleString("en")} iterations. Every output is checked against the native run's (bytes read, checksums, the sha256 digest, hello's line); a column whose output differs is reported as failed, not measured.`,
    "",
  );
  return out.join("\n");
}

function floorsSection(s) {
  const out = ["## System-call floors", ""];
  const f = s.floors ?? {};
  const z = s.sizes;
  out.push("| floor | measured | how |", "|---|---:|---|");
  const k = f.kvmExit;
  if (k && !k.skipped) {
    out.push(
      `| KVM ring-3 exit round trip, C | ${fmtNs(k.cNs)} | \`bench/c/exit-roundtrip.c\`: ring 3 \`syscall\` → shim \`out\` → KVM_RUN returns → registers back through sync regs; ${k.iterations.toLocaleString("en")} exits × ${k.rounds} rounds, median |`,
    );
    out.push(
      `| the same, TypeScript (\`KvmPlatform.run\`, trivial server) | ${fmtNs(k.tsNs)} | \`bench/exit-roundtrip.mjs\`, same guest image; ratio TS / C ${k.ratio.toFixed(2)} |`,
    );
  } else out.push(`| KVM ring-3 exit | – | skipped: ${k?.skipped ?? "not measured"} |`);
  const c = f.seccomp;
  if (c && !c.skipped) {
    out.push(
      `| seccomp user notification round trip, C | ${fmtNs(c.ns)} | \`bench/workloads/seccomp-floor.c\`: child's getppid → SECCOMP_RET_USER_NOTIF → parent's NOTIF_RECV + NOTIF_SEND, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP ${c.syncWakeUp ? "on" : "refused by this kernel"}; ${c.iterations.toLocaleString("en")} calls × ${c.rounds} rounds, median |`,
    );
    out.push(`| the same without the synchronous wake-up | ${fmtNs(c.nsPlainWakeUp)} | |`);
    if (c.nsWithPoll !== undefined) {
      out.push(
        `| the same with a poll(2) on the listener before each RECV | ${fmtNs(c.nsWithPoll)} | the seccomp platform's sequence (poll + RECV + SEND), still in C |`,
      );
    }
  } else out.push(`| seccomp user notification | – | skipped: ${c?.skipped ?? "not measured"} |`);
  out.push("");
  void z;
  return out.join("\n");
}

function targetsSection(results) {
  const s = results.sandbox;
  const out = ["## Targets", ""];
  if (!s) return "";
  out.push("| target | bound | measured | ratio | |", "|---|---:|---|---:|---|");
  for (const t of s.targets) {
    out.push(
      `| ${t.label} | ${opText(t)} | ${t.measured ?? `not measured: ${t.missing}`} | ${t.value !== undefined ? t.value.toFixed(2) : "–"} | ${t.informational ? (t.met === null ? "–" : t.met ? "within" : "outside") : metText(t)} |`,
    );
  }
  out.push("");
  const gaps = s.targets.filter((t) => t.met === false && !t.informational);
  if (gaps.length) {
    out.push("### Where a target is not met", "");
    for (const t of gaps) {
      const text = gapText(t, s);
      out.push(`- **${t.label}** (${t.value.toFixed(2)}, target ${opText(t)}). ${text}`);
    }
    out.push("");
  }
  return out.join("\n");
}

function runscSection(s) {
  const r = s.runsc;
  const out = ["## How gVisor ran", ""];
  if (r.available) {
    out.push(
      `\`runsc ${r.flags.join(" ")} do PROGRAM ARGS\` (runsc ${r.version}, the Debian package). ${r.note}. Files under the data directory were read through the host path. gVisor's KVM platform is not measured: \`../shared/ARCHITECTURE.md\` records that it hangs on these machines.`,
    );
  } else {
    out.push(`The runsc columns are skipped: ${r.reason}.`);
  }
  out.push("");
  return out.join("\n");
}

function shiftHeadings(md) {
  return md
    .split("\n")
    .map((l) => (l.startsWith("#") ? `#${l}` : l))
    .join("\n");
}

function mergedSection(title, part, script, source) {
  if (!part) return "";
  const out = [`## ${title}`, ""];
  if (part.skipped) {
    out.push(`Not measured: ${part.skipped}`, "");
    return out.join("\n");
  }
  out.push(
    `The report of \`node ${script}\` as it wrote it, run by \`bench/run.mjs\` (${part.seconds.toFixed(0)} s; run on its own, the script writes \`${source}\`):`,
    "",
  );
  // Drop the file's own title line; keep the rest with headings one level down.
  const body = part.markdown.replace(/^# .*\n+/, "");
  out.push(shiftHeadings(body).trim(), "");
  return out.join("\n");
}

function exitSection(results) {
  const e = results.exitRoundTrip;
  if (!e) return "";
  const out = ["## kvm exit round trip: TypeScript vs C", ""];
  if (e.skipped) return [...out, `Not measured: ${e.skipped}`, ""].join("\n");
  out.push(
    "`bench/exit-roundtrip.mjs`: the kvm platform's system-call round trip driven by `KvmPlatform.run` with a trivial server, against `bench/c/exit-roundtrip.c` driving the same guest image with the same protocol in C. Target: the TypeScript loop within 10% of C.",
    "",
    "| | ns per exit (median) | runs |",
    "|---|---:|---|",
    `| C | ${e.cNs.toFixed(0)} | ${e.cAll.map((x) => x.toFixed(0)).join(", ")} |`,
    `| TypeScript | ${e.tsNs.toFixed(0)} | ${e.tsAll.map((x) => x.toFixed(0)).join(", ")} |`,
    `| ratio TS / C | ${e.ratio.toFixed(3)} | target ≤ 1.10: ${e.ratio <= 1.1 ? "**met**" : "**not met**"} |`,
    "",
    `${e.iterations.toLocaleString("en")} exits per run, ${e.rounds} runs of each, alternating${e.date ? `; measured ${e.date.slice(0, 16).replace("T", " ")} UTC` : ""}${e.mode && e.mode !== "full" ? ` in ${e.mode} mode` : ""}.`,
    "",
  );
  return out.join("\n");
}

/** The whole markdown document. */
export function renderMarkdown(results, { chart = "benchmarks-chart.svg", command = "pnpm bench" } = {}) {
  const parts = [];
  parts.push("# Kindling benchmarks");
  parts.push(
    `Generated by \`${command}\` (\`node bench/run.mjs\`; \`--quick\` for a smoke test, \`--only NAME\` for one of ${["sandbox", "exit-roundtrip", "virtio", "seccompiler"].map((n) => `\`${n}\``).join(", ")}). Do not edit by hand: the script rewrites this file and \`docs/${chart}\`. Benchmarks run against the built packages (\`dist/\`); the script builds them first when a \`dist/\` is older than its \`src/\`.`,
  );
  const m = results.sandbox?.machine ?? results.machine;
  if (m) parts.push(`## Machine\n\n${machineSection(m, results.sandbox?.mode ?? results.mode ?? "full")}`);
  if (results.build?.error)
    parts.push(`> The build before this run failed; older \`dist/\` were measured: ${results.build.error}`);
  if (results.sandbox) {
    parts.push(`![Cost of one system call per platform, and speed relative to native](${chart})`);
    parts.push(targetsSection(results));
    parts.push(sandboxSection(results.sandbox));
    parts.push(floorsSection(results.sandbox));
    parts.push(runscSection(results.sandbox));
  }
  parts.push(exitSection(results));
  parts.push(
    mergedSection(
      "virtio-queue and vm-memory",
      results.virtio,
      "bench/virtio-queue.bench.mjs",
      "docs/benchmarks-virtio.md",
    ),
  );
  parts.push(
    mergedSection(
      "seccompiler",
      results.seccompiler,
      "bench/seccompiler-instructions.mjs",
      "docs/benchmarks-seccompiler.md",
    ),
  );
  parts.push(embed(results));
  return `${parts
    .map((p) => p.trim())
    .filter((p) => p !== "")
    .join("\n\n")}\n`;
}
