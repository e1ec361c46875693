import { Resume } from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";
import { SCRATCH, setup } from "./core-setup.js";

const CLONE_THREAD_FLAGS = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x80000 | 0x100000 | 0x200000;
const FUTEX = SCRATCH + 0x100;
const PTID = SCRATCH + 0x200;
const CTID = SCRATCH + 0x204;

type S = ReturnType<typeof setup>;

/** The main thread, inside a syscall: rcx is its return address. */
function mainAt(s: S, rip: bigint) {
  s.h.task.regs = { ...s.h.task.regs, rip: 0x14000n, rcx: rip, r11: 0x246n, rsp: 0x1f0000n, rbx: 0xaaan };
  s.h.task.fsBase = 0x7000n;
}

function spawn(s: S, stack = 0x180000n, tls = 0x9000n): number {
  return s.h.call("clone", CLONE_THREAD_FLAGS, stack, PTID, CTID, tls);
}

describe("threads", () => {
  it("clone makes a thread: tids, settid, and the parent continues", () => {
    const s = setup();
    mainAt(s, 0x400100n);
    const tid = spawn(s);
    expect(tid).toBe(101);
    expect(s.h.resume).toBe(Resume.Return);
    expect(s.mem.readU32(PTID)).toBe(101);
    expect(s.h.call("gettid")).toBe(100);
    expect(s.k.sched?.tasks.map((t) => t.tid)).toEqual([100, 101]);
  });

  it("clone3 makes a thread whose stack pointer is stack + stack_size", () => {
    const s = setup();
    mainAt(s, 0x400100n);
    const args = SCRATCH + 0x300;
    const fields = [BigInt(CLONE_THREAD_FLAGS), 0n, BigInt(CTID), BigInt(PTID), 0n, 0x170000n, 0x10000n, 0xa000n];
    fields.forEach((v, i) => s.mem.writeBigU64(args + i * 8, v));
    const tid = s.h.call("clone3", args, 64);
    expect(tid).toBe(101);
    expect(s.mem.readU32(PTID)).toBe(101);
    s.mem.writeU32(FUTEX, 0);
    s.h.call("futex", FUTEX, 128, 0, 0, 0, 0);
    expect(s.h.task.regs.rsp).toBe(0x180000n);
    expect(s.h.task.fsBase).toBe(0xa000n);
    expect(s.h.call("clone3", args, 8)).toBe(-22);
    s.mem.writeBigU64(args + 64, 0n);
    s.mem.writeBigU64(args + 72, 0n);
    s.mem.writeBigU64(args + 88, 1n);
    expect(s.h.call("clone3", args, 96)).toBe(-7); // unknown trailing field set: E2BIG
    s.mem.writeBigU64(args + 48, 0n);
    expect(s.h.call("clone3", args, 64)).toBe(-22); // a stack without a size
  });
  it("on a host process (seccomp) a thread clone runs natively", () => {
    const s = setup({}, true);
    mainAt(s, 0x400100n);
    expect(s.h.call("clone", CLONE_THREAD_FLAGS, 0x180000, PTID, CTID, 0x9000)).toBe(0);
    expect(s.h.resume).toBe(Resume.Continue);
    expect(s.k.sched).toBeUndefined();
  });
  it("rejects inconsistent flags and serves no fork yet", () => {
    const s = setup();
    expect(s.h.call("clone", 0x10000, 0, 0, 0, 0)).toBe(-22); // THREAD without SIGHAND
    expect(s.h.call("clone", 0x800, 0, 0, 0, 0)).toBe(-22); // SIGHAND without VM
    expect(s.h.call("clone", 17, 0, 0, 0, 0)).toBe(-38); // fork
    expect(s.unsupported).toEqual(["clone"]);
  });

  it("a futex wait switches to the other thread with its own registers, stack and TLS; wake and exit switch back", () => {
    const s = setup();
    mainAt(s, 0x400100n);
    spawn(s);
    // Main waits on the futex: the child runs from the clone's return with rax 0.
    s.mem.writeU32(FUTEX, 0);
    mainAt(s, 0x400200n);
    s.h.call("futex", FUTEX, 128, 0, 0, 0, 0);
    expect(s.h.resume).toBe(Resume.Registers);
    expect(s.h.task.regs.rip).toBe(0x400100n);
    expect(s.h.task.regs.rax).toBe(0n);
    expect(s.h.task.regs.rsp).toBe(0x180000n);
    expect(s.h.task.fsBase).toBe(0x9000n);
    expect(s.h.call("gettid")).toBe(101);
    // The child wakes main, then exits: clear_child_tid is cleared, main resumes.
    s.h.task.regs = { ...s.h.task.regs, rcx: 0x500000n };
    expect(s.h.call("futex", FUTEX, 129, 1, 0, 0, 0)).toBe(1);
    s.h.call("exit", 0);
    expect(s.h.resume).toBe(Resume.Registers);
    expect(s.mem.readU32(CTID)).toBe(0);
    expect(s.h.task.regs.rip).toBe(0x400200n);
    expect(s.h.task.regs.rax).toBe(0n);
    expect(s.h.task.regs.rbx).toBe(0xaaan);
    expect(s.h.task.fsBase).toBe(0x7000n);
    expect(s.h.call("gettid")).toBe(100);
    expect(s.k.exited).toBe(false);
    s.h.call("exit", 3);
    expect(s.k.exited).toBe(true);
    expect(s.k.exitStatus).toBe(3);
  });

  it("when every thread waits: timeouts run, a wait nothing can end is a deadlock", () => {
    const s = setup();
    mainAt(s, 0x400100n);
    spawn(s);
    s.mem.writeU32(FUTEX, 0);
    s.h.call("futex", FUTEX, 128, 0, 0, 0, 0); // main waits forever; child runs
    s.mem.writeU64(SCRATCH, 0);
    s.mem.writeU64(SCRATCH + 8, 30_000_000);
    s.h.call("futex", FUTEX, 128, 0, SCRATCH, 0, 0); // child waits 30 ms
    expect(s.clock.slept).toEqual([30]);
    expect(s.h.call("gettid")).toBe(101);
    expect(BigInt.asIntN(64, s.h.task.regs.rax)).toBe(-110n); // ETIMEDOUT
    s.h.call("futex", FUTEX, 128, 0, 0, 0, 0); // now both wait forever
    expect(s.h.resume).toBe(Resume.Exit);
    expect(s.k.killReason).toMatch(/deadlock/);
  });

  it("sched_yield runs the other thread; nanosleep lets others run", () => {
    const s = setup();
    mainAt(s, 0x400100n);
    spawn(s);
    mainAt(s, 0x400300n);
    s.h.call("sched_yield");
    expect(s.h.call("gettid")).toBe(101);
    s.mem.writeU64(SCRATCH, 1);
    s.mem.writeU64(SCRATCH + 8, 0);
    s.h.call("nanosleep", SCRATCH, 0); // child sleeps: main runs (it was runnable)
    expect(s.h.call("gettid")).toBe(100);
    expect(s.h.task.regs.rip).toBe(0x400300n);
    s.mem.writeU32(FUTEX, 0);
    s.h.call("futex", FUTEX, 128, 0, 0, 0, 0); // main waits: the sleeper's time passes
    expect(s.clock.slept).toEqual([1000]);
    expect(s.h.call("gettid")).toBe(101);
  });

  it("a signal interrupts a waiting thread when all wait (EINTR)", () => {
    const s = setup();
    mainAt(s, 0x400100n);
    spawn(s);
    s.mem.writeU32(FUTEX, 0);
    s.h.call("alarm", 1);
    s.h.call("futex", FUTEX, 128, 0, 0, 0, 0);
    s.h.call("futex", FUTEX, 128, 0, 0, 0, 0);
    // SIGALRM's default action ends the process once a thread runs again.
    expect(s.h.resume).toBe(Resume.Exit);
    expect(s.k.shellStatus).toBe(142);
  });

  it("tgkill reaches another thread of the process", () => {
    const s = setup();
    mainAt(s, 0x400100n);
    const tid = spawn(s);
    expect(s.h.call("tgkill", 100, tid, 0)).toBe(0);
    expect(s.h.call("tgkill", 100, tid + 1, 0)).toBe(-3);
    expect(s.h.call("tkill", tid, 15)).toBe(0);
    expect(s.k.shellStatus).toBe(143);
  });
  it("pause in one thread lets the others run; a signal from another thread ends the pause", () => {
    const s = setup();
    mainAt(s, 0x400100n);
    spawn(s);
    // A handler for SIGUSR1, which the child blocks.
    s.mem.writeBigU64(SCRATCH, 0x401000n);
    s.mem.writeBigU64(SCRATCH + 8, 0x04000000n);
    s.mem.writeBigU64(SCRATCH + 16, 0x401100n);
    s.mem.writeBigU64(SCRATCH + 24, 0n);
    s.h.call("rt_sigaction", 10, SCRATCH, 0, 8);
    mainAt(s, 0x400400n);
    s.h.call("pause");
    expect(s.h.call("gettid")).toBe(101);
    s.mem.writeBigU64(SCRATCH + 64, 1n << 9n);
    s.h.call("rt_sigprocmask", 0, SCRATCH + 64, 0, 8);
    s.h.call("kill", 100, 10); // pending: the child blocks it
    s.mem.writeU32(FUTEX, 0);
    s.h.call("futex", FUTEX, 128, 0, 0, 0, 0); // the child waits: main's pause ends with the handler
    expect(s.h.call("gettid")).toBe(100);
    expect(s.h.task.regs.rip).toBe(0x401000n);
    expect(s.h.task.regs.rdi).toBe(10n);
  });
  it("exit_group ends every thread", () => {
    const s = setup();
    mainAt(s, 0x400100n);
    spawn(s);
    s.h.call("exit_group", 5);
    expect(s.h.resume).toBe(Resume.Exit);
    expect(s.k.exitStatus).toBe(5);
  });
});
