import { AddressSpace, addRange, removeRange } from "@kindling/libos";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ARENA_BASE, ARENA_SIZE, MEM_BASE, setup } from "./core-setup.js";

const PAGE = 4096;
const ARENA_PAGES = ARENA_SIZE / PAGE;
const ARENA_END = ARENA_BASE + ARENA_SIZE;

type Op =
  | { op: "mmap"; pages: number; hintPage: number; fixed: 0 | 1 | 2; prot: number }
  | { op: "munmap"; page: number; pages: number }
  | { op: "mprotect"; page: number; pages: number; prot: number }
  | { op: "brk"; pages: number; extra: number }
  | { op: "mremap"; page: number; oldPages: number; newPages: number; flags: number; destPage: number; pick: number }
  | { op: "madvise"; page: number; pages: number };

const page = fc.integer({ min: -4, max: ARENA_PAGES + 4 });
const count = fc.integer({ min: 0, max: 24 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant("mmap" as const),
    pages: fc.integer({ min: 0, max: 40 }),
    hintPage: page,
    fixed: fc.constantFrom(0 as const, 1 as const, 2 as const),
    prot: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({ op: fc.constant("munmap" as const), page, pages: count }),
  fc.record({ op: fc.constant("mprotect" as const), page, pages: count, prot: fc.integer({ min: 0, max: 7 }) }),
  fc.record({
    op: fc.constant("brk" as const),
    pages: fc.integer({ min: -2, max: 60 }),
    extra: fc.integer({ min: 0, max: 4095 }),
  }),
  fc.record({
    op: fc.constant("mremap" as const),
    page,
    oldPages: count,
    newPages: count,
    flags: fc.constantFrom(0, 1, 3, 5),
    destPage: page,
    /** >= 0: remap (a prefix of) an existing mapping, chosen by index. */
    pick: fc.integer({ min: -1, max: 20 }),
  }),
  fc.record({ op: fc.constant("madvise" as const), page, pages: count }),
);

/** Checks the address space's own invariants. */
function checkInvariants(as: AddressSpace, limit: number) {
  const maps = as.mappings();
  let sum = 0;
  for (let i = 0; i < maps.length; i++) {
    const m = maps[i];
    expect(m.start % PAGE).toBe(0);
    expect(m.end % PAGE).toBe(0);
    expect(m.start).toBeLessThan(m.end);
    expect(m.start).toBeGreaterThanOrEqual(ARENA_BASE);
    expect(m.end).toBeLessThanOrEqual(ARENA_END);
    if (i > 0) expect(maps[i - 1].end).toBeLessThanOrEqual(m.start);
    sum += m.end - m.start;
  }
  expect(as.used).toBe(sum);
  expect(as.used).toBeLessThanOrEqual(limit);
  for (const heap of maps.filter((m) => m.kind === "brk")) {
    expect(heap.start).toBeGreaterThanOrEqual(as.brkStart);
    expect(heap.end).toBeLessThanOrEqual(Math.ceil(as.brk / PAGE) * PAGE);
  }
}

describe("address space allocator (property)", () => {
  it("never overlaps, stays in bounds and under the limit, hands out zeroed memory and keeps contents", () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 40 }),
        fc.integer({ min: 8, max: ARENA_PAGES + 8 }),
        (ops, limitPages) => {
          const limit = limitPages * PAGE;
          const s = setup({ memory: { base: ARENA_BASE, size: ARENA_SIZE, limit } });
          const { h, mem, k } = s;
          /** Shadow model: page index → fill byte of the mapping that owns it. */
          const shadow = new Map<number, number>();
          let stamp = 1;
          const own = (addr: number, len: number) => {
            const b = (stamp++ % 250) + 1;
            for (let p = addr; p < addr + len; p += PAGE) shadow.set(p, b);
            mem.fill(addr, len, b);
          };
          const zeroed = (addr: number, len: number) => mem.read(addr, len).every((x) => x === 0);
          for (const o of ops) {
            switch (o.op) {
              case "mmap": {
                const len = o.pages * PAGE;
                const hint = ARENA_BASE + o.hintPage * PAGE;
                const flags = 0x22 | (o.fixed === 1 ? 0x10 : o.fixed === 2 ? 0x100000 : 0);
                const r = h.call("mmap", hint, len, o.prot, flags, -1, 0);
                if (r < 0) {
                  expect([-12, -22, -17]).toContain(r);
                  break;
                }
                expect(r % PAGE).toBe(0);
                expect(r).toBeGreaterThanOrEqual(ARENA_BASE);
                expect(r + len).toBeLessThanOrEqual(ARENA_END);
                if (o.fixed !== 0) expect(r).toBe(hint);
                if (o.fixed !== 1) for (let p = r; p < r + len; p += PAGE) expect(shadow.has(p)).toBe(false);
                expect(zeroed(r, len)).toBe(true);
                own(r, len);
                break;
              }
              case "munmap": {
                const addr = ARENA_BASE + o.page * PAGE;
                const r = h.call("munmap", addr, o.pages * PAGE);
                if (r === 0) for (let i = 0; i < o.pages; i++) shadow.delete(addr + i * PAGE);
                else expect(r).toBe(-22);
                break;
              }
              case "mprotect": {
                const r = h.call("mprotect", ARENA_BASE + o.page * PAGE, o.pages * PAGE, o.prot);
                expect([0, -12]).toContain(r);
                break;
              }
              case "madvise": {
                const addr = ARENA_BASE + o.page * PAGE;
                const r = h.call("madvise", addr, o.pages * PAGE, 4);
                expect([0, -12]).toContain(r);
                for (let i = 0; i < o.pages; i++) {
                  const p = addr + i * PAGE;
                  if (shadow.has(p)) {
                    expect(zeroed(p, PAGE)).toBe(true);
                    shadow.set(p, 0);
                  }
                }
                break;
              }
              case "brk": {
                const oldBrk = k.mm.brk;
                const oldTop = Math.ceil(oldBrk / PAGE) * PAGE;
                const want = ARENA_BASE + o.pages * PAGE + o.extra;
                const r = h.call("brk", want);
                expect(r === want || r === oldBrk).toBe(true);
                const newTop = Math.ceil(r / PAGE) * PAGE;
                if (newTop > oldTop) {
                  for (let p = oldTop; p < newTop; p += PAGE) expect(shadow.has(p)).toBe(false);
                  expect(zeroed(oldTop, newTop - oldTop)).toBe(true);
                  own(oldTop, newTop - oldTop);
                } else {
                  for (let p = newTop; p < oldTop; p += PAGE) shadow.delete(p);
                }
                break;
              }
              case "mremap": {
                const maps = k.mm.mappings();
                const target = o.pick >= 0 && maps.length > 0 ? maps[o.pick % maps.length] : undefined;
                const old = target !== undefined ? target.start : ARENA_BASE + o.page * PAGE;
                const oldPages =
                  target !== undefined ? Math.min(o.oldPages, (target.end - target.start) / PAGE) : o.oldPages;
                const oldLen = oldPages * PAGE;
                const newLen = o.newPages * PAGE;
                const dest = ARENA_BASE + o.destPage * PAGE;
                const before = oldLen > 0 && mem.contains(old, oldLen) ? mem.read(old, oldLen) : null;
                const r = h.call("mremap", old, oldLen, newLen, o.flags, dest);
                if (r < 0) {
                  expect([-12, -14, -22]).toContain(r);
                  break;
                }
                if (o.flags === 3) expect(r).toBe(dest);
                const keep = Math.min(oldLen, newLen);
                expect([...mem.read(r, keep)]).toEqual([...before!.subarray(0, keep)]);
                if (newLen > oldLen) expect(zeroed(r + oldLen, newLen - oldLen)).toBe(true);
                const kept = [];
                for (let i = 0; i < o.newPages && i < oldPages; i++) kept.push(shadow.get(old + i * PAGE) ?? 0);
                if (o.flags === 5) {
                  // DONTUNMAP: the old range stays, emptied.
                  expect(zeroed(old, oldLen)).toBe(true);
                  for (let i = 0; i < oldPages; i++) shadow.set(old + i * PAGE, 0);
                } else for (let i = 0; i < oldPages; i++) shadow.delete(old + i * PAGE);
                for (let i = 0; i < o.newPages; i++) shadow.set(r + i * PAGE, i < kept.length ? kept[i] : 0);
                break;
              }
            }
            checkInvariants(k.mm, limit);
            expect(k.mm.used).toBe(shadow.size * PAGE);
            for (const [p] of shadow) expect(k.mm.find(p)).toBeDefined();
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("findFree returns a free in-arena range or -1 (direct)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 1, max: 8 })), { maxLength: 20 }),
        fc.integer({ min: 1, max: 80 }),
        (reserved, want) => {
          const as = new AddressSpace({ base: 0x100000, size: 64 * PAGE });
          for (const [p, n] of reserved) {
            const start = 0x100000 + p * PAGE;
            const len = Math.min(n, 64 - p) * PAGE;
            if (as.isFree(start, start + len))
              as.map(null, start, len, { prot: 3, flags: 0x22, kind: "anon", name: "", offset: 0 });
          }
          const at = as.findFree(want * PAGE);
          if (at < 0) {
            // No gap of that size anywhere.
            for (let s = 0x100000; s + want * PAGE <= 0x100000 + 64 * PAGE; s += PAGE)
              expect(as.isFree(s, s + want * PAGE)).toBe(false);
          } else {
            expect(at % PAGE).toBe(0);
            expect(at).toBeGreaterThanOrEqual(0x100000);
            expect(at + want * PAGE).toBeLessThanOrEqual(0x100000 + 64 * PAGE);
            expect(as.isFree(at, at + want * PAGE)).toBe(true);
          }
        },
      ),
    );
  });

  it("range lists stay sorted and disjoint", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 20 }))),
        (ops) => {
          let list: number[] = [];
          const model = new Set<number>();
          for (const [add, s, n] of ops) {
            if (add) list = addRange(list, s, s + n);
            else list = removeRange(list, s, s + n);
            for (let i = s; i < s + n; i++) add ? model.add(i) : model.delete(i);
            for (let i = 0; i + 1 < list.length; i++) expect(list[i]).toBeLessThan(list[i + 1]);
            const covered = new Set<number>();
            for (let i = 0; i < list.length; i += 2) for (let x = list[i]; x < list[i + 1]; x++) covered.add(x);
            expect([...covered].sort((a, b) => a - b)).toEqual([...model].sort((a, b) => a - b));
          }
        },
      ),
    );
  });
  void MEM_BASE;
});
