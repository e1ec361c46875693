import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FETCH_SCRIPT, hasCommand } from "./helpers.js";

describe.skipIf(!hasCommand("dpkg-deb"))("scripts/fetch-debian-kernel.sh", () => {
  it("exits 2 with a stated reason when the Debian archive cannot be reached", () => {
    const fake = mkdtempSync(join(tmpdir(), "fake-apt-"));
    for (const tool of ["apt-get", "apt-cache"]) {
      const p = join(fake, tool);
      writeFileSync(p, "#!/bin/sh\necho 'E: Failed to fetch (network unreachable)' >&2\nexit 100\n");
      chmodSync(p, 0o755);
    }
    const r = spawnSync("bash", [FETCH_SCRIPT], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${fake}:${process.env.PATH}`, KINDLING_CACHE: mkdtempSync(join(tmpdir(), "kc-")) },
    });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/fetch-debian-kernel: cannot resolve linux-image-amd64/);
  });
});
