import { Kvm } from "@kindling/kvm-ioctls";
import {
  type FaultEvent,
  KvmPlatform,
  type Registers,
  Resume,
  type SyscallEvent,
  type SyscallServer,
  type TaskControl,
} from "@kindling/syscall-tap";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const kvmMissing = Kvm.isAvailable() ? null : "/dev/kvm is not usable";
if (kvmMissing) console.warn(`skipping the kvm port I/O property: ${kvmMissing}`);

const MEMORY = 16 << 20;
const CODE = 0x40_0000;
const DATA = 0x50_0000;
const DATA_LEN = 0x4000;

/** Records the first fault with the registers it was delivered with; a system call fails the property. */
class Recorder implements SyscallServer {
  fault: { vector: number; errorCode: number; address: number; regs: Registers } | undefined;
  calls = 0;
  onSyscall(_t: TaskControl, _ev: SyscallEvent, o: { resume: Resume }): number {
    this.calls++;
    o.resume = Resume.Exit;
    return 0;
  }
  onFault(t: TaskControl, ev: FaultEvent, o: { resume: Resume }): void {
    this.fault = { vector: ev.vector, errorCode: ev.errorCode, address: ev.address, regs: t.getRegisters() };
    o.resume = Resume.Exit;
  }
}

// Every port I/O instruction form (the syscall port 0x10 the TSS opens to ring 3,
// or another), with size/rep prefixes and any string operands, direction flag and
// count, is the #GP Linux gives a ring-3 program: at the instruction, with every
// register and every byte of memory as they were (KVM's half-done access undone).
describe.skipIf(kvmMissing)("program port I/O on the kvm platform", () => {
  it("is #GP at the instruction with no effect on registers or memory (property)", { timeout: 600_000 }, () => {
    const kvm = Kvm.open();
    const insn = fc.record({
      opcode: fc.constantFrom(0xe4, 0xe5, 0xe6, 0xe7, 0xec, 0xed, 0xee, 0xef, 0x6c, 0x6d, 0x6e, 0x6f),
      opsize: fc.boolean(),
      rep: fc.boolean(),
      imm: fc.oneof(fc.constant(0x10), fc.nat(255)),
    });
    const pointer = fc.oneof(
      fc.nat(DATA_LEN - 1).map((o) => BigInt(DATA + o)),
      fc.constantFrom(0n, 0x14000n, 0x16000n, BigInt(MEMORY - 1), BigInt(MEMORY + 0x1000), 2n ** 63n),
    );
    fc.assert(
      fc.property(
        insn,
        fc.oneof(fc.constant(0x10n), fc.bigInt({ min: 0n, max: 0xffffn })),
        pointer,
        pointer,
        fc.constantFrom(1n, 2n, 3n, 64n, 4097n, 0xffffffffn, 2n ** 64n - 1n),
        fc.boolean(),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        (i, dx, rdi, rsi, rcx, df, rax) => {
          const p = KvmPlatform.create({ memorySize: MEMORY, kvm });
          try {
            const string = i.opcode < 0xe4;
            const code = [
              ...(i.opsize ? [0x66] : []),
              ...(i.rep && string ? [0xf3] : []),
              i.opcode,
              ...(i.opcode <= 0xe7 && !string ? [i.imm] : []),
            ];
            p.memory.write(CODE, Uint8Array.from([...code, 0xeb, 0xfe]));
            const pattern = Uint8Array.from({ length: DATA_LEN }, (_, k) => (k * 37 + 11) & 0xff);
            p.memory.write(DATA, pattern);
            p.start(CODE, MEMORY - 4096);
            const regs = p.getRegisters();
            // Before the first run the sync regs are not loaded yet: give every register.
            for (const k of Object.keys(regs) as Array<keyof Registers>) regs[k] = 0n;
            Object.assign(regs, { rax, rcx, rdx: dx, rsi, rdi, rip: BigInt(CODE), rsp: BigInt(MEMORY - 4096) });
            regs.rflags = df ? 0x602n : 0x202n;
            p.setRegisters(regs);
            const before = p.getRegisters();
            const shim = Uint8Array.from(p.guestMemory.regions()[0].bytes.subarray(0, 0x15000));
            const server = new Recorder();
            const r = p.run(server, { wallMs: 5_000 });
            expect(r).toEqual({ kind: "exited" });
            expect(server.calls).toBe(0);
            expect(server.fault).toMatchObject({ vector: 13, errorCode: 0, address: 0 });
            // RF is set, as in the frame the CPU pushes with a fault (Linux reports it too).
            expect(server.fault?.regs).toEqual({ ...before, rflags: before.rflags | 0x10000n });
            expect(p.memory.read(DATA, DATA_LEN)).toEqual(pattern);
            // GDT, TSS, IDT and the shim's code are as written (the page tables get accessed
            // bits from the CPU, the ring-0 stack the fault's frame).
            const after = p.guestMemory.regions()[0].bytes;
            expect(after.subarray(0x11000, 0x15000)).toEqual(shim.subarray(0x11000, 0x15000));
          } finally {
            p.close();
          }
        },
      ),
      { numRuns: Number(process.env.KVM_PORT_IO_RUNS ?? 80) },
    );
    kvm.close();
  });
});
