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
