// Finding 9 (what a program sees of the host): the CLI used to pass kindling's
// whole environment, /proc/self/exe and AT_EXECFN named the program's host
// path, seccomp programs saw their host pid and sysinfo the host's RAM, and
// /proc/self/maps on seccomp was the host kernel's (host paths, devices,
// inodes). corpus/confine/host_info.c writes what it learns to a file in a
// writable mount; nothing of the host may be in it, on either platform.
import * as nfs from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { build, compilers, platforms, workDir } from "../conformance/harness.js";
import { kindling } from "../programs.js";

const MARK = "KINDLING_HOST_INFO_MARK";

function report(path: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of nfs.readFileSync(path, "utf8").split("\n")) {
    if (!line) continue;
    const i = line.indexOf(" ");
    const k = i < 0 ? line : line.slice(0, i);
    m.set(k, [...(m.get(k) ?? []), i < 0 ? "" : line.slice(i + 1)]);
  }
  return m;
}

describe.each(platforms)("host information, on $platform", ({ platform, missing }) => {
  for (const { cc, missing: ccMissing } of compilers) {
    it.skipIf((missing ?? ccMissing) !== null)(`the program learns nothing of the host (${cc})`, async () => {
      const exe = build("confine/host_info", cc);
      const hostDir = exe.slice(0, exe.lastIndexOf("/"));
      const out = nfs.mkdtempSync(join(workDir(), `host-info-${platform}-`));
      const run = async (extra: string[]) => {
        const file = join(out, `r${Math.random().toString(36).slice(2)}.txt`);
        const r = await kindling([
          "run",
          "--platform",
          platform,
          "--memory",
          "64M",
          "--mount",
          `${out}:/out:rw`,
          ...extra,
          exe,
          `/out/${file.slice(out.length + 1)}`,
        ]);
        expect(r.status, r.err).toBe(0);
        const text = nfs.readFileSync(file, "utf8");
        return { m: report(file), text };
      };
      process.env[MARK] = "host-secret";
      try {
        const { m, text } = await run([]);
        // The environment starts empty, whatever kindling's own is.
        expect(m.get("envcount")).toEqual(["0"]);
        // The program's own path is a sandbox path, the same in all three places.
        const [argv0] = m.get("argv0")!;
        expect(argv0.startsWith("/")).toBe(true);
        expect(m.get("exe")).toEqual([argv0]);
        expect(m.get("execfn")).toEqual([argv0]);
        // No host path anywhere in the report (the program's directory, the mount's source).
        expect(text).not.toContain(hostDir);
        expect(text).not.toContain(out);
        // Its pid is the sandbox's, not a host pid (kvm: the libos's 1; seccomp: 2 under its init).
        expect(Number(m.get("pid")![0])).toBeLessThanOrEqual(2);
        // Memory is the sandbox's.
        expect(m.get("totalram")).toEqual([String(64 << 20)]);
        expect(m.get("meminfo")!.find((l) => l.startsWith("MemTotal:"))).toMatch(/^MemTotal:\s+65536 kB$/);
        // Maps name no host device or inode.
        for (const line of m.get("maps")!) expect(line.split(/\s+/).slice(3, 5), line).toEqual(["00:00", "0"]);

        // The opt-ins work, so the checks above can fail: one variable, or kindling's whole environment.
        const one = (await run(["--env", "A=1"])).m;
        expect(one.get("env")).toEqual(["A=1"]);
        const all = (await run(["--inherit-env"])).m;
        expect(all.get("env")).toContain(`${MARK}=host-secret`);
      } finally {
        delete process.env[MARK];
      }
    });
  }
});
