import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KvmPlatform } from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";
import { runStatic } from "./readme-example.js";

const skip = (() => {
  try {
    execFileSync("cc", ["--version"], { stdio: "ignore" });
  } catch {
    return "no C compiler (cc)";
  }
  try {
    KvmPlatform.create({ memorySize: 8 << 20 }).close();
  } catch (e) {
    return `/dev/kvm is not usable (${(e as Error).message})`;
  }
  return null;
})();
if (skip) console.warn(`libos README example: running skipped: ${skip}`);

describe("README example", () => {
  it("is test/readme-example.ts verbatim", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const example = readFileSync(new URL("./readme-example.ts", import.meta.url), "utf8");
    expect(readme).toContain(example.trim());
  });

  it.skipIf(skip !== null)("runs a static program", () => {
    const dir = join(tmpdir(), `kindling-libos-readme-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const src = join(dir, "hello.c");
    writeFileSync(
      src,
      '#include <stdio.h>\n#include <unistd.h>\nint main(int c, char **v) { printf("hello %s from pid %d\\n", v[1], getpid()); return 3; }\n',
    );
    execFileSync("cc", ["-static", "-O1", "-o", join(dir, "hello"), src]);
    expect(runStatic(join(dir, "hello"), ["hello", "world"])).toEqual({
      status: 3,
      stdout: "hello world from pid 1\n",
    });
  });
});
