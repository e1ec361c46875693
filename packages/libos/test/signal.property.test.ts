import { FRAME_SIZE, MCONTEXT_OFFSET, SA_RESTORER } from "@kindling/libos";
import { type Registers, Resume } from "@kindling/syscall-tap";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MEM_BASE, MEM_SIZE, SCRATCH, setup } from "./core-setup.js";

const FIX_EFLAGS = 0x1n | 0x4n | 0x10n | 0x40n | 0x80n | 0x100n | 0x400n | 0x800n | 0x10000n | 0x40000n;
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const regsArb: fc.Arbitrary<Registers> = fc.record({
  rax: u64,
  rbx: u64,
  rcx: u64,
  rdx: u64,
  rsi: u64,
  rdi: u64,
  rsp: fc.integer({ min: MEM_BASE + 0x10000, max: MEM_BASE + MEM_SIZE - 64 }).map(BigInt),
  rbp: u64,
  r8: u64,
  r9: u64,
  r10: u64,
  r11: u64,
  r12: u64,
  r13: u64,
  r14: u64,
  r15: u64,
  rip: u64,
  rflags: u64,
});

/** An extended-state image: FXSAVE only, or XSAVE with a header whose XSTATE_BV is drawn. */
const xstateArb = fc.oneof(
  fc.uint8Array({ minLength: 512, maxLength: 512 }),
  fc
    .tuple(fc.constantFrom(1024, 2048, 4096), fc.bigInt({ min: 0n, max: 0x2ffn }), fc.integer({ min: 0, max: 255 }))
    .map(([len, bv, fill]) => {
      const x = new Uint8Array(len).map((_, i) => (i * 31 + fill) & 0xff);
      const dv = new DataView(x.buffer);
      dv.setBigUint64(512, bv, true);
      dv.setBigUint64(520, 0n, true);
      x.fill(0, 464, 512);
      return x;
    }),
);

function handlerSetup() {
  const s = setup();
  s.mem.writeBigU64(SCRATCH, 0x401000n);
  s.mem.writeBigU64(SCRATCH + 8, BigInt(SA_RESTORER));
  s.mem.writeBigU64(SCRATCH + 16, 0x401100n);
  s.mem.writeBigU64(SCRATCH + 24, 0n);
  expect(s.h.call("rt_sigaction", 10, SCRATCH, 0, 8)).toBe(0);
  return s;
}

describe("signal frames (property)", () => {
  it("delivery then rt_sigreturn restores every register and the extended state", () => {
    fc.assert(
      fc.property(regsArb, xstateArb, (regs, xstate) => {
        const s = handlerSetup();
        s.h.task.regs = { ...regs };
        s.h.task.xstate = xstate.slice();
        expect(s.h.call("kill", 100, 10)).toBe(0);
        if (s.h.resume === Resume.Exit) {
          // Only when the frame does not fit below the stack pointer.
          expect(s.k.termSignal).toBe(11);
          return;
        }
        expect(s.h.resume).toBe(Resume.Registers);
        const frame = Number(s.h.task.regs.rsp);
        expect(frame % 16).toBe(8);
        expect(frame).toBeGreaterThanOrEqual(MEM_BASE);
        // The handler clobbers everything, then returns through the restorer.
        s.h.task.xstate = new Uint8Array(xstate.length).fill(0xa5);
        s.h.task.regs = { ...s.h.task.regs, rbx: 1n, r12: 2n, rsp: BigInt(frame + 8), rip: 0x401100n };
        s.h.call("rt_sigreturn");
        expect(s.h.resume).toBe(Resume.Registers);
        const want = { ...regs, rax: 0n, rip: regs.rcx, rflags: (regs.r11 & FIX_EFLAGS) | 0x202n };
        expect(s.h.task.regs).toEqual(want);
        const got = s.h.task.xstate;
        const expected = xstate.slice();
        if (expected.length > 512) expected.fill(0, 464, 512);
        const bv = expected.length > 512 ? new DataView(expected.buffer).getBigUint64(512, true) : 0n;
        const saved = expected.length > 512 && (bv & ~7n) === 0n ? 832 : expected.length;
        expect([...got.subarray(0, saved)]).toEqual([...expected.subarray(0, saved)]);
        expect(got.subarray(saved).every((b) => b === 0xa5)).toBe(true);
        expect(s.k.task(s.h.task).sigmask).toBe(0n);
      }),
      { numRuns: 300 },
    );
  });

  it("rt_sigreturn on hostile frame bytes never throws and never grants privileged flags", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: FRAME_SIZE + 64, maxLength: FRAME_SIZE + 64 }),
        fc.oneof(fc.integer({ min: MEM_BASE, max: MEM_BASE + MEM_SIZE }).map(BigInt), u64),
        fc.option(fc.integer({ min: MEM_BASE, max: MEM_BASE + MEM_SIZE - 4096 }), { nil: undefined }),
        (bytes, rsp, fpAt) => {
          const s = setup();
          s.h.task.xstate = new Uint8Array(1024);
          const frame = Number(rsp) - 8;
          if (s.mem.contains(frame, bytes.length)) {
            s.mem.write(frame, bytes);
            // Sometimes point fpstate at readable memory.
            if (fpAt !== undefined) s.mem.writeU64(frame + MCONTEXT_OFFSET + 184, fpAt);
          }
          s.h.task.regs.rsp = rsp;
          s.h.call("rt_sigreturn");
          if (s.h.resume === Resume.Exit) {
            expect(s.k.termSignal).toBe(11);
            return;
          }
          expect(s.h.resume).toBe(Resume.Registers);
          const f = s.h.task.regs.rflags;
          expect(f & ~(FIX_EFLAGS | 0x202n)).toBe(0n); // no IOPL, VM, NT, IF games
          expect(f & 0x202n).toBe(0x202n);
          expect(s.k.task(s.h.task).sigmask & ((1n << 8n) | (1n << 18n))).toBe(0n);
          expect(s.h.task.xstate.length).toBe(1024);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
