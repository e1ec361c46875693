import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Why C test programs cannot be built here, or null. */
export const ccMissing: string | null = (() => {
  try {
    execFileSync("cc", ["--version"], { stdio: "ignore" });
    return null;
  } catch {
    return "no C compiler (cc)";
  }
})();

export const muslMissing: string | null = (() => {
  try {
    execFileSync("musl-gcc", ["--version"], { stdio: "ignore" });
    return null;
  } catch {
    return "no musl-gcc (Debian package musl-tools)";
  }
})();

const dir = join(tmpdir(), `kindling-vmm-tests-${process.pid}`);

/** Compiles C source to a program in a temporary directory. */
export function compile(name: string, source: string, compiler = "cc", flags: string[] = ["-static", "-O1"]): string {
  mkdirSync(dir, { recursive: true });
  const src = join(dir, `${name}.c`);
  const exe = join(dir, name);
  writeFileSync(src, source);
  execFileSync(compiler, [...flags, "-o", exe, src]);
  return exe;
}

export function scratchDir(name: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}
