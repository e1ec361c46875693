import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { traceProgram } from "../src/seccomp/example.js";

const busybox = ["/usr/bin/busybox", "/bin/busybox"].find((p) => existsSync(p));
if (!busybox) console.warn("README example test skipped: busybox-static is not installed");

describe("seccomp README example", () => {
  it("is src/seccomp/example.ts verbatim", () => {
    const readme = readFileSync(new URL("../src/seccomp/README.md", import.meta.url), "utf8");
    const example = readFileSync(new URL("../src/seccomp/example.ts", import.meta.url), "utf8");
    expect(readme).toContain(example.trim());
  });

  it.skipIf(!busybox)("traces busybox echo", () => {
    const r = traceProgram(busybox!, ["busybox", "echo", "hi"]);
    expect(r.exitCode).toBe(0);
    expect(r.lines).toContain('write(1, "hi\\n", 3) = ?');
    expect(r.stats).toMatch(/ write\n/);
  });
});
