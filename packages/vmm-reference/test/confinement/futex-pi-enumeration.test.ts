// Finding 7 (host task enumeration). FUTEX_TRYLOCK_PI / FUTEX_LOCK_PI with a
// tid in the futex word look that tid up in the caller's pid namespace; on
// seccomp they ran natively, in the host's: ESRCH, EPERM and EAGAIN told which
// host tasks existed (64 found). corpus/confine/futex_pi_probe.c lists every
// tid in 1..4096 (other than its own) whose result differs from a tid nobody
// has: the list must be empty on both platforms, as in a pid namespace of the
// program's own (checked natively with `unshare --pid --fork` where it works).
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { build, compilers, makeTree, platforms, runSandbox } from "../conformance/harness.js";

const cc = compilers.find((c) => c.cc === "cc")!;
const N = 4096;

describe("PI futexes name no host task", () => {
  it.skipIf(cc.missing !== null)("natively, in a pid namespace of its own, the list is empty", (ctx) => {
    const exe = build("confine/futex_pi_probe", "cc");
    const r = spawnSync("unshare", ["--pid", "--fork", exe, String(N)], { encoding: "utf8" });
    if (r.error || (r.status !== 0 && /unshare/.test(r.stderr))) {
      console.warn(`futex PI reference skipped: unshare --pid does not work here (${r.error?.message ?? r.stderr})`);
      return ctx.skip();
    }
    expect(r.stdout).toBe(`probed=${N}\n`);
  });
  describe.each(platforms)("on $platform", ({ platform, missing }) => {
    const skip = missing ?? cc.missing;
    it.skipIf(skip !== null)("owner tids 1..4096 all give the answer of a tid nobody has", { timeout: 120_000 }, () => {
      const exe = build("confine/futex_pi_probe", "cc");
      const got = runSandbox([exe, String(N)], { cwd: makeTree(`futex-pi-${platform}`), platform });
      expect(got.stdout).toBe(`probed=${N}\n`);
      expect(got.status).toBe(0);
    });
  });
});
