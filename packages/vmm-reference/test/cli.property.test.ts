// Property tests of the configuration: random `kindling run` command lines
// (option names real and made up, values of every shape: paths that exist or
// not, relative, files, symlinks, sizes, numbers) always end as an exit
// status with a one-line message or as a run, never as an exception or a
// stack trace; random SandboxOptions objects (wrong types, NaN, huge numbers,
// nested junk, unknown keys) make Sandbox.create() resolve or throw a
// SandboxError with a code, never another exception.
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { kvmAvailable, Sandbox, SandboxError } from "@kindling/vmm-reference";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ccMissing, compile, kindling, scratchDir } from "./programs.js";

const STACK = /\n\s+at |^\s*at .*:\d+:\d+\)?$|node:internal/m;

/** A scratch tree: a directory, a file, a symlink to a directory, and a place for trace files. */
function tree(): { dir: string; file: string; link: string; traces: string } {
  const dir = scratchDir("property-tree");
  mkdirSync(join(dir, "sub"), { recursive: true });
  writeFileSync(join(dir, "file"), "x");
  try {
    symlinkSync(join(dir, "sub"), join(dir, "link"));
  } catch {
    // made by an earlier run of this file
  }
  const traces = join(dir, "traces");
  mkdirSync(traces, { recursive: true });
  return { dir, file: join(dir, "file"), link: join(dir, "link"), traces };
}

describe.skipIf(ccMissing)("kindling run: random command lines", () => {
  it("end as a status with a message or a run, never an exception or a stack trace", async () => {
    const prog = compile("property-true", "int main(int c, char **v){ return c > 5 ? 3 : 0; }");
    const t = tree();
    const hostPath = fc.constantFrom(
      t.dir,
      t.file,
      t.link,
      join(t.link, "x"),
      `${t.dir}/sub`,
      "/nonexistent-kindling",
      "/etc/passwd",
      "/",
      "rel",
      ".",
      "",
      "/tmp",
      "/proc/self",
      "/dev/null",
    );
    const guestPath = fc.oneof(
      fc.constantFrom("/x", "/", "rel", "", "/a/b/c", "/x/../y", "/dev/x", "/proc/x", "//x//", "/x\u0000"),
      fc.string({ maxLength: 12 }).map((s) => `/${s}`),
    );
    const size = fc.oneof(
      fc.constantFrom("16M", "256M", "3G", "4G", "5G", "1M", "0", "-1", "1e400", "NaN", "64m", "1.5G", "2GiB", "lots"),
      fc.nat().map(String),
    );
    const seconds = fc.oneof(
      fc.constantFrom("0", "-1", "NaN", "Infinity", "1e400", "0.001", "2", "abc", ""),
      fc.double({ noNaN: false }).map(String),
    );
    // Trace files only inside the scratch tree (a bare --strace writes to stderr).
    const traceFile = fc.oneof(
      fc.constantFrom(t.traces, t.file, t.link, join(t.link, "t"), join(t.dir, "missing", "t")),
      fc.stringMatching(/^[a-z]{1,8}$/).map((n) => join(t.traces, n)),
    );
    const option: fc.Arbitrary<string[]> = fc.oneof(
      hostPath.map((p) => ["--root", p]),
      fc
        .tuple(hostPath, guestPath, fc.constantFrom("", ":rw", ":ro", ":rx", ":"))
        .map(([h, g, m]) => ["--mount", `${h}:${g}${m}`]),
      fc.string({ maxLength: 20 }).map((s) => ["--mount", s]),
      guestPath.map((p) => ["--tmpfs", p]),
      fc
        .oneof(fc.constantFrom("A=1", "NOEQ", "=V", "HOME", "A=", "A B=1"), fc.string({ maxLength: 10 }))
        .map((e) => ["--env", e]),
      fc.constant(["--inherit-env"]),
      fc.constant(["--clear-env"]),
      guestPath.map((p) => ["--cwd", p]),
      size.map((s) => ["--memory", s]),
      seconds.map((s) => ["--timeout", s]),
      seconds.map((s) => ["--cpu-limit", s]),
      fc.oneof(fc.constantFrom("0", "1", "1024", "99999", "x", "-3"), fc.nat().map(String)).map((n) => ["--pids", n]),
      fc
        .constantFrom("kvm", "seccomp", "xen", "")
        .filter((p) => p !== "kvm" || kvmAvailable())
        .map((p) => ["--platform", p]),
      traceFile.map((f) => [`--strace=${f}`]),
      fc.constant(["--strace"]),
      fc.constant(["--stats"]),
      fc.constantFrom(["--bogus"], ["-x"], ["--"], ["--root"], ["--mount"], ["--memory"]),
    );
    const program = fc.oneof(
      { weight: 4, arbitrary: fc.constant(prog) },
      { weight: 1, arbitrary: fc.constantFrom("/nonexistent-kindling/p", t.file, t.dir, "", "rel/prog") },
    );
    const argv = fc
      .tuple(fc.array(option, { maxLength: 6 }), program, fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }))
      .map(([opts, p, args]) => ["run", ...opts.flat(), p, ...args]);
    let runs = 0;
    let messages = 0;
    await fc.assert(
      fc.asyncProperty(argv, async (args) => {
        const r = await kindling(args);
        expect(Number.isInteger(r.status) && r.status >= 0 && r.status <= 255, `status ${r.status}`).toBe(true);
        expect(STACK.test(r.err), `${JSON.stringify(args)}\n${r.err}`).toBe(false);
        expect(r.err).not.toContain("internal error");
        if (r.status === 125) {
          expect(r.err.trim(), JSON.stringify(args)).not.toBe("");
          messages++;
        }
        if (r.status === 0 || r.status === 3) runs++;
      }),
      { numRuns: 150, seed: Number(process.env.KINDLING_FC_SEED ?? 9) },
    );
    // Both outcomes were exercised.
    expect(runs).toBeGreaterThan(5);
    expect(messages).toBeGreaterThan(20);
  }, 600_000);
});

describe("Sandbox.create(): random option objects", () => {
  it("resolve or throw a SandboxError with a code, never another exception", async () => {
    const t = tree();
    const plausible = fc.record(
      {
        root: fc.constantFrom(t.dir, t.file, t.link, "/nonexistent-kindling", "", "rel", "/"),
        rootWritable: fc.boolean(),
        mounts: fc.array(
          fc.record(
            {
              host: fc.constantFrom(t.dir, t.file, t.link, "/nonexistent-kindling", "/tmp"),
              path: fc.constantFrom("/x", "/", "rel", "/a/b", "/x/../y"),
              writable: fc.boolean(),
            },
            { requiredKeys: [] },
          ),
          { maxLength: 3 },
        ),
        tmpfs: fc.array(fc.constantFrom("/t", "/", "rel", "/a/b"), { maxLength: 3 }),
        env: fc.array(fc.constantFrom("A=1", "NOEQ", "=V", "A=\u0000"), { maxLength: 3 }),
        cwd: fc.constantFrom("/", "/x", "/t", "rel", "/nonexistent"),
        memory: fc.constantFrom(16 << 20, 256 << 20, 4 * 1024 ** 3, 5 * 1024 ** 3, 100_000_000, 1),
        timeout: fc.constantFrom(1, 0, -1, 1e12),
        cpuLimit: fc.constantFrom(1, 0.5, 0),
        pids: fc.constantFrom(1, 0, 1024, 1e6, 1.5),
        platform: fc.constantFrom("seccomp", "xen", ...(kvmAvailable() ? ["kvm"] : [])),
        stats: fc.boolean(),
        stdio: fc.constantFrom("inherit", "pipe", "tty", ["null", "null", "null"], [0, 1, 2], [99999, 1, 2], ["null"]),
        strace: fc.constant(() => {}),
      },
      { requiredKeys: [] },
    );
    const junk = fc.dictionary(
      fc.constantFrom(
        "root",
        "rootWritable",
        "mounts",
        "tmpfs",
        "env",
        "cwd",
        "memory",
        "timeout",
        "cpuLimit",
        "pids",
        "platform",
        "strace",
        "stats",
        "stdio",
        "onUnsupported",
        "timout",
        "__proto__",
        "constructor",
      ),
      fc.oneof(
        fc.anything({ withNullPrototype: true, withBigInt: true, withMap: true, withSet: true, withTypedArray: true }),
        fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0, 2 ** 60, Number.MAX_VALUE, [undefined, null]),
        fc.array(fc.anything({ withNullPrototype: true }), { maxLength: 3 }),
      ),
      { maxKeys: 4 },
    );
    const options = fc.oneof(
      plausible,
      junk,
      fc.tuple(plausible, junk).map(([a, b]) => ({ ...a, ...b })),
      fc.anything({ withNullPrototype: true, withBigInt: true }),
    );
    let ok = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(options, async (o) => {
        try {
          await Sandbox.create(o as never);
          ok++;
        } catch (e) {
          if (!(e instanceof SandboxError)) throw e;
          expect(typeof e.code).toBe("string");
          expect(e.code).toMatch(/^E[A-Z0-9]+$/);
          expect(e.message).not.toBe("");
          expect(e.status).toBe(125);
          refused++;
        }
      }),
      { numRuns: 2000, seed: Number(process.env.KINDLING_FC_SEED ?? 9) },
    );
    expect(ok).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(100);
  }, 300_000);
});

describe("Sandbox.run(): random argv", () => {
  it("resolves or rejects with a SandboxError, never another exception", async () => {
    const sb = await Sandbox.create({ platform: kvmAvailable() ? "kvm" : "seccomp", stdio: "pipe" });
    const argv = fc.oneof(
      fc.anything({ withNullPrototype: true, withBigInt: true }),
      fc.array(
        fc.oneof(
          fc.string({ maxLength: 8 }),
          fc.constantFrom("", "\u0000", "/nonexistent-kindling", "/etc/passwd", "/"),
        ),
        {
          maxLength: 4,
        },
      ),
    );
    await fc.assert(
      fc.asyncProperty(argv, async (a) => {
        try {
          const r = await sb.run(a as never);
          expect(Number.isInteger(r.status)).toBe(true);
        } catch (e) {
          if (!(e instanceof SandboxError)) throw e;
          expect(e.code).toMatch(/^E[A-Z0-9]+$/);
        }
      }),
      { numRuns: 300, seed: Number(process.env.KINDLING_FC_SEED ?? 9) },
    );
  }, 120_000);
});
