import { Libos } from "@kindling/libos";
import { Resume } from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";
import { SCRATCH, setup } from "./core-setup.js";
import { FakeMemory, Harness } from "./fake-task.js";

const EINVAL = -22;
const EFAULT = -14;
const EAGAIN = -11;
const ETIMEDOUT = -110;
const ENOSYS = -38;

function timespec(s: ReturnType<typeof setup>, addr: number, sec: bigint, nsec: bigint) {
  s.mem.writeBigU64(addr, BigInt.asUintN(64, sec));
  s.mem.writeBigU64(addr + 8, BigInt.asUintN(64, nsec));
}

describe("clocks", () => {
  it("clock_gettime reads each clock", () => {
    const s = setup();
    expect(s.h.call("clock_gettime", 0, SCRATCH)).toBe(0);
    expect(s.mem.readU64(SCRATCH)).toBe(1_700_000_000);
    expect(Math.abs(s.mem.readU64(SCRATCH + 8) - 123_456_000)).toBeLessThan(1000);
    expect(s.h.call("clock_gettime", 1, SCRATCH)).toBe(0);
    expect(s.mem.readU64(SCRATCH)).toBe(5);
    expect(s.mem.readU64(SCRATCH + 8)).toBe(250_000);
    s.clock.cpu += 2.5;
    expect(s.h.call("clock_gettime", 2, SCRATCH)).toBe(0);
    expect(s.mem.readU64(SCRATCH + 8)).toBe(2_500_000);
    expect(s.h.call("clock_gettime", 11, SCRATCH)).toBe(0);
    expect(s.mem.readU64(SCRATCH)).toBe(1_700_000_037);
    expect(s.h.call("clock_gettime", 10, SCRATCH)).toBe(EINVAL);
    expect(s.h.call("clock_gettime", -6, SCRATCH)).toBe(EINVAL);
    expect(s.h.call("clock_gettime", 0, 0)).toBe(EFAULT);
  });
  it("nanoseconds are always below one second", () => {
    const s = setup();
    s.clock.real = 1_700_000_000_000 + 999.9999999;
    s.h.call("clock_gettime", 0, SCRATCH);
    expect(s.mem.readU64(SCRATCH + 8)).toBeLessThan(1e9);
  });
  it("clock_getres", () => {
    const s = setup();
    expect(s.h.call("clock_getres", 1, SCRATCH)).toBe(0);
    expect(s.mem.readU64(SCRATCH + 8)).toBe(1);
    expect(s.h.call("clock_getres", 5, SCRATCH)).toBe(0);
    expect(s.mem.readU64(SCRATCH + 8)).toBe(4_000_000);
    expect(s.h.call("clock_getres", 0, 0)).toBe(0);
    expect(s.h.call("clock_getres", 99, 0)).toBe(EINVAL);
  });
  it("gettimeofday and time", () => {
    const s = setup();
    expect(s.h.call("gettimeofday", SCRATCH, SCRATCH + 16)).toBe(0);
    expect(s.mem.readU64(SCRATCH)).toBe(1_700_000_000);
    expect(s.mem.readU64(SCRATCH + 8)).toBe(123_456);
    expect(s.h.call("gettimeofday", 0, 0)).toBe(0);
    expect(s.h.call("time", 0)).toBe(1_700_000_000);
    expect(s.h.call("time", SCRATCH + 32)).toBe(1_700_000_000);
    expect(s.mem.readU64(SCRATCH + 32)).toBe(1_700_000_000);
    expect(s.h.call("time", 3)).toBe(EFAULT);
  });
  it("the host clock is sane", () => {
    const k = new Libos({ memory: { base: 0x200000, size: 0x100000 } });
    const h = new Harness(k, new FakeMemory(0x10000, 0x400000));
    expect(h.call("clock_gettime", 0, SCRATCH)).toBe(0);
    expect(Math.abs(h.mem.readU64(SCRATCH) - Date.now() / 1000)).toBeLessThan(5);
    expect(h.call("clock_gettime", 1, SCRATCH)).toBe(0);
    expect(h.call("clock_gettime", 2, SCRATCH)).toBe(0);
  });
});

describe("sleeping", () => {
  it("nanosleep sleeps for the request and validates it", () => {
    const s = setup();
    timespec(s, SCRATCH, 1n, 500_000_000n);
    expect(s.h.call("nanosleep", SCRATCH, 0)).toBe(0);
    expect(s.clock.slept).toEqual([1500]);
    timespec(s, SCRATCH, 0n, 1_000_000_000n);
    expect(s.h.call("nanosleep", SCRATCH, 0)).toBe(EINVAL);
    timespec(s, SCRATCH, -1n, 0n);
    expect(s.h.call("nanosleep", SCRATCH, 0)).toBe(EINVAL);
    expect(s.h.call("nanosleep", 0, 0)).toBe(EFAULT);
  });
  it("clock_nanosleep: relative and absolute", () => {
    const s = setup();
    timespec(s, SCRATCH, 0n, 2_000_000n);
    expect(s.h.call("clock_nanosleep", 1, 0, SCRATCH, 0)).toBe(0);
    timespec(s, SCRATCH, 6n, 0n); // monotonic is at 5.00225 s
    expect(s.h.call("clock_nanosleep", 1, 1, SCRATCH, 0)).toBe(0);
    timespec(s, SCRATCH, 1n, 0n); // in the past: no sleep
    expect(s.h.call("clock_nanosleep", 1, 1, SCRATCH, 0)).toBe(0);
    expect(s.clock.slept.map((x) => Math.round(x * 1000) / 1000)).toEqual([2, 997.75]);
    expect(s.h.call("clock_nanosleep", 3, 0, SCRATCH, 0)).toBe(EINVAL);
    expect(s.h.call("clock_nanosleep", 42, 0, SCRATCH, 0)).toBe(EINVAL);
  });
  it("the default sleep blocks the thread", () => {
    const k = new Libos({ memory: { base: 0x200000, size: 0x100000 } });
    const h = new Harness(k, new FakeMemory(0x10000, 0x400000));
    h.mem.writeU64(SCRATCH, 0);
    h.mem.writeU64(SCRATCH + 8, 20_000_000);
    const t0 = performance.now();
    expect(h.call("nanosleep", SCRATCH, 0)).toBe(0);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(19);
  });
});

describe("futex", () => {
  it("WAIT returns EAGAIN when the value differs and times out otherwise", () => {
    const s = setup();
    s.mem.writeU32(SCRATCH, 5);
    expect(s.h.call("futex", SCRATCH, 0, 6, 0, 0, 0)).toBe(EAGAIN);
    timespec(s, SCRATCH + 16, 0n, 3_000_000n);
    expect(s.h.call("futex", SCRATCH, 128, 5, SCRATCH + 16, 0, 0)).toBe(ETIMEDOUT);
    expect(s.clock.slept).toEqual([3]);
    expect(s.h.call("futex", SCRATCH + 1, 0, 5, 0, 0, 0)).toBe(EINVAL);
    expect(s.h.call("futex", 8, 0, 5, 0, 0, 0)).toBe(EFAULT);
    timespec(s, SCRATCH + 16, 0n, -1n);
    expect(s.h.call("futex", SCRATCH, 0, 5, SCRATCH + 16, 0, 0)).toBe(EINVAL);
  });
  it("WAIT_BITSET takes an absolute timeout and a non-zero bitset", () => {
    const s = setup();
    s.mem.writeU32(SCRATCH, 1);
    timespec(s, SCRATCH + 16, 5n, 500_000_000n); // monotonic now 5.00025 s
    expect(s.h.call("futex", SCRATCH, 9, 1, SCRATCH + 16, 0, 0xffffffff)).toBe(ETIMEDOUT);
    expect(Math.round(s.clock.slept[0] * 1000)).toBe(499750);
    expect(s.h.call("futex", SCRATCH, 9, 1, SCRATCH + 16, 0, 0)).toBe(EINVAL);
  });
  it("a wait nobody can end kills the process with a reason", () => {
    const s = setup();
    s.mem.writeU32(SCRATCH, 0);
    s.h.call("futex", SCRATCH, 128, 0, 0, 0, 0);
    expect(s.h.resume).toBe(Resume.Exit);
    expect(s.k.termSignal).toBe(9);
    expect(s.k.killReason).toMatch(/futex/);
  });
  it("WAKE wakes nobody; WAKE_OP does its operation; CMP_REQUEUE compares", () => {
    const s = setup();
    expect(s.h.call("futex", SCRATCH, 1, 1, 0, 0, 0)).toBe(0);
    expect(s.h.call("futex", SCRATCH, 10, 1, 0, 0, 0)).toBe(EINVAL);
    s.mem.writeU32(SCRATCH + 4, 10);
    // FUTEX_OP(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_EQ, 10)
    const op = (1 << 28) | (0 << 24) | (3 << 12) | 10;
    expect(s.h.call("futex", SCRATCH, 5, 1, 1, SCRATCH + 4, op)).toBe(0);
    expect(s.mem.readU32(SCRATCH + 4)).toBe(13);
    expect(s.h.call("futex", SCRATCH, 5, 1, 1, SCRATCH + 4, 7 << 28)).toBe(ENOSYS);
    s.mem.writeU32(SCRATCH, 2);
    expect(s.h.call("futex", SCRATCH, 4, 1, 1, SCRATCH + 8, 3)).toBe(EAGAIN);
    expect(s.h.call("futex", SCRATCH, 4, 1, 1, SCRATCH + 8, 2)).toBe(0);
    expect(s.h.call("futex", SCRATCH, 6, 0, 0, 0, 0)).toBe(ENOSYS);
    expect(s.h.call("futex", SCRATCH, 1 | 256, 1, 0, 0, 0)).toBe(ENOSYS);
  });
});

describe("interval timers", () => {
  const SA_RESTORER = 0x04000000;
  function handler(s: ReturnType<typeof setup>, sig: number) {
    s.mem.writeBigU64(SCRATCH + 512, 0x401000n);
    s.mem.writeBigU64(SCRATCH + 520, BigInt(SA_RESTORER));
    s.mem.writeBigU64(SCRATCH + 528, 0x401100n);
    s.mem.writeBigU64(SCRATCH + 536, 0n);
    expect(s.h.call("rt_sigaction", sig, SCRATCH + 512, 0, 8)).toBe(0);
    s.h.task.regs.rsp = 0x1f0000n;
  }
  it("alarm reports the time left and cancels", () => {
    const s = setup();
    expect(s.h.call("alarm", 5)).toBe(0);
    s.clock.mono += 1200;
    expect(s.h.call("alarm", 10)).toBe(4);
    s.clock.mono += 9900;
    expect(s.h.call("alarm", 0)).toBe(1); // 0.1 s left still reports 1
    expect(s.h.call("alarm", 0)).toBe(0);
  });
  it("an expired alarm kills with SIGALRM (142) at the next system call", () => {
    const s = setup();
    s.h.call("alarm", 1);
    s.clock.mono += 1500;
    s.h.call("getpid");
    expect(s.h.resume).toBe(Resume.Exit);
    expect(s.k.shellStatus).toBe(142);
  });
  it("nanosleep is interrupted by SIGALRM: -EINTR, the time left, the handler runs", () => {
    const s = setup();
    handler(s, 14);
    s.h.call("alarm", 2);
    timespec(s, SCRATCH, 10n, 0n);
    expect(s.h.call("nanosleep", SCRATCH, SCRATCH + 16)).toBe(-4);
    expect(s.h.resume).toBe(Resume.Registers);
    expect(s.h.task.regs.rip).toBe(0x401000n);
    expect(s.mem.readU64(SCRATCH + 16)).toBe(8);
    expect(s.clock.slept).toEqual([2000]);
  });
  it("pause waits for the timer instead of deadlocking", () => {
    const s = setup();
    handler(s, 14);
    s.mem.writeU64(SCRATCH, 0); // it_interval
    s.mem.writeU64(SCRATCH + 8, 0);
    s.mem.writeU64(SCRATCH + 16, 0); // it_value: 250 ms
    s.mem.writeU64(SCRATCH + 24, 250_000);
    expect(s.h.call("setitimer", 0, SCRATCH, 0)).toBe(0);
    expect(s.h.call("pause")).toBe(-4);
    expect(s.h.task.regs.rip).toBe(0x401000n);
    expect(s.clock.slept).toEqual([250]);
  });
  it("setitimer reloads with its interval; getitimer reports; bad values are EINVAL", () => {
    const s = setup();
    s.mem.writeU64(SCRATCH, 0);
    s.mem.writeU64(SCRATCH + 8, 100_000);
    s.mem.writeU64(SCRATCH + 16, 0);
    s.mem.writeU64(SCRATCH + 24, 100_000);
    expect(s.h.call("setitimer", 0, SCRATCH, 0)).toBe(0);
    sigblock(s, 1n << 13n);
    s.clock.mono += 150;
    s.h.call("getpid");
    expect(s.k.signals.pending).toBe(1n << 13n);
    expect(s.h.call("getitimer", 0, SCRATCH + 64)).toBe(0);
    expect(s.mem.readU64(SCRATCH + 64 + 8)).toBe(100_000); // interval
    expect(s.mem.readU64(SCRATCH + 64 + 24)).toBe(50_000); // value: next expiry 50 ms away
    s.mem.writeU64(SCRATCH + 8, 1_000_000);
    expect(s.h.call("setitimer", 0, SCRATCH, 0)).toBe(-22);
    expect(s.h.call("setitimer", 3, SCRATCH, 0)).toBe(-22);
    expect(s.h.call("getitimer", 0, 0)).toBe(-14);
  });
  it("sigtimedwait returns a blocked SIGALRM as soon as the timer fires", () => {
    const s = setup();
    sigblock(s, 1n << 13n);
    s.h.call("alarm", 3);
    s.mem.writeBigU64(SCRATCH + 200, 1n << 13n);
    timespec(s, SCRATCH + 300, 60n, 0n);
    expect(s.h.call("rt_sigtimedwait", SCRATCH + 200, 0, SCRATCH + 300, 8)).toBe(14);
    expect(s.clock.slept).toEqual([3000]);
  });
  it("a futex wait without timeout is interrupted by a handled SIGALRM", () => {
    const s = setup();
    handler(s, 14);
    s.h.call("alarm", 1);
    s.mem.writeU32(SCRATCH, 0);
    expect(s.h.call("futex", SCRATCH, 128, 0, 0, 0, 0)).toBe(-4);
    expect(s.h.resume).toBe(Resume.Registers);
  });
});

function sigblock(s: ReturnType<typeof setup>, mask: bigint) {
  s.mem.writeBigU64(SCRATCH + 900, mask);
  expect(s.h.call("rt_sigprocmask", 0, SCRATCH + 900, 0, 8)).toBe(0);
}

describe("the deadline", () => {
  it("a sleep past the deadline ends the program instead of holding the thread", () => {
    const s = setup();
    s.k.deadline = s.clock.mono + 100;
    timespec(s, SCRATCH, 3600n, 0n);
    s.h.call("nanosleep", SCRATCH, 0);
    expect(s.h.resume).toBe(Resume.Exit);
    expect(s.k.termSignal).toBe(9);
    expect(s.k.killReason).toMatch(/^timeout/);
    expect(s.clock.slept).toEqual([100]);
  });
  it("applies to futex and sigtimedwait timeouts and to waits for a timer", () => {
    for (const call of [
      (s: ReturnType<typeof setup>) => {
        s.mem.writeU32(SCRATCH, 0);
        timespec(s, SCRATCH + 16, 3600n, 0n);
        s.h.call("futex", SCRATCH, 0, 0, SCRATCH + 16, 0, 0);
      },
      (s: ReturnType<typeof setup>) => {
        s.mem.writeBigU64(SCRATCH + 200, 1n << 9n);
        timespec(s, SCRATCH + 16, 3600n, 0n);
        s.h.call("rt_sigtimedwait", SCRATCH + 200, 0, SCRATCH + 16, 8);
      },
      (s: ReturnType<typeof setup>) => {
        s.h.call("alarm", 1000);
        s.h.call("pause");
      },
    ]) {
      const s = setup({ deadline: 5_000.25 + 50 });
      call(s);
      expect(s.h.resume).toBe(Resume.Exit);
      expect(s.k.killReason).toMatch(/^timeout/);
      expect(s.clock.slept).toEqual([50]);
    }
  });
  it("a sleep that ends before the deadline is unaffected", () => {
    const s = setup({ deadline: 1e12 });
    timespec(s, SCRATCH, 1n, 0n);
    expect(s.h.call("nanosleep", SCRATCH, 0)).toBe(0);
    expect(s.k.exited).toBe(false);
  });
});
