import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it, vi } from "vitest";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const root = join(pkg, "..", "..");

it("runs the README example", async () => {
  const readme = readFileSync(join(pkg, "README.md"), "utf8");
  const m = /```ts\n([\s\S]*?)```/.exec(readme);
  expect(m).not.toBeNull();
  const code = m![1]
    .replace('from "@kindling/virtio-queue"', `from ${JSON.stringify(join(pkg, "src/index.ts"))}`)
    .replace('from "@kindling/vm-memory"', `from ${JSON.stringify(join(root, "packages/vm-memory/src/index.ts"))}`);
  const dir = join(pkg, "build", "readme");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "example.ts");
  writeFileSync(file, code);
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  try {
    await import(file);
    expect(log.mock.calls.map((c) => c[0])).toEqual(["interrupt the driver", "pong to ping"]);
  } finally {
    log.mockRestore();
  }
});
