import {
  DEFAULT_PIE_BASE,
  findPvhEntry,
  LoaderError,
  loadElfKernel,
  loadStaticProgram,
  PT_INTERP,
  PT_LOAD,
  PT_NOTE,
  PT_PHDR,
  parseElf64,
  readStaticProgram,
  XEN_ELFNOTE_PHYS32_ENTRY,
} from "@kindling/linux-loader";
import { GuestMemoryMmap } from "@kindling/vm-memory";
import { describe, expect, it } from "vitest";
import { buildElf, elfNote } from "./helpers.js";

function code(): Uint8Array {
  const c = new Uint8Array(0x40);
  for (let i = 0; i < c.length; i++) c[i] = 0x90 + (i % 7);
  return c;
}

function errOf(fn: () => unknown): LoaderError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LoaderError);
    return e as LoaderError;
  }
  throw new Error("expected a LoaderError");
}

describe("ELF kernel loader", () => {
  const pvh = new Uint8Array(4);
  new DataView(pvh.buffer).setUint32(0, 0x1000123, true);
  const kernel = () =>
    buildElf({
      entry: 0x1000000n,
      phdrs: [
        { type: PT_LOAD, vaddr: 0xffffffff81000000n, paddr: 0x1000000n, content: code(), memsz: 0x2000n },
        { type: PT_NOTE, vaddr: 0xffffffff81001000n, content: elfNote("Xen", XEN_ELFNOTE_PHYS32_ENTRY, pvh) },
      ],
    });

  it("loads PT_LOAD at p_paddr, zeroes the bss, and finds the PVH entry", () => {
    const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: 32 << 20 }]);
    mem.writeSlice(new Uint8Array(0x2000).fill(0xee), 0x1000000n);
    const r = loadElfKernel(mem, kernel());
    expect(r.kernelLoad).toBe(0x1000000n);
    expect(r.loadStart).toBe(0x1000000n);
    expect(r.kernelEnd).toBe(0x1002000n);
    expect(r.pvhEntry).toBe(0x1000123n);
    expect(r.pvhBootCapable).toBe(true);
    const got = new Uint8Array(0x2000);
    mem.readSlice(got, 0x1000000n);
    expect(got.subarray(0, 0x40)).toEqual(code());
    expect(got.subarray(0x40).every((b) => b === 0)).toBe(true);
    mem.close();
  });

  it("applies a kernel offset and checks against guest memory and highmem", () => {
    const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: 16 << 20 }]);
    expect(errOf(() => loadElfKernel(mem, kernel())).code).toBe("OUT_OF_GUEST_MEMORY");
    mem.close();
    const mem2 = GuestMemoryMmap.fromRanges([{ start: 0n, size: 64 << 20 }]);
    const r2 = loadElfKernel(mem2, kernel(), { kernelOffset: 0x200000n });
    expect(r2.kernelLoad).toBe(0x1200000n);
    expect(r2.pvhEntry).toBe(0x1200123n);
    expect(errOf(() => loadElfKernel(mem2, kernel(), { highmemStart: 0x2000000n })).field).toBe("e_entry");
    mem2.close();
  });

  it("reports no PVH capability without the note", () => {
    const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: 32 << 20 }]);
    const elf = buildElf({ entry: 0x1000000n, phdrs: [{ type: PT_LOAD, vaddr: 0x1000000n, content: code() }] });
    const r = loadElfKernel(mem, elf);
    expect(r.pvhBootCapable).toBe(false);
    expect(r.pvhEntry).toBeUndefined();
    expect(findPvhEntry(elf, parseElf64(elf))).toBeUndefined();
    mem.close();
  });
});

describe("ELF refusals by name", () => {
  const base = () => buildElf({ entry: 0x401000n, phdrs: [{ type: PT_LOAD, vaddr: 0x401000n, content: code() }] });
  it("refuses non-ELF, 32-bit, big-endian and non-x86-64 files", () => {
    expect(errOf(() => readStaticProgram(new TextEncoder().encode("#!/bin/sh\n"))).code).toBe("BAD_MAGIC");
    const b32 = base();
    b32[4] = 1;
    const e32 = errOf(() => readStaticProgram(b32));
    expect(e32.code).toBe("ELF_32BIT");
    expect(e32.message).toMatch(/32-bit/);
    const be = base();
    be[5] = 2;
    expect(errOf(() => readStaticProgram(be)).message).toMatch(/big-endian/);
    const arm = buildElf({
      machine: 183,
      entry: 0x401000n,
      phdrs: [{ type: PT_LOAD, vaddr: 0x401000n, content: code() }],
    });
    const ea = errOf(() => readStaticProgram(arm));
    expect(ea.code).toBe("WRONG_MACHINE");
    expect(ea.message).toMatch(/AArch64/);
    const i386 = buildElf({
      machine: 3,
      entry: 0x401000n,
      phdrs: [{ type: PT_LOAD, vaddr: 0x401000n, content: code() }],
    });
    expect(errOf(() => readStaticProgram(i386)).message).toMatch(/i386/);
    const rel = buildElf({ type: 1, entry: 0n, phdrs: [] });
    expect(errOf(() => readStaticProgram(rel)).code).toBe("NOT_EXECUTABLE");
  });

  it("refuses a program with PT_INTERP as dynamically linked, naming the interpreter", () => {
    const dyn = buildElf({
      entry: 0x401000n,
      phdrs: [
        { type: PT_INTERP, vaddr: 0x400200n, content: new TextEncoder().encode("/lib64/ld-linux-x86-64.so.2\0") },
        { type: PT_LOAD, vaddr: 0x401000n, content: code() },
      ],
    });
    const e = errOf(() => readStaticProgram(dyn));
    expect(e.code).toBe("DYNAMICALLY_LINKED");
    expect(e.message).toContain("dynamically linked");
    expect(e.message).toContain("/lib64/ld-linux-x86-64.so.2");
  });

  it("names the field of inconsistent layouts", () => {
    const overlap = buildElf({
      entry: 0x401000n,
      phdrs: [
        { type: PT_LOAD, vaddr: 0x401000n, content: code(), memsz: 0x2000n },
        { type: PT_LOAD, vaddr: 0x401800n, content: code() },
      ],
    });
    expect(errOf(() => readStaticProgram(overlap)).code).toBe("OVERLAPPING_SEGMENTS");
    const badEntry = buildElf({ entry: 0x900000n, phdrs: [{ type: PT_LOAD, vaddr: 0x401000n, content: code() }] });
    expect(errOf(() => readStaticProgram(badEntry)).field).toBe("e_entry");
    const bigFile = buildElf({
      entry: 0x401000n,
      phdrs: [{ type: PT_LOAD, vaddr: 0x401000n, content: code(), filesz: 0x10000n }],
    });
    expect(errOf(() => readStaticProgram(bigFile)).code).toBe("TRUNCATED");
    const fileGtMem = buildElf({
      entry: 0x401000n,
      phdrs: [{ type: PT_LOAD, vaddr: 0x401000n, content: code(), memsz: 1n }],
    });
    expect(errOf(() => readStaticProgram(fileGtMem)).field).toBe("phdr[0].p_filesz");
    const kernelSpace = buildElf({
      entry: 0xffffffff81000000n,
      phdrs: [{ type: PT_LOAD, vaddr: 0xffffffff81000000n, content: code() }],
    });
    expect(errOf(() => readStaticProgram(kernelSpace)).code).toBe("OVERFLOW");
  });
});

describe("static programs", () => {
  // A fixed program whose first segment starts at file offset 0 (so it holds the program headers).
  function fixed(): Uint8Array {
    const elf = buildElf({
      entry: 0x401010n,
      phdrs: [
        { type: PT_LOAD, vaddr: 0x400000n, content: new Uint8Array(0x100), offset: 0n, flags: 4 },
        { type: PT_LOAD, vaddr: 0x401000n, content: code(), flags: 5 },
        { type: PT_LOAD, vaddr: 0x402000n, content: Uint8Array.of(1, 2, 3, 4), memsz: 0x3000n, flags: 6 },
      ],
    });
    // The first segment covers the headers: file [0, 0x100).
    return elf;
  }

  it("reads entry, phdr address, brk start and segments without writing", () => {
    const p = readStaticProgram(fixed());
    expect(p.kind).toBe("fixed");
    expect(p.isPie).toBe(false);
    expect(p.entry).toBe(0x401010n);
    expect(p.phdrAddr).toBe(0x400040n);
    expect(p.phnum).toBe(3);
    expect(p.phentsize).toBe(56);
    expect(p.segments.map((s) => [s.vaddr, s.memSize, s.flags])).toEqual([
      [0x400000n, 0x100, 4],
      [0x401000n, 0x40, 5],
      [0x402000n, 0x3000, 6],
    ]);
    expect(p.loadEnd).toBe(0x405000n);
    expect(p.brkStart).toBe(0x405000n);
  });

  it("uses PT_PHDR when present and relocates a static-PIE to the base", () => {
    const pie = buildElf({
      type: 3,
      entry: 0x1010n,
      phdrs: [
        { type: PT_PHDR, vaddr: 0x40n, content: new Uint8Array(), filesz: 0n, memsz: 0xa8n },
        { type: PT_LOAD, vaddr: 0x0n, content: new Uint8Array(0x200), offset: 0n, flags: 4 },
        { type: PT_LOAD, vaddr: 0x1000n, content: code(), memsz: 0x1800n, flags: 5 },
      ],
    });
    const p = readStaticProgram(pie);
    expect(p.kind).toBe("pie");
    expect(p.phdrAddr).toBe(0x40n);
    expect(p.brkStart).toBe(0x3000n);
    const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: 64 << 20 }]);
    mem.writeSlice(new Uint8Array(0x1800).fill(0xcc), 0x2001000n);
    const l = loadStaticProgram(pie, mem, 0x2000000n);
    expect(l.base).toBe(0x2000000n);
    expect(l.entry).toBe(0x2001010n);
    expect(l.phdrAddr).toBe(0x2000040n);
    expect(l.brkStart).toBe(0x2003000n);
    const got = new Uint8Array(0x1800);
    mem.readSlice(got, 0x2001000n);
    expect(got.subarray(0, 0x40)).toEqual(code());
    expect(got.subarray(0x40).every((b) => b === 0)).toBe(true);
    expect(loadStaticProgram(pie, mem).base).toBe(DEFAULT_PIE_BASE);
    expect(errOf(() => loadStaticProgram(pie, mem, 0x2000001n)).field).toBe("base");
    expect(errOf(() => loadStaticProgram(pie, mem, 0x4000000n)).code).toBe("OUT_OF_GUEST_MEMORY");
    mem.close();
  });

  it("copies a fixed program at its link addresses", () => {
    const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: 8 << 20 }]);
    const p = loadStaticProgram(fixed(), mem, 0x123000n);
    expect(p.base).toBe(0n);
    expect(mem.readU32(0x402000n)).toBe(0x04030201);
    expect(mem.readU8(0x402004n)).toBe(0);
    expect(mem.readU32(0x400000n)).toBe(0x464c457f);
    mem.close();
  });
});
