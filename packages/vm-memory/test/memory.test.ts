import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  codecs,
  GuestAddress,
  GuestMemoryError,
  GuestMemoryMmap,
  MemoryRegionAddress,
  registerWithVm,
  type UserMemoryRegion,
} from "@kindling/vm-memory";
import { afterEach, describe, expect, it } from "vitest";

const opened: GuestMemoryMmap[] = [];
function mem(ranges: { start: bigint; size: number }[], options = {}): GuestMemoryMmap {
  const m = GuestMemoryMmap.fromRanges(ranges, options);
  opened.push(m);
  return m;
}
afterEach(() => {
  for (const m of opened.splice(0)) m.close();
});

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(GuestMemoryError);
    return (e as GuestMemoryError).code;
  }
  throw new Error("did not throw");
}

describe("GuestMemoryMmap construction", () => {
  it("rejects empty, unsorted and overlapping ranges with typed errors", () => {
    expect(code(() => GuestMemoryMmap.fromRanges([]))).toBe("NO_REGIONS");
    expect(code(() => GuestMemoryMmap.fromRanges([{ start: 0n, size: 0 }]))).toBe("EMPTY_REGION");
    expect(
      code(() =>
        GuestMemoryMmap.fromRanges([
          { start: 0x10000n, size: 4096 },
          { start: 0n, size: 4096 },
        ]),
      ),
    ).toBe("UNSORTED_REGIONS");
    expect(
      code(() =>
        GuestMemoryMmap.fromRanges([
          { start: 0n, size: 8192 },
          { start: 4096n, size: 4096 },
        ]),
      ),
    ).toBe("OVERLAPPING_REGIONS");
    expect(code(() => GuestMemoryMmap.fromRanges([{ start: 1n << 60n, size: 4096 }]))).toBe("REGION_TOO_LARGE");
    expect(code(() => GuestMemoryMmap.fromRanges([{ start: -1n, size: 4096 }]))).toBe("INVALID_ARGUMENT");
  });

  it("finds regions and reports their layout", () => {
    const m = mem([
      { start: 0n, size: 0x10000 },
      { start: 0x100000n, size: 0x2000 },
    ]);
    expect(m.numRegions()).toBe(2);
    expect(m.findRegion(new GuestAddress(0x100fffn))?.start.value).toBe(0x100000n);
    expect(m.findRegion(0x10000)).toBeUndefined();
    expect(m.lastAddr().value).toBe(0x101fffn);
    expect(m.regions()[1].hostAddress).toBeTypeOf("bigint");
    expect(m.getHostAddress(0x100010n)).toBe(m.regions()[1].hostAddress + 0x10n);
    const r = m.regions()[1];
    expect(r.toRegionAddr(new GuestAddress(0x100004n))?.value).toBe(4n);
    expect(r.toRegionAddr(new GuestAddress(0x102000n))).toBeUndefined();
    expect(r.checkedOffset(new MemoryRegionAddress(0x1ff0n), 0x10)).toBeUndefined();
    expect(r.checkedOffset(new MemoryRegionAddress(0x1ff0n), 0xf)?.value).toBe(0x1fffn);
  });
});

describe("Bytes", () => {
  it("reads and writes little-endian scalars and objects", () => {
    const m = mem([{ start: 0x1000n, size: 0x4000 }]);
    m.writeU32(0xdeadbeef, new GuestAddress(0x1000n));
    expect(m.readU8(0x1000)).toBe(0xef);
    expect(m.readU16(0x1002n)).toBe(0xdead);
    m.writeU64(0x0102030405060708n, 0x1008);
    expect(m.readU64(0x1008)).toBe(0x0102030405060708n);
    m.writeObj(0x1234, codecs.u16, 0x2000);
    expect(m.readObj(codecs.u16, 0x2000)).toBe(0x1234);
    const buf = new Uint8Array([1, 2, 3, 4]);
    m.writeSlice(buf, 0x3000);
    const out = new Uint8Array(4);
    m.readSlice(out, new GuestAddress(0x3000n));
    expect([...out]).toEqual([1, 2, 3, 4]);
  });

  it("makes out-of-range and overflowing accesses typed errors", () => {
    const m = mem([{ start: 0x1000n, size: 0x1000 }]);
    expect(code(() => m.readU32(0))).toBe("INVALID_GUEST_ADDRESS");
    expect(code(() => m.readU32(0x1ffe))).toBe("PARTIAL_BUFFER");
    expect(code(() => m.writeSlice(new Uint8Array(16), 0x1ff8))).toBe("PARTIAL_BUFFER");
    expect(m.readU8(0x1ff8)).toBe(0); // nothing of the partial write happened
    expect(code(() => m.readU8((1n << 64n) - 1n))).toBe("INVALID_GUEST_ADDRESS");
    expect(code(() => m.readU8(-1))).toBe("INVALID_GUEST_ADDRESS");
    expect(code(() => m.getSlice(0x1800, 0x1000))).toBe("OUT_OF_BOUNDS");
    expect(m.write(new Uint8Array(16), 0x1ff8)).toBe(8);
  });

  it("crosses adjacent regions for read/write but not for getSlice", () => {
    const m = mem([
      { start: 0n, size: 0x1000 },
      { start: 0x1000n, size: 0x1000 },
    ]);
    m.writeU64(0x1122334455667788n, 0xffc);
    expect(m.readU64(0xffc)).toBe(0x1122334455667788n);
    expect(m.checkRange(0xff0, 0x20)).toBe(true);
    expect(code(() => m.getSlice(0xffc, 8))).toBe("CROSSES_REGION");
    const slices = m.getSlices(0xffc, 8);
    expect(slices.map((s) => s.length)).toEqual([4, 4]);
  });
});

describe("registerWithVm", () => {
  it("hands every region to the VM", () => {
    const m = mem([
      { start: 0n, size: 0x10000 },
      { start: 0x100000n, size: 0x2000 },
    ]);
    const seen: UserMemoryRegion[] = [];
    registerWithVm(m, { setUserMemoryRegion: (r) => seen.push(r) }, { firstSlot: 3 });
    expect(seen).toEqual([
      { slot: 3, guestPhysAddr: 0n, memorySize: 0x10000n, userspaceAddr: m.regions()[0].hostAddress, flags: 0 },
      { slot: 4, guestPhysAddr: 0x100000n, memorySize: 0x2000n, userspaceAddr: m.regions()[1].hostAddress, flags: 0 },
    ]);
  });
});

describe("file I/O", () => {
  it("reads from and writes to a file straight through the mapping", () => {
    const path = join(tmpdir(), `vm-memory-${process.pid}-${Date.now()}`);
    writeFileSync(path, Buffer.from("hello guest memory"));
    const fd = openSync(path, "r+");
    try {
      const m = mem([{ start: 0n, size: 0x1000 }]);
      expect(m.readFrom(fd, 0x100, 18, 0)).toBe(18);
      const out = new Uint8Array(18);
      m.readSlice(out, 0x100);
      expect(Buffer.from(out).toString()).toBe("hello guest memory");
      m.writeAllTo(fd, 0x100, 5, 18);
      expect(readFileSync(path).toString()).toBe("hello guest memoryhello");
    } finally {
      closeSync(fd);
      unlinkSync(path);
    }
  });
});
