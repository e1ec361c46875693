import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const pkgRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
export const repoRoot = join(pkgRoot, "..", "..");
/** Firecracker's own x86_64 filter, read from the shared contracts beside the checkout (never copied). */
export const firecrackerJsonPath = join(repoRoot, "..", "shared", "contracts", "firecracker-seccomp-x86_64.json");
export const firecrackerJson: string | undefined = existsSync(firecrackerJsonPath)
  ? readFileSync(firecrackerJsonPath, "utf8")
  : undefined;
if (firecrackerJson === undefined) {
  console.warn(`skipping Firecracker-filter tests: ${firecrackerJsonPath} is absent`);
}
