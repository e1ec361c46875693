import { hex, LoaderError } from "./errors.js";
import {
  alignUp,
  checkGuestRange,
  copyToGuest,
  type GuestMemoryTarget,
  PAGE_SIZE,
  U64_MAX,
  zeroFill,
} from "./memory.js";

// Constants from <elf.h>.
export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const ELFDATA2MSB = 2;
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;
export const EM_X86_64 = 62;
export const PT_NULL = 0;
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const PT_NOTE = 4;
export const PT_PHDR = 6;
export const PT_TLS = 7;
export const PT_GNU_STACK = 0x6474e551;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;
export const ELF64_EHDR_SIZE = 64;
export const ELF64_PHDR_SIZE = 56;
const PN_XNUM = 0xffff;
/** XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit physical entry point for PVH boot (xen/include/public/elfnote.h). */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

const MACHINE_NAMES: Record<number, string> = {
  2: "SPARC",
  3: "i386",
  8: "MIPS",
  20: "PowerPC",
  21: "PowerPC64",
  22: "S/390",
  40: "ARM",
  43: "SPARC64",
  50: "IA-64",
  62: "x86-64",
  183: "AArch64",
  243: "RISC-V",
  258: "LoongArch",
};

export function machineName(m: number): string {
  return MACHINE_NAMES[m] ?? `machine ${m}`;
}

export interface Elf64Header {
  type: number;
  machine: number;
  version: number;
  entry: bigint;
  phoff: bigint;
  shoff: bigint;
  flags: number;
  ehsize: number;
  phentsize: number;
  phnum: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

export interface Elf64ProgramHeader {
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  paddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

export interface ElfNote {
  name: string;
  type: number;
  desc: Uint8Array;
}

/** A parsed, validated ELF64 x86-64 file: header and program headers, every range checked against the file. */
export interface Elf64File {
  header: Elf64Header;
  programHeaders: Elf64ProgramHeader[];
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function fail(code: ConstructorParameters<typeof LoaderError>[0], field: string, message: string): never {
  throw new LoaderError(code, message, { field });
}

/** Parses and checks the ELF identification and header: 64-bit, little-endian, x86-64. */
export function parseElf64Header(bytes: Uint8Array): Elf64Header {
  if (!(bytes instanceof Uint8Array)) fail("INVALID_ARGUMENT", "bytes", "the ELF file must be a Uint8Array");
  if (bytes.length < 4 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    fail("BAD_MAGIC", "e_ident", "not an ELF file (no \\x7fELF magic)");
  }
  if (bytes.length < 16) fail("TRUNCATED", "e_ident", "the ELF identification is truncated");
  const cls = bytes[4];
  if (cls === ELFCLASS32)
    fail("ELF_32BIT", "e_ident[EI_CLASS]", "a 32-bit ELF file (ELFCLASS32): only 64-bit x86-64 is supported");
  if (cls !== ELFCLASS64) fail("INVALID_FIELD", "e_ident[EI_CLASS]", `invalid ELF class ${cls}`);
  const data = bytes[5];
  if (data === ELFDATA2MSB)
    fail(
      "BIG_ENDIAN",
      "e_ident[EI_DATA]",
      "a big-endian ELF file (ELFDATA2MSB): only little-endian x86-64 is supported",
    );
  if (data !== ELFDATA2LSB) fail("INVALID_FIELD", "e_ident[EI_DATA]", `invalid ELF data encoding ${data}`);
  if (bytes[6] !== 1) fail("INVALID_FIELD", "e_ident[EI_VERSION]", `invalid ELF version ${bytes[6]}`);
  if (bytes.length < ELF64_EHDR_SIZE)
    fail("TRUNCATED", "Elf64_Ehdr", `the ELF header is truncated (${bytes.length} < 64 bytes)`);
  const v = view(bytes);
  const h: Elf64Header = {
    type: v.getUint16(16, true),
    machine: v.getUint16(18, true),
    version: v.getUint32(20, true),
    entry: v.getBigUint64(24, true),
    phoff: v.getBigUint64(32, true),
    shoff: v.getBigUint64(40, true),
    flags: v.getUint32(48, true),
    ehsize: v.getUint16(52, true),
    phentsize: v.getUint16(54, true),
    phnum: v.getUint16(56, true),
    shentsize: v.getUint16(58, true),
    shnum: v.getUint16(60, true),
    shstrndx: v.getUint16(62, true),
  };
  if (h.machine !== EM_X86_64) {
    fail("WRONG_MACHINE", "e_machine", `an ELF file for ${machineName(h.machine)}, not x86-64`);
  }
  if (h.version !== 1) fail("INVALID_FIELD", "e_version", `invalid e_version ${h.version}`);
  if (h.ehsize < ELF64_EHDR_SIZE) fail("INVALID_FIELD", "e_ehsize", `e_ehsize ${h.ehsize} < 64`);
  return h;
}

/** Parses the header and the program headers, checking that every segment's file range is in the file. */
export function parseElf64(bytes: Uint8Array): Elf64File {
  const header = parseElf64Header(bytes);
  if (header.phnum === PN_XNUM) {
    fail("INVALID_FIELD", "e_phnum", "e_phnum is PN_XNUM (more than 65534 program headers): not supported");
  }
  if (header.phnum > 0 && header.phentsize !== ELF64_PHDR_SIZE) {
    fail("INVALID_FIELD", "e_phentsize", `e_phentsize ${header.phentsize} is not ${ELF64_PHDR_SIZE}`);
  }
  const tableSize = BigInt(header.phnum) * BigInt(ELF64_PHDR_SIZE);
  if (header.phnum > 0 && header.phoff < BigInt(ELF64_EHDR_SIZE)) {
    fail("INVALID_FIELD", "e_phoff", `e_phoff ${hex(header.phoff)} overlaps the ELF header`);
  }
  if (header.phoff + tableSize > BigInt(bytes.length)) {
    fail(
      "TRUNCATED",
      "e_phoff",
      `the program header table [${hex(header.phoff)}, +${hex(tableSize)}) is past the end of the file (${hex(bytes.length)})`,
    );
  }
  const v = view(bytes);
  const programHeaders: Elf64ProgramHeader[] = [];
  for (let i = 0; i < header.phnum; i++) {
    const o = Number(header.phoff) + i * ELF64_PHDR_SIZE;
    const ph: Elf64ProgramHeader = {
      type: v.getUint32(o, true),
      flags: v.getUint32(o + 4, true),
      offset: v.getBigUint64(o + 8, true),
      vaddr: v.getBigUint64(o + 16, true),
      paddr: v.getBigUint64(o + 24, true),
      filesz: v.getBigUint64(o + 32, true),
      memsz: v.getBigUint64(o + 40, true),
      align: v.getBigUint64(o + 48, true),
    };
    if (ph.type === PT_LOAD || ph.type === PT_NOTE || ph.type === PT_INTERP) {
      if (ph.offset + ph.filesz > BigInt(bytes.length)) {
        fail(
          "TRUNCATED",
          `phdr[${i}].p_filesz`,
          `segment ${i}'s file range [${hex(ph.offset)}, +${hex(ph.filesz)}) is past the end of the file (${hex(bytes.length)})`,
        );
      }
    }
    if (ph.type === PT_LOAD) {
      if (ph.filesz > ph.memsz) {
        fail(
          "INVALID_FIELD",
          `phdr[${i}].p_filesz`,
          `segment ${i}: p_filesz ${hex(ph.filesz)} > p_memsz ${hex(ph.memsz)}`,
        );
      }
      if (ph.align > 1n && (ph.align & (ph.align - 1n)) !== 0n) {
        fail("INVALID_FIELD", `phdr[${i}].p_align`, `segment ${i}: p_align ${hex(ph.align)} is not a power of two`);
      }
      if (ph.vaddr + ph.memsz > U64_MAX || ph.paddr + ph.memsz > U64_MAX) {
        fail("OVERFLOW", `phdr[${i}].p_memsz`, `segment ${i}: address + p_memsz overflows 64 bits`);
      }
    }
    programHeaders.push(ph);
  }
  return { header, programHeaders };
}

/** Reads the notes of every PT_NOTE segment (4-byte aligned entries; a malformed note is a typed error). */
export function readElfNotes(bytes: Uint8Array, elf: Elf64File): ElfNote[] {
  const notes: ElfNote[] = [];
  const v = view(bytes);
  elf.programHeaders.forEach((ph, i) => {
    if (ph.type !== PT_NOTE) return;
    let off = Number(ph.offset);
    const end = off + Number(ph.filesz);
    while (off < end) {
      if (end - off < 12) fail("TRUNCATED", `phdr[${i}] note`, `segment ${i}: a note header is truncated`);
      const namesz = v.getUint32(off, true);
      const descsz = v.getUint32(off + 4, true);
      const type = v.getUint32(off + 8, true);
      const nameOff = off + 12;
      const descOff = nameOff + Number(alignUp(BigInt(namesz), 4n));
      const next = descOff + Number(alignUp(BigInt(descsz), 4n));
      if (descOff + descsz > end || next > end + 3) {
        fail(
          "TRUNCATED",
          `phdr[${i}] note`,
          `segment ${i}: a note (namesz ${namesz}, descsz ${descsz}) runs past its segment`,
        );
      }
      let nameEnd = nameOff + namesz;
      if (namesz > 0 && bytes[nameEnd - 1] === 0) nameEnd--;
      let name = "";
      for (let k = nameOff; k < nameEnd; k++) name += String.fromCharCode(bytes[k]);
      notes.push({ name, type, desc: bytes.slice(descOff, descOff + descsz) });
      off = next;
    }
  });
  return notes;
}

/** The PVH entry point from the `Xen` XEN_ELFNOTE_PHYS32_ENTRY note, if the kernel has one. */
export function findPvhEntry(bytes: Uint8Array, elf: Elf64File): bigint | undefined {
  for (const n of readElfNotes(bytes, elf)) {
    if (n.name === "Xen" && n.type === XEN_ELFNOTE_PHYS32_ENTRY) {
      if (n.desc.length < 4) {
        fail(
          "INVALID_FIELD",
          "XEN_ELFNOTE_PHYS32_ENTRY",
          `the PVH entry note's descriptor has ${n.desc.length} bytes, not 4 or 8`,
        );
      }
      const dv = view(n.desc);
      return n.desc.length >= 8 ? dv.getBigUint64(0, true) : BigInt(dv.getUint32(0, true));
    }
  }
  return undefined;
}

export interface ElfKernelLoadOptions {
  /** Added to each segment's physical address and to the entry (default 0). */
  kernelOffset?: bigint;
  /** The kernel must load at or above this address (rust-vmm's highmem_start_address; default 0). */
  highmemStart?: bigint;
}

/** What `loadElfKernel` did. */
export interface ElfKernelLoadResult {
  /** The 64-bit entry point (e_entry + offset) for the Linux 64-bit boot protocol. */
  kernelLoad: bigint;
  /** The lowest and one-past-the-highest guest physical addresses written. */
  loadStart: bigint;
  kernelEnd: bigint;
  /** The PVH entry (XEN_ELFNOTE_PHYS32_ENTRY + offset), when the kernel supports PVH boot. */
  pvhEntry: bigint | undefined;
  /** Whether the kernel can be booted with PVH. */
  pvhBootCapable: boolean;
}

/**
 * Loads an ELF kernel (vmlinux) into guest memory: every PT_LOAD segment at its physical address
 * (p_paddr + kernelOffset), the bytes past p_filesz zeroed; every range checked against the file
 * and against guest memory before anything is written.
 */
export function loadElfKernel(
  mem: GuestMemoryTarget,
  bytes: Uint8Array,
  options: ElfKernelLoadOptions = {},
): ElfKernelLoadResult {
  const offset = options.kernelOffset ?? 0n;
  const highmem = options.highmemStart ?? 0n;
  if (offset < 0n || offset > U64_MAX) fail("INVALID_ARGUMENT", "kernelOffset", "kernelOffset must be a u64");
  const elf = parseElf64(bytes);
  if (elf.header.type !== ET_EXEC && elf.header.type !== ET_DYN) {
    fail("NOT_EXECUTABLE", "e_type", `e_type ${elf.header.type} is not an executable kernel`);
  }
  const loads = elf.programHeaders.filter((p) => p.type === PT_LOAD && p.memsz > 0n);
  if (loads.length === 0) fail("NO_LOADABLE_SEGMENTS", "e_phnum", "the kernel has no PT_LOAD segment");
  const entry = elf.header.entry + offset;
  if (entry > U64_MAX) fail("OVERFLOW", "e_entry", "e_entry + kernelOffset overflows");
  if (entry < highmem)
    fail("INVALID_FIELD", "e_entry", `the entry ${hex(entry)} is below the high-memory start ${hex(highmem)}`);
  let loadStart = U64_MAX;
  let kernelEnd = 0n;
  const plan: Array<{ ph: Elf64ProgramHeader; at: bigint }> = [];
  for (const ph of loads) {
    const at = ph.paddr + offset;
    if (at + ph.memsz > U64_MAX) fail("OVERFLOW", "p_paddr", `segment at ${hex(ph.paddr)} + offset overflows`);
    if (at < highmem)
      fail("INVALID_FIELD", "p_paddr", `segment at ${hex(at)} is below the high-memory start ${hex(highmem)}`);
    checkGuestRange(mem, at, ph.memsz, "p_paddr");
    plan.push({ ph, at });
    if (at < loadStart) loadStart = at;
    if (at + ph.memsz > kernelEnd) kernelEnd = at + ph.memsz;
  }
  const pvh = findPvhEntry(bytes, elf);
  for (const { ph, at } of plan) {
    copyToGuest(mem, bytes, Number(ph.offset), Number(ph.filesz), at);
    if (ph.memsz > ph.filesz) zeroFill(mem, at + ph.filesz, ph.memsz - ph.filesz);
  }
  const pvhEntry = pvh === undefined ? undefined : pvh + offset;
  return { kernelLoad: entry, loadStart, kernelEnd, pvhEntry, pvhBootCapable: pvhEntry !== undefined };
}

// ------------------------------------------------------------------ static programs

/** One loadable segment of a static program. */
export interface ProgramSegment {
  /** Offset of the segment's bytes in the file. */
  fileOffset: number;
  /** Bytes copied from the file. */
  fileSize: number;
  /** Bytes in memory; past fileSize they are zero (bss). */
  memSize: number;
  /** Virtual address (relocated to the base for a loaded PIE). */
  vaddr: bigint;
  /** PF_R | PF_W | PF_X. */
  flags: number;
  /** p_align. */
  align: bigint;
}

/** What the sandbox needs to start a static Linux program (and to build its auxv). */
export interface StaticProgram {
  /** "pie": static-PIE (ET_DYN without PT_INTERP), loaded at a chosen base; "fixed": ET_EXEC at its link addresses. */
  kind: "fixed" | "pie";
  isPie: boolean;
  /** The load bias added to every address (0 for fixed, and for an unrelocated PIE). */
  base: bigint;
  /** AT_ENTRY. */
  entry: bigint;
  /** AT_PHDR: where the program headers are in the loaded image. */
  phdrAddr: bigint;
  /** AT_PHNUM. */
  phnum: number;
  /** AT_PHENT (56). */
  phentsize: number;
  segments: ProgramSegment[];
  /** Lowest address of the image (page-aligned down). */
  loadStart: bigint;
  /** One past the highest byte of the image. */
  loadEnd: bigint;
  /** Where the heap starts: loadEnd rounded up to a page. */
  brkStart: bigint;
  /** The PT_TLS template, if any (relocated). */
  tls: { vaddr: bigint; fileSize: number; memSize: number; align: bigint } | undefined;
  /** Whether PT_GNU_STACK asks for an executable stack. */
  executableStack: boolean;
}

/** Highest user address on x86-64 with 4-level paging (exclusive). */
export const USER_ADDRESS_LIMIT = 0x0000_7fff_ffff_f000n;

function printable(b: Uint8Array, max: number): string {
  let s = "";
  for (let i = 0; i < b.length && i < max && b[i] !== 0; i++) {
    const c = b[i];
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : "?";
  }
  return s;
}

/**
 * Reads a static x86-64 Linux program without writing anything: its segments, entry, program
 * header address, brk start, and whether it is static-PIE or fixed. Refuses (with a typed
 * `LoaderError`) dynamically linked programs (`DYNAMICALLY_LINKED`), 32-bit (`ELF_32BIT`),
 * big-endian (`BIG_ENDIAN`) and non-x86-64 (`WRONG_MACHINE`) files, and any inconsistent layout.
 * Addresses are those of the file (a PIE's base is 0).
 */
export function readStaticProgram(bytes: Uint8Array): StaticProgram {
  const elf = parseElf64(bytes);
  const h = elf.header;
  const interp = elf.programHeaders.find((p) => p.type === PT_INTERP);
  if (interp !== undefined) {
    const path = printable(bytes.subarray(Number(interp.offset), Number(interp.offset + interp.filesz)), 256);
    fail(
      "DYNAMICALLY_LINKED",
      "PT_INTERP",
      `the program is dynamically linked (it asks for the interpreter ${path}); only static programs can run`,
    );
  }
  let isPie: boolean;
  if (h.type === ET_EXEC) isPie = false;
  else if (h.type === ET_DYN) isPie = true;
  else
    fail(
      "NOT_EXECUTABLE",
      "e_type",
      `e_type ${h.type} (${h.type === ET_REL ? "a relocatable object" : h.type === ET_CORE ? "a core dump" : "unknown"}) is not an executable`,
    );
  if (h.phnum === 0) fail("NO_LOADABLE_SEGMENTS", "e_phnum", "the program has no program headers");

  const segments: ProgramSegment[] = [];
  let prevEnd = -1n;
  let loadStart = U64_MAX;
  let loadEnd = 0n;
  elf.programHeaders.forEach((ph, i) => {
    if (ph.type !== PT_LOAD || ph.memsz === 0n) return;
    if (ph.vaddr + ph.memsz > USER_ADDRESS_LIMIT) {
      fail(
        "OVERFLOW",
        `phdr[${i}].p_vaddr`,
        `segment ${i} [${hex(ph.vaddr)}, +${hex(ph.memsz)}) is not below the user address limit ${hex(USER_ADDRESS_LIMIT)}`,
      );
    }
    if (ph.vaddr < prevEnd) {
      fail(
        "OVERLAPPING_SEGMENTS",
        `phdr[${i}].p_vaddr`,
        `segment ${i} at ${hex(ph.vaddr)} overlaps or precedes the previous one (ending ${hex(prevEnd)})`,
      );
    }
    prevEnd = ph.vaddr + ph.memsz;
    if (ph.vaddr < loadStart) loadStart = ph.vaddr;
    if (prevEnd > loadEnd) loadEnd = prevEnd;
    segments.push({
      fileOffset: Number(ph.offset),
      fileSize: Number(ph.filesz),
      memSize: Number(ph.memsz),
      vaddr: ph.vaddr,
      flags: ph.flags,
      align: ph.align,
    });
  });
  if (segments.length === 0) fail("NO_LOADABLE_SEGMENTS", "PT_LOAD", "the program has no PT_LOAD segment");

  const inImage = (a: bigint) => segments.some((s) => a >= s.vaddr && a < s.vaddr + BigInt(s.memSize));
  if (!inImage(h.entry)) {
    fail("INVALID_FIELD", "e_entry", `the entry point ${hex(h.entry)} is not inside any loadable segment`);
  }
  // AT_PHDR: PT_PHDR if present, else the loaded copy of the table (as Linux's binfmt_elf finds it).
  let phdrAddr: bigint | undefined;
  const phdrSeg = elf.programHeaders.find((p) => p.type === PT_PHDR);
  if (phdrSeg !== undefined) phdrAddr = phdrSeg.vaddr;
  else {
    const tableEnd = h.phoff + BigInt(h.phnum * ELF64_PHDR_SIZE);
    for (const s of segments) {
      const fo = BigInt(s.fileOffset);
      if (h.phoff >= fo && tableEnd <= fo + BigInt(s.fileSize)) {
        phdrAddr = s.vaddr + (h.phoff - fo);
        break;
      }
    }
  }
  if (phdrAddr === undefined || !inImage(phdrAddr)) {
    fail("INVALID_FIELD", "e_phoff", "the program headers are not part of a loadable segment (no AT_PHDR)");
  }
  const tlsPh = elf.programHeaders.find((p) => p.type === PT_TLS);
  const tls =
    tlsPh === undefined
      ? undefined
      : { vaddr: tlsPh.vaddr, fileSize: Number(tlsPh.filesz), memSize: Number(tlsPh.memsz), align: tlsPh.align };
  if (tls !== undefined && (BigInt(tls.fileSize) > BigInt(tls.memSize) || tls.memSize > 0x1000_0000)) {
    fail("INVALID_FIELD", "PT_TLS", "the TLS segment's sizes are inconsistent");
  }
  const stack = elf.programHeaders.find((p) => p.type === PT_GNU_STACK);
  const executableStack = stack === undefined ? true : (stack.flags & PF_X) !== 0;
  return {
    kind: isPie ? "pie" : "fixed",
    isPie,
    base: 0n,
    entry: h.entry,
    phdrAddr,
    phnum: h.phnum,
    phentsize: h.phentsize,
    segments,
    loadStart: loadStart & ~(PAGE_SIZE - 1n),
    loadEnd,
    brkStart: alignUp(loadEnd, PAGE_SIZE),
    tls,
    executableStack,
  };
}

/** The default base of a static-PIE when none is given (a typical low, page-aligned address). */
export const DEFAULT_PIE_BASE = 0x40_0000n;

/** Returns `p` with every address moved by `base`. */
export function relocateProgram(p: StaticProgram, base: bigint): StaticProgram {
  const seg = p.segments.map((s) => ({ ...s, vaddr: s.vaddr + base }));
  return {
    ...p,
    base,
    entry: p.entry + base,
    phdrAddr: p.phdrAddr + base,
    segments: seg,
    loadStart: p.loadStart + base,
    loadEnd: p.loadEnd + base,
    brkStart: p.brkStart + base,
    tls: p.tls === undefined ? undefined : { ...p.tls, vaddr: p.tls.vaddr + base },
  };
}

/**
 * Reads a static program and copies its segments into guest memory at their (relocated)
 * addresses, zero-filling each segment past its file bytes. A static-PIE is placed at `base`
 * (page aligned, default `DEFAULT_PIE_BASE`); a fixed program ignores `base`. Every range is
 * checked against guest memory before anything is written. Returns the relocated `StaticProgram`.
 */
export function loadStaticProgram(bytes: Uint8Array, mem: GuestMemoryTarget, base?: bigint): StaticProgram {
  const raw = readStaticProgram(bytes);
  let p = raw;
  if (raw.isPie) {
    const b = base ?? DEFAULT_PIE_BASE;
    if (typeof b !== "bigint" || b < 0n || (b & (PAGE_SIZE - 1n)) !== 0n) {
      fail("INVALID_ARGUMENT", "base", `the load base ${String(b)} must be a page-aligned non-negative bigint`);
    }
    if (b + raw.loadEnd > USER_ADDRESS_LIMIT) {
      fail("OVERFLOW", "base", `base ${hex(b)} puts the image past the user address limit`);
    }
    p = relocateProgram(raw, b);
  }
  for (const s of p.segments) checkGuestRange(mem, s.vaddr, BigInt(s.memSize), "p_vaddr");
  for (const s of p.segments) {
    copyToGuest(mem, bytes, s.fileOffset, s.fileSize, s.vaddr);
    if (s.memSize > s.fileSize) zeroFill(mem, s.vaddr + BigInt(s.fileSize), BigInt(s.memSize - s.fileSize));
  }
  return p;
}
