import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@kindling/kvm-ioctls";
import { describe, expect, it } from "vitest";
import { runInKvm } from "../examples/kvm.js";
import { ccMissing } from "./build.js";

const skip = ccMissing ?? (Kvm.isAvailable() ? null : "/dev/kvm is not usable");
if (skip) console.warn(`skipping the README example run: ${skip}`);

// A program without libc: the example's server only knows write and exit (a libc
// would first want brk, arch_prctl and more: that is the libos's job).
const source = `static long sys3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}
void _start(void) {
  sys3(1, 1, (long)"hi from ring 3\\n", 15);
  sys3(60, 7, 0, 0);
}
`;

describe("README example", () => {
  it("is examples/kvm.ts verbatim", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const example = readFileSync(new URL("../examples/kvm.ts", import.meta.url), "utf8");
    expect(readme).toContain(example.trim());
  });
  it.skipIf(skip)("runs a static program and serves its output", () => {
    const dir = mkdtempSync(join(tmpdir(), "kindling-tap-readme-"));
    writeFileSync(join(dir, "hi.c"), source);
    execFileSync("cc", [
      "-static",
      "-nostdlib",
      "-O1",
      "-fno-stack-protector",
      "-o",
      join(dir, "hi"),
      join(dir, "hi.c"),
    ]);
    const r = runInKvm(join(dir, "hi"), ["hi"]);
    expect(r.output).toBe("hi from ring 3\n");
    expect(r.status).toBe(7);
    expect(r.syscalls).toBe(2);
  });
});
