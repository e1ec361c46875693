import {
  MockPackedQueue,
  PackedQueue,
  readerWriter,
  VIRTQ_DESC_F_AVAIL,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VirtioQueueError,
  VRING_PACKED_EVENT_FLAG_DESC,
  VRING_PACKED_EVENT_FLAG_DISABLE,
  VRING_PACKED_EVENT_FLAG_ENABLE,
} from "@kindling/virtio-queue";
import { codecs, GuestMemoryMmap } from "@kindling/vm-memory";
import { afterAll, describe, expect, it } from "vitest";

const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: 0x100000 }]);
afterAll(() => mem.close());

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VirtioQueueError);
    return (e as VirtioQueueError).code;
  }
  throw new Error("did not throw");
}

function fresh(size = 8, eventIdx = false): { mock: MockPackedQueue; q: PackedQueue } {
  mem.getBytes(0, 0x100000).fill(0);
  const mock = new MockPackedQueue(mem, 0x1000, size);
  return { mock, q: mock.createQueue({ eventIdx }) };
}

describe("packed ring", () => {
  it("configuration rules", () => {
    expect(code(() => new PackedQueue(0))).toBe("INVALID_MAX_SIZE");
    expect(code(() => new PackedQueue(32769))).toBe("INVALID_MAX_SIZE");
    const q = new PackedQueue(100); // packed sizes need not be powers of two
    q.setSize(3);
    expect(code(() => q.setSize(101))).toBe("INVALID_SIZE");
    expect(code(() => q.setDescTableAddress(8))).toBe("INVALID_DESC_TABLE_ALIGN");
    expect(code(() => q.setAvailRingAddress(2))).toBe("INVALID_AVAIL_RING_ALIGN");
    expect(code(() => q.setUsedRingAddress(6))).toBe("INVALID_USED_RING_ALIGN");
    expect(code(() => q.popDescriptorChain(mem))).toBe("QUEUE_NOT_READY");
  });

  it("pops chains, hands back used buffers and wraps both counters", () => {
    const { mock, q } = fresh(4);
    mem.writeU32(0xabcdef, 0x8000);
    for (let round = 0; round < 10; round++) {
      const id = mock.addChain([
        { addr: 0x8000, len: 4 },
        { addr: 0x9000, len: 4, flags: VIRTQ_DESC_F_WRITE },
        { addr: 0x9004, len: 4, flags: VIRTQ_DESC_F_WRITE },
      ]);
      const c = q.popDescriptorChain(mem)!;
      expect(c.headIndex).toBe(id);
      expect(c.ringSlots).toBe(3);
      const [r, w] = readerWriter(mem, c);
      expect(r.readObj(codecs.u32)).toBe(0xabcdef);
      expect(w.availableBytes()).toBe(8);
      w.writeU32(round);
      q.addUsed(mem, c.headIndex, 4);
      expect(q.popDescriptorChain(mem)).toBeUndefined();
      expect(mock.reapUsed()).toEqual([{ id, len: 4 }]);
    }
    expect(q.nextAvail).toBe(30 % 4);
    expect(q.availWrapCounter).toBe(Math.floor(30 / 4) % 2 === 0);
    expect(q.usedWrapCounter).toBe(q.availWrapCounter);
  });

  it("completes buffers out of order", () => {
    const { mock, q } = fresh(8);
    const a = mock.addChain([{ addr: 0x8000, len: 1 }]);
    const b = mock.addChain([
      { addr: 0x8000, len: 1 },
      { addr: 0x8000, len: 1 },
    ]);
    const ca = q.popDescriptorChain(mem)!;
    const cb = q.popDescriptorChain(mem)!;
    q.addUsed(mem, cb.headIndex, 0);
    q.addUsed(mem, ca.headIndex, 0);
    expect(mock.reapUsed().map((u) => u.id)).toEqual([b, a]);
    expect(code(() => q.addUsed(mem, ca.headIndex, 0))).toBe("INVALID_DESCRIPTOR_INDEX");
  });

  it("follows indirect tables", () => {
    const { mock, q } = fresh(8);
    mock.addIndirectChain(0x20000, [
      { addr: 0x8000, len: 2 },
      { addr: 0x9000, len: 3, flags: VIRTQ_DESC_F_WRITE },
    ]);
    const c = q.popDescriptorChain(mem)!;
    expect([...c].map((d) => [d.len, d.isWriteOnly()])).toEqual([
      [2, false],
      [3, true],
    ]);
    expect(c.ringSlots).toBe(1);
  });

  it("a chain longer than the ring and ids >= size are typed errors", () => {
    const { mock, q } = fresh(4);
    for (let i = 0; i < 4; i++) {
      mem.writeU16(VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_AVAIL, mock.ringAddr + 16 * i + 14);
    }
    expect(code(() => q.popDescriptorChain(mem))).toBe("INVALID_AVAIL_RING_INDEX");
    const f = fresh(4);
    f.mock.addChain([{ addr: 0x8000, len: 1 }], 9);
    expect(code(() => f.q.popDescriptorChain(mem))).toBe("INVALID_DESCRIPTOR_INDEX");
    expect(f.q.popDescriptorChain(mem)).toBeUndefined();
  });

  it("event suppression: flags and EVENT_IDX descriptor events", () => {
    const { mock, q } = fresh(8, true);
    q.disableNotification(mem);
    expect(mock.deviceEvent().flags).toBe(VRING_PACKED_EVENT_FLAG_DISABLE);
    expect(q.enableNotification(mem)).toBe(false);
    expect(mock.deviceEvent()).toEqual({ offWrap: 0x8000, flags: VRING_PACKED_EVENT_FLAG_DESC });
    mock.addChain([{ addr: 0x8000, len: 1 }]);
    mock.addChain([{ addr: 0x8000, len: 1 }]);
    mock.setDriverEvent(VRING_PACKED_EVENT_FLAG_DESC, 1 | 0x8000); // notify once slot 1 is used
    q.addUsed(mem, q.popDescriptorChain(mem)!.headIndex, 0);
    expect(q.needsNotification(mem)).toBe(false);
    q.addUsed(mem, q.popDescriptorChain(mem)!.headIndex, 0);
    expect(q.needsNotification(mem)).toBe(true);
    mock.setDriverEvent(VRING_PACKED_EVENT_FLAG_DISABLE);
    mock.addChain([{ addr: 0x8000, len: 1 }]);
    q.addUsed(mem, q.popDescriptorChain(mem)!.headIndex, 0);
    expect(q.needsNotification(mem)).toBe(false);
    mock.setDriverEvent(VRING_PACKED_EVENT_FLAG_ENABLE);
    mock.addChain([{ addr: 0x8000, len: 1 }]);
    q.addUsed(mem, q.popDescriptorChain(mem)!.headIndex, 0);
    expect(q.needsNotification(mem)).toBe(true);
  });

  it("saves and restores state with buffers in flight", () => {
    const { mock, q } = fresh(8);
    mock.addChain([
      { addr: 0x8000, len: 1 },
      { addr: 0x8000, len: 1 },
    ]);
    const c = q.popDescriptorChain(mem)!;
    const s = q.state();
    expect(s.inFlight).toEqual([[c.headIndex, 2]]);
    const q2 = PackedQueue.fromState(s);
    expect(q2.state()).toEqual(s);
    q2.addUsed(mem, c.headIndex, 0);
    expect(mock.reapUsed()).toEqual([{ id: c.headIndex, len: 0 }]);
    expect(code(() => PackedQueue.fromState({ ...s, nextAvail: 8 }))).toBe("INVALID_STATE");
    expect(code(() => PackedQueue.fromState({ ...s, inFlight: [[99, 1]] }))).toBe("INVALID_STATE");
  });
});
