// Finding 1 (seccomp: clone3 TOCTOU). corpus/confine/clone3_race.c calls
// clone3 with thread flags in a loop while another thread flips
// clone_args.flags to 0 and back. Before the fix the seccomp libos read the
// flags, decided "thread" and answered CONTINUE; the kernel read them again,
// found 0 and forked: a host process outside the sandbox (PPID 1 once the
// sandbox ended), which printed ESCAPED here and stayed alive. Now clone3 is
// ENOSYS on seccomp (glibc falls back to clone, whose flags are registers) and
// served from the libos's own copy on kvm. Nothing may escape on either platform.
import { describe, expect, it } from "vitest";
import { build, compilers, makeTree, platforms, runSandbox } from "../conformance/harness.js";
import { processesRunning } from "./leak-counters.js";

const cc = compilers.find((c) => c.cc === "cc")!;

describe.each(platforms)("clone3 flags changed under the libos, on $platform", ({ platform, missing }) => {
  const skip = missing ?? cc.missing;
  it.skipIf(skip !== null)("never fork a host process", { timeout: 120_000 }, () => {
    const exe = build("confine/clone3_race", "cc");
    expect(processesRunning(exe)).toEqual([]);
    const got = runSandbox([exe, "2"], { cwd: makeTree(`clone3-${platform}`), platform });
    const escaped = processesRunning(exe);
    for (const pid of escaped) {
      try {
        process.kill(pid, "SIGKILL"); // an escaped copy of the test program: do not leave it running
      } catch {
        // gone already
      }
    }
    expect(escaped, "host processes running the program after its sandbox ended").toEqual([]);
    expect(got.stdout).not.toContain("ESCAPED");
    expect(got.status).toBe(0);
    const m = /^attempts=(\d+) created=(\d+) enosys=(\d+) other=(\d+) forks=(\d+)$/m.exec(got.stdout);
    expect(m, got.stdout + got.stderr).not.toBeNull();
    console.info(`clone3 race on ${platform}: ${m![0]}`);
    const [attempts, created, enosys, forks] = [Number(m![1]), Number(m![2]), Number(m![3]), Number(m![5])];
    expect(forks, "children that did not share the program's memory").toBe(0);
    expect(attempts).toBeGreaterThan(100);
    if (platform === "seccomp") {
      // clone3 never reaches the host kernel there.
      expect(created).toBe(0);
      expect(enosys).toBe(attempts);
    } else {
      // Served from the libos's own copy of clone_args: a thread when it read thread flags.
      expect(created).toBeGreaterThan(0);
    }
  });
});
