import { hex, LoaderError } from "./errors.js";
import { alignDown, checkGuestRange, type GuestMemoryLayout, PAGE_SIZE } from "./memory.js";

/** initrd_addr_max of boot protocols before 2.03. */
export const DEFAULT_INITRD_ADDR_MAX = 0x37ff_ffffn;

export interface InitrdPlacement {
  addr: bigint;
  size: bigint;
}

/**
 * Where to put an initrd of `size` bytes: at the top of low memory (the region holding address 0),
 * page aligned, ending at or below `initrdAddrMax` (the kernel's setup header field, inclusive),
 * and not below `minAddr` (e.g. the kernel's end).
 */
export function initrdLoadAddress(
  mem: GuestMemoryLayout,
  size: bigint | number,
  options: { initrdAddrMax?: bigint; minAddr?: bigint } = {},
): InitrdPlacement {
  const s = BigInt(size);
  if (s <= 0n) throw new LoaderError("INVALID_ARGUMENT", "the initrd is empty", { field: "size" });
  const low = mem.regions().find((r) => r.start.value === 0n);
  if (low === undefined)
    throw new LoaderError("OUT_OF_GUEST_MEMORY", "no guest memory at address 0", { field: "lowmem" });
  const max = options.initrdAddrMax ?? DEFAULT_INITRD_ADDR_MAX;
  let top = BigInt(low.size);
  if (max + 1n < top) top = max + 1n;
  const min = options.minAddr ?? 0n;
  if (s > top || alignDown(top - s, PAGE_SIZE) < min) {
    throw new LoaderError(
      "INITRD_TOO_LARGE",
      `an initrd of ${hex(s)} bytes does not fit between ${hex(min)} and ${hex(top)}`,
      { field: "initrd_addr_max" },
    );
  }
  return { addr: alignDown(top - s, PAGE_SIZE), size: s };
}

/** Places (see `initrdLoadAddress`) and writes an initrd; returns where. */
export function loadInitrd(
  mem: GuestMemoryLayout,
  initrd: Uint8Array,
  options: { initrdAddrMax?: bigint; minAddr?: bigint } = {},
): InitrdPlacement {
  const p = initrdLoadAddress(mem, initrd.length, options);
  checkGuestRange(mem, p.addr, p.size, "initrd");
  mem.writeSlice(initrd, p.addr);
  return p;
}
