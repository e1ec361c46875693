import { Resume } from "@kindling/syscall-tap";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SCRATCH, setup } from "./core-setup.js";

const THREAD = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x80000 | 0x200000;
const WORDS = [SCRATCH + 0x100, SCRATCH + 0x104, SCRATCH + 0x108];

type Op =
  | { op: "clone" }
  | { op: "wait"; w: number; timeoutMs: number | null }
  | { op: "wake"; w: number; n: number }
  | { op: "set"; w: number; v: number }
  | { op: "yield" }
  | { op: "sleep"; ms: number }
  | { op: "exit" }
  | { op: "alarm" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.constant({ op: "clone" as const }),
  fc.record({ op: fc.constant("wait" as const), w: fc.nat(2), timeoutMs: fc.option(fc.nat(50), { nil: null }) }),
  fc.record({ op: fc.constant("wake" as const), w: fc.nat(2), n: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ op: fc.constant("set" as const), w: fc.nat(2), v: fc.nat(1) }),
  fc.constant({ op: "yield" as const }),
  fc.record({ op: fc.constant("sleep" as const), ms: fc.integer({ min: 1, max: 30 }) }),
  fc.constant({ op: "exit" as const }),
  fc.constant({ op: "alarm" as const }),
);

describe("thread scheduler (property)", () => {
  it("any interleaving of clone/futex/yield/sleep/exit keeps one running thread and never throws", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const s = setup({ deadline: 1e7 });
        s.h.task.regs = { ...s.h.task.regs, rcx: 0x400000n, r11: 0x202n, rsp: 0x1f0000n };
        // SIGALRM is ignored so that alarms only wake waiters (EINTR paths are exercised).
        s.mem.writeBigU64(SCRATCH, 1n);
        s.mem.writeBigU64(SCRATCH + 8, 0n);
        s.mem.writeBigU64(SCRATCH + 16, 0n);
        s.mem.writeBigU64(SCRATCH + 24, 0n);
        s.h.call("rt_sigaction", 14, SCRATCH, 0, 8);
        for (const o of ops) {
          if (s.k.exited) break;
          let r: number;
          switch (o.op) {
            case "clone":
              r = s.h.call("clone", THREAD, 0x180000, 0, SCRATCH + 0x200, 0x9000);
              expect(r === -38 || r > 100).toBe(true);
              break;
            case "wait":
              if (o.timeoutMs !== null) {
                s.mem.writeU64(SCRATCH + 64, 0);
                s.mem.writeU64(SCRATCH + 72, o.timeoutMs * 1_000_000);
              }
              r = s.h.call("futex", WORDS[o.w], 128, 0, o.timeoutMs === null ? 0 : SCRATCH + 64, 0, 0);
              break;
            case "wake":
              r = s.h.call("futex", WORDS[o.w], 129, o.n, 0, 0, 0);
              expect(r).toBeGreaterThanOrEqual(0);
              expect(r).toBeLessThanOrEqual(o.n);
              break;
            case "set":
              s.mem.writeU32(WORDS[o.w], o.v);
              r = 0;
              break;
            case "yield":
              r = s.h.call("sched_yield");
              break;
            case "sleep":
              s.mem.writeU64(SCRATCH + 96, 0);
              s.mem.writeU64(SCRATCH + 104, o.ms * 1_000_000);
              r = s.h.call("nanosleep", SCRATCH + 96, 0);
              break;
            case "exit":
              r = s.h.call("exit", 0);
              break;
            case "alarm":
              r = s.h.call("alarm", 1);
              break;
          }
          expect(Number.isSafeInteger(r)).toBe(true);
          if (s.h.resume === Resume.Exit) {
            expect(s.k.exited).toBe(true);
            break;
          }
          const sched = s.k.sched;
          if (sched !== undefined) {
            const running = sched.tasks.filter((x) => x.state === "running");
            expect(running).toHaveLength(1);
            expect(running[0]).toBe(sched.current);
            expect(s.k.task(s.h.task)).toBe(sched.current);
            expect(new Set(sched.tasks.map((x) => x.tid)).size).toBe(sched.tasks.length);
            for (const x of sched.tasks) if (x.state !== "running") expect(x.ctx).toBeDefined();
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
