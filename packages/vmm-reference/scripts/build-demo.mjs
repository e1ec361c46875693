// Builds the bundled demo program with the machine's C compiler (static).
import { execFileSync } from "node:child_process";
import { mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "demo", "demo.c");
const out = join(root, "build", "demo", "kindling-demo");

export function buildDemo() {
  try {
    if (statSync(out).mtimeMs >= statSync(src).mtimeMs) return out;
  } catch {
    // not built yet
  }
  mkdirSync(dirname(out), { recursive: true });
  execFileSync("cc", ["-static", "-O2", "-o", out, src], { stdio: "inherit" });
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) buildDemo();
