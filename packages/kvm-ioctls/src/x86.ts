// x86-64 architectural helpers every KVM VMM needs to set up a guest:
// control-register bits, GDT descriptors and the kvm_segment they load as,
// and identity-mapped 4-level page tables written into a byte array.
import type { KvmSegment } from "./structs.js";

export const X86_CR0_PE = 1n << 0n;
export const X86_CR0_MP = 1n << 1n;
export const X86_CR0_EM = 1n << 2n;
export const X86_CR0_TS = 1n << 3n;
export const X86_CR0_ET = 1n << 4n;
export const X86_CR0_NE = 1n << 5n;
export const X86_CR0_WP = 1n << 16n;
export const X86_CR0_AM = 1n << 18n;
export const X86_CR0_PG = 1n << 31n;
export const X86_CR4_PAE = 1n << 5n;
export const X86_CR4_PGE = 1n << 7n;
export const X86_CR4_OSFXSR = 1n << 9n;
export const X86_CR4_OSXMMEXCPT = 1n << 10n;
export const X86_CR4_OSXSAVE = 1n << 18n;
export const X86_CR4_FSGSBASE = 1n << 16n;
export const EFER_SCE = 1n << 0n;
export const EFER_LME = 1n << 8n;
export const EFER_LMA = 1n << 10n;
export const EFER_NXE = 1n << 11n;

export const MSR_IA32_TSC = 0x10;
export const MSR_IA32_APICBASE = 0x1b;
export const MSR_IA32_SYSENTER_CS = 0x174;
export const MSR_IA32_MISC_ENABLE = 0x1a0;
export const MSR_EFER = 0xc0000080;
export const MSR_STAR = 0xc0000081;
export const MSR_LSTAR = 0xc0000082;
export const MSR_CSTAR = 0xc0000083;
export const MSR_SYSCALL_MASK = 0xc0000084;
export const MSR_FS_BASE = 0xc0000100;
export const MSR_GS_BASE = 0xc0000101;
export const MSR_KERNEL_GS_BASE = 0xc0000102;

export const PTE_PRESENT = 1n << 0n;
export const PTE_WRITABLE = 1n << 1n;
export const PTE_USER = 1n << 2n;
export const PTE_PAGE_SIZE = 1n << 7n;
export const PTE_NX = 1n << 63n;

/** Fields of a GDT code/data descriptor. */
export interface GdtEntry {
  base: number;
  limit: number;
  /** Access byte: P | DPL | S | type (e.g. 0x9b ring-0 code, 0xfb ring-3 code, 0x93/0xf3 data, 0x89 TSS). */
  access: number;
  /** Flags nibble: G | D/B | L | AVL (0xa for 64-bit code, 0xc for 32-bit, 0x0/0x8 for data). */
  flags: number;
}

/** Encodes a legacy 8-byte GDT descriptor. */
export function gdtEntry(e: GdtEntry): bigint {
  const base = BigInt(e.base >>> 0);
  const limit = BigInt(e.limit >>> 0);
  return (
    ((base & 0xff000000n) << 32n) |
    (BigInt(e.flags & 0xf) << 52n) |
    ((limit & 0xf0000n) << 32n) |
    (BigInt(e.access & 0xff) << 40n) |
    ((base & 0x00ffffffn) << 16n) |
    (limit & 0xffffn)
  );
}

/** The kvm_segment a selector loads from a descriptor (what KVM_SET_SREGS wants). */
export function segmentFromGdt(e: GdtEntry, index: number): KvmSegment {
  const g = (e.flags >> 3) & 1;
  return {
    base: BigInt(e.base >>> 0),
    limit: g ? ((e.limit << 12) | 0xfff) >>> 0 : e.limit >>> 0,
    selector: (index * 8) | ((e.access >> 5) & 3),
    type: e.access & 0xf,
    present: (e.access >> 7) & 1,
    dpl: (e.access >> 5) & 3,
    db: (e.flags >> 2) & 1,
    s: (e.access >> 4) & 1,
    l: (e.flags >> 1) & 1,
    g,
    avl: e.flags & 1,
    unusable: (e.access >> 7) & 1 ? 0 : 1,
    padding: 0,
  };
}

/**
 * Writes identity-mapped 4-level page tables covering `[0, size)` with 2 MiB
 * pages into `mem` at guest-physical `tablesAddr` (which `mem[0]` is at
 * guest-physical `memBase`). Returns the bytes used and the CR3 value.
 */
export function writeIdentityPageTables(
  mem: Uint8Array,
  memBase: number,
  tablesAddr: number,
  size: number,
  flags: bigint = PTE_PRESENT | PTE_WRITABLE,
): { cr3: bigint; bytes: number } {
  const twoMiB = 2 * 1024 * 1024;
  const nPd = Math.ceil(size / (512 * twoMiB));
  if (nPd > 512) throw new RangeError("identity map larger than 512 GiB");
  const need = 4096 * (2 + nPd);
  const off = tablesAddr - memBase;
  if (off < 0 || off + need > mem.length) throw new RangeError("page tables do not fit the given memory");
  const view = new DataView(mem.buffer, mem.byteOffset + off, need);
  new Uint8Array(mem.buffer, mem.byteOffset + off, need).fill(0);
  const pml4 = tablesAddr;
  const pdpt = tablesAddr + 4096;
  view.setBigUint64(0, BigInt(pdpt) | flags, true);
  let remaining = Math.ceil(size / twoMiB);
  for (let i = 0; i < nPd; i++) {
    const pd = tablesAddr + 8192 + i * 4096;
    view.setBigUint64(4096 + i * 8, BigInt(pd) | flags, true);
    for (let j = 0; j < 512 && remaining > 0; j++, remaining--) {
      const phys = BigInt(i * 512 + j) * BigInt(twoMiB);
      view.setBigUint64(8192 + i * 4096 + j * 8, phys | flags | PTE_PAGE_SIZE, true);
    }
  }
  return { cr3: BigInt(pml4), bytes: need };
}
