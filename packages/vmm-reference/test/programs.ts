import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { main } from "@kindling/vmm-reference";

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

/** Runs the kindling CLI's main() in this process with `args`, capturing what it writes to stdout and stderr. */
export async function kindling(args: string[]): Promise<{ status: number; err: string; out: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  out.on("data", (c) => o.push(c));
  err.on("data", (c) => e.push(c));
  const status = await main(args, { out, err } as never);
  return { status, err: Buffer.concat(e).toString(), out: Buffer.concat(o).toString() };
}
