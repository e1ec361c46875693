// Finding 10 (kvm divergences): port I/O from program code (any port, any
// direction, the string forms, and the kvm shim's own syscall port 0x10) and
// `int n` must behave as Linux on this machine: #GP → SIGSEGV (SI_KERNEL,
// si_addr 0, rip at the instruction, the error code and trap number Linux
// reports), int3 → SIGTRAP, `int 0x80` with an unknown number → -ENOSYS. The
// program (corpus/confine/kvm_divergences.c) prints what each case delivered;
// the output must equal the native run's on both platforms. Before the fix,
// `in` on port 0x10 ended the kvm sandbox ("EEXIT IoIn", 137), `out` to it
// from program code was served as a system call, and `int n` gave SIGILL.
import { describe, expect, it } from "vitest";
import { build, compilers, makeTree, platforms, runNative, runSandbox } from "../conformance/harness.js";

describe.each(compilers)("kvm divergences ($cc)", ({ cc, missing: ccMissing }) => {
  describe.each(platforms)("on $platform", ({ platform, missing }) => {
    const skip = ccMissing ?? missing;
    it.skipIf(skip !== null)("port I/O and int n match native Linux", { timeout: 120_000 }, () => {
      const exe = build("confine/kvm_divergences", cc);
      const native = runNative([exe], { cwd: makeTree("kvm-div-native") });
      expect(native.status).toBe(0);
      // The native run is the reference: it must show the #GP it is the reference for.
      expect(native.stdout).toMatch(
        /^in_imm_10 +SIGSEGV code 128 addr 0 0 rip at\+0 err 0x0 trapno 13 flags 0x10000$/m,
      );
      expect(native.stdout).toMatch(/^int 0x80 nr 0x7fff -> -38$/m);
      const got = runSandbox([exe], { cwd: makeTree("kvm-div-sandbox"), platform });
      expect(got).toEqual(native);
    });
  });
});
