import {
  type DescriptorChain,
  MockPackedQueue,
  MockSplitQueue,
  readerWriter,
  VIRTQ_DESC_F_AVAIL,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_USED,
  VIRTQ_DESC_F_WRITE,
  VirtioQueueError,
  type VirtQueue,
} from "@kindling/virtio-queue";
import { GuestMemoryMmap } from "@kindling/vm-memory";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";

// Guest memory: two regions with a hole, so addresses can fall in the hole,
// straddle a boundary, run off the end, or be absurd 64-bit values.
const MEM_A = 0x40000;
const mem = GuestMemoryMmap.fromRanges([
  { start: 0n, size: MEM_A },
  { start: 0x50000n, size: 0x10000 },
]);
afterAll(() => mem.close());
const END = 0x60000;

const DOCUMENTED = new Set([
  "INVALID_AVAIL_RING_INDEX",
  "INVALID_DESCRIPTOR_INDEX",
  "INVALID_INDIRECT_DESCRIPTOR",
  "INVALID_INDIRECT_DESCRIPTOR_TABLE",
  "DESCRIPTOR_CHAIN_OVERFLOW",
  "CHAIN_TOO_LONG",
  "INVALID_DESCRIPTOR_ADDRESS",
  "INVALID_BUFFER",
  "UNEXPECTED_EOF",
]);

const RING = 0x1000;
const POOL = 0x8000; // indirect tables and buffers are drawn from here

const addrArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: POOL, max: POOL + 0x2000 }) },
  { weight: 2, arbitrary: fc.constantFrom(MEM_A - 8, MEM_A - 16, MEM_A, 0x50000 - 4, END - 1, END, 0) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) },
);
const lenArb = fc.oneof(
  { weight: 6, arbitrary: fc.nat(64) },
  { weight: 2, arbitrary: fc.constantFrom(0, 16, 32, 48, 0xffffffff, 0x80000000, 0xfffffff0, 65536 * 16) },
  { weight: 1, arbitrary: fc.nat({ max: 0xffffffff }) },
);
const flagsArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .subarray([VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_F_INDIRECT])
      .map((fs) => fs.reduce((a, b) => a | b, 0)),
  },
  { weight: 1, arbitrary: fc.nat(0xffff) },
);
const descArb = (size: number) =>
  fc.record({
    addr: addrArb,
    len: lenArb,
    flags: flagsArb,
    next: fc.oneof({ weight: 5, arbitrary: fc.nat(size - 1) }, { weight: 1, arbitrary: fc.nat(0xffff) }),
  });

function writeRaw(at: number, d: { addr: number | bigint; len: number; flags: number; next: number }, packed = false) {
  const a = BigInt(d.addr);
  mem.writeU64(a, at);
  mem.writeU32(d.len >>> 0, at + 8);
  mem.writeU16(packed ? d.next : d.flags, at + 12);
  mem.writeU16(packed ? d.flags : d.next, at + 14);
}

/** Runs the device against whatever is in memory; checks every rule the property states. */
function drive(q: VirtQueue, size: number, allowedWrites: Array<[number, number]>): void {
  for (let n = 0; n < size + 2; n++) {
    let chain: DescriptorChain | undefined;
    try {
      chain = q.popDescriptorChain(mem);
    } catch (e) {
      expect(e).toBeInstanceOf(VirtioQueueError);
      expect(DOCUMENTED.has((e as VirtioQueueError).code)).toBe(true);
      if ((e as VirtioQueueError).code === "INVALID_AVAIL_RING_INDEX") return;
      continue;
    }
    if (chain === undefined) return;
    // The walk ends, and within bounds: a chain yields at most max(size, 65535) descriptors.
    const probe = chain.clone();
    let count = 0;
    while (probe.advance()) {
      count++;
      expect(count).toBeLessThanOrEqual(Math.max(size, 0xffff));
      if (probe.isWriteOnly) allowedWrites.push([probe.addrN, probe.len]);
    }
    if (probe.error !== undefined) expect(DOCUMENTED.has(probe.error)).toBe(true);
    let written = 0;
    try {
      const [r, w] = readerWriter(mem, chain);
      r.read(new Uint8Array(Math.min(r.availableBytes(), 256)));
      written = w.write(new Uint8Array(Math.min(w.availableBytes(), 256)).fill(0xa5));
    } catch (e) {
      expect(e).toBeInstanceOf(VirtioQueueError);
      expect(DOCUMENTED.has((e as VirtioQueueError).code)).toBe(true);
    }
    try {
      q.addUsed(mem, chain.headIndex, written);
    } catch (e) {
      expect(e).toBeInstanceOf(VirtioQueueError);
      expect((e as VirtioQueueError).code).toBe("INVALID_DESCRIPTOR_INDEX");
    }
    q.needsNotification(mem);
  }
}

function checkWrites(before: Uint8Array, allowed: Array<[number, number]>): void {
  const after = new Uint8Array(END);
  mem.read(after.subarray(0, MEM_A), 0);
  mem.read(after.subarray(0x50000), 0x50000);
  for (let i = 0; i < END; i++) {
    if (before[i] === after[i]) continue;
    const ok = allowed.some(([a, l]) => i >= a && i < a + l);
    if (!ok) throw new Error(`byte 0x${i.toString(16)} changed outside the used ring and the writable buffers`);
  }
}

function snapshot(): Uint8Array {
  const s = new Uint8Array(END);
  mem.read(s.subarray(0, MEM_A), 0);
  mem.read(s.subarray(0x50000), 0x50000);
  return s;
}

describe("hostile guest: split ring", () => {
  it("random tables, indirect tables, avail entries and indices: bounded walks, typed errors, writes only where allowed", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 4, 8, 16),
        fc.boolean(),
        fc.array(descArb(16), { minLength: 16, maxLength: 16 }),
        fc.array(descArb(16), { minLength: 0, maxLength: 24 }),
        fc.array(fc.oneof(fc.nat(15), fc.nat(0xffff)), { minLength: 16, maxLength: 16 }),
        fc.oneof(fc.nat(20), fc.nat(0xffff)),
        fc.nat(0xffff),
        (size, eventIdx, table, pool, ring, availIdx, usedEvent) => {
          mem.getBytes(0, MEM_A).fill(0);
          const mock = new MockSplitQueue(mem, RING, size);
          table.slice(0, size).forEach((d, i) => writeRaw(RING + 16 * i, d));
          pool.forEach((d, i) => writeRaw(POOL + 16 * i, d));
          ring.slice(0, size).forEach((h, i) => mock.setAvailRingEntry(i, h));
          mock.setAvailIdx(availIdx);
          mock.setUsedEvent(usedEvent);
          const q = mock.createQueue({ eventIdx });
          const before = snapshot();
          const allowed: Array<[number, number]> = [[mock.usedAddr, 6 + 8 * size]];
          drive(q, size, allowed);
          checkWrites(before, allowed);
          // The device never consumed more than avail_idx allowed.
          const pending = availIdx & 0xffff;
          if (pending <= size) expect(q.nextAvail).toBe(pending);
          else expect(q.nextAvail).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("ring areas outside memory are INVALID_QUEUE_ADDRESS, never an access", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(MEM_A - 0x10, MEM_A - 0x100, END - 0x20, 0x4fff0),
        fc.constantFrom(16, 256),
        (base, size) => {
          const mock = new MockSplitQueue(mem, base & ~15, size);
          const q = mock.createQueue();
          expect(q.isValid(mem)).toBe(false);
          try {
            q.popDescriptorChain(mem);
            throw new Error("popped from an invalid queue");
          } catch (e) {
            expect((e as VirtioQueueError).code).toBe("INVALID_QUEUE_ADDRESS");
          }
        },
      ),
    );
  });
});

describe("hostile guest: packed ring", () => {
  it("random ring contents and wrap bits: bounded, typed errors, writes only where allowed", () => {
    const packedFlags = fc.oneof(
      fc
        .subarray([VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_AVAIL, VIRTQ_DESC_F_USED])
        .map((fs) => fs.reduce((a, b) => a | b, 0)),
      fc.nat(0xffff),
    );
    const pdesc = fc.record({
      addr: addrArb,
      len: lenArb,
      flags: packedFlags,
      next: fc.oneof(fc.nat(15), fc.nat(0xffff)),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.boolean(),
        fc.array(pdesc, { minLength: 16, maxLength: 16 }),
        fc.array(pdesc, { minLength: 0, maxLength: 24 }),
        fc.nat(0xffff),
        fc.nat(3),
        (size, eventIdx, ring, pool, offWrap, evFlags) => {
          mem.getBytes(0, MEM_A).fill(0);
          const mock = new MockPackedQueue(mem, RING, size);
          ring.slice(0, size).forEach((d, i) => writeRaw(RING + 16 * i, d, true));
          pool.forEach((d, i) => writeRaw(POOL + 16 * i, d, true));
          mock.setDriverEvent(evFlags, offWrap);
          const q = mock.createQueue({ eventIdx });
          const before = snapshot();
          // The device writes used descriptors into the ring itself and its event area.
          const allowed: Array<[number, number]> = [
            [RING, 16 * size],
            [mock.deviceArea, 4],
          ];
          drive(q, size, allowed);
          checkWrites(before, allowed);
        },
      ),
      { numRuns: 300 },
    );
  });
});
