// A blocking read interrupted by a signal (Linux's -ERESTARTSYS): with an
// SA_RESTART handler the program executes `syscall` again after the handler;
// without SA_RESTART the handler's frame holds EINTR as the call's result.
import { MCONTEXT_OFFSET, SA_RESTART, SA_RESTORER } from "@kindling/libos";
import { Resume } from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";
import { FakeClock } from "./core-setup.js";
import { FsHarness } from "./fs-harness.js";

const SIGALRM = 14;
const HANDLER = 0x401000n;
const RESTORER = 0x401100n;
const RAX = 13;
const RIP = 16;
const EINTR = -4;

function interruptedRead(flags: number) {
  const clock = new FakeClock();
  const t = new FsHarness({}, { clock, sleep: clock.sleep });
  const act = t.alloc(32);
  t.mem.writeBigU64(act, HANDLER);
  t.mem.writeBigU64(act + 8, BigInt(SA_RESTORER | flags));
  t.mem.writeBigU64(act + 16, RESTORER);
  expect(t.call("rt_sigaction", SIGALRM, act, 0, 8)).toBe(0);
  const fds = t.alloc(8);
  expect(t.call("pipe2", fds, 0)).toBe(0);
  const itv = t.alloc(32);
  t.mem.writeBigU64(itv + 24, 10_000n); // it_value: 10 ms
  expect(t.call("setitimer", 0, itv, 0)).toBe(0);
  // As inside `syscall`: rcx holds the return address, r11 the flags, rax the call's number.
  t.h.task.regs = { ...t.h.task.regs, rip: 0x400500n, rcx: 0x400500n, r11: 0x246n, rax: 0n, rsp: 0x300000n };
  t.call("read", t.mem.readU32(fds), t.alloc(4), 4);
  expect(t.h.resume).toBe(Resume.Registers);
  expect(t.h.task.regs.rip).toBe(HANDLER);
  const frame = Number(t.h.task.regs.rsp);
  const saved = (i: number) => t.mem.readBigU64(frame + MCONTEXT_OFFSET + i * 8);
  return { rip: saved(RIP), rax: saved(RAX) };
}

describe("an interrupted blocking read", () => {
  it("starts again after an SA_RESTART handler", () => {
    const r = interruptedRead(SA_RESTART);
    expect(r.rip).toBe(0x4004fen); // the `syscall` instruction again
    expect(r.rax).toBe(0n); // still the call's number (read)
  });
  it("returns EINTR after a handler without SA_RESTART", () => {
    const r = interruptedRead(0);
    expect(r.rip).toBe(0x400500n);
    expect(r.rax).toBe(BigInt.asUintN(64, BigInt(EINTR)));
  });
});
