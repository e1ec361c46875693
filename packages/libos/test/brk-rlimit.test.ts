// brk respects RLIMIT_AS as Linux does (may_expand_vm): a program that lowers
// its address-space limit cannot grow its break past it (glibc's malloc falls
// back to brk when mmap fails, so this is what makes malloc return NULL).
import { describe, expect, it } from "vitest";
import { ARENA_BASE, SCRATCH, setup } from "./core-setup.js";

const RLIMIT_AS = 9;
const MiB = 1 << 20;

describe("brk and RLIMIT_AS", () => {
  it("the break does not grow past RLIMIT_AS; it still grows within it", () => {
    const { h, mem } = setup();
    const b0 = h.call("brk", 0);
    expect(b0).toBeGreaterThanOrEqual(ARENA_BASE);
    expect(h.call("brk", b0 + 64 * 1024)).toBe(b0 + 64 * 1024);
    // Lower RLIMIT_AS to what is mapped now plus 64 KiB.
    expect(h.call("brk", b0)).toBe(b0);
    mem.writeBigU64(SCRATCH, BigInt(128 * 1024));
    mem.writeBigU64(SCRATCH + 8, BigInt(128 * 1024));
    expect(h.call("prlimit64", 0, RLIMIT_AS, SCRATCH, 0)).toBe(0);
    expect(h.call("brk", b0 + MiB)).toBe(b0);
    expect(h.call("brk", b0 + 16 * 1024)).toBe(b0 + 16 * 1024);
    // Shrinking is always allowed.
    expect(h.call("brk", b0)).toBe(b0);
  });
});
