// On a platform where the program is a host process whose kernel owns its
// signals (seccomp), the program sees its host thread id (set_tid_address
// runs natively; musl's raise() sends tkill to it). Without an explicit
// identity the libos takes the host pid, and kill/tkill/tgkill naming it run
// natively (the host kernel fills siginfo as Linux does). sysinfo reports the
// sandbox's memory (its budget), never the host's, where the libos has no arena.
import { totalmem } from "node:os";
import { ByteBudget, Libos } from "@kindling/libos";
import { Resume } from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";
import { SCRATCH } from "./core-setup.js";
import { FakeMemory, Harness } from "./fake-task.js";

const ESRCH = -3;
const SIGUSR1 = 10;

function seccompLike(identity?: { pid: number }) {
  const mem = new FakeMemory(0x10000, 0x400000);
  const k = new Libos({ memory: { base: 0, size: 0 }, ...(identity ? { identity } : {}) });
  const h = new Harness(k, mem, true);
  Object.assign(h.task, { nativeSignals: true, pid: 4242 });
  return { k, h, mem };
}

describe("seccomp-like tasks: one pid for the libos and the host", () => {
  it("getpid, gettid and set_tid_address agree with the host thread id", () => {
    const { h } = seccompLike();
    expect(h.call("getpid")).toBe(4242);
    expect(h.call("gettid")).toBe(4242);
  });
  it("kill, tkill and tgkill to the host pid run natively", () => {
    const { h } = seccompLike();
    expect(h.call("kill", 4242, SIGUSR1)).toBe(0);
    expect(h.resume).toBe(Resume.Continue);
    expect(h.call("tkill", 4242, SIGUSR1)).toBe(0);
    expect(h.resume).toBe(Resume.Continue);
    expect(h.call("tgkill", 4242, 4242, SIGUSR1)).toBe(0);
    expect(h.resume).toBe(Resume.Continue);
    expect(h.call("tkill", 1, SIGUSR1)).toBe(ESRCH);
    expect(h.call("kill", 1, SIGUSR1)).toBe(ESRCH);
  });
  it("in its own pid namespace (jailed) the program's ids are the namespace's, the host tid stays the platform's", () => {
    const mem = new FakeMemory(0x10000, 0x400000);
    const k = new Libos({ memory: { base: 0, size: 0 } });
    const h = new Harness(k, mem, true);
    Object.assign(h.task, { nativeSignals: true, pid: process.pid, nsTid: 2, nsTgid: 2 });
    expect(h.call("getpid")).toBe(2);
    expect(h.call("gettid")).toBe(2);
    expect(k.hostPid).toBe(process.pid); // what the host side reads (/proc/<pid>/maps) and limits
    // kill/tgkill/tkill name the program's own numbers; the host kernel runs them in its namespace.
    expect(h.call("kill", 2, SIGUSR1)).toBe(0);
    expect(h.resume).toBe(Resume.Continue);
    expect(h.call("tgkill", 2, 2, SIGUSR1)).toBe(0);
    expect(h.resume).toBe(Resume.Continue);
    expect(h.call("tkill", 2, SIGUSR1)).toBe(0);
    expect(h.resume).toBe(Resume.Continue);
    expect(h.call("kill", process.pid, SIGUSR1)).toBe(ESRCH); // the host pid means nothing to it
  });
  it("an explicit identity is kept", () => {
    const { h } = seccompLike({ pid: 7 });
    expect(h.call("getpid")).toBe(7);
    expect(h.call("tkill", 4242, SIGUSR1)).toBe(ESRCH);
  });
  it("a task the host kernel does not own keeps pid 1", () => {
    const mem = new FakeMemory(0x10000, 0x400000);
    const k = new Libos({ memory: { base: 0x200000, size: 0x200000 } });
    const h = new Harness(k, mem);
    expect(h.call("getpid")).toBe(1);
  });
  it("sysinfo reports the sandbox's memory, not the host's, when the host kernel manages it", () => {
    const mem = new FakeMemory(0x10000, 0x400000);
    const k = new Libos({ memory: { base: 0, size: 0 }, budget: new ByteBudget(64 << 20) });
    const h = new Harness(k, mem, true);
    Object.assign(h.task, { nativeSignals: true, pid: 4242 });
    expect(h.call("sysinfo", SCRATCH)).toBe(0);
    const total = mem.readU64(SCRATCH + 32);
    const free = mem.readU64(SCRATCH + 40);
    expect(total).toBe(64 << 20);
    expect(total).not.toBe(totalmem());
    expect(free).toBeLessThanOrEqual(total);
    expect(mem.readU64(SCRATCH + 104) & 0xffffffff).toBe(1);
  });
});

describe("/proc/self/maps of a host process", () => {
  it("is the host kernel's maps of that process", async () => {
    const { FsHarness } = await import("./fs-harness.js");
    const t = new FsHarness();
    // This test process stands in for the sandboxed host process.
    Object.assign(t.h.task, { nativeSignals: true, pid: process.pid });
    const fd = t.open("/proc/self/maps");
    expect(fd).toBeGreaterThanOrEqual(0);
    const text = t.read(fd, 1 << 20);
    expect(typeof text).toBe("string");
    expect(text).toContain("[stack]");
    expect(text).toMatch(/^[0-9a-f]+-[0-9a-f]+ [r-][w-][x-][ps] /);
  });
});

describe("limits a host process sets on itself", () => {
  it("RLIMIT_AS reaches the host process, never above its hard limit", async () => {
    const { spawn } = await import("node:child_process");
    const { syscall } = await import("@kindling/sys-util/unsafe");
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      const pid = child.pid as number;
      const host = (res: number): bigint[] => {
        const b = new BigUint64Array(2);
        syscall(302, pid, res, 0, b);
        return [b[0], b[1]];
      };
      // The platform's cap: 1 GiB hard.
      syscall(302, pid, 9, new BigUint64Array([1n << 30n, 1n << 30n]), 0);
      const { h, mem } = seccompLike();
      Object.assign(h.task, { pid });
      h.call("getpid");
      mem.writeBigU64(SCRATCH, 64n << 20n);
      mem.writeBigU64(SCRATCH + 8, 512n << 20n);
      expect(h.call("prlimit64", 0, 9, SCRATCH, 0)).toBe(0);
      expect(host(9)).toEqual([64n << 20n, 512n << 20n]);
      // A soft limit above the host's hard one is capped there.
      mem.writeBigU64(SCRATCH, 512n << 20n);
      expect(h.call("setrlimit", 9, SCRATCH)).toBe(0);
      expect(host(9)).toEqual([512n << 20n, 512n << 20n]);
    } finally {
      child.kill("SIGKILL");
    }
  });
});

describe("sleeping and interval timers of a host process", () => {
  it("run natively, so the host kernel's timer signals interrupt its own waits", () => {
    const { h, mem } = seccompLike();
    for (const [name, args] of [
      ["nanosleep", [SCRATCH, 0]],
      ["clock_nanosleep", [1, 0, SCRATCH, 0]],
      ["alarm", [5]],
      ["getitimer", [0, SCRATCH]],
      ["setitimer", [0, SCRATCH, 0]],
    ] as const) {
      mem.writeBigU64(SCRATCH, 0n);
      mem.writeBigU64(SCRATCH + 8, 1000n);
      expect(h.call(name, ...args), name).toBe(0);
      expect(h.resume, name).toBe(Resume.Continue);
    }
  });
  it("are served by the libos where it owns signals", () => {
    const mem = new FakeMemory(0x10000, 0x400000);
    const k = new Libos({ memory: { base: 0x200000, size: 0x200000 }, sleep: () => {} });
    const h = new Harness(k, mem);
    expect(h.call("alarm", 5)).toBe(0);
    expect(h.resume).toBe(Resume.Return);
    expect(h.call("alarm", 0)).toBe(5);
  });
});

describe("waits of a host process end for the signals its kernel holds for it", () => {
  it("a read on an empty pipe ends when the host process has a signal pending", async () => {
    const { spawn, execFileSync } = await import("node:child_process");
    const { FsHarness } = await import("./fs-harness.js");
    // A host process with a SIGUSR1 handler, stopped, then sent SIGUSR1: the signal stays pending.
    const child = spawn(
      "python3",
      [
        "-c",
        "import signal,time; signal.signal(signal.SIGUSR1, lambda *a: None); print('ready', flush=True); time.sleep(60)",
      ],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    try {
      await new Promise<void>((resolve) => child.stdout?.once("data", () => resolve()));
      const pid = child.pid as number;
      execFileSync("kill", ["-STOP", String(pid)]);
      execFileSync("kill", ["-USR1", String(pid)]);
      const t = new FsHarness();
      Object.assign(t.h.task, { nativeSignals: true, pid });
      const fds = t.alloc(8);
      expect(t.call("pipe2", fds, 0)).toBe(0);
      const rfd = t.mem.readU32(fds);
      // -ERESTARTSYS: the host kernel delivers SIGUSR1 on return and makes it EINTR or a restart (SA_RESTART).
      expect(t.call("read", rfd, t.alloc(4), 4)).toBe(-512);
      expect(t.k.exited).toBe(false);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
