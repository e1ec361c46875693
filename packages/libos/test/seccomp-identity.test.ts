// On a platform where the program is a host process whose kernel owns its
// signals (seccomp), the program sees its host thread id (set_tid_address
// runs natively; musl's raise() sends tkill to it). Without an explicit
// identity the libos takes the host pid, and kill/tkill/tgkill naming it run
// natively (the host kernel fills siginfo as Linux does). sysinfo reports the
// host's memory where the libos has no arena.
import { Libos } from "@kindling/libos";
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
  it("sysinfo reports the host's memory when the host kernel manages it", () => {
    const { h, mem } = seccompLike();
    expect(h.call("sysinfo", SCRATCH)).toBe(0);
    const total = mem.readU64(SCRATCH + 32);
    const free = mem.readU64(SCRATCH + 40);
    expect(total).toBeGreaterThan(0);
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
