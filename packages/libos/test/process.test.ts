import { Libos, RLIM_INFINITY } from "@kindling/libos";
import { Resume } from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";
import { SCRATCH, setup } from "./core-setup.js";

const EFAULT = -14;
const EINVAL = -22;
const EPERM = -1;
const ESRCH = -3;

describe("exit", () => {
  it("exit_group keeps the status and ends the task", () => {
    const { k, h } = setup();
    expect(h.call("exit_group", 300)).toBe(0);
    expect(h.resume).toBe(Resume.Exit);
    expect(k.exited).toBe(true);
    expect(k.exitStatus).toBe(300 & 0xff);
    expect(k.termSignal).toBe(0);
    expect(k.shellStatus).toBe(44);
  });
  it("exit clears clear_child_tid", () => {
    const { k, h, mem } = setup();
    mem.writeU32(SCRATCH, 0xdead);
    expect(h.call("set_tid_address", SCRATCH)).toBe(100);
    h.call("exit", 3);
    expect(mem.readU32(SCRATCH)).toBe(0);
    expect(k.exitStatus).toBe(3);
    expect(h.resume).toBe(Resume.Exit);
  });
});

describe("identity", () => {
  it("reports pid, tid, ppid, ids", () => {
    const { h } = setup();
    expect(h.call("getpid")).toBe(100);
    expect(h.call("gettid")).toBe(100);
    expect(h.call("getppid")).toBe(99);
    expect(h.call("getuid")).toBe(1000);
    expect(h.call("geteuid")).toBe(1000);
    expect(h.call("getgid")).toBe(1000);
    expect(h.call("getegid")).toBe(1000);
    expect(h.call("getpgrp")).toBe(100);
    expect(h.call("getsid", 0)).toBe(100);
    expect(h.call("getpgid", 12345)).toBe(ESRCH);
  });
  it("getresuid writes the three ids and faults on bad pointers", () => {
    const { h, mem } = setup();
    expect(h.call("getresuid", SCRATCH, SCRATCH + 4, SCRATCH + 8)).toBe(0);
    expect([mem.readU32(SCRATCH), mem.readU32(SCRATCH + 4), mem.readU32(SCRATCH + 8)]).toEqual([1000, 1000, 1000]);
    expect(h.call("getresgid", 0, SCRATCH, SCRATCH)).toBe(EFAULT);
  });
  it("an unprivileged process may only switch among its own ids", () => {
    const { k, h } = setup();
    expect(h.call("setuid", 0)).toBe(EPERM);
    expect(h.call("setuid", 1000)).toBe(0);
    expect(h.call("setuid", -1)).toBe(EINVAL);
    expect(h.call("setresuid", -1, -1, -1)).toBe(0);
    expect(h.call("setresgid", 5, -1, -1)).toBe(EPERM);
    expect(h.call("setgroups", 0, 0)).toBe(EPERM);
    expect(h.call("setfsuid", 0)).toBe(1000);
    expect(k.fsuid).toBe(1000);
  });
  it("root may change ids", () => {
    const { k, h } = setup({ identity: { uid: 0, gid: 0 } });
    expect(h.call("setresuid", 5, 6, 7)).toBe(0);
    expect([k.ruid, k.euid, k.suid]).toEqual([5, 6, 7]);
    expect(h.call("setuid", 0)).toBe(EPERM); // euid is 6 now
  });
  it("getgroups", () => {
    const { h, mem } = setup();
    expect(h.call("getgroups", 0, 0)).toBe(2);
    expect(h.call("getgroups", 1, SCRATCH)).toBe(EINVAL);
    expect(h.call("getgroups", -1, SCRATCH)).toBe(EINVAL);
    expect(h.call("getgroups", 8, SCRATCH)).toBe(2);
    expect([mem.readU32(SCRATCH), mem.readU32(SCRATCH + 4)]).toEqual([1000, 27]);
  });
  it("uname fills six 65-byte fields", () => {
    const { h, mem } = setup({ uname: { nodename: "box" } });
    expect(h.call("uname", SCRATCH)).toBe(0);
    expect(mem.cstring(SCRATCH)).toBe("Linux");
    expect(mem.cstring(SCRATCH + 65)).toBe("box");
    expect(mem.cstring(SCRATCH + 65 * 4)).toBe("x86_64");
    expect(h.call("uname", 8)).toBe(EFAULT);
  });
  it("setsid fails for a group leader; setpgid on others is ESRCH", () => {
    const { h } = setup();
    expect(h.call("setsid")).toBe(EPERM);
    expect(h.call("setpgid", 5, 0)).toBe(ESRCH);
    expect(h.call("setpgid", 0, -1)).toBe(EINVAL);
    expect(h.call("setpgid", 0, 0)).toBe(0);
  });
});

describe("threads and TLS", () => {
  it("set_robust_list wants the 24-byte head", () => {
    const { h, mem } = setup();
    expect(h.call("set_robust_list", SCRATCH, 16)).toBe(EINVAL);
    expect(h.call("set_robust_list", SCRATCH, 24)).toBe(0);
    expect(h.call("get_robust_list", 0, SCRATCH + 64, SCRATCH + 72)).toBe(0);
    expect(mem.readU64(SCRATCH + 64)).toBe(SCRATCH);
    expect(mem.readU64(SCRATCH + 72)).toBe(24);
  });
  it("arch_prctl sets and reads FS and GS through TaskControl", () => {
    const { h, mem } = setup();
    expect(h.call("arch_prctl", 0x1002, 0x7f00_1234_5000)).toBe(0);
    expect(h.task.fsBase).toBe(0x7f00_1234_5000n);
    expect(h.call("arch_prctl", 0x1003, SCRATCH)).toBe(0);
    expect(mem.readBigU64(SCRATCH)).toBe(0x7f00_1234_5000n);
    expect(h.call("arch_prctl", 0x1001, 0x1000)).toBe(0);
    expect(h.call("arch_prctl", 0x1004, SCRATCH)).toBe(0);
    expect(mem.readU64(SCRATCH)).toBe(0x1000);
    expect(h.call("arch_prctl", 0x1002, 0xffff_8000_0000_0000n)).toBe(EPERM);
    expect(h.call("arch_prctl", 0x1002, 2n ** 47n)).toBe(EPERM);
    expect(h.call("arch_prctl", 0x1003, 0)).toBe(EFAULT);
    expect(h.call("arch_prctl", 0x9999, 0)).toBe(EINVAL);
  });
});

describe("limits", () => {
  it("prlimit64 reads and sets; the hard limit cannot be raised", () => {
    const { k, h, mem } = setup();
    expect(h.call("prlimit64", 0, 7, 0, SCRATCH)).toBe(0);
    expect(mem.readBigU64(SCRATCH)).toBe(1024n);
    expect(mem.readBigU64(SCRATCH + 8)).toBe(4096n);
    mem.writeBigU64(SCRATCH, 512n);
    mem.writeBigU64(SCRATCH + 8, 2048n);
    expect(h.call("prlimit64", 0, 7, SCRATCH, SCRATCH + 16)).toBe(0);
    expect(mem.readBigU64(SCRATCH + 16)).toBe(1024n);
    expect(k.rlimitCur(7)).toBe(512n);
    mem.writeBigU64(SCRATCH + 8, 4096n);
    expect(h.call("prlimit64", 0, 7, SCRATCH, 0)).toBe(EPERM);
    mem.writeBigU64(SCRATCH, 4000n);
    mem.writeBigU64(SCRATCH + 8, 100n);
    expect(h.call("prlimit64", 0, 7, SCRATCH, 0)).toBe(EINVAL);
    expect(h.call("prlimit64", 0, 16, 0, SCRATCH)).toBe(EINVAL);
    expect(h.call("prlimit64", 4242, 7, 0, SCRATCH)).toBe(ESRCH);
    expect(h.call("prlimit64", 100, 3, 0, SCRATCH)).toBe(0);
    expect(mem.readBigU64(SCRATCH + 8)).toBe(RLIM_INFINITY);
    expect(h.call("getrlimit", 3, SCRATCH)).toBe(0);
    expect(mem.readBigU64(SCRATCH)).toBe(8n << 20n);
    expect(h.call("setrlimit", 3, 1)).toBe(EFAULT);
  });
});

describe("getrandom", () => {
  it("fills the buffer from the random source", () => {
    const { h, mem } = setup({ random: (b) => b.fill(0xab) });
    expect(h.call("getrandom", SCRATCH, 100, 0)).toBe(100);
    expect(mem.bytes[SCRATCH - mem.base + 99]).toBe(0xab);
    expect(mem.bytes[SCRATCH - mem.base + 100]).toBe(0);
    expect(h.call("getrandom", SCRATCH, 0, 0)).toBe(0);
    expect(h.call("getrandom", SCRATCH, 16, 8)).toBe(EINVAL);
    expect(h.call("getrandom", SCRATCH, 16, 6)).toBe(EINVAL);
    expect(h.call("getrandom", 0, 16, 1)).toBe(EFAULT);
    expect(h.call("getrandom", SCRATCH, 2n ** 63n, 0)).toBe(EFAULT);
  });
  it("the default source is random", () => {
    const k = new Libos({ memory: { base: 0x100000, size: 0x100000 } });
    const { h, mem } = setup();
    const h2 = new (h.constructor as typeof import("./fake-task.js").Harness)(k, mem);
    expect(h2.call("getrandom", SCRATCH, 32, 0)).toBe(32);
    expect(mem.read(SCRATCH, 32).some((b) => b !== 0)).toBe(true);
  });
});

describe("scheduling, umask, usage", () => {
  it("sched_getaffinity reports the configured CPUs", () => {
    const { h, mem } = setup({ cpus: 3 });
    expect(h.call("sched_getaffinity", 0, 128, SCRATCH)).toBe(8);
    expect(mem.bytes[SCRATCH - mem.base]).toBe(0b111);
    expect(h.call("sched_getaffinity", 0, 4, SCRATCH)).toBe(EINVAL);
    expect(h.call("sched_getaffinity", 0, 12, SCRATCH)).toBe(EINVAL);
    expect(h.call("sched_getaffinity", 7777, 8, SCRATCH)).toBe(ESRCH);
    expect(h.call("sched_yield")).toBe(0);
  });
  it("umask swaps and masks", () => {
    const { k, h } = setup();
    expect(h.call("umask", 0o7777)).toBe(0o022);
    expect(h.call("umask", 0)).toBe(0o777);
    expect(k.umask).toBe(0);
  });
  it("getrusage and sysinfo", () => {
    const { k, h, mem, clock } = setup();
    clock.cpu += 1500.5;
    expect(h.call("getrusage", 0, SCRATCH)).toBe(0);
    expect(mem.readU64(SCRATCH)).toBe(1);
    expect(mem.readU64(SCRATCH + 8)).toBe(500500);
    expect(h.call("getrusage", 5, SCRATCH)).toBe(EINVAL);
    expect(h.call("sysinfo", SCRATCH)).toBe(0);
    expect(mem.readU64(SCRATCH + 32)).toBe(k.mm.limit);
    expect(mem.readU32(SCRATCH + 104)).toBe(1);
    expect(h.call("sysinfo", 1)).toBe(EFAULT);
  });
  it("prctl names the task", () => {
    const { h, mem } = setup({ argv: ["/bin/true"] });
    expect(h.call("prctl", 16, SCRATCH)).toBe(0);
    expect(mem.cstring(SCRATCH)).toBe("true");
    mem.writeCString(SCRATCH, "a-very-long-name-indeed");
    expect(h.call("prctl", 15, SCRATCH)).toBe(0);
    expect(h.call("prctl", 16, SCRATCH + 100)).toBe(0);
    expect(mem.cstring(SCRATCH + 100)).toBe("a-very-long-nam");
    expect(h.call("prctl", 12345)).toBe(EINVAL);
  });
});

describe("children", () => {
  it("wait4 and waitid find no children", () => {
    const { h } = setup();
    expect(h.call("wait4", -1, 0, 0, 0)).toBe(-10);
    expect(h.call("wait4", -1, 0, 1, 0)).toBe(-10);
    expect(h.call("wait4", -1, 0, 0x100, 0)).toBe(EINVAL);
    expect(h.call("waitid", 0, 0, 0, 4)).toBe(-10);
    expect(h.call("waitid", 0, 0, 0, 0)).toBe(EINVAL);
    expect(h.call("waitid", 9, 0, 0, 4)).toBe(EINVAL);
    expect(h.call("waitid", 0, 0, 0, 1)).toBe(EINVAL); // WNOHANG alone
    expect(h.call("wait4", -1, 0, 0x1000000, 0)).toBe(EINVAL); // WNOWAIT is waitid's
  });
});
