import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@kindling/kvm-ioctls";

/** Why KVM tests cannot run here, or null when /dev/kvm is usable. */
export const kvmUnavailable: string | null = (() => {
  try {
    Kvm.open().close();
    return null;
  } catch (e) {
    return `/dev/kvm is not usable here (${(e as Error).message})`;
  }
})();
if (kvmUnavailable) console.warn(`skipping KVM tests: ${kvmUnavailable}`);

export const ccUnavailable: string | null = (() => {
  try {
    execFileSync("cc", ["--version"], { stdio: "ignore" });
    return null;
  } catch {
    return "no C compiler (cc) on this machine";
  }
})();
if (ccUnavailable) console.warn(`skipping C layout tests: ${ccUnavailable}`);

/** Compiles and runs a C program; returns its stdout. */
export function runC(source: string): string {
  const dir = mkdtempSync(join(tmpdir(), "kindling-c-"));
  const src = join(dir, "p.c");
  writeFileSync(src, source);
  execFileSync("cc", ["-O0", "-o", join(dir, "p"), src]);
  return execFileSync(join(dir, "p"), { encoding: "utf8" });
}
