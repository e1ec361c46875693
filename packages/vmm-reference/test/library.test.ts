import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { kvmAvailable, Sandbox, SandboxError } from "@kindling/vmm-reference";
import { describe, expect, it } from "vitest";
import { ccMissing, compile } from "./programs.js";

const dist = fileURLToPath(new URL("../dist/index.js", import.meta.url));
const distMissing = existsSync(dist) ? null : "the package is not built (dist/ missing)";
const skip = ccMissing ?? (kvmAvailable() ? null : "/dev/kvm is not usable");
if (skip) console.warn(`skipping library tests: ${skip}`);

describe.skipIf(skip)("Sandbox library API", () => {
  const hello = skip
    ? ""
    : compile(
        "lib-hello",
        '#include <stdio.h>\nint main(int c, char **v){ printf("hi %s\\n", c > 1 ? v[1] : "?"); return 5; }',
      );

  it("captures stdout and the status in this thread (runSync)", () => {
    const r = Sandbox.createSync({ stdio: "pipe" }).runSync([hello, "there"]);
    expect(r.status).toBe(5);
    expect(r.stdout?.toString()).toBe("hi there\n");
    expect(r.platform).toBe("kvm");
  });

  it.skipIf(distMissing)("runs in a worker from the built package, leaving the event loop free", async () => {
    const { Sandbox: Built } = (await import(dist)) as typeof import("@kindling/vmm-reference");
    const sb = await Built.create({ stdio: "pipe", stats: true });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const lines: string[] = [];
    const traced = await Built.create({ stdio: "pipe", strace: (l) => lines.push(l) });
    const [r, t] = await Promise.all([sb.run([hello, "worker"]), traced.run([hello, "traced"])]);
    clearInterval(timer);
    expect(r.status).toBe(5);
    expect(r.stdout?.toString()).toBe("hi worker\n");
    expect(typeof r.stats).toBe("string");
    expect(t.stdout?.toString()).toBe("hi traced\n");
    expect(lines.some((l) => l.startsWith("exit_group(5)"))).toBe(true);
    expect(ticks).toBeGreaterThan(0);
  });
});

describe("Sandbox.create(): every bad option is a SandboxError with a code", () => {
  const platform = kvmAvailable() ? "kvm" : "seccomp";
  const cases: Array<[string, unknown, string, RegExp]> = [
    ["options not an object", 42, "EINVAL", /must be an object/],
    ["an unknown option (a misspelt limit)", { timout: 5 }, "EINVAL", /unknown sandbox option "timout"/],
    ["platform", { platform: "xen" }, "EINVAL", /platform must be "kvm" or "seccomp"/],
    ["root missing", { root: "/nonexistent-kindling" }, "ENOENT", /no such directory/],
    ["root a file", { root: "/etc/passwd" }, "ENOTDIR", /not a directory/],
    ["root not a string", { root: 7 }, "EINVAL", /root must be a non-empty path string/],
    ["rootWritable", { rootWritable: "yes" }, "EINVAL", /rootWritable must be true or false/],
    ["mounts not an array", { mounts: {} }, "EINVAL", /mounts must be an array/],
    ["a mount not an object", { mounts: [null] }, "EINVAL", /mounts\[0\] must be/],
    ["a mount with an unknown field", { mounts: [{ host: "/tmp", path: "/x", rw: true }] }, "EINVAL", /unknown field/],
    ["a relative mount point", { mounts: [{ host: "/tmp", path: "x" }] }, "EINVAL", /absolute path/],
    ["a missing mount source", { mounts: [{ host: "/nonexistent-kindling", path: "/x" }] }, "ENOENT", /no such/],
    ["mount writable", { mounts: [{ host: "/tmp", path: "/x", writable: 1 }] }, "EINVAL", /writable must be/],
    ["tmpfs relative", { tmpfs: ["t"] }, "EINVAL", /absolute path/],
    ["two mounts at one point", { tmpfs: ["/t", "/t/"] }, "EINVAL", /two mounts at \/t/],
    ["env not KEY=VALUE", { env: ["NOEQ"] }, "EINVAL", /is not KEY=VALUE/],
    ["env not strings", { env: [1] }, "EINVAL", /is not KEY=VALUE/],
    ["cwd relative", { cwd: "rel" }, "EINVAL", /absolute path/],
    ["cwd missing", { cwd: "/nonexistent" }, "ENOENT", /cwd \/nonexistent does not exist/],
    ["memory NaN", { memory: Number.NaN }, "EINVAL", /whole number of bytes/],
    ["memory too small", { memory: 1024 }, "EINVAL", /at least 16M/],
    ["memory huge", { memory: 2 ** 52 }, "EINVAL", /at most/],
    ["timeout negative", { timeout: -1 }, "EINVAL", /positive number of seconds/],
    ["timeout Infinity", { timeout: Number.POSITIVE_INFINITY }, "EINVAL", /positive number of seconds/],
    ["cpuLimit a string", { cpuLimit: "5" }, "EINVAL", /positive number of seconds/],
    ["pids zero", { pids: 0 }, "EINVAL", /pids must be a whole number/],
    ["pids fractional", { pids: 1.5 }, "EINVAL", /pids must be a whole number/],
    ["strace not a function", { strace: true }, "EINVAL", /strace must be a function/],
    ["stats not a boolean", { stats: 1 }, "EINVAL", /stats must be true or false/],
    ["stdio junk", { stdio: "tty" }, "EINVAL", /stdio must be/],
    ["stdio closed fd", { stdio: [99999, 1, 2] }, "EBADF", /not open/],
    ["onUnsupported", { onUnsupported: "log" }, "EINVAL", /onUnsupported must be a function/],
  ];
  for (const [what, options, code, message] of cases) {
    it(what, async () => {
      const o = typeof options === "object" && options !== null ? { platform, ...options } : options;
      const e = await Sandbox.create(o as never).then(
        () => null,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(SandboxError);
      expect((e as SandboxError).code).toBe(code);
      expect((e as SandboxError).message).toMatch(message);
      expect((e as SandboxError).status).toBe(125);
      expect(() => Sandbox.createSync(o as never)).toThrow(SandboxError);
    });
  }
  it("a good configuration is accepted, in any mount order", async () => {
    const sb = await Sandbox.create({
      platform,
      tmpfs: ["/t/a"],
      mounts: [{ host: "/tmp", path: "/t/a/b/c" }],
      cwd: "/t/a/b",
    });
    expect(sb.platform).toBe(platform);
  });
});
