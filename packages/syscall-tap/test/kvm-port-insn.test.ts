import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isStringPortInsn, portInsnEndingAt } from "../src/kvm/platform.js";

// The kvm platform finds the start of a program's port I/O instruction when
// KVM reports rip just past it (an `out` on these machines): the #GP Linux
// gives must name the instruction itself.
describe("portInsnEndingAt", () => {
  const at = (code: number[], exit: { out: boolean; size: number; port: number; dx?: number }) =>
    portInsnEndingAt(new Uint8Array([0x90, 0x90, ...code]), code.length + 2, { dx: 0, ...exit });

  it("decodes the in/out/ins/outs forms with their prefixes", () => {
    expect(at([0xe6, 0x10], { out: true, size: 1, port: 0x10 })).toBe(2); // out $0x10,%al
    expect(at([0x66, 0xe7, 0x10], { out: true, size: 2, port: 0x10 })).toBe(3); // out %ax
    expect(at([0xe7, 0x10], { out: true, size: 4, port: 0x10 })).toBe(2); // out %eax
    expect(at([0xee], { out: true, size: 1, port: 0x10, dx: 0x10 })).toBe(1); // out %al,(%dx)
    expect(at([0xef], { out: true, size: 4, port: 0x3f8, dx: 0x3f8 })).toBe(1);
    expect(at([0x6e], { out: true, size: 1, port: 0x10, dx: 0x10 })).toBe(1); // outsb
    expect(at([0xf3, 0x6e], { out: true, size: 1, port: 0x10, dx: 0x10 })).toBe(2); // rep outsb
    expect(at([0x66, 0x6f], { out: true, size: 2, port: 0x20, dx: 0x20 })).toBe(2); // outsw
    expect(at([0xe4, 0x10], { out: false, size: 1, port: 0x10 })).toBe(2); // in
    expect(at([0x66, 0xe7, 0x10], { out: true, size: 4, port: 0x10 })).toBe(2); // 66 is not this insn's
  });

  it("refuses what does not match the exit", () => {
    expect(at([0xe6, 0x11], { out: true, size: 1, port: 0x10 })).toBe(0); // another port
    expect(at([0xee], { out: true, size: 1, port: 0x10, dx: 0x11 })).toBe(0); // dx is not the port
    expect(at([0xe4, 0x10], { out: true, size: 1, port: 0x10 })).toBe(0); // an in
    expect(at([0xe7, 0x10], { out: true, size: 1, port: 0x10 })).toBe(0); // another size
    expect(at([0x90], { out: true, size: 1, port: 0x10 })).toBe(0);
  });

  it("never reads outside the bytes and returns a length that fits", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 32 }),
        fc.nat(40),
        fc.boolean(),
        fc.constantFrom(1, 2, 4),
        fc.nat(0xffff),
        (bytes, end, out, size, port) => {
          const len = portInsnEndingAt(bytes, Math.min(end, bytes.length), { out, size, port, dx: port });
          expect(len).toBeGreaterThanOrEqual(0);
          expect(len).toBeLessThanOrEqual(Math.min(15, end, bytes.length));
        },
      ),
    );
  });
});

describe("isStringPortInsn", () => {
  it("finds ins/outs behind prefixes, nothing else", () => {
    const at = (code: number[]) => isStringPortInsn(new Uint8Array([0x90, ...code, 0x90]), 1);
    expect(at([0x6e])).toBe(true); // outsb
    expect(at([0xf3, 0x6c])).toBe(true); // rep insb
    expect(at([0x66, 0xf3, 0x6f])).toBe(true); // rep outsw
    expect(at([0x64, 0x6e])).toBe(true); // outsb %fs:(%rsi)
    expect(at([0xee])).toBe(false); // out %al,(%dx): no memory operand
    expect(at([0x8b, 0x06])).toBe(false); // mov (%rsi),%eax
    expect(isStringPortInsn(new Uint8Array([0x6e]), -1)).toBe(false);
    expect(isStringPortInsn(new Uint8Array([0x6e]), 1)).toBe(false);
  });
});
