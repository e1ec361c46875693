// Helpers shared by the benchmarks: statistics, machine facts, compiling the C
// workloads (cached by content), and making sure the packages are built.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from "node:fs";
import { cpus, loadavg, release } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const benchDir = join(dirname(fileURLToPath(import.meta.url)), "..");
export const repoRoot = join(benchDir, "..");
export const workloadsDir = join(benchDir, "workloads");

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function summary(xs) {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

/** CPU model, cores, kernel, Node version, load average and date. */
export function machineFacts() {
  const c = cpus();
  let kvmModule = "";
  try {
    const mods = readFileSync("/proc/modules", "utf8");
    kvmModule = (mods.match(/^kvm_\w+/gm) ?? []).join(", ");
  } catch {}
  let flags = "";
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    const f = /^flags\s*:\s*(.*)$/m.exec(info)?.[1].split(" ") ?? [];
    flags = ["vmx", "svm", "hypervisor"].filter((x) => f.includes(x)).join(" ");
  } catch {}
  return {
    date: new Date().toISOString(),
    cpu: c[0]?.model?.trim() ?? "unknown",
    cores: c.length,
    kernel: release(),
    node: process.version,
    loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
    kvmModule,
    cpuFlags: flags,
  };
}

/** Content-addressed cache for compiled workloads (gitignored with node_modules). */
const cacheDir = join(repoRoot, "node_modules", ".cache", "kindling-bench");

/**
 * Compiles `bench/workloads/<name>.c` with `cc -static -O2` (once per content
 * of the source and common.h) and returns the executable's path.
 */
export function buildWorkload(name, { cc = "cc", flags = ["-static", "-O2"] } = {}) {
  const src = join(workloadsDir, `${name}.c`);
  const h = createHash("sha256");
  h.update(readFileSync(src));
  h.update(readFileSync(join(workloadsDir, "common.h")));
  h.update(JSON.stringify([cc, flags]));
  const exe = join(cacheDir, `${name}-${h.digest("hex").slice(0, 16)}`);
  if (existsSync(exe)) return exe;
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${exe}.${process.pid}.tmp`;
  execFileSync(cc, [...flags, "-o", tmp, src], { stdio: ["ignore", "ignore", "pipe"] });
  renameSync(tmp, exe);
  return exe;
}

/** Parses `key=value` lines; numeric values become numbers. */
export function parseKv(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i <= 0) continue;
    const k = line.slice(0, i).trim();
    const v = line.slice(i + 1).trim();
    out[k] = v !== "" && Number.isFinite(Number(v)) ? Number(v) : v;
  }
  return out;
}

function newest(dir, skip = () => false) {
  let t = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop();
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (skip(p)) continue;
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) t = Math.max(t, statSync(p).mtimeMs);
    }
  }
  return t;
}

function oldest(dir) {
  let t = Number.POSITIVE_INFINITY;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) if (e.isFile()) t = Math.min(t, statSync(join(dir, e.name)).mtimeMs);
  return t === Number.POSITIVE_INFINITY ? 0 : t;
}

/** Packages whose dist/ is missing or older than their src/ (or tsup.config.ts). */
export function staleBuilds() {
  const stale = [];
  const pkgs = join(repoRoot, "packages");
  for (const name of readdirSync(pkgs)) {
    const dir = join(pkgs, name);
    let pkg;
    try {
      pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    } catch {
      continue;
    }
    if (!pkg.scripts?.build) continue;
    const tsup = join(dir, "tsup.config.ts");
    const src = Math.max(newest(join(dir, "src")), existsSync(tsup) ? statSync(tsup).mtimeMs : 0);
    const dist = oldest(join(dir, "dist"));
    if (dist === 0 || dist < src) stale.push(name);
  }
  return stale;
}

/**
 * Builds the packages (`pnpm exec lerna run build` at the root) when any
 * dist/ is older than its src/. Returns { built, stale, error? }; a failed
 * build leaves the previous dist/ in place and is reported, not thrown, when
 * every dist/ exists.
 */
export function ensureBuilt(log = (s) => process.stderr.write(s)) {
  const stale = staleBuilds();
  if (stale.length === 0) return { built: false, stale };
  log(`bench: building the packages (dist/ older than src/ in: ${stale.join(", ")})\n`);
  const r = spawnSync("pnpm", ["exec", "lerna", "run", "build", "--loglevel=error"], {
    cwd: repoRoot,
    stdio: ["ignore", "ignore", "pipe"],
    encoding: "utf8",
  });
  if (r.status === 0) return { built: true, stale };
  const error = `build failed (status ${r.status}): ${(r.stderr ?? String(r.error)).trim().split("\n").slice(-8).join("\n")}`;
  const missing = stale.filter((n) => !existsSync(join(repoRoot, "packages", n, "dist", "index.js")));
  if (missing.length > 0) throw new Error(`${error}\nno dist/ for: ${missing.join(", ")}`);
  log(`bench: ${error}\nbench: continuing with the existing dist/ of ${stale.join(", ")}\n`);
  return { built: false, stale, error };
}

/** `ns` as a short human string. */
export function fmtNs(ns) {
  if (!Number.isFinite(ns)) return "–";
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(ns >= 1e8 ? 0 : 1)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(ns >= 1e5 ? 0 : ns >= 1e4 ? 1 : 2)} µs`;
  return `${ns.toFixed(ns >= 100 ? 0 : 1)} ns`;
}
