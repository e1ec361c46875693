import { Kvm } from "@kindling/kvm-ioctls";
import {
  type FaultEvent,
  KvmPlatform,
  Resume,
  type SyscallEvent,
  type SyscallServer,
  type TaskControl,
  USER_BASE,
} from "@kindling/syscall-tap";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const kvmMissing = Kvm.isAvailable() ? null : "/dev/kvm is not usable";
if (kvmMissing) console.warn(`skipping hostile-guest properties: ${kvmMissing}`);

const MEMORY = 16 << 20;
const CODE = 0x40_0000;

/** Answers every call with -ENOSYS (or with a value the property picks) and records what it saw. */
class RandomServer implements SyscallServer {
  calls = 0;
  faults = 0;
  constructor(private readonly answers: number[]) {}
  onSyscall(t: TaskControl, ev: SyscallEvent, o: { resume: Resume }): number {
    this.calls++;
    // Reading arguments and memory the program names must never throw anything but MemoryFault.
    for (let i = 0; i < 6; i++) {
      ev.arg(i);
      ev.argI32(i);
      ev.argU64(i);
    }
    try {
      t.memory.read(ev.arg(0), Math.min(ev.arg(1), 4096));
    } catch (e) {
      expect((e as { code?: string }).code).toBe("EFAULT");
    }
    if (ev.nr === 60 || ev.nr === 231 || this.calls > 50) {
      o.resume = Resume.Exit;
      return 0;
    }
    return this.answers[this.calls % this.answers.length] ?? -38;
  }
  onFault(t: TaskControl, ev: FaultEvent, o: { resume: Resume }): void {
    this.faults++;
    expect(ev.vector).toBeGreaterThanOrEqual(0);
    expect(ev.vector).toBeLessThan(32);
    t.getRegisters();
    o.resume = Resume.Exit;
  }
}

describe.skipIf(kvmMissing)("hostile guest code on the kvm platform", () => {
  it("random ring-3 code and register state end as an exit, a stop or a reported error; the host never throws", () => {
    const kvm = Kvm.open();
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 96 }),
        fc.array(fc.integer({ min: -4095, max: 2 ** 40 }), { minLength: 1, maxLength: 4 }),
        fc.constantFrom(CODE + 0x1000, MEMORY - 8, USER_BASE, 0, 0x1000, MEMORY + 4096),
        (code, answers, sp) => {
          const p = KvmPlatform.create({ memorySize: MEMORY, kvm });
          try {
            // A syscall instruction after the random bytes makes reaching the host likely.
            p.memory.write(CODE, Uint8Array.from([...code, 0x0f, 0x05, 0xeb, 0xfc]));
            p.start(CODE, sp);
            const server = new RandomServer(answers);
            const r = p.run(server, { wallMs: 300 });
            expect(["exited", "stop", "error"]).toContain(r.kind);
            if (r.kind === "error") expect(r.code).toMatch(/^E[A-Z]+$/);
          } finally {
            p.close();
          }
        },
      ),
      { numRuns: 100 },
    );
    kvm.close();
  });
});
