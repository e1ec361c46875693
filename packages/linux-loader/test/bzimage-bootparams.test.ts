import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import {
  BOOT_PARAMS_FIELDS,
  BOOT_PARAMS_SIZE,
  BootParams,
  E820_ENTRY_SIZE,
  E820_RAM,
  e820MapFor,
  HDRS_MAGIC,
  initrdLoadAddress,
  LoaderError,
  loadBzImage,
  loadElfKernel,
  loadInitrd,
  loadKernel,
  parseBzImage,
  SETUP_HEADER_FIELDS,
  writePvhBootInfo,
  XEN_HVM_START_MAGIC_VALUE,
} from "@kindling/linux-loader";
import { GuestMemoryMmap } from "@kindling/vm-memory";
import { describe, expect, it } from "vitest";
import { compileC, debianKernel, hasCommand } from "./helpers.js";

const BOOTPARAM_H = "/usr/include/x86_64-linux-gnu/asm/bootparam.h";
const cOffsetsReason = !hasCommand("cc")
  ? "no C compiler (cc)"
  : !existsSync(BOOTPARAM_H) && !existsSync("/usr/include/asm/bootparam.h")
    ? "no <asm/bootparam.h> (linux-libc-dev)"
    : null;
if (cOffsetsReason) console.warn(`skipping the boot_params layout check: ${cOffsetsReason}`);

describe.skipIf(cOffsetsReason !== null)("zero page layout against <asm/bootparam.h>", () => {
  it("matches every offset and size the writer uses", () => {
    const lines: string[] = [];
    for (const [name] of Object.entries(BOOT_PARAMS_FIELDS)) {
      lines.push(`P(${name}, offsetof(struct boot_params, ${name}), sizeof(((struct boot_params *)0)->${name}));`);
    }
    for (const [name] of Object.entries(SETUP_HEADER_FIELDS)) {
      lines.push(
        `P(${name}, offsetof(struct boot_params, hdr) + offsetof(struct setup_header, ${name}), sizeof(((struct setup_header *)0)->${name}));`,
      );
    }
    const src = `#include <stddef.h>
#include <stdio.h>
#include <asm/bootparam.h>
#define P(n, o, s) printf("%s %zu %zu\\n", #n, (size_t)(o), (size_t)(s))
int main(void) {
${lines.join("\n")}
  P(boot_params, 0, sizeof(struct boot_params));
  P(boot_e820_entry, 0, sizeof(struct boot_e820_entry));
  P(e820_addr, offsetof(struct boot_e820_entry, addr), 8);
  P(e820_size, offsetof(struct boot_e820_entry, size), 8);
  P(e820_type, offsetof(struct boot_e820_entry, type), 4);
  P(setup_header_end, offsetof(struct boot_params, hdr) + sizeof(struct setup_header), 0);
  return 0;
}
`;
    const out = execFileSync(compileC("cc", ["-O0"], src, "bootparam"), { encoding: "utf8" });
    const c = new Map(
      out
        .trim()
        .split("\n")
        .map((l) => {
          const [n, o, s] = l.split(" ");
          return [n, [Number(o), Number(s)]] as const;
        }),
    );
    for (const [name, [off, size]] of Object.entries(BOOT_PARAMS_FIELDS))
      expect([name, off, size]).toEqual([name, ...c.get(name)!]);
    for (const [name, [off, size]] of Object.entries(SETUP_HEADER_FIELDS))
      expect([name, off, size]).toEqual([name, ...c.get(name)!]);
    expect(c.get("boot_params")![1]).toBe(BOOT_PARAMS_SIZE);
    expect(c.get("boot_e820_entry")![1]).toBe(E820_ENTRY_SIZE);
    expect([c.get("e820_addr")![0], c.get("e820_size")![0], c.get("e820_type")![0]]).toEqual([0, 8, 16]);
    expect(c.get("setup_header_end")![0]).toBe(0x26c);
  });
});

describe("BootParams", () => {
  it("writes E820, cmdline and initrd fields where the kernel reads them", () => {
    const mem = GuestMemoryMmap.fromRanges([
      { start: 0n, size: 64 << 20 },
      { start: 0x1_0000_0000n, size: 1 << 20 },
    ]);
    const bp = BootParams.forElfKernel();
    const e820 = e820MapFor(mem);
    expect(e820).toEqual([
      { addr: 0n, size: 0x9fc00n, type: E820_RAM },
      { addr: 0x100000n, size: (64n << 20n) - 0x100000n, type: E820_RAM },
      { addr: 0x1_0000_0000n, size: 1n << 20n, type: E820_RAM },
    ]);
    bp.setE820(e820).setCmdline(0x1_2000_0000n, 77).setInitrd(0x3f0_0000n, 0x1_0000_1000n);
    bp.writeTo(mem, 0x7000n);
    expect(mem.readU16(0x7000n + 0x1fen)).toBe(0xaa55);
    expect(mem.readU32(0x7000n + 0x202n)).toBe(HDRS_MAGIC);
    expect(mem.readU8(0x7000n + 0x210n)).toBe(0xff);
    expect(mem.readU8(0x7000n + 0x1e8n)).toBe(3);
    expect(mem.readU64(0x7000n + 0x2d0n + 20n)).toBe(0x100000n);
    expect(mem.readU32(0x7000n + 0x2d0n + 40n + 16n)).toBe(E820_RAM);
    expect(mem.readU32(0x7000n + 0x228n)).toBe(0x2000_0000);
    expect(mem.readU32(0x7000n + 0x0c8n)).toBe(1);
    expect(mem.readU32(0x7000n + 0x238n)).toBe(77);
    expect(mem.readU32(0x7000n + 0x218n)).toBe(0x3f0_0000);
    expect(mem.readU32(0x7000n + 0x21cn)).toBe(0x1000);
    expect(mem.readU32(0x7000n + 0x0c4n)).toBe(1);
    expect(bp.e820()).toEqual(e820);
    expect(() => bp.writeTo(mem, (64n << 20n) - 100n)).toThrow(
      expect.objectContaining({ code: "OUT_OF_GUEST_MEMORY" }),
    );
    const full = new BootParams();
    for (let i = 0; i < 128; i++) full.addE820Entry(BigInt(i) << 20n, 1n << 20n, E820_RAM);
    expect(() => full.addE820Entry(0n, 1n, 1)).toThrow(LoaderError);
    expect(() => bp.setHeaderField("setup_sects", 256)).toThrow(expect.objectContaining({ field: "setup_sects" }));
    mem.close();
  });

  it("places an initrd at the top of low memory, page aligned, under initrd_addr_max", () => {
    const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: 128 << 20 }]);
    const p = initrdLoadAddress(mem, 0x12345);
    expect(p.addr).toBe(((128n << 20n) - 0x12345n) & ~0xfffn);
    const q = initrdLoadAddress(mem, 0x1000, { initrdAddrMax: 0x3ff_ffffn });
    expect(q.addr).toBe(0x400_0000n - 0x1000n);
    expect(() => initrdLoadAddress(mem, 200 << 20)).toThrow(expect.objectContaining({ code: "INITRD_TOO_LARGE" }));
    expect(() => initrdLoadAddress(mem, 0x10_0000, { minAddr: (128n << 20n) - 0x8_0000n })).toThrow(LoaderError);
    const data = new Uint8Array(5000).fill(7);
    const l = loadInitrd(mem, data);
    expect(mem.readU8(l.addr + 4999n)).toBe(7);
    mem.close();
  });

  it("writes PVH hvm_start_info, module list and memory map", () => {
    const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: 16 << 20 }]);
    const memmap = e820MapFor(mem);
    const si = writePvhBootInfo(mem, {
      cmdlineAddr: 0x20000n,
      memmap,
      modules: [{ paddr: 0xf00000n, size: 0x1234n }],
    });
    expect(si).toBe(0x6000n);
    expect(mem.readU32(0x6000n)).toBe(XEN_HVM_START_MAGIC_VALUE);
    expect(mem.readU32(0x6004n)).toBe(1);
    expect(mem.readU32(0x600cn)).toBe(1);
    expect(mem.readU64(0x6010n)).toBe(0x6040n);
    expect(mem.readU64(0x6018n)).toBe(0x20000n);
    expect(mem.readU64(0x6028n)).toBe(0x7000n);
    expect(mem.readU32(0x6030n)).toBe(memmap.length);
    expect(mem.readU64(0x6040n)).toBe(0xf00000n);
    expect(mem.readU64(0x6048n)).toBe(0x1234n);
    expect(mem.readU64(0x7000n + 24n)).toBe(0x100000n);
    expect(mem.readU32(0x7000n + 16n)).toBe(E820_RAM);
    expect(() => writePvhBootInfo(mem, { cmdlineAddr: 0n, memmap, startInfoAddr: 0x7000n })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    mem.close();
  });
});

const kernel = debianKernel();
if (typeof kernel === "string") console.warn(`skipping Debian kernel tests: ${kernel}`);

describe.skipIf(typeof kernel === "string")("Debian's kernel", () => {
  const k = kernel as Exclude<typeof kernel, string>;

  it("parses and loads the bzImage, and boot params start from its setup header", () => {
    const bytes = new Uint8Array(readFileSync(k.bzImagePath));
    const img = parseBzImage(bytes);
    expect(img.protocol[0]).toBe(2);
    expect(img.protocol[1]).toBeGreaterThanOrEqual(12);
    expect(img.header.code32_start).toBe(0x100000);
    expect(img.payloadFormat).toBe("xz");
    expect(img.header.xloadflags & 1).toBe(1);
    const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: 64 << 20 }]);
    const r = loadBzImage(mem, bytes);
    expect(r.kernelLoad).toBe(0x100000n);
    expect(r.entry64).toBe(0x100200n);
    expect(r.kernelEnd).toBe(0x100000n + BigInt(bytes.length - img.setupSize));
    const probe = new Uint8Array(64);
    mem.readSlice(probe, 0x100000n);
    expect(Buffer.from(probe).equals(Buffer.from(bytes.subarray(img.setupSize, img.setupSize + 64)))).toBe(true);
    const bp = BootParams.fromBzImage(img);
    expect(bp.getHeaderField("header")).toBe(HDRS_MAGIC);
    expect(bp.getHeaderField("version")).toBe(img.header.version);
    expect(bp.getHeaderField("type_of_loader")).toBe(0xff);
    expect(bp.getHeaderField("initrd_addr_max")).toBe(img.header.initrd_addr_max);
    // A load address that leaves guest memory is refused before anything is written.
    expect(() => loadBzImage(mem, bytes, { loadAddress: (64n << 20n) - 0x1000n })).toThrow(
      expect.objectContaining({ code: "OUT_OF_GUEST_MEMORY" }),
    );
    mem.close();
  });

  it("loadKernel tells the two formats apart", () => {
    const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: 128 << 20 }]);
    const bz = loadKernel(mem, new Uint8Array(readFileSync(k.bzImagePath)));
    expect(bz.format).toBe("bzimage");
    expect(bz.entry64).toBe(0x100200n);
    expect(bz.bzImage?.payloadFormat).toBe("xz");
    const elf = loadKernel(mem, new Uint8Array(readFileSync(k.vmlinuxPath)));
    expect(elf.format).toBe("elf");
    expect(elf.entry64).toBe(0x1000000n);
    expect(elf.pvhEntry).toBeDefined();
    expect(() => loadKernel(mem, new Uint8Array(4096))).toThrow(expect.objectContaining({ code: "BAD_MAGIC" }));
    expect(() => loadKernel(mem, new Uint8Array(10))).toThrow(LoaderError);
    mem.close();
  });

  it("loads the vmlinux extracted from the xz payload as ELF and finds its PVH entry", () => {
    const bytes = new Uint8Array(readFileSync(k.vmlinuxPath));
    const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: 128 << 20 }]);
    const r = loadElfKernel(mem, bytes);
    expect(r.kernelLoad).toBe(0x1000000n);
    expect(r.pvhBootCapable).toBe(true);
    expect(r.pvhEntry! > r.loadStart && r.pvhEntry! < r.kernelEnd).toBe(true);
    expect(r.kernelEnd).toBeLessThanOrEqual(128n << 20n);
    mem.close();
  });
});
