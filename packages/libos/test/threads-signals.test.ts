/**
 * Process-directed signals with cooperative threads: the signal goes to a
 * thread that does not block it (the main thread first, as Linux's
 * complete_signal), which is woken from its wait even while another thread
 * runs; no other thread takes it meanwhile.
 */
import { MCONTEXT_OFFSET } from "@kindling/libos";
import { describe, expect, it } from "vitest";
import { FakeClock, SCRATCH, setup } from "./core-setup.js";
import { FsHarness, MEM_BASE } from "./fs-harness.js";

const CLONE_THREAD_FLAGS = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x80000 | 0x100000 | 0x200000;
const FUTEX = SCRATCH + 0x100;
const PTID = SCRATCH + 0x200;
const CTID = SCRATCH + 0x204;
const ACT = SCRATCH + 0x300;
const SET = SCRATCH + 0x340;
const HANDLER = 0x401000n;
const EINTR_U64 = BigInt.asUintN(64, -4n);
const SIGUSR1 = 10;
const SIGUSR2 = 12;
const SIGALRM = 14;

type S = ReturnType<typeof setup>;

/** The running thread is inside a syscall that returns to `rip` (rax: the call's number). */
function at(s: S, rip: bigint, nr = 0n) {
  s.h.task.regs = { ...s.h.task.regs, rip: 0x14000n, rcx: rip, r11: 0x246n, rax: nr };
}

function start(): S {
  const s = setup();
  s.h.task.regs = { ...s.h.task.regs, rip: 0x14000n, rcx: 0x400100n, r11: 0x246n, rsp: 0x1f0000n };
  return s;
}

function spawn(s: S): number {
  return s.h.call("clone", CLONE_THREAD_FLAGS, 0x180000n, PTID, CTID, 0x9000n);
}

function handle(s: S, sig: number, flags = 0x04000000) {
  s.mem.writeBigU64(ACT, HANDLER);
  s.mem.writeBigU64(ACT + 8, BigInt(flags)); // SA_RESTORER (| SA_RESTART)
  s.mem.writeBigU64(ACT + 16, 0x401100n);
  s.mem.writeBigU64(ACT + 24, 0n);
  expect(s.h.call("rt_sigaction", sig, ACT, 0, 8)).toBe(0);
}

function block(s: S, mask: bigint) {
  s.mem.writeBigU64(SET, mask);
  expect(s.h.call("rt_sigprocmask", 0, SET, 0, 8)).toBe(0);
}

/** The registers saved in the handler's frame (the handler's rsp is the frame). */
function frameReg(s: S, index: number): bigint {
  return s.mem.readBigU64(Number(s.h.task.regs.rsp) + MCONTEXT_OFFSET + index * 8);
}
const RAX = 13;
const RIP = 16;

describe("process signals with threads", () => {
  for (const spinnerBlocks of [true, false]) {
    it(`a timer's SIGALRM ends main's pause while another thread spins (spinner ${spinnerBlocks ? "blocks" : "does not block"} it)`, () => {
      const s = start();
      handle(s, SIGALRM);
      spawn(s);
      expect(s.h.call("alarm", 1)).toBe(0);
      at(s, 0x400400n);
      s.h.call("pause"); // main waits: the spinner runs
      expect(s.h.call("gettid")).toBe(101);
      if (spinnerBlocks) block(s, ~0n);
      s.clock.mono += 1000; // the timer expires while the spinner runs
      at(s, 0x400500n);
      s.h.call("sched_yield"); // nothing else runnable yet; the timer fires on the way out
      expect(s.h.call("gettid")).toBe(101);
      expect(s.h.task.regs.rip).not.toBe(HANDLER); // the spinner does not take main's signal
      s.h.call("sched_yield"); // main was woken: it runs the handler, pause returning -EINTR
      expect(s.h.call("gettid")).toBe(100);
      expect(s.h.task.regs.rip).toBe(HANDLER);
      expect(s.h.task.regs.rdi).toBe(BigInt(SIGALRM));
      expect(frameReg(s, RAX)).toBe(EINTR_U64);
      expect(frameReg(s, RIP)).toBe(0x400400n);
    });
  }

  it("kill from one thread ends another's rt_sigsuspend, which alone unblocks the signal", () => {
    const s = start();
    handle(s, SIGUSR1);
    block(s, 1n << BigInt(SIGUSR1 - 1)); // inherited by the thread
    spawn(s);
    at(s, 0x400200n);
    s.h.call("sched_yield"); // the thread runs
    expect(s.h.call("gettid")).toBe(101);
    s.mem.writeBigU64(SET, 0n);
    at(s, 0x400600n);
    s.h.call("rt_sigsuspend", SET, 8); // the thread waits with nothing blocked; main runs
    expect(s.h.call("gettid")).toBe(100);
    expect(s.h.call("kill", 100, SIGUSR1)).toBe(0);
    expect(s.h.task.regs.rip).not.toBe(HANDLER); // main blocks it
    s.h.call("sched_yield");
    expect(s.h.call("gettid")).toBe(101);
    expect(s.h.task.regs.rip).toBe(HANDLER);
    expect(frameReg(s, RAX)).toBe(EINTR_U64);
    // The frame keeps the mask from before the suspend (SIGUSR1 blocked again after the handler).
    expect(s.mem.readBigU64(Number(s.h.task.regs.rsp) + 8 + 296)).toBe(1n << BigInt(SIGUSR1 - 1));
  });

  it("a process signal interrupts a futex wait of the only thread that does not block it", () => {
    const s = start();
    handle(s, SIGUSR2, 0x04000000 | 0x10000000); // SA_RESTART: a futex wait with a handler still ends
    spawn(s);
    block(s, 1n << BigInt(SIGUSR2 - 1));
    at(s, 0x400200n);
    s.h.call("sched_yield");
    expect(s.h.call("gettid")).toBe(101);
    s.mem.writeU32(FUTEX, 0);
    at(s, 0x400700n);
    s.h.call("futex", FUTEX, 128, 0, 0, 0, 0); // the thread waits; main runs
    expect(s.h.call("gettid")).toBe(100);
    expect(s.h.call("kill", 100, SIGUSR2)).toBe(0);
    s.h.call("sched_yield");
    expect(s.h.call("gettid")).toBe(101);
    expect(s.h.task.regs.rip).toBe(HANDLER);
    expect(s.h.task.regs.rdi).toBe(BigInt(SIGUSR2));
    expect(frameReg(s, RIP)).toBe(0x400700n);
  });

  it("tgkill wakes the thread it names, not the running one", () => {
    const s = start();
    handle(s, SIGUSR1);
    spawn(s);
    at(s, 0x400200n);
    s.h.call("sched_yield");
    s.mem.writeU32(FUTEX, 0);
    at(s, 0x400700n);
    s.h.call("futex", FUTEX, 128, 0, 0, 0, 0); // the thread waits; main runs, SIGUSR1 unblocked
    expect(s.h.call("gettid")).toBe(100);
    at(s, 0x400800n);
    expect(s.h.call("tgkill", 100, 101, SIGUSR1)).toBe(0);
    expect(s.h.task.regs.rip).not.toBe(HANDLER);
    expect(s.h.call("getpid")).toBe(100);
    s.h.call("sched_yield");
    expect(s.h.call("gettid")).toBe(101);
    expect(s.h.task.regs.rip).toBe(HANDLER);
  });

  it("the running thread takes a process signal at once when the main thread only waits for the vCPU", () => {
    const s = start();
    handle(s, SIGUSR1);
    spawn(s);
    at(s, 0x400200n);
    s.h.call("sched_yield"); // main is runnable, not waiting
    expect(s.h.call("gettid")).toBe(101);
    at(s, 0x400a00n);
    expect(s.h.call("kill", 100, SIGUSR1)).toBe(0);
    expect(s.h.task.regs.rip).toBe(HANDLER);
    expect(s.h.call("gettid")).toBe(101);
  });

  it("a woken wait whose signal no longer runs a handler executes its call again (no spurious EINTR)", () => {
    const s = start();
    handle(s, SIGUSR1);
    spawn(s);
    at(s, 0x400200n);
    s.h.call("sched_yield");
    at(s, 0x400900n, 34n); // pause
    s.h.call("pause"); // the thread waits; main runs
    expect(s.h.call("gettid")).toBe(100);
    block(s, 1n << BigInt(SIGUSR1 - 1));
    expect(s.h.call("kill", 100, SIGUSR1)).toBe(0); // the thread is woken for it
    s.mem.writeBigU64(ACT, 1n); // SIG_IGN discards it before the thread runs
    expect(s.h.call("rt_sigaction", SIGUSR1, ACT, 0, 8)).toBe(0);
    s.h.call("sched_yield");
    expect(s.h.call("gettid")).toBe(101);
    expect(s.h.task.regs.rip).toBe(0x400900n - 2n); // back on its `syscall`
    expect(s.h.task.regs.rax).toBe(34n);
  });

  for (const restart of [true, false]) {
    it(`a pipe read in a thread interrupted by a process signal ${restart ? "runs again after an SA_RESTART handler" : "returns -EINTR without SA_RESTART"}`, () => {
      const clock = new FakeClock();
      const f = new FsHarness({}, { clock, sleep: clock.sleep });
      try {
        f.h.task.regs = {
          ...f.h.task.regs,
          rip: 0x14000n,
          rcx: 0x400100n,
          r11: 0x246n,
          rsp: BigInt(MEM_BASE + 0x300000),
        };
        const fds = f.alloc(8);
        expect(f.call("pipe2", fds, 0)).toBe(0);
        const rfd = f.mem.readU32(fds);
        const act = f.alloc(32);
        f.mem.writeBigU64(act, HANDLER);
        f.mem.writeBigU64(act + 8, BigInt(0x04000000 | (restart ? 0x10000000 : 0)));
        f.mem.writeBigU64(act + 16, 0x401100n);
        expect(f.call("rt_sigaction", SIGUSR1, act, 0, 8)).toBe(0);
        const tids = f.alloc(8);
        expect(f.call("clone", CLONE_THREAD_FLAGS, BigInt(MEM_BASE + 0x200000), tids, tids + 4, 0)).toBe(43);
        f.call("sched_yield");
        expect(f.call("gettid")).toBe(43);
        const buf = f.alloc(8);
        f.h.task.regs = { ...f.h.task.regs, rcx: 0x400b00n, rax: 0n }; // read
        f.call("read", rfd, buf, 1); // the pipe is empty: the thread waits, main runs
        expect(f.call("gettid")).toBe(42);
        const set = f.alloc(8);
        f.mem.writeBigU64(set, 1n << BigInt(SIGUSR1 - 1));
        expect(f.call("rt_sigprocmask", 0, set, 0, 8)).toBe(0);
        expect(f.call("kill", 42, SIGUSR1)).toBe(0);
        f.call("sched_yield");
        expect(f.call("gettid")).toBe(43);
        expect(f.h.task.regs.rip).toBe(HANDLER);
        const frame = Number(f.h.task.regs.rsp) + MCONTEXT_OFFSET;
        if (restart) {
          expect(f.mem.readBigU64(frame + RIP * 8)).toBe(0x400b00n - 2n); // back on `syscall` after the handler
          expect(f.mem.readBigU64(frame + RAX * 8)).toBe(0n); // read's number
        } else {
          expect(f.mem.readBigU64(frame + RIP * 8)).toBe(0x400b00n);
          expect(f.mem.readBigU64(frame + RAX * 8)).toBe(EINTR_U64);
        }
      } finally {
        f.dispose();
      }
    });
  }
});
