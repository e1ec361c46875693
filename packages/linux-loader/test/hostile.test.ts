import {
  findPvhEntry,
  LoaderError,
  loadBzImage,
  loadElfKernel,
  loadStaticProgram,
  PT_INTERP,
  PT_LOAD,
  PT_NOTE,
  PT_TLS,
  parseBzImage,
  parseElf64,
  readStaticProgram,
  XEN_ELFNOTE_PHYS32_ENTRY,
} from "@kindling/linux-loader";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildElf, elfNote, RecordingMemory } from "./helpers.js";

const WINDOW_START = 0x100000n;
const WINDOW_SIZE = 0x4000000n; // 64 MiB of "guest memory" the loaders may write

function entryBytes(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

const seeds: Uint8Array[] = [
  buildElf({
    entry: 0x1000000n,
    phdrs: [
      {
        type: PT_LOAD,
        vaddr: 0xffffffff81000000n,
        paddr: 0x1000000n,
        content: new Uint8Array(300).fill(0x90),
        memsz: 0x3000n,
      },
      {
        type: PT_NOTE,
        vaddr: 0xffffffff81002000n,
        content: elfNote("Xen", XEN_ELFNOTE_PHYS32_ENTRY, entryBytes(0x1000040)),
      },
    ],
  }),
  buildElf({
    entry: 0x401000n,
    phdrs: [
      { type: PT_LOAD, vaddr: 0x400000n, content: new Uint8Array(0x100), offset: 0n, flags: 4 },
      { type: PT_LOAD, vaddr: 0x401000n, content: new Uint8Array(64).fill(0xc3), flags: 5 },
      { type: PT_LOAD, vaddr: 0x402000n, content: new Uint8Array(8).fill(1), memsz: 0x2000n, flags: 6 },
      { type: PT_TLS, vaddr: 0x402000n, content: new Uint8Array(8), memsz: 0x10n },
    ],
  }),
  buildElf({
    type: 3,
    entry: 0x1000n,
    phdrs: [
      { type: PT_LOAD, vaddr: 0n, content: new Uint8Array(0x100), offset: 0n, flags: 4 },
      { type: PT_LOAD, vaddr: 0x1000n, content: new Uint8Array(64).fill(0xc3), flags: 5 },
    ],
  }),
  buildElf({
    entry: 0x401000n,
    phdrs: [
      { type: PT_INTERP, vaddr: 0x400200n, content: new TextEncoder().encode("/lib/ld.so\0") },
      { type: PT_LOAD, vaddr: 0x401000n, content: new Uint8Array(64) },
    ],
  }),
];

/** A mutation: truncation, random bytes at random places, or a hostile u64/u32/u16 in a header field. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("bytes" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant("field" as const),
    at: fc.nat({ max: 63 + 56 * 4 }),
    width: fc.constantFrom<1 | 2 | 4 | 8>(2, 4, 8),
    value: fc.oneof(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.constantFrom(0n, 1n, 0xffffn, 0xffffffffn, (1n << 63n) - 1n, (1n << 64n) - 1n, 0x1000000n, 0x7ffffffff000n),
    ),
  }),
);

type Mutation =
  | { kind: "truncate"; at: number }
  | { kind: "bytes"; at: number; bytes: Uint8Array }
  | { kind: "field"; at: number; width: 1 | 2 | 4 | 8; value: bigint };

function mutate(seed: Uint8Array, muts: readonly Mutation[]): Uint8Array {
  let b = seed.slice();
  for (const m of muts) {
    if (m.kind === "truncate") b = b.slice(0, m.at % (b.length + 1));
    else if (m.kind === "bytes") {
      if (b.length === 0) continue;
      const at = m.at % b.length;
      b.set(m.bytes.subarray(0, b.length - at), at);
    } else {
      const at = m.at;
      if (at + m.width > b.length) continue;
      const v = new DataView(b.buffer);
      const mask = (1n << BigInt(m.width * 8)) - 1n;
      const val = m.value & mask;
      if (m.width === 1) v.setUint8(at, Number(val));
      else if (m.width === 2) v.setUint16(at, Number(val), true);
      else if (m.width === 4) v.setUint32(at, Number(val), true);
      else v.setBigUint64(at, val, true);
    }
  }
  return b;
}

function expectTyped(e: unknown): void {
  if (!(e instanceof LoaderError)) throw e;
  expect(typeof e.code).toBe("string");
  expect(e.field).toBeTypeOf("string");
}

describe("hostile ELF files", () => {
  it("the parsers and the static-program reader fail only with typed errors naming a field", () => {
    fc.assert(
      fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 6 }), (si, muts) => {
        const b = mutate(seeds[si], muts);
        for (const fn of [
          () => {
            const elf = parseElf64(b);
            findPvhEntry(b, elf);
          },
          () => readStaticProgram(b),
        ]) {
          try {
            fn();
          } catch (e) {
            expectTyped(e);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("loaders write only inside guest memory and inside the ranges they report", () => {
    const stats = { kernelOk: 0, staticOk: 0, failed: 0 };
    fc.assert(
      fc.property(
        fc.nat({ max: seeds.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        fc.constantFrom(undefined, 0x200000n, 0x1000n),
        (si, muts, base) => {
          const b = mutate(seeds[si], muts);
          const mem = new RecordingMemory(WINDOW_START, WINDOW_SIZE);
          try {
            const r = loadElfKernel(mem, b);
            stats.kernelOk++;
            for (const w of mem.writes) {
              expect(w.addr >= r.loadStart && w.addr + BigInt(w.len) <= r.kernelEnd).toBe(true);
            }
          } catch (e) {
            expectTyped(e);
          }
          const mem2 = new RecordingMemory(0n, WINDOW_SIZE);
          try {
            const p = loadStaticProgram(b, mem2, base);
            stats.staticOk++;
            for (const w of mem2.writes) {
              const inSeg = p.segments.some(
                (s) => w.addr >= s.vaddr && w.addr + BigInt(w.len) <= s.vaddr + BigInt(s.memSize),
              );
              expect(inSeg).toBe(true);
            }
          } catch (e) {
            expectTyped(e);
            stats.failed++;
          }
        },
      ),
      { numRuns: 1500 },
    );
    // The properties are not vacuous: mutated files both load and fail.
    expect(stats.kernelOk).toBeGreaterThan(50);
    expect(stats.staticOk).toBeGreaterThan(20);
    expect(stats.failed).toBeGreaterThan(50);
  });

  it("a failed load writes nothing", () => {
    fc.assert(
      fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 6 }), (si, muts) => {
        const b = mutate(seeds[si], muts);
        const mem = new RecordingMemory(0n, 0x500000n); // too small for the kernel seed
        try {
          loadElfKernel(mem, b);
        } catch (e) {
          expectTyped(e);
          expect(mem.writes).toEqual([]);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

function bzImageSeed(): Uint8Array {
  const setupSects = 3;
  const setupSize = (setupSects + 1) * 512;
  const kernelSize = 0x3000;
  const b = new Uint8Array(setupSize + kernelSize);
  const v = new DataView(b.buffer);
  b[0x1f1] = setupSects;
  v.setUint16(0x1fe, 0xaa55, true);
  b[0x200] = 0xeb;
  b[0x201] = 0x6a; // jump over the header to 0x26c
  v.setUint32(0x202, 0x53726448, true);
  v.setUint16(0x206, 0x20f, true);
  b[0x211] = 0x01; // LOADED_HIGH
  v.setUint32(0x214, 0x100000, true);
  v.setUint32(0x22c, 0x7fffffff, true);
  v.setUint16(0x236, 0x3, true);
  v.setUint32(0x248, 0x100, true); // payload offset
  v.setUint32(0x24c, 0x200, true); // payload length
  b.set([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], setupSize + 0x100);
  return b;
}

describe("hostile bzImages", () => {
  const seed = bzImageSeed();
  it("parses the seed", () => {
    const img = parseBzImage(seed);
    expect(img.payloadFormat).toBe("xz");
    expect(img.setupSize).toBe(2048);
  });

  const hdrMutation = fc.oneof(
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat({ max: seed.length }) }),
    fc.record({
      kind: fc.constant("bytes" as const),
      at: fc.integer({ min: 0x1f0, max: 0x270 }),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
    fc.record({
      kind: fc.constant("field" as const),
      at: fc.integer({ min: 0x1f1, max: 0x268 }),
      width: fc.constantFrom<1 | 2 | 4 | 8>(1, 2, 4, 8),
      value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    }),
  );

  it("fail with typed errors and load only [kernelLoad, kernelEnd) inside guest memory", () => {
    let ok = 0;
    let failed = 0;
    fc.assert(
      fc.property(
        fc.array(hdrMutation, { minLength: 1, maxLength: 5 }),
        fc.option(fc.bigInt({ min: 0n, max: 0x8000000n })),
        (muts, at) => {
          const b = mutate(seed, muts);
          const mem = new RecordingMemory(WINDOW_START, WINDOW_SIZE);
          try {
            const r = loadBzImage(mem, b, at === null ? {} : { loadAddress: at });
            for (const w of mem.writes)
              expect(w.addr >= r.kernelLoad && w.addr + BigInt(w.len) <= r.kernelEnd).toBe(true);
            expect(r.kernelEnd - r.kernelLoad).toBe(BigInt(b.length - r.image.setupSize));
            ok++;
          } catch (e) {
            expectTyped(e);
            expect(mem.writes).toEqual([]);
            failed++;
          }
        },
      ),
      { numRuns: 3000 },
    );
    expect(ok).toBeGreaterThan(100);
    expect(failed).toBeGreaterThan(100);
  });
});
