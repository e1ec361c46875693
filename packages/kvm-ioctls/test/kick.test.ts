import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { Kvm } from "@kindling/kvm-ioctls";
import { CLOCK_MONOTONIC, ThreadTimer } from "@kindling/sys-util";
import { describe, expect, it } from "vitest";
import { TestMemory } from "./guest-memory.js";
import { kvmUnavailable } from "./helpers.js";

function spinningVcpu() {
  const kvm = Kvm.open();
  const vm = kvm.createVm();
  const mem = new TestMemory(0x1000, 0x1000);
  mem.write(0x1000, [0xeb, 0xfe]); // jmp $
  mem.register(vm);
  const vcpu = vm.createVcpu(0);
  const sregs = vcpu.getSregs();
  sregs.cs.base = 0n;
  sregs.cs.selector = 0;
  vcpu.setSregs(sregs);
  const regs = vcpu.getRegs();
  regs.rip = 0x1000n;
  regs.rflags = 2n;
  vcpu.setRegs(regs);
  return {
    vcpu,
    dispose() {
      vcpu.close();
      vm.close();
      kvm.close();
      mem.region.unmap();
    },
  };
}

describe.skipIf(kvmUnavailable)("leaving run() from outside", () => {
  it("immediate_exit makes run() return Intr at once", () => {
    const g = spinningVcpu();
    g.vcpu.setKvmImmediateExit(true);
    expect(g.vcpu.run().kind).toBe("Intr");
    g.dispose();
  });

  it("a thread timer kicks a guest that never exits", () => {
    const g = spinningVcpu();
    g.vcpu.makeKickable();
    const timer = new ThreadTimer(CLOCK_MONOTONIC);
    timer.set(50_000_000);
    expect(g.vcpu.run().kind).toBe("Intr");
    timer.delete();
    g.dispose();
  });

  it("another thread kicks the vCPU thread with a signal", async () => {
    const g = spinningVcpu();
    const { tid, signal } = g.vcpu.makeKickable();
    const flags = new Int32Array(new SharedArrayBuffer(8));
    const addon = fileURLToPath(new URL("../../sys-util/build/Release/kindling_sys.node", import.meta.url));
    // The worker waits until this thread is about to run, then kicks it and records that it did.
    const worker = new Worker(
      `const { workerData } = require("node:worker_threads");
       const n = require(workerData.addon);
       const f = workerData.flags;
       Atomics.wait(f, 0, 0);
       Atomics.wait(f, 1, 0, 50);
       n.syscall(234, process.pid, workerData.tid, workerData.signal);
       Atomics.store(f, 1, 1);`,
      { eval: true, workerData: { tid, signal, flags, addon } },
    );
    // A backstop so a lost kick fails the test instead of hanging it.
    const backstop = new ThreadTimer(CLOCK_MONOTONIC);
    backstop.set(20_000_000_000);
    Atomics.store(flags, 0, 1);
    Atomics.notify(flags, 0);
    let exit = g.vcpu.run();
    while (exit.kind === "Intr" && Atomics.load(flags, 1) === 0) exit = g.vcpu.run();
    backstop.delete();
    expect(exit.kind).toBe("Intr");
    expect(Atomics.load(flags, 1)).toBe(1);
    await worker.terminate();
    g.dispose();
  });
});

// The kick handler writes kvm_run.immediate_exit through a raw pointer. After the
// vCPU's kvm_run is unmapped (close, the garbage collector, on this or another
// thread) a kick must find no target: the old code segfaulted Node (rc 139). Each
// case runs in a child process so a crash fails the test instead of the runner.
describe.skipIf(kvmUnavailable)("a kick after the kick target is gone", () => {
  const child = (mode: string) => {
    const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));
    const r = spawnSync(
      process.execPath,
      [
        "--expose-gc",
        "--conditions=kindling-source",
        "--import",
        `${fixtures}ts-hooks.mjs`,
        `${fixtures}kick-child.ts`,
        mode,
      ],
      { encoding: "utf8", timeout: 60_000 },
    );
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  };

  it("after VcpuFd.close()", () => {
    expect(child("close")).toEqual({
      status: 0,
      signal: null,
      stdout: "mapped after close: 0\nkicked after close: alive\n",
      stderr: "",
    });
  });

  it("after the VcpuFd was garbage collected without close()", () => {
    expect(child("gc")).toEqual({
      status: 0,
      signal: null,
      stdout: "mapped before gc: 1\nmapped after gc: 0\nkicked after gc: alive\n",
      stderr: "",
    });
  });

  it("on a worker thread that closed its vCPU, and after that thread exited", () => {
    expect(child("worker")).toEqual({
      status: 0,
      signal: null,
      stdout: "worker kicked after close: alive\nmain kicked after the worker exited: alive\n",
      stderr: "",
    });
  });

  it("only a live mapping can be a kick target", () => {
    expect(child("plain-buffer")).toMatchObject({ status: 0, stdout: "plain buffer refused: TypeError\n" });
  });
});
