// A seccomp task's ProcessMemory holds no copy buffer of its own: one 64 KiB
// buffer serves every task of the supervisor's thread (it serves one
// notification at a time). Before, each task allocated 64 KiB: 64 MiB at the
// task limit of 1024 threads, charged to no sandbox's budget.

import { addressOf } from "@kindling/sys-util/unsafe";
import { ProcessMemory } from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";

describe("ProcessMemory's cost per task", () => {
  it("1024 tasks' memories allocate no buffer each", () => {
    new ProcessMemory(process.pid); // the shared buffer, made once
    const before = process.memoryUsage().arrayBuffers;
    const all = Array.from({ length: 1024 }, () => new ProcessMemory(process.pid));
    const grew = process.memoryUsage().arrayBuffers - before;
    expect(all.length).toBe(1024);
    expect(grew).toBeLessThan(256 * 1024);
  });

  it("memories sharing the buffer hand out copies: one task's read is not changed by another's", () => {
    const a = new Uint8Array(8192).fill(0xaa);
    const b = new Uint8Array(8192).fill(0x55);
    const m1 = new ProcessMemory(process.pid);
    const m2 = new ProcessMemory(process.pid);
    const addrA = Number(addressOf(a));
    const addrB = Number(addressOf(b));
    const r1 = m1.read(addrA, 100);
    const r2 = m2.read(addrB, 100);
    expect(r1.every((x) => x === 0xaa)).toBe(true);
    expect(r2.every((x) => x === 0x55)).toBe(true);
    expect(m1.readU32(addrA)).toBe(0xaaaaaaaa);
    expect(m2.readBigU64(addrB)).toBe(0x5555555555555555n);
    // A C string read page by page across both: each result its own.
    b[50] = 0;
    a[4000] = 0;
    const s1 = m1.readCString(addrA, 8192);
    const s2 = m2.readCString(addrB, 8192);
    expect(s1?.length).toBe(4000);
    expect(s2?.length).toBe(50);
    m2.write(addrA, new Uint8Array([1, 2, 3]));
    expect([...a.subarray(0, 4)]).toEqual([1, 2, 3, 0xaa]);
    expect(r1[0]).toBe(0xaa);
  });
});
