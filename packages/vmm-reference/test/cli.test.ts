import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { kvmAvailable, main, normalizeStrace, parseSize } from "@kindling/vmm-reference";
import { describe, expect, it } from "vitest";
import { ccMissing, compile, scratchDir } from "./programs.js";

async function kindling(args: string[]): Promise<{ status: number; err: string; out: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks: Buffer[] = [];
  const errChunks: Buffer[] = [];
  out.on("data", (c) => chunks.push(c));
  err.on("data", (c) => errChunks.push(c));
  const status = await main(args, { out, err } as never);
  return { status, err: Buffer.concat(errChunks).toString(), out: Buffer.concat(chunks).toString() };
}

describe("kindling CLI: bad input follows the shell's conventions", () => {
  it("a missing program is 127", async () => {
    const r = await kindling(["run", "/nonexistent/prog"]);
    expect(r.status).toBe(127);
    expect(r.err).toContain("No such file or directory");
  });
  it("a file that is not executable is 126", async () => {
    const d = scratchDir("noexec");
    writeFileSync(join(d, "f"), "hello");
    chmodSync(join(d, "f"), 0o644);
    const r = await kindling(["run", join(d, "f")]);
    expect(r.status).toBe(126);
    expect(r.err).toContain("not executable");
  });
  it("an executable that is not an ELF is 126", async () => {
    const d = scratchDir("noelf");
    writeFileSync(join(d, "script"), "#!/bin/sh\necho hi\n");
    chmodSync(join(d, "script"), 0o755);
    const r = await kindling(["run", join(d, "script")]);
    expect(r.status).toBe(126);
    expect(r.err).toMatch(/ELF/);
  });
  it("a dynamically linked program is refused by name (126)", async () => {
    const r = await kindling(["run", "/bin/ls"]);
    expect(r.status).toBe(126);
    expect(r.err).toContain("dynamically linked");
  });
  it.skipIf(ccMissing)("a 32-bit program is refused by name (126)", async () => {
    let exe: string;
    try {
      exe = compile("m32", "int main(void){return 0;}", "cc", ["-m32", "-nostdlib", "-static", "-e", "main"]);
    } catch {
      // No 32-bit toolchain: make a 32-bit ELF header by hand from a 64-bit one.
      const d = scratchDir("m32");
      exe = join(d, "m32");
      const b = readFileSync("/bin/true");
      b[4] = 1; // ELFCLASS32
      writeFileSync(exe, b);
      chmodSync(exe, 0o755);
    }
    const r = await kindling(["run", exe]);
    expect(r.status).toBe(126);
    expect(r.err).toMatch(/32-bit/);
  });
  it("a bare --strace never takes the program path as its file", () => {
    const valueOptions = new Set(["--mount", "--root"]);
    expect(normalizeStrace(["run", "--strace", "/bin/prog", "--strace"], valueOptions)).toEqual([
      "run",
      "--strace=",
      "/bin/prog",
      "--strace",
    ]);
    expect(normalizeStrace(["run", "--mount", "/a:/b", "--strace", "--stats", "p"], valueOptions)).toEqual([
      "run",
      "--mount",
      "/a:/b",
      "--strace=",
      "--stats",
      "p",
    ]);
    expect(normalizeStrace(["run", "--strace=/tmp/t", "p"], valueOptions)).toEqual(["run", "--strace=/tmp/t", "p"]);
  });
  it("sizes parse with suffixes and reject nonsense", () => {
    expect(parseSize("256M")).toBe(256 * 1024 * 1024);
    expect(parseSize("1G")).toBe(1024 ** 3);
    expect(() => parseSize("lots")).toThrow();
    expect(() => parseSize("1M")).toThrow(/minimum/);
  });
});

const skip = ccMissing ?? (kvmAvailable() ? null : "/dev/kvm is not usable");
describe.skipIf(ccMissing)("kindling run", () => {
  const prog = ccMissing
    ? ""
    : compile(
        "status",
        `#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "kill")) raise(SIGTERM);
  if (argc > 1 && !strcmp(argv[1], "big")) { char *p = malloc(200 << 20); if (!p) return 99; p[1] = 1; }
  printf("args:%d\\n", argc);
  return argc > 1 ? atoi(argv[1]) : 0;
}`,
      );
  for (const platform of ["kvm", "seccomp"] as const) {
    it.skipIf(platform === "kvm" && skip)(`passes the exit status through (${platform})`, async () => {
      expect((await kindling(["run", "--platform", platform, prog, "7"])).status).toBe(7);
      expect((await kindling(["run", "--platform", platform, prog, "0"])).status).toBe(0);
    });
    it.skipIf(platform === "kvm" && skip)(`reports death by signal as 128+N (${platform})`, async () => {
      expect((await kindling(["run", "--platform", platform, prog, "kill"])).status).toBe(128 + 15);
    });
    it.skipIf(platform === "kvm" && skip)(`--strace writes a trace file (${platform})`, async () => {
      const f = join(scratchDir("trace"), `${platform}.txt`);
      const r = await kindling(["run", "--platform", platform, `--strace=${f}`, prog, "3"]);
      expect(r.status).toBe(3);
      const trace = readFileSync(f, "utf8");
      // exit_group runs natively under seccomp (no notification), so only kvm traces it.
      if (platform === "kvm") expect(trace).toMatch(/exit_group\(3\)/);
      expect(trace).toMatch(/write\(1, "args:2\\n", 7\) = 7/);
    });
    it.skipIf(platform === "kvm" && skip)(
      `bare --strace traces to stderr and runs the program (${platform})`,
      async () => {
        const r = await kindling(["run", "--platform", platform, "--strace", prog, "4"]);
        expect(r.status).toBe(4);
        expect(r.err).toMatch(/write\(1, "args:2\\n", 7\) = 7/);
      },
    );
    it.skipIf(platform === "kvm" && skip)(`--stats prints a syscall table (${platform})`, async () => {
      const r = await kindling(["run", "--platform", platform, "--stats", prog]);
      expect(r.status).toBe(0);
      expect(r.err).toMatch(/calls\s+errors\s+syscall/);
      expect(r.err).toMatch(/exit_group|write/);
    });
  }
  it.skipIf(skip)("malloc beyond --memory fails inside the program instead of the host", async () => {
    const r = await kindling(["run", "--memory", "64M", prog, "big"]);
    expect(r.status).toBe(99);
  });
  it.skipIf(skip)("a program too large for --memory is refused (126)", async () => {
    const exe = compile("large", "volatile char big[100 << 20] = {1}; int main(void){return big[0];}");
    const r = await kindling(["run", "--memory", "32M", exe]);
    expect(r.status).toBe(126);
    expect(r.err).toMatch(/does not fit/);
  });
  for (const platform of ["kvm", "seccomp"] as const) {
    it.skipIf(platform === "kvm" && skip)(
      `--timeout also ends a program sleeping in a system call (${platform})`,
      async () => {
        const sleeper = compile("sleeper", "#include <unistd.h>\nint main(void){ sleep(30); return 0; }");
        const t0 = performance.now();
        const r = await kindling(["run", "--platform", platform, "--timeout", "1", sleeper]);
        expect(r.status).toBe(128 + 9);
        expect(r.err).toContain("timeout");
        // Ended by the limit, not by the sleep running out (30 s).
        expect(performance.now() - t0).toBeLessThan(25_000);
      },
    );
  }
  it.skipIf(skip)("--timeout stops a program that never makes a system call", async () => {
    const spin = compile("spin", "int main(void){ for(;;){} }");
    const r = await kindling(["run", "--timeout", "0.5", spin]);
    expect(r.status).toBe(128 + 9);
    expect(r.err).toContain("timeout");
  });
});
