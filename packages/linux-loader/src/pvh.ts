import type { E820Entry } from "./bootparams.js";
import { hex, LoaderError } from "./errors.js";
import { checkGuestRange, type GuestMemoryTarget } from "./memory.js";

/** XEN_HVM_START_MAGIC_VALUE. */
export const XEN_HVM_START_MAGIC_VALUE = 0x336ec578;
/** sizeof(struct hvm_start_info). */
export const HVM_START_INFO_SIZE = 56;
/** sizeof(struct hvm_modlist_entry). */
export const HVM_MODLIST_ENTRY_SIZE = 32;
/** sizeof(struct hvm_memmap_table_entry). */
export const HVM_MEMMAP_ENTRY_SIZE = 24;
/** Firecracker's addresses for the PVH structures. */
export const PVH_INFO_START = 0x6000n;
export const MODLIST_START = 0x6040n;
export const MEMMAP_START = 0x7000n;

/** Field offsets of struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h). */
export const HVM_START_INFO_FIELDS = {
  magic: [0, 4],
  version: [4, 4],
  flags: [8, 4],
  nr_modules: [12, 4],
  modlist_paddr: [16, 8],
  cmdline_paddr: [24, 8],
  rsdp_paddr: [32, 8],
  memmap_paddr: [40, 8],
  memmap_entries: [48, 4],
  reserved: [52, 4],
} as const;

export interface PvhModule {
  paddr: bigint;
  size: bigint;
  cmdlinePaddr?: bigint;
}

export interface PvhBootInfo {
  /** Address of the NUL-terminated command line (0: none). */
  cmdlineAddr: bigint;
  memmap: readonly E820Entry[];
  /** Modules; the first is the initrd for Linux. */
  modules?: readonly PvhModule[];
  rsdpAddr?: bigint;
  /** Where to put the structures (defaults: Firecracker's 0x6000, 0x6040, 0x7000). */
  startInfoAddr?: bigint;
  modlistAddr?: bigint;
  memmapAddr?: bigint;
}

/** Encodes and writes hvm_start_info, its module list and memory map; returns the start-info address (for RBX). */
export function writePvhBootInfo(mem: GuestMemoryTarget, info: PvhBootInfo): bigint {
  const start = info.startInfoAddr ?? PVH_INFO_START;
  const modAddr = info.modlistAddr ?? MODLIST_START;
  const mapAddr = info.memmapAddr ?? MEMMAP_START;
  const modules = info.modules ?? [];
  if (info.memmap.length > 0xffff || modules.length > 0xffff) {
    throw new LoaderError("INVALID_ARGUMENT", "too many memory map entries or modules", { field: "memmap" });
  }
  const si = new Uint8Array(HVM_START_INFO_SIZE);
  const v = new DataView(si.buffer);
  v.setUint32(0, XEN_HVM_START_MAGIC_VALUE, true);
  v.setUint32(4, 1, true); // version 1: has the memory map
  v.setUint32(12, modules.length, true);
  v.setBigUint64(16, modules.length > 0 ? modAddr : 0n, true);
  v.setBigUint64(24, info.cmdlineAddr, true);
  v.setBigUint64(32, info.rsdpAddr ?? 0n, true);
  v.setBigUint64(40, info.memmap.length > 0 ? mapAddr : 0n, true);
  v.setUint32(48, info.memmap.length, true);

  const ml = new Uint8Array(modules.length * HVM_MODLIST_ENTRY_SIZE);
  const mv = new DataView(ml.buffer);
  modules.forEach((m, i) => {
    mv.setBigUint64(i * 32, m.paddr, true);
    mv.setBigUint64(i * 32 + 8, m.size, true);
    mv.setBigUint64(i * 32 + 16, m.cmdlinePaddr ?? 0n, true);
  });
  const mm = new Uint8Array(info.memmap.length * HVM_MEMMAP_ENTRY_SIZE);
  const mmv = new DataView(mm.buffer);
  info.memmap.forEach((e, i) => {
    mmv.setBigUint64(i * 24, e.addr, true);
    mmv.setBigUint64(i * 24 + 8, e.size, true);
    mmv.setUint32(i * 24 + 16, e.type, true);
  });
  const ranges: Array<[bigint, Uint8Array, string]> = [
    [start, si, "hvm_start_info"],
    [modAddr, ml, "modlist"],
    [mapAddr, mm, "memmap"],
  ];
  for (const [a, b, what] of ranges) if (b.length > 0) checkGuestRange(mem, a, BigInt(b.length), what);
  // The three must not overlap one another.
  for (let i = 0; i < ranges.length; i++)
    for (let j = i + 1; j < ranges.length; j++) {
      const [a1, b1] = ranges[i];
      const [a2, b2] = ranges[j];
      if (b1.length && b2.length && a1 < a2 + BigInt(b2.length) && a2 < a1 + BigInt(b1.length)) {
        throw new LoaderError(
          "INVALID_ARGUMENT",
          `PVH ${ranges[i][2]} at ${hex(a1)} overlaps ${ranges[j][2]} at ${hex(a2)}`,
          {
            field: ranges[j][2],
          },
        );
      }
    }
  for (const [a, b] of ranges) if (b.length > 0) mem.writeSlice(b, a);
  return start;
}
