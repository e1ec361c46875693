import {
  BOOT_FLAG,
  type BzImage,
  HDRS_MAGIC,
  SETUP_HEADER_FIELDS,
  SETUP_HEADER_OFFSET,
  type SetupHeaderField,
} from "./bzimage.js";
import { hex, LoaderError } from "./errors.js";
import { checkGuestRange, type GuestMemoryLayout, type GuestMemoryTarget, U64_MAX } from "./memory.js";

/** sizeof(struct boot_params): the zero page. */
export const BOOT_PARAMS_SIZE = 4096;
/** E820_MAX_ENTRIES_ZEROPAGE. */
export const E820_MAX_ENTRIES_ZEROPAGE = 128;
/** sizeof(struct boot_e820_entry). */
export const E820_ENTRY_SIZE = 20;

/**
 * Offsets in `struct boot_params` (<asm/bootparam.h>) of the fields this writer touches, with
 * sizes in bytes; checked against the C header by a test.
 */
export const BOOT_PARAMS_FIELDS = {
  screen_info: [0x000, 64],
  acpi_rsdp_addr: [0x070, 8],
  ext_ramdisk_image: [0x0c0, 4],
  ext_ramdisk_size: [0x0c4, 4],
  ext_cmd_line_ptr: [0x0c8, 4],
  cc_blob_address: [0x13c, 4],
  alt_mem_k: [0x1e0, 4],
  scratch: [0x1e4, 4],
  e820_entries: [0x1e8, 1],
  eddbuf_entries: [0x1e9, 1],
  edd_mbr_sig_buf_entries: [0x1ea, 1],
  kbd_status: [0x1eb, 1],
  secure_boot: [0x1ec, 1],
  sentinel: [0x1ef, 1],
  hdr: [0x1f1, 0x26c - 0x1f1],
  edd_mbr_sig_buffer: [0x290, 64],
  e820_table: [0x2d0, E820_MAX_ENTRIES_ZEROPAGE * E820_ENTRY_SIZE],
  eddbuf: [0xd00, 0x1ec],
} as const;

/** E820 memory types. */
export const E820_RAM = 1;
export const E820_RESERVED = 2;
export const E820_ACPI = 3;
export const E820_NVS = 4;
export const E820_UNUSABLE = 5;

export interface E820Entry {
  addr: bigint;
  size: bigint;
  type: number;
}

/** type_of_loader: 0xff, "undefined" boot loader (what Firecracker and rust-vmm use). */
export const TYPE_OF_LOADER_UNDEFINED = 0xff;
/** Start of the EBDA: conventional memory ends here. */
export const EBDA_START = 0x9fc00n;
/** Where high memory (above the legacy hole) starts. */
export const HIMEM_START = 0x10_0000n;
/** Firecracker's zero-page address. */
export const ZERO_PAGE_START = 0x7000n;
/** Firecracker's command line address. */
export const CMDLINE_START = 0x20000n;

function fail(code: ConstructorParameters<typeof LoaderError>[0], field: string, message: string): never {
  throw new LoaderError(code, message, { field });
}

function u32(v: bigint | number, field: string): number {
  const b = BigInt(v);
  if (b < 0n || b > 0xffff_ffffn) fail("INVALID_ARGUMENT", field, `${field} ${String(v)} does not fit in 32 bits`);
  return Number(b);
}

/**
 * The zero page (`struct boot_params`) for the Linux x86 boot protocol: setup header fields,
 * the E820 map, the command line and initrd pointers. Build it, then `writeTo(mem, addr)` and
 * point RSI at `addr` when entering the 64-bit kernel.
 */
export class BootParams {
  readonly bytes = new Uint8Array(BOOT_PARAMS_SIZE);
  readonly #view = new DataView(this.bytes.buffer);

  /**
   * For an ELF (vmlinux) kernel booted with the 64-bit protocol: boot_flag, "HdrS",
   * type_of_loader 0xff and kernel_alignment 16 MiB, as rust-vmm's loaders set them.
   */
  static forElfKernel(): BootParams {
    const bp = new BootParams();
    bp.setHeaderField("boot_flag", BOOT_FLAG);
    bp.setHeaderField("header", HDRS_MAGIC);
    bp.setHeaderField("type_of_loader", TYPE_OF_LOADER_UNDEFINED);
    bp.setHeaderField("kernel_alignment", 0x0100_0000);
    return bp;
  }

  /** Starts from a bzImage's own setup header, with type_of_loader set to 0xff. */
  static fromBzImage(image: BzImage): BootParams {
    const bp = new BootParams();
    bp.bytes.set(image.setupHeaderBytes, SETUP_HEADER_OFFSET);
    bp.setHeaderField("type_of_loader", TYPE_OF_LOADER_UNDEFINED);
    return bp;
  }

  getHeaderField(name: SetupHeaderField): number | bigint {
    const [off, size] = SETUP_HEADER_FIELDS[name];
    const v = this.#view;
    return size === 1
      ? v.getUint8(off)
      : size === 2
        ? v.getUint16(off, true)
        : size === 4
          ? v.getUint32(off, true)
          : v.getBigUint64(off, true);
  }

  setHeaderField(name: SetupHeaderField, value: number | bigint): this {
    const entry = SETUP_HEADER_FIELDS[name];
    if (entry === undefined) fail("INVALID_ARGUMENT", String(name), `unknown setup header field ${String(name)}`);
    const [off, size] = entry;
    const b = BigInt(value);
    const max = (1n << BigInt(size * 8)) - 1n;
    if (b < 0n || b > max) fail("INVALID_ARGUMENT", name, `${name} ${String(value)} does not fit in ${size} bytes`);
    const v = this.#view;
    if (size === 1) v.setUint8(off, Number(b));
    else if (size === 2) v.setUint16(off, Number(b), true);
    else if (size === 4) v.setUint32(off, Number(b), true);
    else v.setBigUint64(off, b, true);
    return this;
  }

  get e820Entries(): number {
    return this.bytes[BOOT_PARAMS_FIELDS.e820_entries[0]];
  }

  /** The E820 entries written so far. */
  e820(): E820Entry[] {
    const out: E820Entry[] = [];
    const base = BOOT_PARAMS_FIELDS.e820_table[0];
    for (let i = 0; i < this.e820Entries; i++) {
      const o = base + i * E820_ENTRY_SIZE;
      out.push({
        addr: this.#view.getBigUint64(o, true),
        size: this.#view.getBigUint64(o + 8, true),
        type: this.#view.getUint32(o + 16, true),
      });
    }
    return out;
  }

  /** Appends an E820 entry; at most 128 fit in the zero page. */
  addE820Entry(addr: bigint, size: bigint, type: number): this {
    const n = this.e820Entries;
    if (n >= E820_MAX_ENTRIES_ZEROPAGE)
      fail("INVALID_ARGUMENT", "e820_entries", "the zero page holds at most 128 E820 entries");
    if (addr < 0n || size < 0n || addr + size > U64_MAX + 1n)
      fail("OVERFLOW", "e820_table", `E820 entry [${hex(addr)}, +${hex(size)}) overflows`);
    const o = BOOT_PARAMS_FIELDS.e820_table[0] + n * E820_ENTRY_SIZE;
    this.#view.setBigUint64(o, addr, true);
    this.#view.setBigUint64(o + 8, size, true);
    this.#view.setUint32(o + 16, u32(type, "type"), true);
    this.bytes[BOOT_PARAMS_FIELDS.e820_entries[0]] = n + 1;
    return this;
  }

  setE820(entries: readonly E820Entry[]): this {
    this.bytes[BOOT_PARAMS_FIELDS.e820_entries[0]] = 0;
    for (const e of entries) this.addE820Entry(e.addr, e.size, e.type);
    return this;
  }

  /** cmd_line_ptr (+ ext_cmd_line_ptr above 4 GiB) and cmdline_size (without the NUL). */
  setCmdline(addr: bigint, size: number): this {
    if (addr < 0n || addr > 0xffff_ffff_ffffn)
      fail("INVALID_ARGUMENT", "cmd_line_ptr", `command line address ${hex(addr)} is out of range`);
    this.setHeaderField("cmd_line_ptr", Number(addr & 0xffff_ffffn));
    this.#view.setUint32(BOOT_PARAMS_FIELDS.ext_cmd_line_ptr[0], Number(addr >> 32n), true);
    this.setHeaderField("cmdline_size", u32(size, "cmdline_size"));
    return this;
  }

  /** ramdisk_image/ramdisk_size (+ their ext_ high halves). */
  setInitrd(addr: bigint, size: bigint | number): this {
    const s = BigInt(size);
    if (addr < 0n || addr > 0xffff_ffff_ffff_ffffn || s < 0n || s > 0xffff_ffff_ffff_ffffn) {
      fail("INVALID_ARGUMENT", "ramdisk_image", "initrd address or size out of range");
    }
    this.setHeaderField("ramdisk_image", Number(addr & 0xffff_ffffn));
    this.setHeaderField("ramdisk_size", Number(s & 0xffff_ffffn));
    this.#view.setUint32(BOOT_PARAMS_FIELDS.ext_ramdisk_image[0], Number((addr >> 32n) & 0xffff_ffffn), true);
    this.#view.setUint32(BOOT_PARAMS_FIELDS.ext_ramdisk_size[0], Number((s >> 32n) & 0xffff_ffffn), true);
    return this;
  }

  setTypeOfLoader(t: number): this {
    return this.setHeaderField("type_of_loader", t);
  }

  setAcpiRsdp(addr: bigint): this {
    this.#view.setBigUint64(BOOT_PARAMS_FIELDS.acpi_rsdp_addr[0], addr, true);
    return this;
  }

  /** Writes the 4 KiB zero page at `addr`, after checking the range. */
  writeTo(mem: GuestMemoryTarget, addr: bigint): void {
    checkGuestRange(mem, addr, BigInt(BOOT_PARAMS_SIZE), "boot_params");
    mem.writeSlice(this.bytes, addr);
  }
}

/**
 * The E820 map of guest memory as a PC describes it: every region as RAM, except the legacy hole
 * [EBDA_START, 1 MiB) (EBDA, VGA, BIOS) which is left out.
 */
export function e820MapFor(mem: GuestMemoryLayout): E820Entry[] {
  const out: E820Entry[] = [];
  for (const r of mem.regions()) {
    const start = r.start.value;
    const end = start + BigInt(r.size);
    if (start < EBDA_START) {
      const e = end < EBDA_START ? end : EBDA_START;
      out.push({ addr: start, size: e - start, type: E820_RAM });
    }
    const hs = start > HIMEM_START ? start : HIMEM_START;
    if (end > hs) out.push({ addr: hs, size: end - hs, type: E820_RAM });
  }
  return out;
}
