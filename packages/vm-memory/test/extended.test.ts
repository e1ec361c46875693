import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { ioctl, iow, O_RDWR, open, close as sysClose } from "@kindling/sys-util";
import {
  codecs,
  DirtyBitmap,
  GuestAddress,
  GuestMemoryError,
  GuestMemoryMmap,
  MAX_MAPPING_SIZE,
  MemoryRegionAddress,
  registerWithVm,
  U64_MAX,
  VolatileSlice,
} from "@kindling/vm-memory";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const opened: GuestMemoryMmap[] = [];
function track(m: GuestMemoryMmap): GuestMemoryMmap {
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

describe("GuestAddress", () => {
  it("checked, overflowing and wrapping arithmetic never wraps silently", () => {
    const top = new GuestAddress(U64_MAX);
    expect(top.checkedAdd(1)).toBeUndefined();
    expect(code(() => top.add(1))).toBe("ADDRESS_OVERFLOW");
    expect(top.overflowingAdd(2)).toEqual([new GuestAddress(1n), true]);
    expect(top.uncheckedAdd(1).value).toBe(0n);
    expect(new GuestAddress(0).checkedSub(1)).toBeUndefined();
    expect(code(() => new GuestAddress(0).sub(1))).toBe("ADDRESS_OVERFLOW");
    expect(new GuestAddress(0).wrappingSub(1).value).toBe(U64_MAX);
    expect(new GuestAddress(0x1001).alignUp(0x1000).value).toBe(0x2000n);
    expect(top.checkedAlignUp(0x1000)).toBeUndefined();
    expect(code(() => new GuestAddress(1).alignUp(3))).toBe("INVALID_ARGUMENT");
    expect(new GuestAddress(0x1fff).alignDown(0x1000).value).toBe(0x1000n);
    expect(new GuestAddress(0x20).checkedOffsetFrom(new GuestAddress(0x30))).toBeUndefined();
    expect(code(() => new GuestAddress(-1))).toBe("INVALID_ARGUMENT");
    expect(code(() => new GuestAddress(1n << 64n))).toBe("INVALID_ARGUMENT");
    expect(new MemoryRegionAddress(5).add(5)).toBeInstanceOf(MemoryRegionAddress);
  });

  it("agrees with exact bigint arithmetic (property)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: U64_MAX }), fc.bigInt({ min: 0n, max: U64_MAX }), (a, b) => {
        const ga = new GuestAddress(a);
        const sum = a + b;
        expect(ga.checkedAdd(b)?.value).toBe(sum <= U64_MAX ? sum : undefined);
        expect(ga.wrappingAdd(b).value).toBe(sum & U64_MAX);
        expect(ga.checkedSub(b)?.value).toBe(a >= b ? a - b : undefined);
        expect(ga.wrappingSub(b).value).toBe((a - b) & U64_MAX);
        const up = ga.checkedAlignUp(4096);
        if (up !== undefined) {
          expect(up.value % 4096n).toBe(0n);
          expect(up.value >= a && up.value - a < 4096n).toBe(true);
        } else expect(a > U64_MAX - 4095n).toBe(true);
      }),
    );
  });
});

describe("memfd, file-backed and copy-on-write memory", () => {
  it("a private mapping of a memfd is copy-on-write", () => {
    const parent = track(
      GuestMemoryMmap.fromRanges(
        [
          { start: 0x1000n, size: 0x4000 },
          { start: 0x10000n, size: 0x2000 },
        ],
        { backing: "memfd" },
      ),
    );
    expect(parent.memfd).toBeGreaterThanOrEqual(0);
    parent.writeU64(0x1111n, 0x1000);
    parent.writeU64(0x2222n, 0x10008);
    const child = track(parent.copyOnWrite());
    expect(child.readU64(0x1000)).toBe(0x1111n);
    expect(child.readU64(0x10008)).toBe(0x2222n);
    child.writeU64(0x9999n, 0x1000);
    child.writeU64(0x8888n, 0x10008);
    expect(parent.readU64(0x1000)).toBe(0x1111n);
    expect(parent.readU64(0x10008)).toBe(0x2222n);
    expect(child.readU64(0x1000)).toBe(0x9999n);
    expect(child.regions()[0].shared).toBe(false);
    const anon = track(GuestMemoryMmap.fromRanges([{ start: 0n, size: 0x1000 }]));
    expect(code(() => anon.copyOnWrite())).toBe("NOT_FILE_BACKED");
  });

  it("maps files shared or private", () => {
    const dir = mkdtempSync(join(tmpdir(), "vm-memory-"));
    try {
      const path = join(dir, "img");
      writeFileSync(path, Buffer.alloc(0x3000, 0x41));
      const fd = openSync(path, "r+");
      try {
        const shared = track(
          GuestMemoryMmap.fromRangesWithFiles([{ start: 0n, size: 0x1000, file: { fd, offset: 0x1000 } }]),
        );
        expect(shared.regions()[0].fileOffset()).toEqual({ fd, offset: 0x1000n });
        shared.writeU8(0x42, 0);
        expect(readFileSync(path)[0x1000]).toBe(0x42);
        const priv = track(
          GuestMemoryMmap.fromRangesWithFiles([{ start: 0n, size: 0x1000, file: { fd } }], { shared: false }),
        );
        priv.writeU8(0x43, 0);
        expect(readFileSync(path)[0]).toBe(0x41);
      } finally {
        closeSync(fd);
      }
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe("atomics", () => {
  it("loads and stores aligned values and rejects misaligned ones", () => {
    const m = track(GuestMemoryMmap.fromRanges([{ start: 0x1000n, size: 0x1000 }]));
    m.storeU64(0x0102030405060708n, 0x1008);
    expect(m.loadU64(0x1008)).toBe(0x0102030405060708n);
    expect(m.loadU32(0x1008)).toBe(0x05060708);
    expect(m.loadU16(0x100a)).toBe(0x0506);
    expect(m.loadU8(0x100f)).toBe(1);
    m.storeU16(0xbeef, 0x1010);
    expect(m.readU16(0x1010)).toBe(0xbeef);
    expect(m.compareExchange(0xbeef, 0xcafe, 0x1010, 2)).toBe(0xbeef);
    expect(m.fetchAdd(1, 0x1010, 2)).toBe(0xcafe);
    expect(m.readU16(0x1010)).toBe(0xcaff);
    expect(code(() => m.loadU32(0x1002))).toBe("MISALIGNED");
    expect(code(() => m.storeU64(1n, 0x1004))).toBe("MISALIGNED");
    expect(code(() => m.loadU32(0x2000))).toBe("INVALID_GUEST_ADDRESS");
  });

  it("is atomic against another thread mapping the same memory", async () => {
    const m = track(GuestMemoryMmap.fromRanges([{ start: 0n, size: 0x1000 }], { backing: "memfd" }));
    const iterations = 200_000;
    const w = new Worker(join(here, "fixtures/atomic-worker.cjs"), {
      workerData: {
        addon: ["Release", "Debug"]
          .map((k) => join(here, `../../sys-util/build/${k}/kindling_sys.node`))
          .find((p) => existsSync(p)),
        fd: m.memfd,
        fileOffset: 0,
        length: 0x1000,
        offset: 0x100,
        iterations,
      },
    });
    const messages: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      w.on("message", (msg) => {
        messages.push(msg);
        if (msg === "done") resolve();
      });
      w.on("error", reject);
    });
    await new Promise<void>((resolve) => w.once("message", () => resolve()));
    for (let i = 0; i < iterations; i++) {
      m.fetchAdd(1, 0x100, 4);
      m.fetchAdd(1n, 0x108, 8);
    }
    await done;
    await w.terminate();
    expect(m.loadU32(0x100)).toBe(2 * iterations);
    expect(m.loadU64(0x108)).toBe(BigInt(2 * iterations));
  });
});

describe("dirty tracking", () => {
  it("marks pages written by the host, not raw views", () => {
    const m = track(GuestMemoryMmap.fromRanges([{ start: 0x10000n, size: 0x10000 }], { dirtyTracking: true }));
    expect(m.dirtyPages()).toEqual([]);
    m.writeU32(1, 0x10ffe); // straddles pages 0 and 1
    m.write(new Uint8Array(0x1001), 0x14000); // pages 4 and 5
    m.getBytes(0x18000, 16).fill(1); // raw: not tracked
    m.storeU64(5n, 0x1a000);
    expect(m.dirtyPages()).toEqual([0x10000n, 0x11000n, 0x14000n, 0x15000n, 0x1a000n]);
    m.markDirty(0x18000, 16);
    expect(m.regions()[0].bitmap!.isDirty(0x8000)).toBe(true);
    m.resetDirty();
    expect(m.dirtyPages()).toEqual([]);
    const s = m.getSlice(0x1c000, 0x2000);
    s.writeU8(1, 0x1000);
    expect(m.dirtyPages()).toEqual([0x1d000n]);
  });

  it("bitmap marks exactly the pages touched (property)", () => {
    fc.assert(
      fc.property(fc.nat(0x20000), fc.nat(0x8000), (off, len) => {
        const b = new DirtyBitmap(0x10000, 4096);
        b.mark(off, len);
        const pages = b.dirtyPages();
        const end = Math.min(off + len, 0x10000);
        const want: number[] = [];
        for (let p = 0; p < 16; p++)
          if (len > 0 && off < 0x10000 && p * 4096 < end && (p + 1) * 4096 > off) want.push(p);
        expect(pages).toEqual(want);
      }),
    );
  });
});

describe("VolatileSlice", () => {
  it("subslice, splitAt, offset, copyTo, copyFrom", () => {
    const s = new VolatileSlice(new Uint8Array(16).map((_, i) => i));
    const [a, b] = s.splitAt(4);
    expect([a.length, b.length]).toEqual([4, 12]);
    expect(b.readU8(0)).toBe(4);
    expect(s.offset(10).length).toBe(6);
    expect(s.subslice(2, 3).asUint8Array()).toEqual(Uint8Array.from([2, 3, 4]));
    const out = new Uint8Array(20);
    expect(s.copyTo(out)).toBe(16);
    expect(a.copyFrom(Uint8Array.from([9, 9, 9, 9, 9, 9]))).toBe(4);
    expect(s.readU32(0)).toBe(0x09090909);
    a.copyToVolatileSlice(b);
    expect(b.readU32(0)).toBe(0x09090909);
    expect(s.readObj(codecs.u16, 14)).toBe(0x0f0e);
    expect(code(() => s.subslice(10, 7))).toBe("OUT_OF_BOUNDS");
    expect(code(() => s.splitAt(17))).toBe("OUT_OF_BOUNDS");
    expect(code(() => s.readU64(9))).toBe("OUT_OF_BOUNDS");
    expect(code(() => s.load(1, 4))).toBe("MISALIGNED");
  });

  it("bounds checks are overflow-safe (property)", () => {
    const s = new VolatileSlice(new Uint8Array(64));
    const weird = fc.oneof(
      fc.integer({ min: -100, max: 200 }),
      fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY, 1.5, -0),
    );
    fc.assert(
      fc.property(weird, weird, (off, count) => {
        const ok =
          Number.isSafeInteger(off) && Number.isSafeInteger(count) && off >= 0 && count >= 0 && off + count <= 64;
        try {
          const sub = s.subslice(off, count);
          expect(ok).toBe(true);
          expect(sub.length === count).toBe(true);
        } catch (e) {
          expect(ok).toBe(false);
          expect((e as GuestMemoryError).code).toBe("OUT_OF_BOUNDS");
        }
      }),
    );
  });
});

describe("hostile addresses (property)", () => {
  it("accesses never reach outside the regions and fail only with documented codes", () => {
    // Two regions with a hole between them, and guard bytes we can check.
    const m = track(
      GuestMemoryMmap.fromRanges([
        { start: 0x1000n, size: 0x1000 },
        { start: 0x2000n, size: 0x1000 },
        { start: 0x5000n, size: 0x1000 },
      ]),
    );
    const inMem = (a: number) => (a >= 0x1000 && a < 0x3000) || (a >= 0x5000 && a < 0x6000);
    const addrArb = fc.oneof(
      fc.integer({ min: 0, max: 0x7000 }),
      fc.bigInt({ min: 0n, max: U64_MAX }),
      fc.constantFrom(-1, 2 ** 53, Number.MAX_SAFE_INTEGER, 0.5, U64_MAX, (1n << 53n) - 1n),
    );
    const lenArb = fc.oneof(fc.nat(0x3000), fc.constantFrom(-1, 2 ** 53, 1.5));
    const allowed = new Set([
      "INVALID_GUEST_ADDRESS",
      "PARTIAL_BUFFER",
      "INVALID_ARGUMENT",
      "CROSSES_REGION",
      "OUT_OF_BOUNDS",
      "MISALIGNED",
    ]);
    fc.assert(
      fc.property(addrArb, lenArb, fc.nat(7), (addr, len, op) => {
        const a =
          typeof addr === "bigint"
            ? addr <= BigInt(Number.MAX_SAFE_INTEGER)
              ? Number(addr)
              : -1
            : Number.isSafeInteger(addr)
              ? addr
              : -1;
        try {
          switch (op) {
            case 0: {
              const n = m.write(
                new Uint8Array(Math.max(0, Math.min(Number.isSafeInteger(len) ? len : 0, 0x3000))).fill(0xee),
                addr,
              );
              for (let i = 0; i < n; i++) expect(inMem(a + i)).toBe(true);
              break;
            }
            case 1: {
              const buf = new Uint8Array(Number.isSafeInteger(len) && len >= 0 ? len : 0);
              const n = m.read(buf, addr);
              expect(n).toBeLessThanOrEqual(buf.length);
              break;
            }
            case 2:
              m.writeU64(0x55n, addr);
              expect(inMem(a) && inMem(a + 7)).toBe(true);
              break;
            case 3:
              m.getSlice(addr, len);
              expect(inMem(a)).toBe(true);
              break;
            case 4:
              expect(m.checkRange(addr, len)).toBe(
                Number.isSafeInteger(len) &&
                  len >= 0 &&
                  inMem(a) &&
                  (len === 0 || inMem(a + len - 1)) &&
                  (len === 0 || !(a < 0x3000 && a + len > 0x3000)),
              );
              break;
            case 5:
              m.storeU32(1, addr);
              expect(a % 4).toBe(0);
              break;
            case 6:
              m.writeSlice(new Uint8Array(Number.isSafeInteger(len) && len >= 0 ? len : 0), addr);
              break;
            default:
              m.getSlices(addr, len);
          }
        } catch (e) {
          if (!(e instanceof GuestMemoryError)) throw e;
          expect(allowed.has(e.code)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

const hasKvm = (() => {
  try {
    sysClose(open("/dev/kvm", O_RDWR));
    return true;
  } catch {
    return false;
  }
})();
if (!hasKvm) console.warn("vm-memory: /dev/kvm is not usable here; skipping the KVM registration test");

describe.skipIf(!hasKvm)("registerWithVm with a real VM", () => {
  it("KVM accepts every region", () => {
    const KVM_CREATE_VM = 0xae01;
    const KVM_SET_USER_MEMORY_REGION = iow(0xae, 0x46, 32);
    const kvm = open("/dev/kvm", O_RDWR);
    const vmfd = ioctl(kvm, KVM_CREATE_VM, 0);
    try {
      const m = track(
        GuestMemoryMmap.fromRanges(
          [
            { start: 0n, size: 0x10000 },
            { start: 0x100000n, size: 0x20000 },
          ],
          { backing: "memfd" },
        ),
      );
      const regs = registerWithVm(m, {
        setUserMemoryRegion(r) {
          const s = Buffer.alloc(32);
          s.writeUInt32LE(r.slot, 0);
          s.writeUInt32LE(r.flags, 4);
          s.writeBigUInt64LE(r.guestPhysAddr, 8);
          s.writeBigUInt64LE(r.memorySize, 16);
          s.writeBigUInt64LE(r.userspaceAddr, 24);
          ioctl(vmfd, KVM_SET_USER_MEMORY_REGION, s);
        },
      });
      expect(regs.map((r) => r.slot)).toEqual([0, 1]);
    } finally {
      sysClose(vmfd);
      sysClose(kvm);
    }
  });
});

describe("ranges longer than one mapping", () => {
  it("become adjacent regions of at most MAX_MAPPING_SIZE, transparently", () => {
    const size = MAX_MAPPING_SIZE + 0x10000;
    for (const backing of ["anonymous", "memfd"] as const) {
      const m = track(GuestMemoryMmap.fromRanges([{ start: 0x1000n, size }], { backing }));
      expect(m.regions().map((r) => r.size)).toEqual([MAX_MAPPING_SIZE, 0x10000]);
      expect(m.totalSize()).toBe(size);
      const boundary = 0x1000 + MAX_MAPPING_SIZE;
      m.writeU64(0x1122334455667788n, boundary - 4); // straddles the two regions
      expect(m.readU64(boundary - 4)).toBe(0x1122334455667788n);
      expect(code(() => m.getSlice(boundary - 4, 8))).toBe("CROSSES_REGION");
      expect(m.checkRange(0x1000, size)).toBe(true);
      expect(m.checkRange(0x1000, size + 1)).toBe(false);
    }
  });
});

describe("insertRegion / removeRegion", () => {
  it("adds and removes regions with the layout rules", async () => {
    const { MmapRegion } = await import("@kindling/sys-util");
    const { GuestMemoryRegion } = await import("@kindling/vm-memory");
    const m = GuestMemoryMmap.fromRanges([{ start: 0n, size: 0x1000 }]);
    const extra = new GuestMemoryRegion(MmapRegion.anonymous(0x2000), 0x10000n);
    const m2 = track(m.insertRegion(extra));
    expect(m2.numRegions()).toBe(2);
    m2.writeU32(7, 0x11000);
    expect(m2.readU32(0x11000)).toBe(7);
    expect(code(() => m2.insertRegion(new GuestMemoryRegion(MmapRegion.anonymous(0x1000), 0x11000n)))).toBe(
      "OVERLAPPING_REGIONS",
    );
    const [m3, removed] = m2.removeRegion(0x10000n, 0x2000);
    expect(removed).toBe(extra);
    expect(m3.addressInRange(0x11000)).toBe(false);
    expect(code(() => m3.removeRegion(0x10000n, 0x2000))).toBe("INVALID_GUEST_ADDRESS");
    expect(code(() => m3.removeRegion(0n, 0x1000))).toBe("NO_REGIONS");
  });
});

describe("discard", () => {
  it("returns pages to the kernel: anonymous and shared memfd read zeros, private file mappings the file", () => {
    for (const backing of ["anonymous", "memfd"] as const) {
      const m = track(
        GuestMemoryMmap.fromRanges([{ start: 0x10000n, size: 0x4000 }], { backing, dirtyTracking: true }),
      );
      m.write(new Uint8Array(0x4000).fill(7), 0x10000);
      m.resetDirty();
      m.discard(0x11000, 0x2000);
      expect(m.readU8(0x10fff)).toBe(7);
      expect(m.readU8(0x11000)).toBe(0);
      expect(m.readU8(0x12fff)).toBe(0);
      expect(m.readU8(0x13000)).toBe(7);
      expect(m.dirtyPages()).toEqual([0x11000n, 0x12000n]);
      expect(code(() => m.discard(0x11001, 0x1000))).toBe("INVALID_ARGUMENT");
      expect(code(() => m.discard(0x13000, 0x2000))).toBe("PARTIAL_BUFFER");
      expect(code(() => m.discard(0x20000, 0x1000))).toBe("INVALID_GUEST_ADDRESS");
      expect(m.readU8(0x13000)).toBe(7);
    }
    const parent = track(GuestMemoryMmap.fromRanges([{ start: 0n, size: 0x2000 }], { backing: "memfd" }));
    parent.writeU8(5, 0x1000);
    const child = track(parent.copyOnWrite());
    child.writeU8(9, 0x1000);
    child.discard(0x1000, 0x1000);
    expect(child.readU8(0x1000)).toBe(5);
  });
});

describe("after close()", () => {
  it("every access is a typed error", () => {
    const m = GuestMemoryMmap.fromRanges([{ start: 0n, size: 0x1000 }]);
    m.close();
    m.close();
    expect(code(() => m.readU32(0))).toBe("INVALID_GUEST_ADDRESS");
    expect(code(() => m.write(new Uint8Array(4), 0))).toBe("INVALID_GUEST_ADDRESS");
    expect(code(() => m.getSlice(0, 4))).toBe("INVALID_GUEST_ADDRESS");
    expect(code(() => m.lastAddr())).toBe("NO_REGIONS");
    expect(m.regions()).toEqual([]);
    expect(m.checkRange(0, 1)).toBe(false);
  });
});
