// Model-based tests: a model of what a virtio driver expects (which chains it
// made available, which used elements it must see, in which order, and when
// it asked to be interrupted) against the device-side queue running on real
// guest memory, driven by random command sequences.

import {
  MockPackedQueue,
  MockSplitQueue,
  PackedQueue,
  Queue,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VRING_PACKED_EVENT_FLAG_DESC,
  VRING_PACKED_EVENT_FLAG_DISABLE,
  VRING_PACKED_EVENT_FLAG_ENABLE,
  VRING_USED_F_NO_NOTIFY,
} from "@kindling/virtio-queue";
import { GuestMemoryMmap } from "@kindling/vm-memory";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";

const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: 0x40000 }]);
afterAll(() => mem.close());

// ------------------------------------------------------------------ split

interface SplitModel {
  size: number;
  eventIdx: boolean;
  free: number[]; // free descriptor indices (driver state)
  chains: Map<number, { descs: number[]; lens: number[] }>;
  avail: number[]; // published, not popped
  inDevice: number[]; // popped, not used
  expectedUsed: Array<{ id: number; len: number }>;
  usedCount: number; // used entries published (unbounded)
  lastCheck: number; // usedCount at the last needsNotification
  driverSeen: number;
  usedEvent: number; // unbounded; compared mod 2^16
  noInterrupt: boolean;
  popped: number; // chains popped (unbounded)
}
interface SplitReal {
  mock: MockSplitQueue;
  q: Queue;
}
type SplitCmd = fc.Command<SplitModel, SplitReal>;

class AddChain implements SplitCmd {
  constructor(
    readonly lens: number[],
    readonly writable: boolean[],
  ) {}
  check(m: Readonly<SplitModel>) {
    return m.free.length >= this.lens.length;
  }
  run(m: SplitModel, r: SplitReal) {
    const idx = m.free.splice(0, this.lens.length);
    idx.forEach((d, i) => {
      const last = i === idx.length - 1;
      r.mock.writeDescriptor(d, {
        addr: 0x20000 + d * 0x100,
        len: this.lens[i],
        flags: (last ? 0 : VIRTQ_DESC_F_NEXT) | (this.writable[i] ? VIRTQ_DESC_F_WRITE : 0),
        next: last ? 0 : idx[i + 1],
      });
    });
    r.mock.publish(idx[0]);
    m.chains.set(idx[0], { descs: idx, lens: this.lens });
    m.avail.push(idx[0]);
  }
  toString() {
    return `AddChain(${this.lens})`;
  }
}

class Pop implements SplitCmd {
  check() {
    return true;
  }
  run(m: SplitModel, r: SplitReal) {
    const c = r.q.popDescriptorChain(mem);
    const want = m.avail.shift();
    expect(c?.headIndex).toBe(want);
    if (c !== undefined && want !== undefined) {
      expect([...c].map((d) => d.len)).toEqual(m.chains.get(want)!.lens);
      expect(c.error).toBeUndefined();
      m.inDevice.push(want);
      m.popped++;
    }
  }
  toString() {
    return "Pop";
  }
}

class Complete implements SplitCmd {
  constructor(
    readonly pick: number,
    readonly len: number,
  ) {}
  check(m: Readonly<SplitModel>) {
    return m.inDevice.length > 0;
  }
  run(m: SplitModel, r: SplitReal) {
    const [head] = m.inDevice.splice(this.pick % m.inDevice.length, 1);
    r.q.addUsed(mem, head, this.len);
    m.expectedUsed.push({ id: head, len: this.len });
    m.usedCount++;
  }
  toString() {
    return `Complete(${this.pick}, ${this.len})`;
  }
}

class Notify implements SplitCmd {
  check() {
    return true;
  }
  run(m: SplitModel, r: SplitReal) {
    const got = r.q.needsNotification(mem);
    let want: boolean;
    if (m.eventIdx) {
      // The driver asked for an interrupt once the used entry at used_event is written.
      want = false;
      for (let j = m.lastCheck; j < m.usedCount; j++) if ((j & 0xffff) === (m.usedEvent & 0xffff)) want = true;
    } else {
      want = !m.noInterrupt;
    }
    expect(got).toBe(want);
    m.lastCheck = m.usedCount;
  }
  toString() {
    return "Notify";
  }
}

class Reap implements SplitCmd {
  check() {
    return true;
  }
  run(m: SplitModel, r: SplitReal) {
    expect(r.mock.usedIdx()).toBe(m.usedCount & 0xffff);
    const seen: Array<{ id: number; len: number }> = [];
    for (let i = m.driverSeen; i < m.usedCount; i++) seen.push(r.mock.usedElem(i & 0xffff));
    expect(seen).toEqual(m.expectedUsed);
    for (const u of seen) {
      m.free.push(...m.chains.get(u.id)!.descs);
      m.chains.delete(u.id);
    }
    m.expectedUsed = [];
    m.driverSeen = m.usedCount;
  }
  toString() {
    return "Reap";
  }
}

class SetUsedEvent implements SplitCmd {
  constructor(readonly delta: number) {}
  check(m: Readonly<SplitModel>) {
    return m.eventIdx;
  }
  run(m: SplitModel, r: SplitReal) {
    m.usedEvent = m.driverSeen + this.delta;
    r.mock.setUsedEvent(m.usedEvent & 0xffff);
  }
  toString() {
    return `SetUsedEvent(+${this.delta})`;
  }
}

class SetNoInterrupt implements SplitCmd {
  constructor(readonly on: boolean) {}
  check(m: Readonly<SplitModel>) {
    return !m.eventIdx;
  }
  run(m: SplitModel, r: SplitReal) {
    m.noInterrupt = this.on;
    r.mock.setAvailFlags(this.on ? 1 : 0);
  }
  toString() {
    return `SetNoInterrupt(${this.on})`;
  }
}

class EnableNotification implements SplitCmd {
  check() {
    return true;
  }
  run(m: SplitModel, r: SplitReal) {
    expect(r.q.enableNotification(mem)).toBe(m.avail.length > 0);
    if (m.eventIdx) expect(r.mock.availEvent()).toBe(m.popped & 0xffff);
    else expect(r.mock.usedFlags()).toBe(0);
  }
  toString() {
    return "EnableNotification";
  }
}

class DisableNotification implements SplitCmd {
  check() {
    return true;
  }
  run(m: SplitModel, r: SplitReal) {
    r.q.disableNotification(mem);
    if (!m.eventIdx) expect(r.mock.usedFlags()).toBe(VRING_USED_F_NO_NOTIFY);
  }
  toString() {
    return "DisableNotification";
  }
}

class SaveRestore implements SplitCmd {
  check() {
    return true;
  }
  run(_m: SplitModel, r: SplitReal) {
    r.q = Queue.fromState(r.q.state());
  }
  toString() {
    return "SaveRestore";
  }
}

const lensArb = fc.array(fc.integer({ min: 0, max: 64 }), { minLength: 1, maxLength: 3 });
const splitCommands = [
  fc.tuple(lensArb, fc.array(fc.boolean(), { minLength: 3, maxLength: 3 })).map(([l, w]) => new AddChain(l, w)),
  fc.constant(new Pop()),
  fc.tuple(fc.nat(), fc.nat(0xffffffff)).map(([p, l]) => new Complete(p, l)),
  fc.constant(new Notify()),
  fc.constant(new Reap()),
  fc.nat(20).map((d) => new SetUsedEvent(d)),
  fc.boolean().map((b) => new SetNoInterrupt(b)),
  fc.constant(new EnableNotification()),
  fc.constant(new DisableNotification()),
  fc.constant(new SaveRestore()),
];

describe("model-based: split ring", () => {
  for (const eventIdx of [false, true]) {
    it(`driver model and device queue agree (EVENT_IDX ${eventIdx ? "on" : "off"})`, () => {
      fc.assert(
        fc.property(
          fc.constantFrom(4, 8, 16),
          fc.commands(splitCommands, { maxCommands: 200, size: "large" }),
          (size, cmds) => {
            mem.getBytes(0, 0x20000).fill(0);
            const mock = new MockSplitQueue(mem, 0x1000, size);
            const model: SplitModel = {
              size,
              eventIdx,
              free: Array.from({ length: size }, (_, i) => i),
              chains: new Map(),
              avail: [],
              inDevice: [],
              expectedUsed: [],
              usedCount: 0,
              lastCheck: 0,
              driverSeen: 0,
              usedEvent: 0,
              noInterrupt: false,
              popped: 0,
            };
            fc.modelRun(() => ({ model, real: { mock, q: mock.createQueue({ eventIdx }) } }), cmds);
          },
        ),
        { numRuns: 150 },
      );
    });
  }
});

// ------------------------------------------------------------------ packed

interface PackedModel {
  size: number;
  eventIdx: boolean;
  freeIds: number[];
  slotsOf: Map<number, number>;
  freeSlots: number;
  avail: number[];
  inDevice: number[];
  expectedUsed: Array<{ id: number; len: number }>;
  L: number; // used ring slots consumed by the device (linear)
  lastCheckL: number;
  driverSeenL: number;
  event: { flags: number; p: number };
}
interface PackedReal {
  mock: MockPackedQueue;
  q: PackedQueue;
}
type PackedCmd = fc.Command<PackedModel, PackedReal>;

class PAdd implements PackedCmd {
  constructor(
    readonly lens: number[],
    readonly writable: boolean[],
  ) {}
  check(m: Readonly<PackedModel>) {
    return m.freeSlots >= this.lens.length && m.freeIds.length > 0;
  }
  run(m: PackedModel, r: PackedReal) {
    const id = m.freeIds.shift()!;
    r.mock.addChain(
      this.lens.map((len, i) => ({ addr: 0x20000 + i * 0x100, len, flags: this.writable[i] ? VIRTQ_DESC_F_WRITE : 0 })),
      id,
    );
    m.freeSlots -= this.lens.length;
    m.slotsOf.set(id, this.lens.length);
    m.avail.push(id);
  }
  toString() {
    return `PAdd(${this.lens})`;
  }
}

class PPop implements PackedCmd {
  check() {
    return true;
  }
  run(m: PackedModel, r: PackedReal) {
    const c = r.q.popDescriptorChain(mem);
    const want = m.avail.shift();
    expect(c?.headIndex).toBe(want);
    if (c !== undefined && want !== undefined) {
      expect(c.ringSlots).toBe(m.slotsOf.get(want));
      m.inDevice.push(want);
    }
  }
  toString() {
    return "PPop";
  }
}

class PComplete implements PackedCmd {
  constructor(
    readonly pick: number,
    readonly len: number,
  ) {}
  check(m: Readonly<PackedModel>) {
    // Keep the slots used between two notification checks below the ring size, the
    // range in which a 16-bit event offset with one wrap bit names a unique position.
    if (m.inDevice.length === 0) return false;
    const id = m.inDevice[this.pick % m.inDevice.length];
    return m.L - m.lastCheckL + m.slotsOf.get(id)! < m.size;
  }
  run(m: PackedModel, r: PackedReal) {
    const [id] = m.inDevice.splice(this.pick % m.inDevice.length, 1);
    r.q.addUsed(mem, id, this.len);
    m.expectedUsed.push({ id, len: this.len });
    m.L += m.slotsOf.get(id)!;
  }
  toString() {
    return `PComplete(${this.pick}, ${this.len})`;
  }
}

class PNotify implements PackedCmd {
  check() {
    return true;
  }
  run(m: PackedModel, r: PackedReal) {
    const got = r.q.needsNotification(mem);
    let want: boolean;
    if (m.L === m.lastCheckL || m.event.flags === VRING_PACKED_EVENT_FLAG_DISABLE) want = false;
    else if (m.event.flags === VRING_PACKED_EVENT_FLAG_ENABLE || !m.eventIdx) want = true;
    else want = m.event.p >= m.lastCheckL && m.event.p < m.L;
    expect(got).toBe(want);
    m.lastCheckL = m.L;
  }
  toString() {
    return "PNotify";
  }
}

class PReap implements PackedCmd {
  check() {
    return true;
  }
  run(m: PackedModel, r: PackedReal) {
    expect(r.mock.reapUsed()).toEqual(m.expectedUsed);
    for (const u of m.expectedUsed) {
      m.freeSlots += m.slotsOf.get(u.id)!;
      m.slotsOf.delete(u.id);
      m.freeIds.push(u.id);
    }
    m.expectedUsed = [];
    m.driverSeenL = m.L;
  }
  toString() {
    return "PReap";
  }
}

class PSetEvent implements PackedCmd {
  constructor(
    readonly flags: number,
    readonly delta: number,
  ) {}
  check() {
    return true;
  }
  run(m: PackedModel, r: PackedReal) {
    const p = m.driverSeenL + (this.delta % m.size);
    m.event = { flags: this.flags, p };
    const wrap = Math.floor(p / m.size) % 2 === 0 ? 1 : 0;
    r.mock.setDriverEvent(this.flags, (p % m.size) | (wrap << 15));
  }
  toString() {
    return `PSetEvent(${this.flags}, +${this.delta})`;
  }
}

class PEnable implements PackedCmd {
  check() {
    return true;
  }
  run(m: PackedModel, r: PackedReal) {
    expect(r.q.enableNotification(mem)).toBe(m.avail.length > 0);
    const ev = r.mock.deviceEvent();
    if (m.eventIdx) {
      expect(ev.flags).toBe(VRING_PACKED_EVENT_FLAG_DESC);
      expect(ev.offWrap).toBe(r.q.nextAvail | (r.q.availWrapCounter ? 0x8000 : 0));
    } else expect(ev.flags).toBe(VRING_PACKED_EVENT_FLAG_ENABLE);
  }
  toString() {
    return "PEnable";
  }
}

class PSaveRestore implements PackedCmd {
  check() {
    return true;
  }
  run(_m: PackedModel, r: PackedReal) {
    r.q = PackedQueue.fromState(r.q.state());
  }
  toString() {
    return "PSaveRestore";
  }
}

const packedCommands = [
  fc.tuple(lensArb, fc.array(fc.boolean(), { minLength: 3, maxLength: 3 })).map(([l, w]) => new PAdd(l, w)),
  fc.constant(new PPop()),
  fc.tuple(fc.nat(), fc.nat(0xffffffff)).map(([p, l]) => new PComplete(p, l)),
  fc.constant(new PNotify()),
  fc.constant(new PReap()),
  fc
    .tuple(
      fc.constantFrom(VRING_PACKED_EVENT_FLAG_ENABLE, VRING_PACKED_EVENT_FLAG_DISABLE, VRING_PACKED_EVENT_FLAG_DESC),
      fc.nat(64),
    )
    .map(([f, d]) => new PSetEvent(f, d)),
  fc.constant(new PEnable()),
  fc.constant(new PSaveRestore()),
];

describe("model-based: packed ring", () => {
  for (const eventIdx of [false, true]) {
    it(`driver model and device queue agree (EVENT_IDX ${eventIdx ? "on" : "off"})`, () => {
      fc.assert(
        fc.property(
          fc.constantFrom(3, 4, 7, 8, 16),
          fc.commands(packedCommands, { maxCommands: 200, size: "large" }),
          (size, cmds) => {
            mem.getBytes(0, 0x20000).fill(0);
            const mock = new MockPackedQueue(mem, 0x1000, size);
            const model: PackedModel = {
              size,
              eventIdx,
              freeIds: Array.from({ length: size }, (_, i) => i),
              slotsOf: new Map(),
              freeSlots: size,
              avail: [],
              inDevice: [],
              expectedUsed: [],
              L: 0,
              lastCheckL: 0,
              driverSeenL: 0,
              event: { flags: VRING_PACKED_EVENT_FLAG_ENABLE, p: 0 },
            };
            fc.modelRun(() => ({ model, real: { mock, q: mock.createQueue({ eventIdx }) } }), cmds);
          },
        ),
        { numRuns: 150 },
      );
    });
  }
});
