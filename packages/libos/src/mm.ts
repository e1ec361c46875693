/**
 * The program's address space: which ranges are mapped, with what protection
 * and backing, over a fixed identity mapping (every page of program memory is
 * present in the guest's page tables; the libos never edits them).
 *
 * Allocation: mmap hands out ranges top-down in the arena `[base, base+size)`,
 * brk grows up from `brk` (default `base`). The total mapped size never exceeds
 * `limit` (ENOMEM). A range that was unmapped is zeroed again before it is handed
 * out (lazily, when reused), unless the embedder's `discard` hook reports that it
 * already reads as zeros (e.g. madvise(MADV_DONTNEED) on private host memory).
 *
 * Addresses and sizes are numbers (exact: user addresses are below 2^47).
 */
import type { ProgramMemory } from "@kindling/syscall-tap";
import { PAGE_SIZE, TASK_SIZE } from "./abi.js";
import { EEXIST, ENOMEM } from "./errno.js";
import { LibosError } from "./errors.js";

export type MappingKind = "anon" | "file" | "brk" | "stack" | "image" | "other";

export interface Mapping {
  start: number;
  end: number;
  prot: number;
  /** MAP_* flags given at creation (MAP_SHARED, MAP_PRIVATE, MAP_STACK ...). */
  flags: number;
  kind: MappingKind;
  /** The /proc/self/maps name: "[heap]", "[stack]", a path, or "". */
  name: string;
  /** File offset of `start` (file mappings). */
  offset: number;
}

export interface AddressSpaceOptions {
  /** Lowest address mmap and brk hand out (page aligned). */
  base: number;
  /** Arena size in bytes (page aligned). */
  size: number;
  /** Maximum mapped bytes in total (default: size). */
  limit?: number;
  /** Start of the program break (default: base); inside the arena. */
  brk?: number;
  /**
   * Releases host memory behind `[addr, addr+len)` after it is unmapped. Returns
   * true when the range now reads as zeros (so the libos need not zero it again).
   */
  discard?: (addr: number, len: number) => boolean | undefined;
  /** vm.max_map_count (default 65530). */
  maxMappings?: number;
}

export const pageUp = (n: number): number => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
export const pageDown = (n: number): number => Math.floor(n / PAGE_SIZE) * PAGE_SIZE;
export const isPageAligned = (n: number): boolean => n % PAGE_SIZE === 0;

export class AddressSpace {
  readonly base: number;
  readonly end: number;
  readonly limit: number;
  readonly maxMappings: number;
  /** Mapped bytes now, and the most ever mapped at once. */
  used = 0;
  peak = 0;
  readonly brkStart: number;
  /** The program break (byte granular); its mapping ends at pageUp(brk). */
  brk: number;
  private readonly maps: Mapping[] = [];
  /** Sorted, disjoint ranges [s0, e0, s1, e1, ...] that were freed and are not known to be zero. */
  private dirty: number[] = [];
  /** Sorted, disjoint ranges where MAP_FIXED may place memory: the arena plus reserved ranges. */
  private allowed: number[];
  private readonly discardHook: AddressSpaceOptions["discard"];

  constructor(opts: AddressSpaceOptions) {
    const { base, size } = opts;
    if (!Number.isSafeInteger(base) || !Number.isSafeInteger(size) || base < 0 || size < 0) {
      throw new LibosError("EINVAL", "memory.base and memory.size must be non-negative integers");
    }
    if (base % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0) {
      throw new LibosError("EINVAL", "memory.base and memory.size must be page aligned");
    }
    if (base + size > TASK_SIZE) throw new LibosError("EINVAL", "memory range above the user address space");
    this.base = base;
    this.end = base + size;
    this.limit = opts.limit ?? size;
    if (!(this.limit >= 0)) throw new LibosError("EINVAL", "memory.limit must be >= 0");
    this.maxMappings = opts.maxMappings ?? 65530;
    const brk = opts.brk ?? base;
    if (!Number.isSafeInteger(brk) || brk < base || brk > this.end) {
      throw new LibosError("EINVAL", "memory.brk must be inside [base, base+size]");
    }
    this.brkStart = brk;
    this.brk = brk;
    this.allowed = size > 0 ? [base, this.end] : [];
    this.discardHook = opts.discard;
  }

  /** The current mappings, sorted by address (do not mutate). */
  mappings(): readonly Mapping[] {
    return this.maps;
  }

  /** Number of mappings. */
  get count(): number {
    return this.maps.length;
  }

  /**
   * Registers a range the embedder mapped itself (the program image, its stack),
   * possibly outside the arena; it counts toward `used` and may later be unmapped
   * or replaced with MAP_FIXED.
   */
  reserve(start: number, len: number, kind: MappingKind, prot: number, name = ""): void {
    if (!isPageAligned(start) || len <= 0 || !Number.isSafeInteger(start + len) || start + len > TASK_SIZE) {
      throw new LibosError("EINVAL", `bad reserved range 0x${start.toString(16)}+${len}`);
    }
    const end = pageUp(start + len);
    if (!this.isFree(start, end)) throw new LibosError("EEXIST", "reserved range overlaps a mapping");
    this.allowed = addRange(this.allowed, start, end);
    this.insert({ start, end, prot, flags: 0, kind, name, offset: 0 });
  }

  /** Index of the first mapping whose end is above `addr`. */
  private firstAbove(addr: number): number {
    let lo = 0;
    let hi = this.maps.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.maps[mid].end <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The mapping containing `addr`, if any. */
  find(addr: number): Mapping | undefined {
    const i = this.firstAbove(addr);
    const m = this.maps[i];
    return m !== undefined && m.start <= addr ? m : undefined;
  }

  /** True when no mapping intersects [start, end). */
  isFree(start: number, end: number): boolean {
    const m = this.maps[this.firstAbove(start)];
    return m === undefined || m.start >= end;
  }

  /** True when [start, end) is covered by mappings without a gap. */
  isMapped(start: number, end: number): boolean {
    let cur = start;
    for (let i = this.firstAbove(start); i < this.maps.length && cur < end; i++) {
      const m = this.maps[i];
      if (m.start > cur) return false;
      cur = m.end;
    }
    return cur >= end;
  }

  /** Bytes of mappings inside [start, end). */
  mappedBytes(start: number, end: number): number {
    let n = 0;
    for (let i = this.firstAbove(start); i < this.maps.length; i++) {
      const m = this.maps[i];
      if (m.start >= end) break;
      n += Math.min(m.end, end) - Math.max(m.start, start);
    }
    return n;
  }

  /** True when MAP_FIXED may place memory on [start, end). */
  isPlaceable(start: number, end: number): boolean {
    const a = this.allowed;
    for (let i = 0; i < a.length; i += 2) {
      if (a[i] <= start && end <= a[i + 1]) return true;
    }
    return false;
  }

  /** The page-aligned range above the brk area that mmap must not take while brk may still grow into it. */
  private get brkTop(): number {
    return pageUp(this.brk);
  }

  /**
   * A free, page-aligned range of `len` bytes (a multiple of the page size) in
   * the arena: `hint` (rounded up to a page) when it is free, else the highest
   * free gap. Returns -1 when none is large enough.
   */
  findFree(len: number, hint = 0): number {
    if (len <= 0 || len > this.end - this.base) return -1;
    const floor = Math.max(this.base, this.brkTop);
    if (hint > 0) {
      const h = pageUp(hint);
      if (h >= floor && h + len <= this.end && this.isFree(h, h + len)) return h;
    }
    let cursor = this.end;
    for (let i = this.maps.length - 1; i >= 0; i--) {
      const m = this.maps[i];
      if (m.start >= cursor) continue;
      if (m.end <= floor) break;
      const gapLow = Math.max(m.end, floor);
      if (gapLow < cursor && cursor - gapLow >= len) return cursor - len;
      cursor = m.start;
      if (cursor <= floor) return -1;
    }
    return cursor - floor >= len ? cursor - len : -1;
  }

  /** Checks the limit for adding `add` bytes while `replaced` bytes go away. */
  fits(add: number, replaced = 0): boolean {
    return this.used - replaced + add <= this.limit;
  }

  /**
   * Maps [start, start+len) (page aligned) with the given attributes, replacing
   * whatever was there (MAP_FIXED semantics; the caller checked placement and
   * limit). The range reads as zeros afterwards unless `zero` is false (the
   * caller fills it completely itself).
   */
  map(
    mem: ProgramMemory | null,
    start: number,
    len: number,
    attrs: Omit<Mapping, "start" | "end">,
    zero = true,
  ): number {
    const end = start + len;
    if (!this.isFree(start, end)) this.unmap(start, end);
    if (this.maps.length >= this.maxMappings) return -ENOMEM;
    if (zero && mem !== null) this.zero(mem, start, end);
    else this.dirty = removeRange(this.dirty, start, end);
    this.insert({ start, end, ...attrs });
    return start;
  }

  /** Maps at a free address: hint, else top-down. Returns the address or -ENOMEM. */
  mapAnywhere(mem: ProgramMemory | null, len: number, hint: number, attrs: Omit<Mapping, "start" | "end">): number {
    if (!this.fits(len)) return -ENOMEM;
    const at = this.findFree(len, hint);
    if (at < 0) return -ENOMEM;
    return this.map(mem, at, len, attrs);
  }

  /**
   * Maps at exactly `start`: `noReplace` fails with -EEXIST when something is
   * there (MAP_FIXED_NOREPLACE); otherwise existing mappings are replaced.
   */
  mapFixed(
    mem: ProgramMemory | null,
    start: number,
    len: number,
    noReplace: boolean,
    attrs: Omit<Mapping, "start" | "end">,
    zero = true,
  ): number {
    const end = start + len;
    if (!this.isPlaceable(start, end)) return -ENOMEM;
    if (noReplace && !this.isFree(start, end)) return -EEXIST;
    if (!this.fits(len, this.mappedBytes(start, end))) return -ENOMEM;
    // Replacing part of the heap moves nothing: brk keeps its value (as Linux).
    return this.map(mem, start, len, attrs, zero);
  }

  /** Removes every mapping in [start, end) (page aligned); unmapped holes are fine. */
  unmap(start: number, end: number): void {
    let i = this.firstAbove(start);
    while (i < this.maps.length) {
      const m = this.maps[i];
      if (m.start >= end) break;
      const lo = Math.max(m.start, start);
      const hi = Math.min(m.end, end);
      this.used -= hi - lo;
      this.release(lo, hi);
      if (m.start < start && m.end > end) {
        // Split into two.
        const tail: Mapping = { ...m, start: end, offset: m.offset + (end - m.start) };
        m.end = start;
        this.maps.splice(i + 1, 0, tail);
        break;
      }
      if (m.start < start) {
        m.end = start;
        i++;
      } else if (m.end > end) {
        m.offset += end - m.start;
        m.start = end;
        break;
      } else {
        this.maps.splice(i, 1);
      }
    }
  }

  /**
   * Sets the protection of [start, end) (page aligned). Returns 0, or -ENOMEM
   * when part of the range is not mapped (nothing is changed then).
   */
  protect(start: number, end: number, prot: number): number {
    if (!this.isMapped(start, end)) return -ENOMEM;
    this.splitAt(start);
    this.splitAt(end);
    for (let i = this.firstAbove(start); i < this.maps.length; i++) {
      const m = this.maps[i];
      if (m.start >= end) break;
      m.prot = prot;
    }
    return 0;
  }

  /** Zeroes [start, end) now: for MADV_DONTNEED on private memory. */
  zeroNow(mem: ProgramMemory, start: number, end: number): void {
    const hook = this.discardHook;
    if (hook !== undefined && hook(start, end - start) === true) {
      this.dirty = removeRange(this.dirty, start, end);
      return;
    }
    mem.fill(start, end - start, 0);
    this.dirty = removeRange(this.dirty, start, end);
  }

  /**
   * Moves the program break to `want`; returns the new break, or the old one
   * when `want` is below the start, collides with a mapping or exceeds the limit.
   */
  setBrk(mem: ProgramMemory | null, want: number, dataLimit = Number.POSITIVE_INFINITY): number {
    if (!(want >= this.brkStart) || want > this.end) return this.brk;
    const oldTop = pageUp(this.brk);
    const newTop = pageUp(want);
    if (newTop > oldTop) {
      if (!this.isFree(oldTop, newTop)) return this.brk;
      if (!this.fits(newTop - oldTop)) return this.brk;
      if (newTop - this.brkStart > dataLimit) return this.brk;
      if (this.maps.length >= this.maxMappings) return this.brk;
      if (mem !== null) this.zero(mem, oldTop, newTop);
      const i = this.firstAbove(oldTop - 1);
      const prev = this.maps[i];
      if (prev !== undefined && prev.kind === "brk" && prev.end === oldTop) {
        prev.end = newTop;
        this.account(newTop - oldTop);
      } else {
        this.insert({ start: oldTop, end: newTop, prot: 3, flags: 0x22, kind: "brk", name: "[heap]", offset: 0 });
      }
    } else if (newTop < oldTop) {
      this.unmap(newTop, oldTop);
    }
    this.brk = want;
    return want;
  }

  private account(n: number): void {
    this.used += n;
    if (this.used > this.peak) this.peak = this.used;
  }

  private insert(m: Mapping): void {
    const i = this.firstAbove(m.start);
    this.maps.splice(i, 0, m);
    this.account(m.end - m.start);
    // Merge with anonymous neighbours of the same kind and attributes (as Linux merges VMAs).
    if (m.kind === "anon") {
      const next = this.maps[i + 1];
      if (next !== undefined && sameAnon(m, next) && next.start === m.end) {
        m.end = next.end;
        this.maps.splice(i + 1, 1);
      }
      const prev = this.maps[i - 1];
      if (prev !== undefined && sameAnon(prev, m) && prev.end === m.start) {
        prev.end = m.end;
        this.maps.splice(i, 1);
      }
    }
  }

  private splitAt(addr: number): void {
    const m = this.find(addr);
    if (m === undefined || m.start === addr) return;
    const i = this.maps.indexOf(m);
    const tail: Mapping = { ...m, start: addr, offset: m.offset + (addr - m.start) };
    m.end = addr;
    this.maps.splice(i + 1, 0, tail);
  }

  /** A range leaves use: release host memory; remember it must be zeroed before reuse. */
  private release(start: number, end: number): void {
    const hook = this.discardHook;
    if (hook !== undefined && hook(start, end - start) === true) {
      this.dirty = removeRange(this.dirty, start, end);
      return;
    }
    this.dirty = addRange(this.dirty, start, end);
  }

  /** Zeroes the parts of [start, end) that were used before. */
  private zero(mem: ProgramMemory, start: number, end: number): void {
    const d = this.dirty;
    if (d.length === 0) return;
    for (let i = 0; i < d.length; i += 2) {
      const lo = Math.max(d[i], start);
      const hi = Math.min(d[i + 1], end);
      if (lo < hi) mem.fill(lo, hi - lo, 0);
    }
    this.dirty = removeRange(d, start, end);
  }

  /** Ranges known dirty (for tests). */
  dirtyRanges(): readonly number[] {
    return this.dirty;
  }
}

function sameAnon(a: Mapping, b: Mapping): boolean {
  return b.kind === "anon" && a.prot === b.prot && a.flags === b.flags && a.name === b.name;
}

/** Adds [s, e) to a sorted disjoint flat range list, merging. */
export function addRange(list: number[], s: number, e: number): number[] {
  if (s >= e) return list;
  const out: number[] = [];
  let i = 0;
  while (i < list.length && list[i + 1] < s) {
    out.push(list[i], list[i + 1]);
    i += 2;
  }
  let lo = s;
  let hi = e;
  while (i < list.length && list[i] <= hi) {
    lo = Math.min(lo, list[i]);
    hi = Math.max(hi, list[i + 1]);
    i += 2;
  }
  out.push(lo, hi);
  while (i < list.length) {
    out.push(list[i], list[i + 1]);
    i += 2;
  }
  return out;
}

/** Removes [s, e) from a sorted disjoint flat range list. */
export function removeRange(list: number[], s: number, e: number): number[] {
  if (s >= e || list.length === 0) return list;
  const out: number[] = [];
  for (let i = 0; i < list.length; i += 2) {
    const a = list[i];
    const b = list[i + 1];
    if (b <= s || a >= e) {
      out.push(a, b);
      continue;
    }
    if (a < s) out.push(a, s);
    if (b > e) out.push(e, b);
  }
  return out;
}
