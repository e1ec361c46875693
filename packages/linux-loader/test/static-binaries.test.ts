import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { LoaderError, loadStaticProgram, readStaticProgram, type StaticProgram } from "@kindling/linux-loader";
import { GuestMemoryMmap } from "@kindling/vm-memory";
import { describe, expect, it } from "vitest";
import { compileC, hasCommand } from "./helpers.js";

const HELLO = `#include <stdio.h>
#include <stdlib.h>
static char big[1 << 20];
int counter = 42;
int main(int argc, char **argv) { big[argc] = 1; printf("hello %d\\n", counter + big[1]); return 0; }
`;

const hasCc = hasCommand("cc");
const hasMusl = hasCommand("musl-gcc");
const hasReadelf = hasCommand("readelf");
const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p));
if (!hasCc) console.warn("skipping cc -static tests: no cc");
if (!hasMusl) console.warn("skipping musl-gcc tests: musl-tools is not installed");
if (!busybox) console.warn("skipping the busybox test: busybox-static is not installed");

/** Entry and type as readelf reports them, to check our reader against binutils. */
function readelfFacts(path: string): { entry: bigint; type: string; phnum: number } {
  const out = execFileSync("readelf", ["-hW", path], { encoding: "utf8" });
  const entry = BigInt(/Entry point address:\s+(0x[0-9a-f]+)/.exec(out)![1]);
  const type = /Type:\s+(\w+)/.exec(out)![1];
  const phnum = Number(/Number of program headers:\s+(\d+)/.exec(out)![1]);
  return { entry, type, phnum };
}

/** Loads the program into fresh guest memory and checks what the sandbox relies on. */
function loadAndCheck(path: string, base?: bigint): StaticProgram {
  const bytes = new Uint8Array(readFileSync(path));
  const info = readStaticProgram(bytes);
  if (hasReadelf) {
    const f = readelfFacts(path);
    expect(info.entry).toBe(f.entry);
    expect(info.phnum).toBe(f.phnum);
    expect(info.isPie).toBe(f.type === "DYN");
  }
  const memEnd = (base ?? 0n) + info.loadEnd + 0x10_0000n;
  const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: Number(memEnd) }]);
  try {
    const p = loadStaticProgram(bytes, mem, base);
    expect(p.entry).toBe(info.entry + p.base);
    // AT_PHDR points at a copy of the program header table.
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const phoff = Number(view.getBigUint64(32, true));
    const table = new Uint8Array(p.phnum * p.phentsize);
    mem.readSlice(table, p.phdrAddr);
    expect(Buffer.from(table).equals(Buffer.from(bytes.subarray(phoff, phoff + table.length)))).toBe(true);
    // Each segment's bytes are the file's, and its bss is zero.
    for (const s of p.segments) {
      const got = new Uint8Array(s.memSize);
      mem.readSlice(got, s.vaddr);
      expect(
        Buffer.from(got.subarray(0, s.fileSize)).equals(
          Buffer.from(bytes.subarray(s.fileOffset, s.fileOffset + s.fileSize)),
        ),
      ).toBe(true);
      expect(got.subarray(s.fileSize).every((b) => b === 0)).toBe(true);
    }
    expect(p.brkStart % 4096n).toBe(0n);
    expect(p.brkStart >= p.loadEnd).toBe(true);
    for (const s of p.segments) expect(s.vaddr + BigInt(s.memSize) <= p.brkStart).toBe(true);
    return p;
  } finally {
    mem.close();
  }
}

describe("static binaries on this machine", () => {
  it.skipIf(!busybox)("reads Debian's busybox-static", () => {
    const p = loadAndCheck(busybox!);
    expect(p.segments.length).toBeGreaterThanOrEqual(2);
    expect(p.segments.some((s) => (s.flags & 1) !== 0)).toBe(true);
  });

  it.skipIf(!hasCc)("reads a glibc program built with cc -static (fixed)", () => {
    const p = loadAndCheck(compileC("cc", ["-static", "-O1", "-no-pie"], HELLO, "hello-glibc"));
    expect(p.kind).toBe("fixed");
    expect(p.tls).toBeDefined(); // glibc's static binaries carry a TLS template
    expect(p.segments.some((s) => s.memSize - s.fileSize >= 1 << 20)).toBe(true); // the 1 MiB bss
  });

  it.skipIf(!hasCc)("reads a glibc static-PIE and relocates it", () => {
    const p = loadAndCheck(compileC("cc", ["-static-pie", "-O1", "-fPIE"], HELLO, "hello-spie"), 0x80_0000n);
    expect(p.kind).toBe("pie");
    expect(p.base).toBe(0x80_0000n);
  });

  it.skipIf(!hasMusl)("reads a musl-gcc -static program", () => {
    const f = loadAndCheck(compileC("musl-gcc", ["-static", "-O1"], HELLO, "hello-musl"));
    expect(f.kind).toBe("fixed");
  });

  it.skipIf(!hasMusl)("refuses Debian musl-gcc's -static-pie output, which keeps a PT_INTERP", () => {
    // Debian's musl-gcc wrapper has no rcrt1.o spec: -static-pie yields a PIE that still asks
    // for /lib/ld-musl-x86_64.so.1, so it is (correctly) not a static program.
    const path = compileC("musl-gcc", ["-static-pie", "-O1", "-fPIE"], HELLO, "hello-musl-pie");
    expect(() => readStaticProgram(new Uint8Array(readFileSync(path)))).toThrow(/ld-musl/);
  });

  it.skipIf(!existsSync("/bin/ls"))("refuses the dynamic /bin/ls as dynamically linked", () => {
    let err: unknown;
    try {
      readStaticProgram(new Uint8Array(readFileSync("/bin/ls")));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LoaderError);
    expect((err as LoaderError).code).toBe("DYNAMICALLY_LINKED");
    expect((err as LoaderError).message).toMatch(/dynamically linked/);
  });

  it.skipIf(!hasCc)("refuses a dynamically linked PIE built here", () => {
    const path = compileC("cc", ["-O1"], HELLO, "hello-dyn");
    expect(() => readStaticProgram(new Uint8Array(readFileSync(path)))).toThrow(/dynamically linked/);
  });
});
