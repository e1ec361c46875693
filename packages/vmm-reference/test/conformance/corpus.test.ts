// The conformance corpus: each C program of `corpus/` is built with cc and
// musl-gcc (-static), run natively with its cwd in a fresh prepared tree, then
// in the sandbox on each platform with a fresh copy of the tree mounted
// writable at the same path; stdout, stderr and the exit status must match.
import { describe, expect, it } from "vitest";
import {
  build,
  compilers,
  corpusPrograms,
  makeTree,
  platforms,
  type RunOptions,
  type RunResult,
  runNative,
  runSandbox,
} from "./harness.js";

/** Per-program arguments, input and the status a native run ends with (default 0). */
const special: Record<string, { args?: string[]; input?: string; env?: string[]; status?: number }> = {
  env_auxv: { args: ["first arg", "", "ünïcode", "-x"], env: ["A=1", "EMPTY=", `LONG=${"y".repeat(3000)}`] },
  stdio_buffering: { input: "line one\nline two\nno newline" },
  exit_signal: { status: 128 + 11 },
  exit_abort: { status: 128 + 6 },
  exit_status: { status: 42 },
  exit_sigpipe: { status: 128 + 13 },
};

/**
 * Known gaps, by program and platform. The case still runs: every line must
 * match native except the checks the gap explains (`differs`), which must fail
 * in the sandbox, so the test notices both a regression and the gap closing.
 */
const gaps: Record<string, Partial<Record<"kvm" | "seccomp", { reason: string; differs: RegExp }>>> = {
  memory_protect: {
    kvm: {
      reason:
        "page protections and unmapped pages are not enforced on kvm (the program's region is one identity mapping, every page present and writable; ARCHITECTURE.md, sandbox data flow 2)",
      differs: /^(ok {3}|FAIL )faults\(/,
    },
  },
};

/** Compares a sandbox run with native where `gap` explains some failing checks. */
function expectOnlyGap(got: RunResult, want: RunResult, gap: { reason: string; differs: RegExp }, name: string): void {
  const g = got.stdout.trimEnd().split("\n");
  const w = want.stdout.trimEnd().split("\n");
  expect(g.length, `${name}: same number of lines`).toBe(w.length);
  let gapFailures = 0;
  for (let i = 0; i < w.length - 1; i++) {
    if (g[i] === w[i]) continue;
    // Only a check the gap explains may differ, and then it passed natively and failed here.
    expect(w[i], `${name} line ${i + 1} differs (${gap.reason})`).toMatch(gap.differs);
    expect(w[i].startsWith("ok"), `${name} line ${i + 1} passed natively`).toBe(true);
    expect(g[i].startsWith("FAIL"), `${name} line ${i + 1}`).toBe(true);
    gapFailures++;
  }
  expect(gapFailures, `${name}: the gap shows (${gap.reason})`).toBeGreaterThan(0);
  expect(g.at(-1)).toBe(w.at(-1)!.replace(": 0 failed", `: ${gapFailures} failed`));
  expect(got.status).toBe(gapFailures);
  expect(got.stderr).toBe(want.stderr);
}

const programs = corpusPrograms();

describe("conformance corpus: native and sandbox give the same output", () => {
  it("has programs", () => {
    expect(programs.length).toBeGreaterThan(10);
  });
  for (const { cc, missing: ccMissing } of compilers) {
    for (const name of programs) {
      const cfg = special[name] ?? {};
      let native: RunResult | undefined;
      const nativeRun = (): RunResult => {
        if (!native) {
          const exe = build(name, cc);
          native = runNative([exe, ...(cfg.args ?? [])], opts(name));
          // The program's own checks pass natively: it is a valid reference.
          const failed = native.stdout.split("\n").filter((l) => l.startsWith("FAIL"));
          expect(failed, `${name} (${cc}) native`).toEqual([]);
          expect(native.status, `${name} native status; stderr: ${native.stderr}`).toBe(cfg.status ?? 0);
        }
        return native;
      };
      const opts = (n: string): RunOptions => ({
        cwd: makeTree(n),
        ...(cfg.env ? { env: cfg.env } : {}),
        ...(cfg.input !== undefined ? { input: cfg.input } : {}),
      });
      for (const { platform, missing } of platforms) {
        const gap = gaps[name]?.[platform];
        const title = gap ? `${name} (${cc}, ${platform}): known gap: ${gap.reason}` : `${name} (${cc}, ${platform})`;
        it.skipIf(ccMissing ?? missing)(title, () => {
          const want = nativeRun();
          const exe = build(name, cc);
          const got = runSandbox([exe, ...(cfg.args ?? [])], { ...opts(name), platform });
          if (gap) expectOnlyGap(got, want, gap, `${name} (${cc}, ${platform})`);
          else expect(got).toEqual(want);
        });
      }
    }
  }
});
