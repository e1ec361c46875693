// Finding 2 (host-side opens followed symlinks a sandbox planted). Run 1 has
// host w/ mounted writable at /w; its program (corpus/confine/planted_symlink.c)
// replaces /w/sub with a symbolic link to a host directory outside w/, and
// plants /w/trace -> a host file outside. Before the fix a later run's
// `--mount w/sub:/data:rw` (or `--root w/sub`) opened the mount source with
// O_PATH|O_DIRECTORY, which follows symlinks, so its program read and wrote
// the outside directory; `--strace=w/trace` truncated the outside file. Now
// each operator path is opened with openat2(RESOLVE_NO_SYMLINKS) and the run
// is refused (125) with a message naming the link; the outside is untouched.
import * as nfs from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { build, compilers, hashTree, platforms, workDir } from "../conformance/harness.js";
import { kindling } from "../programs.js";

const cc = compilers.find((c) => c.cc === "cc")!;

describe.each(platforms)("operator paths with planted symlinks, on $platform", ({ platform, missing }) => {
  const skip = missing ?? cc.missing;
  it.skipIf(skip !== null)("are refused, and the outside stays untouched", { timeout: 120_000 }, async () => {
    const exe = build("confine/planted_symlink", "cc");
    const base = nfs.mkdtempSync(join(workDir(), `planted-${platform}-`));
    const w = join(base, "w");
    const outside = join(base, "outside");
    nfs.mkdirSync(join(w, "sub"), { recursive: true });
    nfs.mkdirSync(outside);
    const secret = join(outside, "secret.txt");
    nfs.writeFileSync(secret, "host secret\n");
    const before = hashTree(outside);

    // Run 1: the sandbox plants the links through its writable mount.
    const r1 = await kindling(["run", "--platform", platform, "--mount", `${w}:/w:rw`, exe, "plant", outside, secret]);
    expect(r1.status, r1.out + r1.err).toBe(0);
    expect(nfs.lstatSync(join(w, "sub")).isSymbolicLink()).toBe(true);
    expect(nfs.readlinkSync(join(w, "trace"))).toBe(secret);

    const sub = join(w, "sub");
    const attempts: Array<{ args: string[]; names: string }> = [
      { args: ["--mount", `${sub}:/data:rw`], names: sub },
      // A relative source resolves against the current directory, with the same check.
      { args: ["--mount", `${relative(process.cwd(), sub)}:/data:rw`], names: sub },
      { args: ["--root", sub, "--tmpfs", "/data"], names: sub },
      { args: ["--tmpfs", "/data", `--strace=${join(w, "trace")}`], names: join(w, "trace") },
      // A link in a parent component of the trace file.
      { args: ["--tmpfs", "/data", `--strace=${join(sub, "trace.txt")}`], names: sub },
    ];
    for (const a of attempts) {
      const r = await kindling(["run", "--platform", platform, ...a.args, exe, "write"]);
      expect(r.status, `${a.args.join(" ")}: ${r.out}${r.err}`).toBe(125);
      expect(r.err).toContain(`${a.names} is a symbolic link`);
      expect(r.err).toContain("give the real path");
      expect(r.err).not.toMatch(/\n\s+at /); // a message, not a stack trace
      expect(r.out).toBe("");
    }
    expect(nfs.existsSync(join(outside, "pwned"))).toBe(false);
    expect(nfs.existsSync(join(outside, "trace.txt"))).toBe(false);
    expect(nfs.readFileSync(secret, "utf8")).toBe("host secret\n");
    expect(hashTree(outside)).toBe(before);

    // The real path still works, from the operator's own choice.
    const ok = await kindling(["run", "--platform", platform, "--mount", `${outside}:/data:rw`, exe, "write"]);
    expect(ok.status, ok.out + ok.err).toBe(0);
    expect(nfs.readFileSync(join(outside, "pwned"), "utf8")).toBe("pwned\n");
  });
});
