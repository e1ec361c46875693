import {
  DescriptorChain,
  MockSplitQueue,
  Queue,
  Reader,
  readerWriter,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VirtioQueueError,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_USED_F_NO_NOTIFY,
  Writer,
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

function fresh(size = 16, eventIdx = false): { mock: MockSplitQueue; q: Queue } {
  mem.getBytes(0, 0x100000).fill(0);
  const mock = new MockSplitQueue(mem, 0x1000, size);
  return { mock, q: mock.createQueue({ eventIdx }) };
}

describe("queue configuration rules", () => {
  it("max size and size are non-zero powers of two, size <= max <= 32768", () => {
    for (const bad of [0, 3, 65536, 32769, -2, 1.5]) expect(code(() => new Queue(bad))).toBe("INVALID_MAX_SIZE");
    expect(new Queue(32768).size).toBe(32768);
    const q = new Queue(256);
    for (const bad of [0, 3, 512, 100]) expect(code(() => q.setSize(bad))).toBe("INVALID_SIZE");
    expect(q.size).toBe(256);
    q.setSize(64);
    expect(q.size).toBe(64);
  });

  it("ring areas must be aligned: descriptors 16, avail 2, used 4", () => {
    const q = new Queue(16);
    expect(code(() => q.setDescTableAddress(0x1008))).toBe("INVALID_DESC_TABLE_ALIGN");
    expect(code(() => q.setAvailRingAddress(0x1001))).toBe("INVALID_AVAIL_RING_ALIGN");
    expect(code(() => q.setUsedRingAddress(0x1002))).toBe("INVALID_USED_RING_ALIGN");
    q.setDescTableAddress(0x1010, 0);
    q.setDescTableAddress(undefined, 1);
    expect(q.descTable().value).toBe(0x1_0000_1010n);
  });

  it("isValid checks ready and the three areas", () => {
    const { mock, q } = fresh();
    expect(q.isValid(mem)).toBe(true);
    q.setReady(false);
    expect(q.isValid(mem)).toBe(false);
    expect(code(() => q.popDescriptorChain(mem))).toBe("QUEUE_NOT_READY");
    q.setReady(true);
    q.setUsedRingAddress(0xffffc, 0);
    expect(q.isValid(mem)).toBe(false);
    expect(code(() => q.addUsed(mem, 0, 0))).toBe("INVALID_QUEUE_ADDRESS");
    q.setUsedRingAddress(mock.usedAddr, 0xffff);
    expect(q.isValid(mem)).toBe(false);
  });
});

describe("chains", () => {
  it("pops a chain, reads and writes through Reader/Writer, adds it used", () => {
    const { mock, q } = fresh();
    mem.writeU64(0x1122334455667788n, 0x8000);
    const head = mock.addChain([
      { addr: 0x8000, len: 16 },
      { addr: 0x9000, len: 4096 },
      { addr: 0xa000, len: 1, flags: VIRTQ_DESC_F_WRITE },
    ]);
    const chain = q.popDescriptorChain(mem)!;
    expect(chain.headIndex).toBe(head);
    const [r, w] = readerWriter(mem, chain);
    expect(r.availableBytes()).toBe(4112);
    expect(r.readObj(codecs.u64)).toBe(0x1122334455667788n);
    expect(w.availableBytes()).toBe(1);
    w.writeU8(0x5a);
    expect(code(() => w.writeU8(1))).toBe("UNEXPECTED_EOF");
    q.addUsed(mem, chain.headIndex, w.bytesWritten());
    expect(mem.readU8(0xa000)).toBe(0x5a);
    expect(mock.usedIdx()).toBe(1);
    expect(mock.usedElem(0)).toEqual({ id: head, len: 1 });
    expect(q.popDescriptorChain(mem)).toBeUndefined();
    expect(code(() => q.addUsed(mem, 16, 0))).toBe("INVALID_DESCRIPTOR_INDEX");
  });

  it("ends a cycle after queue-size descriptors", () => {
    const { mock, q } = fresh(8);
    for (let i = 0; i < 8; i++)
      mock.writeDescriptor(i, { addr: 0x8000, len: 1, flags: VIRTQ_DESC_F_NEXT, next: (i + 1) % 8 });
    mock.publish(0);
    const chain = q.popDescriptorChain(mem)!;
    expect([...chain].length).toBe(8);
    expect(chain.error).toBe("CHAIN_TOO_LONG");
    expect(code(() => new Reader(mem, q.popDescriptorChain(mem) ?? chain))).toBe("CHAIN_TOO_LONG");
  });

  it("ends at next >= size", () => {
    const { mock, q } = fresh(8);
    mock.writeDescriptor(0, { addr: 0x8000, len: 1, flags: VIRTQ_DESC_F_NEXT, next: 8 });
    mock.publish(0);
    const chain = q.popDescriptorChain(mem)!;
    expect([...chain].length).toBe(1);
    expect(chain.error).toBe("INVALID_DESCRIPTOR_INDEX");
  });

  it("follows an indirect table and applies its rules", () => {
    const { mock, q } = fresh(8);
    mock.addIndirectChain(0x20000, [
      { addr: 0x8000, len: 8 },
      { addr: 0x9000, len: 8, flags: VIRTQ_DESC_F_WRITE },
    ]);
    const c = q.popDescriptorChain(mem)!;
    const descs = [...c];
    expect(descs.map((d) => [Number(d.addr.value), d.isWriteOnly()])).toEqual([
      [0x8000, false],
      [0x9000, true],
    ]);
    expect(c.error).toBeUndefined();
    // Nested indirect.
    mock.writeIndirectTable(0x21000, [{ addr: 0x20000, len: 32, flags: VIRTQ_DESC_F_INDIRECT }]);
    mock.addChain([{ addr: 0x21000, len: 16, flags: VIRTQ_DESC_F_INDIRECT }]);
    const nested = q.popDescriptorChain(mem)!;
    expect([...nested].length).toBe(0);
    expect(nested.error).toBe("INVALID_INDIRECT_DESCRIPTOR");
    // Length not a multiple of 16.
    mock.addChain([{ addr: 0x21000, len: 17, flags: VIRTQ_DESC_F_INDIRECT }]);
    const odd = q.popDescriptorChain(mem)!;
    expect([...odd].length).toBe(0);
    expect(odd.error).toBe("INVALID_INDIRECT_DESCRIPTOR_TABLE");
    // More than 65535 entries.
    mock.addChain([{ addr: 0x21000, len: 65536 * 16, flags: VIRTQ_DESC_F_INDIRECT }]);
    const big = q.popDescriptorChain(mem)!;
    expect([...big].length).toBe(0);
    expect(big.error).toBe("INVALID_INDIRECT_DESCRIPTOR_TABLE");
  });

  it("ends a chain whose lengths sum above 2^32 - 1", () => {
    const { mock, q } = fresh(8);
    mock.addChain([
      { addr: 0x8000, len: 0xffffffff },
      { addr: 0x8000, len: 1 },
    ]);
    const c = q.popDescriptorChain(mem)!;
    expect([...c].length).toBe(1);
    expect(c.error).toBe("DESCRIPTOR_CHAIN_OVERFLOW");
  });

  it("rejects buffers outside memory in Reader/Writer", () => {
    const { mock, q } = fresh(8);
    mock.addChain([{ addr: 0xffff0, len: 0x20 }]);
    expect(code(() => new Reader(mem, q.popDescriptorChain(mem)!))).toBe("INVALID_BUFFER");
    mock.addChain([{ addr: 1n << 60n, len: 1, flags: VIRTQ_DESC_F_WRITE }]);
    expect(code(() => new Writer(mem, q.popDescriptorChain(mem)!))).toBe("INVALID_BUFFER");
  });

  it("Reader/Writer split and cross buffers", () => {
    const { mock, q } = fresh(8);
    mem.write(Uint8Array.from([1, 2, 3]), 0x8000);
    mem.write(Uint8Array.from([4, 5, 6]), 0x9000);
    mock.addChain([
      { addr: 0x8000, len: 3 },
      { addr: 0x9000, len: 3 },
    ]);
    const r = new Reader(mem, q.popDescriptorChain(mem)!);
    const tail = r.splitAt(2);
    expect(r.availableBytes()).toBe(2);
    expect(tail.availableBytes()).toBe(4);
    expect(r.readU16()).toBe(0x0201);
    expect(tail.readU32()).toBe(0x06050403);
    expect(code(() => tail.readU8())).toBe("UNEXPECTED_EOF");
  });
});

describe("available ring", () => {
  it("regression (virtio-queue 0.6.1): an avail index more than size ahead is an error, not a replay", () => {
    const { mock, q } = fresh(8);
    mock.addChain([{ addr: 0x8000, len: 1 }]);
    mock.setAvailIdx(0xffff); // claims 65535 chains in an 8-entry queue
    expect(code(() => q.popDescriptorChain(mem))).toBe("INVALID_AVAIL_RING_INDEX");
    expect(code(() => q.iter(mem))).toBe("INVALID_AVAIL_RING_INDEX");
    expect(q.nextAvail).toBe(0);
    mock.setAvailIdx(8);
    expect([...q.iter(mem)].length).toBe(8);
    expect(q.popDescriptorChain(mem)).toBeUndefined();
  });

  it("regression (virtio-queue 0.4.0): no division by zero with queue size 0", () => {
    const q = new Queue(16);
    expect(code(() => q.setSize(0))).toBe("INVALID_SIZE");
    const s = { ...q.state(), size: 0 };
    expect(code(() => Queue.fromState(s))).toBe("INVALID_STATE");
    const chain = new DescriptorChain(mem, 0x1000, 0, 0);
    expect(chain.advance()).toBe(false);
    expect(chain.error).toBe("INVALID_DESCRIPTOR_INDEX");
  });

  it("iterates and steps back", () => {
    const { mock, q } = fresh(8);
    const a = mock.addChain([{ addr: 0x8000, len: 1 }]);
    const b = mock.addChain([{ addr: 0x8000, len: 1 }]);
    const it1 = q.iter(mem);
    expect(it1.next().value?.headIndex).toBe(a);
    it1.goToPreviousPosition();
    expect([...it1].map((c) => c.headIndex)).toEqual([a, b]);
  });
});

describe("notifications", () => {
  it("without EVENT_IDX: used.flags and avail NO_INTERRUPT", () => {
    const { mock, q } = fresh(8);
    q.disableNotification(mem);
    expect(mock.usedFlags()).toBe(VRING_USED_F_NO_NOTIFY);
    expect(q.enableNotification(mem)).toBe(false);
    expect(mock.usedFlags()).toBe(0);
    mock.addChain([{ addr: 0x8000, len: 1 }]);
    q.disableNotification(mem);
    expect(q.enableNotification(mem)).toBe(true);
    const c = q.popDescriptorChain(mem)!;
    q.addUsed(mem, c.headIndex, 0);
    expect(q.needsNotification(mem)).toBe(true);
    mock.setAvailFlags(VRING_AVAIL_F_NO_INTERRUPT);
    expect(q.needsNotification(mem)).toBe(false);
  });

  it("with EVENT_IDX: avail_event and Linux's vring_need_event", () => {
    const { mock, q } = fresh(8, true);
    mock.addChain([{ addr: 0x8000, len: 1 }]);
    mock.addChain([{ addr: 0x8000, len: 1 }]);
    expect(q.enableNotification(mem)).toBe(true);
    expect(mock.availEvent()).toBe(0);
    mock.setUsedEvent(1); // interrupt me when used.idx passes 1
    q.addUsed(mem, q.popDescriptorChain(mem)!.headIndex, 0);
    expect(q.needsNotification(mem)).toBe(false); // used.idx 1: event 1 not passed
    q.addUsed(mem, q.popDescriptorChain(mem)!.headIndex, 0);
    expect(q.needsNotification(mem)).toBe(true); // used.idx 2 > 1
    expect(q.needsNotification(mem)).toBe(false); // nothing new
    expect(q.enableNotification(mem)).toBe(false);
    expect(mock.availEvent()).toBe(2);
  });
});

describe("state", () => {
  it("saves and restores", () => {
    const { mock, q } = fresh(8, true);
    mock.addChain([{ addr: 0x8000, len: 1 }]);
    const c = q.popDescriptorChain(mem)!;
    q.addUsed(mem, c.headIndex, 3);
    const s = q.state();
    expect(s).toMatchObject({ size: 8, nextAvail: 1, nextUsed: 1, eventIdxEnabled: true, ready: true });
    const q2 = Queue.fromState(s);
    expect(q2.state()).toEqual(s);
    expect(code(() => Queue.fromState({ ...s, descTable: 8n }))).toBe("INVALID_STATE");
    expect(code(() => Queue.fromState({ ...s, nextAvail: 70000 }))).toBe("INVALID_STATE");
    q2.reset();
    expect(q2.state()).toMatchObject({ ready: false, size: 8, descTable: 0n, nextAvail: 0, eventIdxEnabled: false });
  });
});

describe("tables across adjacent regions", () => {
  it("reads an indirect table that straddles two adjacent regions", () => {
    const two = GuestMemoryMmap.fromRanges([
      { start: 0n, size: 0x10000 },
      { start: 0x10000n, size: 0x10000 },
    ]);
    try {
      const mock = new MockSplitQueue(two, 0x1000, 8);
      const q = mock.createQueue();
      // A 48-byte table at 0xffe8: its second entry (0xfff8..0x10008) straddles the boundary.
      mock.addIndirectChain(0xffe8, [
        { addr: 0x2000, len: 1 },
        { addr: 0x3000, len: 2 },
        { addr: 0x4000, len: 3, flags: VIRTQ_DESC_F_WRITE },
      ]);
      const c = q.popDescriptorChain(two)!;
      expect([...c].map((d) => [Number(d.addr.value), d.len])).toEqual([
        [0x2000, 1],
        [0x3000, 2],
        [0x4000, 3],
      ]);
      expect(c.error).toBeUndefined();
    } finally {
      two.close();
    }
  });
});
