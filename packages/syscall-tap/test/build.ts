import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("./programs/", import.meta.url));
const out = join(tmpdir(), `kindling-syscall-tap-${process.pid}`);

export const ccMissing: string | null = (() => {
  try {
    execFileSync("cc", ["--version"], { stdio: "ignore" });
    return null;
  } catch {
    return "no C compiler (cc)";
  }
})();

/** Builds a freestanding static test program; returns its path. */
export function buildFreestanding(name: string): string {
  mkdirSync(out, { recursive: true });
  const exe = join(out, name);
  execFileSync("cc", [
    "-static",
    "-nostdlib",
    "-fno-pie",
    "-no-pie",
    "-O1",
    "-fno-stack-protector",
    "-o",
    exe,
    join(dir, `${name}.c`),
  ]);
  return exe;
}
