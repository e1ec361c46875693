// The libos side of issue 9's findings 1, 6 and 7: what it lets the host
// kernel run (Resume.Continue) on a host process (seccomp) is decided from
// registers only, and the task limit holds on both platforms.
import { Libos } from "@kindling/libos";
import { Resume } from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";
import { SCRATCH, setup } from "./core-setup.js";

const CLONE_THREAD_FLAGS = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x80000 | 0x100000 | 0x200000;
const PTID = SCRATCH + 0x200;
const CTID = SCRATCH + 0x204;
const EAGAIN = -11;
const ENOSYS = -38;
const EPERM = -1;
const EINVAL = -22;
const ENOMEM = -12;

type S = ReturnType<typeof setup>;

function mainAt(s: S) {
  s.h.task.regs = { ...s.h.task.regs, rip: 0x14000n, rcx: 0x400100n, r11: 0x246n, rsp: 0x1f0000n };
  s.h.task.fsBase = 0x7000n;
}
const clone = (s: S, tls = 0x9000n) => s.h.call("clone", CLONE_THREAD_FLAGS, 0x180000n, PTID, CTID, tls);

describe("maxTasks", () => {
  it("kvm (cooperative threads): a clone beyond the limit is EAGAIN; an exit makes room", () => {
    const s = setup({ maxTasks: 3 });
    mainAt(s);
    expect(clone(s)).toBe(101);
    expect(clone(s)).toBe(102);
    expect(clone(s)).toBe(EAGAIN);
    expect(s.k.sched?.tasks.length).toBe(3);
    s.h.call("exit", 0); // the main thread exits; thread 101 runs
    expect(s.k.sched?.tasks.length).toBe(2);
    expect(clone(s)).toBeGreaterThan(0);
  });
  it("defaults to 1024 and rejects a bad value with a typed error", () => {
    expect(setup().k.maxTasks).toBe(1024);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => new Libos({ memory: { base: 0, size: 0 }, maxTasks: bad })).toThrow(
        expect.objectContaining({ code: "EINVAL" }),
      );
    }
  });
  it("seccomp (host threads): counted at clone, uncounted at their exit (both run natively)", () => {
    const s = setup({ maxTasks: 3 }, true);
    mainAt(s);
    expect(clone(s)).toBe(0);
    expect(s.h.resume).toBe(Resume.Continue);
    expect(clone(s)).toBe(0);
    expect(clone(s)).toBe(EAGAIN);
    expect(s.h.resume).toBe(Resume.Return);
    expect(s.h.call("exit", 0)).toBe(0);
    expect(s.h.resume).toBe(Resume.Continue); // a thread's exit runs in its kernel
    expect(s.k.exited).toBe(false);
    expect(clone(s)).toBe(0);
    expect(s.k.hostThreads).toBe(3);
  });
  it("seccomp: a count left high by clones the host refused is checked against the host's own", () => {
    const s = setup({ maxTasks: 4096 }, true);
    mainAt(s);
    s.k.hostPid = process.pid; // this process stands in for the program (far fewer than 4096 threads)
    s.k.hostThreads = 4096;
    expect(clone(s)).toBe(0);
    expect(s.k.hostThreads).toBeLessThan(4096);
  });
  it("a TLS beyond the user address space is EPERM (copy_thread), and not counted", () => {
    const s = setup({}, true);
    mainAt(s);
    expect(clone(s, 1n << 47n)).toBe(EPERM);
    expect(s.k.hostThreads).toBe(1);
  });
});

describe("no CONTINUE after reading program memory (seccomp)", () => {
  it("clone3 is ENOSYS without reading clone_args (glibc falls back to clone)", () => {
    const s = setup({}, true);
    expect(s.h.call("clone3", 0x10, 64)).toBe(ENOSYS); // an unreadable address: never read
    expect(s.h.resume).toBe(Resume.Return);
  });
  it("futex: the safe ops run natively, the PI ops and unknown ones are ENOSYS", () => {
    const s = setup({}, true);
    for (const op of [0, 1, 3, 4, 5, 9, 10, 128, 128 | 9, 256 | 128 | 9]) {
      expect(s.h.call("futex", SCRATCH, op, 0, 0, 0, 0)).toBe(0);
      expect(s.h.resume).toBe(Resume.Continue);
    }
    for (const op of [6, 7, 8, 11, 12, 13, 128 | 6, 2, 0x1000]) {
      expect(s.h.call("futex", SCRATCH, op, 0, 0, 0, 0)).toBe(ENOSYS);
      expect(s.h.resume).toBe(Resume.Return);
    }
  });
  it("futex PI ops are ENOSYS on kvm too", () => {
    const s = setup();
    for (const op of [6, 7, 8, 11, 12, 13]) expect(s.h.call("futex", SCRATCH, op, 0, 0, 0, 0)).toBe(ENOSYS);
  });
  it("madvise: own-page advice runs natively; HWPOISON/SOFT_OFFLINE are EPERM, KSM has no effect", () => {
    const s = setup({}, true);
    expect(s.h.call("madvise", 0x10000, 4096, 4)).toBe(0);
    expect(s.h.resume).toBe(Resume.Continue);
    for (const advice of [100, 101]) {
      expect(s.h.call("madvise", 0x10000, 4096, advice)).toBe(EPERM);
      expect(s.h.resume).toBe(Resume.Return);
      expect(s.h.call("madvise", 0x10001, 4096, advice)).toBe(EINVAL);
    }
    expect(s.h.call("madvise", 0x10000, 4096, 12)).toBe(0);
    expect(s.h.resume).toBe(Resume.Return);
    expect(s.h.call("madvise", 0x10000, 4096, 77)).toBe(EINVAL);
  });
  it("an anonymous MAP_HUGETLB mmap is ENOMEM (no host huge pages), a plain one runs natively", () => {
    const s = setup({}, true);
    expect(s.h.call("mmap", 0, 2 << 20, 3, 0x22 | 0x40000, -1, 0)).toBe(ENOMEM);
    expect(s.h.resume).toBe(Resume.Return);
    expect(s.h.call("mmap", 0, 4096, 3, 0x22, -1, 0)).toBe(0);
    expect(s.h.resume).toBe(Resume.Continue);
  });
});
