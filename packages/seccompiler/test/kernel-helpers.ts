import { execFileSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnWithFilter } from "@kindling/seccompiler";
import { spawn, waitpid } from "@kindling/sys-util";
import { pkgRoot } from "./helpers.js";

function which(tool: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export const hasCc = which("cc");
export const canSeccomp = process.platform === "linux" && process.arch === "x64" && existsSync("/proc/self/status");
if (!hasCc) console.warn("skipping kernel seccomp tests: no C compiler (cc) to build the probe program");

let probePath: string | undefined;

/** Builds test/fixtures/probe.c once (static with musl-gcc when present: fewer startup syscalls). */
export function probe(): string {
  if (probePath !== undefined) return probePath;
  const dir = mkdtempSync(join(tmpdir(), "seccompiler-probe-"));
  const out = join(dir, "probe");
  const src = join(pkgRoot, "test", "fixtures", "probe.c");
  if (which("musl-gcc")) execFileSync("musl-gcc", ["-static", "-O1", "-o", out, src]);
  else execFileSync("cc", ["-O1", "-o", out, src]);
  probePath = out;
  return out;
}

export interface ProbeCall {
  nr: number;
  args: readonly bigint[];
}
export interface ProbeResult {
  ret: number;
  errno: number;
}
export interface ProbeRun {
  results: ProbeResult[];
  exitCode: number | null;
  signal: number | null;
}

/**
 * Runs the probe with `program` installed before exec (or, with `selfInstall`, by the probe
 * itself after its startup); returns each call's result.
 */
export function runProbe(program: Uint8Array, calls: readonly ProbeCall[], selfInstall = false): ProbeRun {
  const dir = mkdtempSync(join(tmpdir(), "seccompiler-out-"));
  const outPath = join(dir, "out");
  const fd = openSync(outPath, "w");
  let pid: number;
  try {
    const specs = calls.map((c) =>
      [c.nr, ...Array.from({ length: 6 }, (_, i) => c.args[i] ?? 0n)].map(String).join(","),
    );
    if (selfInstall) {
      const progPath = join(dir, "prog.bpf");
      writeFileSync(progPath, program);
      pid = spawn({ file: probe(), argv: ["probe", "-f", progPath, ...specs], env: [], fds: [0, fd, 2] }).pid;
    } else {
      pid = spawnWithFilter({ file: probe(), argv: ["probe", ...specs], env: [], fds: [0, fd, 2], program }).pid;
    }
  } finally {
    closeSync(fd);
  }
  const w = waitpid(pid);
  const text = readFileSync(outPath, "utf8");
  const results = text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const [r, e] = l.split(" ").map(Number);
      return { ret: r!, errno: e! };
    });
  return { results, exitCode: w.exitCode, signal: w.signal };
}
