import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it, vi } from "vitest";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");

it("runs the README example", async () => {
  const readme = readFileSync(join(pkg, "README.md"), "utf8");
  const m = /```ts\n([\s\S]*?)```/.exec(readme);
  expect(m).not.toBeNull();
  const code = m![1].replace('from "@kindling/vm-memory"', `from ${JSON.stringify(join(pkg, "src/index.ts"))}`);
  const dir = join(pkg, "build", "readme");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "example.ts");
  writeFileSync(file, code);
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  try {
    await import(file);
    expect(log.mock.calls[0][0]).toEqual(["0x1000", "0x2000", "0x3000", "0x100000"]);
    expect(log.mock.calls[1][0]).toEqual([
      [0, 0n, 65536n],
      [1, 1048576n, 8192n],
    ]);
  } finally {
    log.mockRestore();
  }
});
