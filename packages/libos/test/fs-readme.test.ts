// Runs the example of src/fs/README.md.
import * as nfs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as libos from "@kindling/libos";
import { expect, it } from "vitest";

it("the fs README example runs and prints the host file", () => {
  const md = nfs.readFileSync(new URL("../src/fs/README.md", import.meta.url), "utf8");
  const code = /```ts\n([\s\S]*?)```/.exec(md)?.[1];
  expect(code).toBeDefined();
  const dataDir = nfs.mkdtempSync(join(tmpdir(), "kindling-fsreadme-"));
  nfs.writeFileSync(join(dataDir, "hello.txt"), "hello from the host");
  const logs: string[] = [];
  const body = (code ?? "")
    .replace(/^import .*$/m, "const { Libos, SandboxFs } = libos;")
    .replaceAll("console.log(", "log(");
  try {
    new Function("libos", "dataDir", "log", "Buffer", body)(libos, dataDir, (s: string) => logs.push(s), Buffer);
    expect(logs).toEqual(["hello from the host"]);
  } finally {
    nfs.rmSync(dataDir, { recursive: true, force: true });
  }
});
