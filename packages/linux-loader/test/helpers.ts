import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseBzImage } from "@kindling/linux-loader";

const here = dirname(fileURLToPath(import.meta.url));
export const FETCH_SCRIPT = join(here, "..", "scripts", "fetch-debian-kernel.sh");

export interface DebianKernel {
  bzImagePath: string;
  vmlinuxPath: string;
}

let cached: DebianKernel | string | undefined;

/**
 * Debian's stock kernel (bzImage from `apt-get download`, vmlinux extracted from its xz payload
 * with `xz`), cached outside the repository; or a string saying why it is not available.
 */
export function debianKernel(): DebianKernel | string {
  if (cached !== undefined) return cached;
  const r = spawnSync("bash", [FETCH_SCRIPT], { encoding: "utf8", timeout: 280_000 });
  if (r.status !== 0) {
    cached = `Debian kernel unavailable: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`;
    return cached;
  }
  const bzImagePath = r.stdout.trim().split("\n").pop()!;
  const vmlinuxPath = join(dirname(bzImagePath), "vmlinux");
  if (!existsSync(vmlinuxPath)) {
    const img = parseBzImage(new Uint8Array(readFileSync(bzImagePath)));
    if (img.payloadFormat !== "xz") {
      cached = `Debian kernel payload is ${img.payloadFormat}, this test extracts xz only`;
      return cached;
    }
    try {
      const out = execFileSync("xz", ["-dc", "--single-stream"], { input: img.payload, maxBuffer: 1 << 30 });
      const tmp = `${vmlinuxPath}.${process.pid}.tmp`;
      writeFileSync(tmp, out);
      renameSync(tmp, vmlinuxPath);
    } catch (e) {
      cached = `cannot extract vmlinux (xz missing?): ${(e as Error).message}`;
      return cached;
    }
  }
  cached = { bzImagePath, vmlinuxPath };
  return cached;
}

/** Whether a command exists. */
export function hasCommand(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** Compiles a C program with `compiler` and the given flags; returns the binary's path. */
export function compileC(compiler: string, flags: string[], source: string, name = "prog"): string {
  const dir = mkdtempSync(join(tmpdir(), "kindling-ll-"));
  const src = join(dir, `${name}.c`);
  writeFileSync(src, source);
  const out = join(dir, name);
  execFileSync(compiler, [...flags, "-o", out, src], { stdio: ["ignore", "ignore", "pipe"] });
  return out;
}

/** A guest memory that records every write, over a sparse map (for hostile-input tests). */
export class RecordingMemory {
  readonly writes: Array<{ addr: bigint; len: number }> = [];
  readonly data = new Map<bigint, number>();
  constructor(
    readonly start: bigint,
    readonly size: bigint,
    readonly keepData = false,
  ) {}
  checkRange(addr: bigint, len: number | bigint): boolean {
    const l = BigInt(len);
    return addr >= this.start && l >= 0n && addr + l <= this.start + this.size;
  }
  writeSlice(buf: Uint8Array, addr: bigint): void {
    if (!this.checkRange(addr, buf.length)) throw new Error(`write outside memory at 0x${addr.toString(16)}`);
    this.writes.push({ addr, len: buf.length });
    if (this.keepData) for (let i = 0; i < buf.length; i++) this.data.set(addr + BigInt(i), buf[i]);
  }
  regions() {
    return [{ start: { value: this.start }, size: Number(this.size) }];
  }
}

export interface TestPhdr {
  type: number;
  flags?: number;
  vaddr: bigint;
  paddr?: bigint;
  memsz?: bigint;
  align?: bigint;
  /** Bytes of the segment in the file (placed after the headers, page-congruent with vaddr). */
  content?: Uint8Array;
  /** Override p_offset / p_filesz (for hostile files). */
  offset?: bigint;
  filesz?: bigint;
}

/** Builds a little ELF64 x86-64 file for tests. */
export function buildElf(o: {
  type?: number;
  machine?: number;
  entry: bigint;
  phdrs: TestPhdr[];
  cls?: number;
  data?: number;
  /** Put the program header table inside the first segment's file bytes (offset 64). */
}): Uint8Array {
  const phoff = 64;
  const headerEnd = phoff + o.phdrs.length * 56;
  // Lay out contents one after another, each at a 16-byte boundary after the headers.
  let cursor = headerEnd;
  const placed: Array<{ off: number; content: Uint8Array }> = [];
  for (const p of o.phdrs) {
    const c = p.content ?? new Uint8Array();
    cursor = (cursor + 15) & ~15;
    placed.push({ off: cursor, content: c });
    cursor += c.length;
  }
  const buf = new Uint8Array(cursor);
  const v = new DataView(buf.buffer);
  buf.set([0x7f, 0x45, 0x4c, 0x46, o.cls ?? 2, o.data ?? 1, 1]);
  v.setUint16(16, o.type ?? 2, true);
  v.setUint16(18, o.machine ?? 62, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(24, o.entry, true);
  v.setBigUint64(32, BigInt(phoff), true);
  v.setUint16(52, 64, true);
  v.setUint16(54, 56, true);
  v.setUint16(56, o.phdrs.length, true);
  o.phdrs.forEach((p, i) => {
    const at = phoff + i * 56;
    const c = placed[i];
    buf.set(c.content, c.off);
    v.setUint32(at, p.type, true);
    v.setUint32(at + 4, p.flags ?? 5, true);
    v.setBigUint64(at + 8, p.offset ?? BigInt(c.off), true);
    v.setBigUint64(at + 16, p.vaddr, true);
    v.setBigUint64(at + 24, p.paddr ?? p.vaddr, true);
    v.setBigUint64(at + 32, p.filesz ?? BigInt(c.content.length), true);
    v.setBigUint64(at + 40, p.memsz ?? BigInt(c.content.length), true);
    v.setBigUint64(at + 48, p.align ?? 0x1000n, true);
  });
  return buf;
}

/** An ELF note with a 4-byte-aligned name and descriptor. */
export function elfNote(name: string, type: number, desc: Uint8Array): Uint8Array {
  const nameBytes = new TextEncoder().encode(`${name}\0`);
  const nameLen = (nameBytes.length + 3) & ~3;
  const descLen = (desc.length + 3) & ~3;
  const b = new Uint8Array(12 + nameLen + descLen);
  const v = new DataView(b.buffer);
  v.setUint32(0, nameBytes.length, true);
  v.setUint32(4, desc.length, true);
  v.setUint32(8, type, true);
  b.set(nameBytes, 12);
  b.set(desc, 12 + nameLen);
  return b;
}
