/**
 * SECCOMP_FILTER_FLAG_TSYNC: a filter applied with applyFilterAllThreads
 * reaches a worker thread that already exists; applyFilter does not. The
 * filter is installed in a separate Node process (bundled with esbuild), never
 * in this test worker.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
import { pkgRoot, repoRoot } from "./helpers.js";

const ERRNO = 77;
let bundle = "";

beforeAll(async () => {
  // sys-util finds its addon at <bundle dir>/../build/Release: point that at the real one.
  const dir = mkdtempSync(join(tmpdir(), "seccompiler-tsync-"));
  symlinkSync(join(repoRoot, "packages", "sys-util", "build"), join(dir, "build"));
  mkdirSync(join(dir, "bin"));
  bundle = join(dir, "bin", "tsync-child.mjs");
  await build({
    entryPoints: [join(pkgRoot, "test", "fixtures", "tsync-child.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: ["kindling-source"],
    outfile: bundle,
    logLevel: "silent",
  });
});

function run(mode: "tsync" | "thread" | "badflags") {
  const r = spawnSync(process.execPath, [bundle, mode], { encoding: "utf8", timeout: 30_000 });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as { before: number; main: number; other: number; after: number; late: number };
}

describe.skipIf(process.platform !== "linux" || process.arch !== "x64")("TSYNC", () => {
  it("applyFilterAllThreads reaches a worker thread that already exists", () => {
    const r = run("tsync");
    expect(r.before).toBe(process.pid); // not yet filtered: getppid is this test process
    expect(r.main).toBe(-ERRNO);
    expect(r.other).toBe(process.pid);
    expect(r.after).toBe(-ERRNO); // the existing worker is filtered too
    expect(r.late).toBe(-ERRNO);
  });

  it("applyFilter leaves the existing worker thread unfiltered", () => {
    const r = run("thread");
    expect(r.main).toBe(-ERRNO);
    expect(r.after).toBe(process.pid);
    expect(r.late).toBe(-ERRNO); // new threads inherit the creating thread's filter
  });

  it("a filter the kernel refuses is a typed SeccompInstallError with the errno", () => {
    const r = run("badflags") as unknown as { name: string; code: string; errno: number };
    expect(r).toEqual({ name: "SeccompInstallError", code: "INSTALL_FAILED", errno: 22 });
  });
});
