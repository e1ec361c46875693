import { hex, LoaderError } from "./errors.js";
import { checkGuestRange, copyToGuest, type GuestMemoryTarget, U64_MAX } from "./memory.js";

/** Offset of `struct setup_header` in a bzImage and in the zero page. */
export const SETUP_HEADER_OFFSET = 0x1f1;
export const BOOT_FLAG = 0xaa55;
/** "HdrS". */
export const HDRS_MAGIC = 0x53726448;
export const LOADFLAG_LOADED_HIGH = 0x01;
export const LOADFLAG_CAN_USE_HEAP = 0x80;
export const XLF_KERNEL_64 = 0x01;
export const XLF_CAN_BE_LOADED_ABOVE_4G = 0x02;
/** The protected-mode kernel's default load address (1 MiB). */
export const BZIMAGE_DEFAULT_LOAD = 0x10_0000n;

/**
 * Field offsets of `struct setup_header` within the zero page (Documentation/arch/x86/boot.rst,
 * <asm/bootparam.h>), with their sizes in bytes. Checked against the C header by a test.
 */
export const SETUP_HEADER_FIELDS = {
  setup_sects: [0x1f1, 1],
  root_flags: [0x1f2, 2],
  syssize: [0x1f4, 4],
  ram_size: [0x1f8, 2],
  vid_mode: [0x1fa, 2],
  root_dev: [0x1fc, 2],
  boot_flag: [0x1fe, 2],
  jump: [0x200, 2],
  header: [0x202, 4],
  version: [0x206, 2],
  realmode_swtch: [0x208, 4],
  start_sys_seg: [0x20c, 2],
  kernel_version: [0x20e, 2],
  type_of_loader: [0x210, 1],
  loadflags: [0x211, 1],
  setup_move_size: [0x212, 2],
  code32_start: [0x214, 4],
  ramdisk_image: [0x218, 4],
  ramdisk_size: [0x21c, 4],
  bootsect_kludge: [0x220, 4],
  heap_end_ptr: [0x224, 2],
  ext_loader_ver: [0x226, 1],
  ext_loader_type: [0x227, 1],
  cmd_line_ptr: [0x228, 4],
  initrd_addr_max: [0x22c, 4],
  kernel_alignment: [0x230, 4],
  relocatable_kernel: [0x234, 1],
  min_alignment: [0x235, 1],
  xloadflags: [0x236, 2],
  cmdline_size: [0x238, 4],
  hardware_subarch: [0x23c, 4],
  hardware_subarch_data: [0x240, 8],
  payload_offset: [0x248, 4],
  payload_length: [0x24c, 4],
  setup_data: [0x250, 8],
  pref_address: [0x258, 8],
  init_size: [0x260, 4],
  handover_offset: [0x264, 4],
  kernel_info_offset: [0x268, 4],
} as const satisfies Record<string, readonly [number, 1 | 2 | 4 | 8]>;

export type SetupHeaderField = keyof typeof SETUP_HEADER_FIELDS;
/** One past the last byte of `struct setup_header` in the zero page. */
export const SETUP_HEADER_END = 0x26c;

/** The setup header as numbers (u64 fields as bigint). */
export type SetupHeader = {
  [K in SetupHeaderField]: (typeof SETUP_HEADER_FIELDS)[K][1] extends 8 ? bigint : number;
};

/** Reads every setup-header field from a buffer laid out like the zero page (a bzImage's start is). */
export function readSetupHeaderFields(bytes: Uint8Array): SetupHeader {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Record<string, number | bigint> = {};
  for (const [name, [off, size]] of Object.entries(SETUP_HEADER_FIELDS)) {
    out[name] =
      size === 1
        ? v.getUint8(off)
        : size === 2
          ? v.getUint16(off, true)
          : size === 4
            ? v.getUint32(off, true)
            : v.getBigUint64(off, true);
  }
  return out as SetupHeader;
}

/** A parsed, validated bzImage. */
export interface BzImage {
  header: SetupHeader;
  /** Boot protocol version as [major, minor]. */
  protocol: [number, number];
  /** setup_sects (0 meaning 4) + 1 boot sector, in bytes. */
  setupSize: number;
  /** The protected-mode kernel: the file past the setup code. */
  kernel: Uint8Array;
  /** The setup header bytes as in the file (0x1f1 up to the end the jump instruction gives), for the zero page. */
  setupHeaderBytes: Uint8Array;
  /** The compressed payload (vmlinux.bin.{gz,xz,zst,…}) inside the protected-mode kernel, for protocol ≥ 2.08. */
  payload: Uint8Array | undefined;
  payloadFormat: "gzip" | "xz" | "zstd" | "lzma" | "bzip2" | "lzo" | "lz4" | "unknown" | undefined;
}

function fail(code: ConstructorParameters<typeof LoaderError>[0], field: string, message: string): never {
  throw new LoaderError(code, message, { field });
}

function payloadFormat(p: Uint8Array): BzImage["payloadFormat"] {
  const b = (i: number) => p[i] ?? -1;
  if (b(0) === 0x1f && (b(1) === 0x8b || b(1) === 0x9e)) return "gzip";
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0x00) return "xz";
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return "zstd";
  if (b(0) === 0x5d && b(1) === 0x00) return "lzma";
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68) return "bzip2";
  if (b(0) === 0x89 && b(1) === 0x4c && b(2) === 0x5a && b(3) === 0x4f) return "lzo";
  if (b(0) === 0x02 && b(1) === 0x21 && b(2) === 0x4c && b(3) === 0x18) return "lz4";
  return "unknown";
}

/**
 * Parses and validates a bzImage's setup header: boot flag 0xAA55, "HdrS", protocol ≥ 2.00,
 * LOADED_HIGH, a setup size and payload inside the file.
 */
export function parseBzImage(bytes: Uint8Array): BzImage {
  if (!(bytes instanceof Uint8Array)) fail("INVALID_ARGUMENT", "bytes", "the bzImage must be a Uint8Array");
  if (bytes.length < SETUP_HEADER_END) {
    fail("TRUNCATED", "setup_header", `the file (${bytes.length} bytes) is too short for a setup header`);
  }
  const header = readSetupHeaderFields(bytes);
  if (header.boot_flag !== BOOT_FLAG)
    fail("BAD_MAGIC", "boot_flag", `boot_flag is ${hex(header.boot_flag)}, not 0xaa55`);
  if (header.header !== HDRS_MAGIC)
    fail("BAD_MAGIC", "header", `the setup header magic is ${hex(header.header)}, not "HdrS"`);
  if (header.version < 0x200) {
    fail("UNSUPPORTED", "version", `boot protocol ${header.version >> 8}.${header.version & 0xff} is older than 2.00`);
  }
  if ((header.loadflags & LOADFLAG_LOADED_HIGH) === 0) {
    fail("UNSUPPORTED", "loadflags", "the kernel is not LOADED_HIGH (a zImage): it cannot be loaded at 1 MiB");
  }
  const sects = header.setup_sects === 0 ? 4 : header.setup_sects;
  const setupSize = (sects + 1) * 512;
  if (setupSize >= bytes.length) {
    fail(
      "TRUNCATED",
      "setup_sects",
      `setup_sects ${header.setup_sects} (${setupSize} bytes) leaves no kernel in a ${bytes.length}-byte file`,
    );
  }
  // The header's length is given by the jump at 0x200: its second byte is the offset from 0x202.
  const hdrEnd = Math.min(0x202 + bytes[0x201], setupSize, 0x280);
  const setupHeaderBytes = bytes.slice(SETUP_HEADER_OFFSET, Math.max(hdrEnd, SETUP_HEADER_OFFSET));
  const kernel = bytes.subarray(setupSize);
  let payload: Uint8Array | undefined;
  let fmt: BzImage["payloadFormat"];
  if (header.version >= 0x208 && header.payload_length > 0) {
    const start = header.payload_offset;
    const end = start + header.payload_length;
    if (end > kernel.length) {
      fail(
        "TRUNCATED",
        "payload_length",
        `the payload [${hex(start)}, +${hex(header.payload_length)}) is past the end of the kernel (${hex(kernel.length)})`,
      );
    }
    payload = kernel.subarray(start, end);
    fmt = payloadFormat(payload);
  }
  return {
    header,
    protocol: [header.version >> 8, header.version & 0xff],
    setupSize,
    kernel,
    setupHeaderBytes,
    payload,
    payloadFormat: fmt,
  };
}

export interface BzImageLoadOptions {
  /** Where to put the protected-mode kernel (default: code32_start, i.e. 1 MiB). */
  loadAddress?: bigint;
  /** The kernel must load at or above this address (default 0). */
  highmemStart?: bigint;
}

export interface BzImageLoadResult {
  image: BzImage;
  /** Where the protected-mode kernel was written. */
  kernelLoad: bigint;
  /** One past its last byte. */
  kernelEnd: bigint;
  /** The 64-bit entry point (kernelLoad + 0x200), when xloadflags has XLF_KERNEL_64. */
  entry64: bigint | undefined;
}

/**
 * Loads a bzImage's protected-mode kernel into guest memory at `loadAddress` (default
 * code32_start), after checking the header and the whole range against guest memory.
 * The VMM then writes boot params (`BootParams.fromBzImage`) with the setup header.
 */
export function loadBzImage(
  mem: GuestMemoryTarget,
  bytes: Uint8Array,
  options: BzImageLoadOptions = {},
): BzImageLoadResult {
  const image = parseBzImage(bytes);
  const at = options.loadAddress ?? BigInt(image.header.code32_start);
  if (typeof at !== "bigint" || at < 0n || at > U64_MAX)
    fail("INVALID_ARGUMENT", "loadAddress", "loadAddress must be a u64 bigint");
  const highmem = options.highmemStart ?? 0n;
  if (at < highmem)
    fail("INVALID_FIELD", "code32_start", `the load address ${hex(at)} is below the high-memory start ${hex(highmem)}`);
  const len = BigInt(image.kernel.length);
  checkGuestRange(mem, at, len, "code32_start");
  copyToGuest(mem, image.kernel, 0, image.kernel.length, at);
  const entry64 = (image.header.xloadflags & XLF_KERNEL_64) !== 0 ? at + 0x200n : undefined;
  return { image, kernelLoad: at, kernelEnd: at + len, entry64 };
}
