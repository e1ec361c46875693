// Benchmark of @kindling/seccompiler (issue 5): BPF instructions executed per syscall,
// linear chain vs binary-search dispatch, on Firecracker's own filter.
//
//   pnpm --filter @kindling/seccompiler exec tsup
//   node bench/seccompiler-instructions.mjs [--out docs/benchmarks-seccompiler.md]
//
// Runs against the built dist/. Three programs are compiled by this package from the same filter:
//  - linear: one `jeq nr` per listed syscall in ascending number order, each syscall's rules one
//            after the other (rust-vmm's shape);
//  - tree:   the same rules behind a binary search (`jge`) on the syscall number, down to leaves
//            of at most 3 `jeq`s;
//  - tree+values (the default): also 4 or more one-condition `dword eq` rules on one argument
//            (ioctl request lists) searched as a sorted set.
// For each filter of ../shared/contracts/firecracker-seccomp-x86_64.json it counts, with the
// package's BPF interpreter, the instructions executed (final RET included) for
//  - every listed rule, with arguments that satisfy it (an allowed call), and
//  - every x86_64 syscall the filter does not list (a trapped call).
// It also times a real syscall under each program in a child process (C, getppid, the
// filter installed by seccomp(2) before exec) when a C compiler is present.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const sc = await import(join(root, "packages/seccompiler/dist/index.js"));
const { BpfProgram, compileFilter, parseFilters, parseJson, toPlain, syscallNumber, syscallTable, AUDIT_ARCH_X86_64 } =
  sc;

const outArg = process.argv.indexOf("--out");
const outPath = outArg > 0 ? process.argv[outArg + 1] : join(root, "docs/benchmarks-seccompiler.md");
const jsonPath = join(root, "..", "shared", "contracts", "firecracker-seccomp-x86_64.json");
if (!existsSync(jsonPath)) {
  console.error(`Firecracker's filter is absent (${jsonPath}): nothing to measure`);
  process.exit(1);
}
const text = readFileSync(jsonPath, "utf8");
const plain = toPlain(parseJson(text));
const filters = parseFilters(text, "x86_64");

function satisfying(conds) {
  const args = [0n, 0n, 0n, 0n, 0n, 0n];
  for (const c of conds ?? []) {
    const op = typeof c.op === "string" ? c.op : "masked_eq";
    args[Number(c.index)] = op === "gt" || op === "ne" ? c.val + 1n : op === "lt" ? c.val - 1n : c.val;
  }
  return args;
}

const stats = (xs) => ({
  mean: xs.reduce((a, b) => a + b, 0) / xs.length,
  max: Math.max(...xs),
  min: Math.min(...xs),
  n: xs.length,
});

const rows = [];
const programs = {};
for (const [name, filter] of filters) {
  const best = compileFilter(filter, { strategy: "tree" });
  const tree = compileFilter(filter, { strategy: "tree", valueSearch: false });
  const linear = compileFilter(filter, { strategy: "linear" });
  programs[name] = { tree: best, linear, filter };
  const b = new BpfProgram(best);
  const t = new BpfProgram(tree);
  const l = new BpfProgram(linear);
  const allowed = { best: [], tree: [], linear: [] };
  for (const r of plain[name].filter) {
    const nr = syscallNumber(r.syscall, "x86_64");
    const d = { nr, arch: AUDIT_ARCH_X86_64, args: satisfying(r.args) };
    const rb = b.run(d);
    const rt = t.run(d);
    const rl = l.run(d);
    if (rt.ret !== rl.ret || rb.ret !== rl.ret || rt.action !== "allow")
      throw new Error(`${name} ${r.syscall}: disagreement`);
    allowed.best.push(rb.executed);
    allowed.tree.push(rt.executed);
    allowed.linear.push(rl.executed);
  }
  const denied = { best: [], tree: [], linear: [] };
  for (const [, nr] of syscallTable("x86_64")) {
    if (filter.syscalls.has(nr)) continue;
    const d = { nr, arch: AUDIT_ARCH_X86_64, args: [] };
    denied.best.push(b.run(d).executed);
    denied.tree.push(t.run(d).executed);
    denied.linear.push(l.run(d).executed);
  }
  rows.push({
    name,
    syscalls: filter.syscalls.size,
    rules: plain[name].filter.length,
    size: { best: best.byteLength / 8, tree: tree.byteLength / 8, linear: linear.byteLength / 8 },
    allowed: { best: stats(allowed.best), tree: stats(allowed.tree), linear: stats(allowed.linear) },
    denied: { best: stats(denied.best), tree: stats(denied.tree), linear: stats(denied.linear) },
  });
}

// --- a real syscall under each program (child process, C) -------------------------------
function hasCc() {
  try {
    execFileSync("sh", ["-c", "command -v cc"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
let kernel;
if (hasCc()) {
  const dir = mkdtempSync(join(tmpdir(), "seccompiler-bench-"));
  const src = join(dir, "loop.c");
  writeFileSync(
    src,
    `#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
int main(int argc, char **argv) {
  long nr = atol(argv[1]);
  int iters = atoi(argv[2]);
  if (argc > 3) {
    FILE *f = fopen(argv[3], "rb");
    static struct sock_filter insns[4096];
    size_t n = fread(insns, 8, 4096, f);
    fclose(f);
    struct sock_fprog prog = { (unsigned short)n, insns };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) { perror("seccomp"); return 1; }
  }
  double best = 1e18;
  for (int rep = 0; rep < 5; rep++) {
    double t0 = now();
    for (int i = 0; i < iters; i++) syscall(nr, 0, 0, 0, 0, 0, 0);
    double dt = (now() - t0) / iters;
    if (dt < best) best = dt;
  }
  /* printf would fstat stdout: a syscall the filter may not list. */
  char out[64];
  int len = snprintf(out, sizeof out, "%.1f\\n", best);
  if (write(1, out, len) != len) return 2;
  syscall(SYS_exit_group, 0);
  return 0;
}
`,
  );
  const bin = join(dir, "loop");
  execFileSync("cc", ["-O2", "-o", bin, src]);
  // The vcpu filter's unconditional syscall with the most instructions under the linear chain.
  const { filter, tree, linear } = programs.vcpu;
  const l = new BpfProgram(linear);
  let worst = { nr: 0, executed: 0 };
  for (const [nr, rules] of filter.syscalls) {
    if (rules !== null) continue; // unconditional: any arguments are allowed, so the loop's zeros are fine
    const e = l.run({ nr, arch: AUDIT_ARCH_X86_64, args: [] }).executed;
    if (e > worst.executed) worst = { nr, executed: e };
  }
  writeFileSync(join(dir, "tree.bpf"), tree);
  writeFileSync(join(dir, "linear.bpf"), linear);
  const iters = "500000";
  const time = (...extra) =>
    Number(execFileSync(bin, [String(worst.nr), iters, ...extra], { encoding: "utf8" }).trim());
  const name = filter.syscallName(worst.nr);
  // Interleaved rounds, best of each: the machine is shared, so load comes and goes.
  const best = { none: Infinity, linear: Infinity, tree: Infinity };
  for (let round = 0; round < 7; round++) {
    best.none = Math.min(best.none, time());
    best.linear = Math.min(best.linear, time(join(dir, "linear.bpf")));
    best.tree = Math.min(best.tree, time(join(dir, "tree.bpf")));
  }
  kernel = {
    load: loadavg()[0],
    jit: existsSync("/proc/sys/net/core/bpf_jit_enable")
      ? readFileSync("/proc/sys/net/core/bpf_jit_enable", "utf8").trim()
      : "unknown",
    syscall: name,
    ...best,
    executed: {
      linear: worst.executed,
      tree: new BpfProgram(tree).run({ nr: worst.nr, arch: AUDIT_ARCH_X86_64, args: [] }).executed,
    },
  };
}

// --- report -------------------------------------------------------------------------------
const f1 = (x) => x.toFixed(1);
const bar = (v, max, width = 40) => "█".repeat(Math.max(1, Math.round((v / max) * width)));
const lines = [];
lines.push("# seccompiler benchmarks");
lines.push("");
lines.push(
  `Measured by \`node bench/seccompiler-instructions.mjs\` (after building the package with tsup) in one run, ${new Date().toISOString().slice(0, 16)}Z, Node ${process.version}.`,
);
lines.push("");
lines.push("## BPF instructions executed per syscall, linear chain vs binary search, on Firecracker's filter");
lines.push("");
lines.push(
  "Three programs compiled by `@kindling/seccompiler` from `../shared/contracts/firecracker-seccomp-x86_64.json`. **linear**: one `jeq` per listed syscall in ascending order, each syscall's rules one after the other (rust-vmm's shape). **tree**: the same rule code behind a binary search (`jge`) on the syscall number, down to leaves of at most 3 `jeq`s. **tree+values** (the default): also 4 or more one-condition `dword eq` rules on one argument (ioctl request lists) searched as a sorted set. Counted with the package's BPF interpreter, the architecture check and the final `ret` included. *Allowed*: every rule of the file with arguments that satisfy it. *Trapped*: every x86_64 syscall the filter does not list.",
);
lines.push("");
lines.push(
  "| filter | syscalls (rules) | size linear / tree / tree+values | allowed mean: linear → tree → tree+values | allowed worst | trapped mean | trapped worst |",
);
lines.push("|---|---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  const a = r.allowed;
  const d = r.denied;
  lines.push(
    `| ${r.name} | ${r.syscalls} (${r.rules}) | ${r.size.linear} / ${r.size.tree} / ${r.size.best} | ${f1(a.linear.mean)} → ${f1(a.tree.mean)} → **${f1(a.best.mean)}** (${f1(a.linear.mean / a.best.mean)}×) | ${a.linear.max} → ${a.tree.max} → **${a.best.max}** | ${f1(d.linear.mean)} → **${f1(d.best.mean)}** (${f1(d.linear.mean / d.best.mean)}×) | ${d.linear.max} → **${d.best.max}** |`,
  );
}
lines.push("");
lines.push("Mean instructions per allowed syscall:");
lines.push("");
lines.push("```");
const maxMean = Math.max(...rows.map((r) => r.allowed.linear.mean));
for (const r of rows) {
  lines.push(`${`${r.name} linear`.padEnd(17)} ${bar(r.allowed.linear.mean, maxMean)} ${f1(r.allowed.linear.mean)}`);
  lines.push(`${`${r.name} tree`.padEnd(17)} ${bar(r.allowed.tree.mean, maxMean)} ${f1(r.allowed.tree.mean)}`);
  lines.push(`${`${r.name} tree+values`.padEnd(17)} ${bar(r.allowed.best.mean, maxMean)} ${f1(r.allowed.best.mean)}`);
}
lines.push("```");
lines.push("");
lines.push(
  "With the tree a syscall's cost no longer depends on where it sits in the file: it is the depth of the search (about log2 of the number of listed syscalls) plus its own rules; trapped calls cost only the search. The value search does the same for long lists of ioctl requests, which dominate the worst allowed case of the vmm and vcpu threads under the other two layouts.",
);
if (kernel) {
  lines.push("");
  lines.push("## A real syscall under each program");
  lines.push("");
  lines.push(
    `A C loop calls \`${kernel.syscall}\` (the vcpu filter's unconditional syscall that is last in the linear chain) 500,000 times per run, 5 runs per process, 7 interleaved rounds, best of all, in a child process with the program installed by seccomp(2); the kernel runs the filter on every call (bpf_jit_enable = ${kernel.jit}). On these shared 2-core VMs (load average ${kernel.load.toFixed(1)} at the end of this run) the timings are dominated by noise — a filter instruction costs on the order of a nanosecond, far below the run-to-run variation of a ~200–500 ns syscall here — so the instruction counts above are the stable measure.`,
  );
  lines.push("");
  lines.push("| program | BPF instructions for this call | ns per call | vs no filter |");
  lines.push("|---|---:|---:|---:|");
  lines.push(`| no filter | 0 | ${f1(kernel.none)} | 1.00× |`);
  lines.push(
    `| linear | ${kernel.executed.linear} | ${f1(kernel.linear)} | ${(kernel.linear / kernel.none).toFixed(2)}× |`,
  );
  lines.push(
    `| tree+values | ${kernel.executed.tree} | ${f1(kernel.tree)} | ${(kernel.tree / kernel.none).toFixed(2)}× |`,
  );
}
lines.push("");
writeFileSync(outPath, lines.join("\n"));
console.log(lines.join("\n"));
