import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AARCH64_SYSCALLS, parseArch, syscallName, syscallNumber, X86_64_SYSCALLS } from "@kindling/seccompiler";
import { describe, expect, it } from "vitest";
import { hasCc } from "./kernel-helpers.js";

describe.skipIf(!hasCc)("x86_64 table against <asm/unistd_64.h>", () => {
  it("every __NR_ the host headers define has the same number in our table", () => {
    const dir = mkdtempSync(join(tmpdir(), "seccompiler-unistd-"));
    // The preprocessor lists the macros; a compiled program prints their values.
    const names = execFileSync("sh", ["-c", "echo '#include <asm/unistd_64.h>' | cc -E -dM -"], { encoding: "utf8" })
      .split("\n")
      .map((l) => /^#define __NR_([a-z0-9_]+) /.exec(l)?.[1])
      .filter((n): n is string => n !== undefined);
    expect(names.length).toBeGreaterThan(300);
    const src = [
      "#include <stdio.h>",
      "#include <asm/unistd_64.h>",
      "int main(void) {",
      ...names.map((n) => `  printf("%s %d\\n", "${n}", (int)__NR_${n});`),
      "  return 0;",
      "}",
    ].join("\n");
    writeFileSync(join(dir, "nr.c"), src);
    execFileSync("cc", ["-o", join(dir, "nr"), join(dir, "nr.c")]);
    const header = execFileSync(join(dir, "nr"), { encoding: "utf8" })
      .trim()
      .split("\n")
      .map((l) => l.split(" ") as [string, string]);
    const ours = new Map(X86_64_SYSCALLS);
    for (const [name, nr] of header) {
      expect(ours.get(name), name).toBe(Number(nr));
    }
    // Our table (from a newer kernel) may only add syscalls the host headers lack.
    expect(X86_64_SYSCALLS.length).toBeGreaterThanOrEqual(header.length);
  });
});

describe("tables", () => {
  it("names and numbers are unique per architecture", () => {
    for (const t of [X86_64_SYSCALLS, AARCH64_SYSCALLS]) {
      expect(new Set(t.map(([n]) => n)).size).toBe(t.length);
      expect(new Set(t.map(([, nr]) => nr)).size).toBe(t.length);
    }
  });
  it("looks syscalls up by name and number on each architecture", () => {
    expect(syscallNumber("read", "x86_64")).toBe(0);
    expect(syscallNumber("read", "aarch64")).toBe(63);
    expect(syscallNumber("fstat", "aarch64")).toBe(80);
    expect(syscallNumber("open", "aarch64")).toBeUndefined(); // arm64 has only openat
    expect(syscallNumber("openat2", "x86_64")).toBe(437);
    expect(syscallName(231, "x86_64")).toBe("exit_group");
    expect(syscallNumber("constructor", "x86_64")).toBeUndefined();
    expect(syscallNumber("__proto__", "x86_64")).toBeUndefined();
    expect(parseArch("X86_64")).toBe("x86_64");
    expect(() => parseArch("riscv64")).toThrowError(expect.objectContaining({ code: "UNKNOWN_ARCH" }));
  });
  it("the generator reproduces the committed tables", () => {
    const out = execFileSync(
      process.execPath,
      [join(__dirname, "..", "scripts", "generate-syscall-tables.mjs"), "--check"],
      {
        encoding: "utf8",
      },
    );
    expect(out).toContain("up to date");
  });
});
