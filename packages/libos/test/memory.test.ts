import { fstatSync, readSync } from "node:fs";
import type { FileDescription, Vfs } from "@kindling/libos";
import { Resume } from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";
import { ARENA_BASE, ARENA_SIZE, setup } from "./core-setup.js";

const EBADF = -9;
const ENOMEM = -12;
const EACCES = -13;
const EFAULT = -14;
const EEXIST = -17;
const ENODEV = -19;
const EINVAL = -22;
const EOPNOTSUPP = -95;

const PROT_RW = 3;
const MAP_PRIVATE = 2;
const MAP_SHARED = 1;
const MAP_ANON = 0x20;
const MAP_FIXED = 0x10;
const MAP_NOREPLACE = 0x100000;
const PAGE = 4096;
const ARENA_END = ARENA_BASE + ARENA_SIZE;

function fileDesc(content: Uint8Array, flags = 0, kind: "file" | "zero" | "none" = "file"): FileDescription {
  return {
    flags,
    path: "/data/file",
    mmapKind: kind === "none" ? undefined : kind,
    pread(buf, offset) {
      if (kind === "none") return -29;
      const n = Math.max(0, Math.min(buf.length, content.length - offset));
      buf.set(content.subarray(offset, offset + n));
      return n;
    },
  };
}

function vfsWith(files: Record<number, FileDescription>): Vfs {
  return {
    fds: { get: (fd) => files[fd], alloc: () => -24, close: () => 0, closeAll: () => {} },
  };
}

describe("brk", () => {
  it("starts at the arena base, grows, shrinks and re-zeroes", () => {
    const { k, h, mem } = setup();
    expect(h.call("brk", 0)).toBe(ARENA_BASE);
    expect(h.call("brk", ARENA_BASE + 5000)).toBe(ARENA_BASE + 5000);
    expect(k.mm.find(ARENA_BASE + 8000)?.name).toBe("[heap]");
    mem.fill(ARENA_BASE, 8192, 0x55);
    expect(h.call("brk", ARENA_BASE + 10)).toBe(ARENA_BASE + 10);
    expect(k.mm.find(ARENA_BASE + 4096)).toBeUndefined();
    expect(h.call("brk", ARENA_BASE + 8192)).toBe(ARENA_BASE + 8192);
    // The first page stayed mapped (as in Linux); the second was given back and is zero again.
    expect(mem.bytes[ARENA_BASE - mem.base + 100]).toBe(0x55);
    expect(mem.read(ARENA_BASE + 4096, 4096).every((b) => b === 0)).toBe(true);
  });
  it("refuses to grow into a mapping, past the arena or the limit", () => {
    const { h } = setup({ memory: { base: ARENA_BASE, size: ARENA_SIZE, limit: 64 * PAGE } });
    const top = h.call("mmap", 0, PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0);
    expect(top).toBe(ARENA_END - PAGE);
    expect(h.call("brk", ARENA_BASE + 65 * PAGE)).toBe(ARENA_BASE);
    expect(h.call("brk", ARENA_END + PAGE)).toBe(ARENA_BASE);
    expect(h.call("brk", ARENA_BASE - 1)).toBe(ARENA_BASE);
    expect(h.call("brk", ARENA_BASE + 63 * PAGE)).toBe(ARENA_BASE + 63 * PAGE);
  });
  it("runs natively with nativeMemory", () => {
    const { h } = setup({}, true);
    h.call("brk", 0);
    expect(h.resume).toBe(Resume.Continue);
  });
});

describe("mmap anonymous", () => {
  it("hands out zeroed pages top-down and honours free hints", () => {
    const { k, h } = setup();
    const a = h.call("mmap", 0, 100, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0);
    expect(a).toBe(ARENA_END - PAGE);
    const b = h.call("mmap", 0, 2 * PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0);
    expect(b).toBe(ARENA_END - 3 * PAGE);
    const hint = ARENA_BASE + 0x10000 + 5;
    expect(h.call("mmap", hint, PAGE, 1, MAP_PRIVATE | MAP_ANON, -1, 0)).toBe(ARENA_BASE + 0x11000);
    expect(k.mm.used).toBe(4 * PAGE);
    // Adjacent anonymous mappings with equal attributes merge.
    expect(k.mm.count).toBe(2);
  });
  it("validates arguments like Linux", () => {
    const { h } = setup();
    expect(h.call("mmap", 0, 0, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0)).toBe(EINVAL);
    expect(h.call("mmap", 0, PAGE, PROT_RW, MAP_ANON, -1, 0)).toBe(EINVAL);
    expect(h.call("mmap", 0, PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 100)).toBe(EINVAL);
    expect(h.call("mmap", 0, 2n ** 64n - 1n, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0)).toBe(ENOMEM);
    expect(h.call("mmap", 5, PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON | MAP_FIXED, -1, 0)).toBe(EINVAL);
    expect(h.call("mmap", 0, PAGE, PROT_RW, 3 | MAP_ANON | 0x4000000, -1, 0)).toBe(EOPNOTSUPP);
    expect(h.call("mmap", 0, PAGE, PROT_RW, MAP_PRIVATE, 77, 0)).toBe(EBADF);
    expect(h.call("mmap", 0, ARENA_SIZE + PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0)).toBe(ENOMEM);
    expect(h.call("mmap", 0, PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON | 0x40000, -1, 0)).toBe(ENOMEM);
  });
  it("MAP_FIXED replaces, MAP_FIXED_NOREPLACE refuses, outside the arena is ENOMEM", () => {
    const { k, h, mem } = setup();
    const a = h.call("mmap", 0, 4 * PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0);
    mem.fill(a, 4 * PAGE, 7);
    expect(h.call("mmap", a + PAGE, PAGE, 1, MAP_PRIVATE | MAP_ANON | MAP_NOREPLACE, -1, 0)).toBe(EEXIST);
    expect(h.call("mmap", a + PAGE, PAGE, 1, MAP_PRIVATE | MAP_ANON | MAP_FIXED, -1, 0)).toBe(a + PAGE);
    expect(mem.read(a + PAGE, PAGE).every((b) => b === 0)).toBe(true);
    expect(mem.bytes[a - mem.base]).toBe(7);
    expect(k.mm.count).toBe(3);
    expect(k.mm.used).toBe(4 * PAGE);
    expect(h.call("mmap", 0x1000, PAGE, 1, MAP_PRIVATE | MAP_ANON | MAP_FIXED, -1, 0)).toBe(ENOMEM);
    expect(h.call("mmap", 2 ** 47, PAGE, 1, MAP_PRIVATE | MAP_ANON | MAP_FIXED, -1, 0)).toBe(ENOMEM);
  });
  it("stops at the memory limit", () => {
    const { h } = setup({ memory: { base: ARENA_BASE, size: ARENA_SIZE, limit: 8 * PAGE } });
    expect(h.call("mmap", 0, 8 * PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0)).toBeGreaterThan(0);
    expect(h.call("mmap", 0, PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0)).toBe(ENOMEM);
    h.call("munmap", ARENA_END - PAGE, PAGE);
    expect(h.call("mmap", 0, PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0)).toBe(ARENA_END - PAGE);
  });
  it("runs natively with nativeMemory", () => {
    const { h } = setup({}, true);
    expect(h.call("mmap", 0, PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0)).toBe(0);
    expect(h.resume).toBe(Resume.Continue);
  });
});

describe("munmap and reuse", () => {
  it("splits mappings and zeroes freed memory when it is handed out again", () => {
    const { k, h, mem } = setup();
    const a = h.call("mmap", 0, 3 * PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0);
    mem.fill(a, 3 * PAGE, 0xee);
    expect(h.call("munmap", a + PAGE, PAGE)).toBe(0);
    expect(k.mm.count).toBe(2);
    expect(k.mm.find(a + PAGE)).toBeUndefined();
    expect(h.call("mmap", a + PAGE, PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0)).toBe(a + PAGE);
    expect(mem.read(a + PAGE, PAGE).every((b) => b === 0)).toBe(true);
    expect(mem.bytes[a - mem.base]).toBe(0xee);
  });
  it("uses the discard hook instead of zeroing when it reports zeroed memory", () => {
    const discarded: [number, number][] = [];
    const { h, mem } = setup({
      discard: (addr, len) => {
        discarded.push([addr, len]);
        mem.fill(addr, len, 0);
        return true;
      },
    });
    const a = h.call("mmap", 0, 2 * PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0);
    h.call("munmap", a, 2 * PAGE);
    expect(discarded).toEqual([[a, 2 * PAGE]]);
  });
  it("validates", () => {
    const { h } = setup();
    expect(h.call("munmap", ARENA_BASE + 1, PAGE)).toBe(EINVAL);
    expect(h.call("munmap", ARENA_BASE, 0)).toBe(EINVAL);
    expect(h.call("munmap", 2 ** 47 - PAGE, 2 * PAGE)).toBe(EINVAL);
    expect(h.call("munmap", ARENA_BASE, PAGE)).toBe(0); // nothing mapped there: fine
  });
});

describe("mprotect, madvise, msync, mincore", () => {
  it("mprotect records protections and needs mapped ranges", () => {
    const { k, h } = setup();
    const a = h.call("mmap", 0, 3 * PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0);
    expect(h.call("mprotect", a + PAGE, PAGE, 1)).toBe(0);
    expect(k.mm.find(a + PAGE)?.prot).toBe(1);
    expect(k.mm.find(a)?.prot).toBe(3);
    expect(k.mm.count).toBe(3);
    expect(h.call("mprotect", a + 1, PAGE, 1)).toBe(EINVAL);
    expect(h.call("mprotect", a, PAGE, 0x100)).toBe(EINVAL);
    expect(h.call("mprotect", a, 8 * PAGE, 1)).toBe(ENOMEM);
    expect(h.call("mprotect", a, 0, 1)).toBe(0);
  });
  it("madvise(DONTNEED) zeroes anonymous memory now", () => {
    const { h, mem } = setup();
    const a = h.call("mmap", 0, 2 * PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0);
    mem.fill(a, 2 * PAGE, 9);
    expect(h.call("madvise", a, PAGE, 4)).toBe(0);
    expect(mem.bytes[a - mem.base]).toBe(0);
    expect(mem.bytes[a + PAGE - mem.base]).toBe(9);
    expect(h.call("madvise", a, PAGE, 8)).toBe(0); // MADV_FREE: contents may stay
    expect(h.call("madvise", a, PAGE, 999)).toBe(EINVAL);
    expect(h.call("madvise", a + 1, PAGE, 4)).toBe(EINVAL);
    expect(h.call("madvise", ARENA_BASE, PAGE, 4)).toBe(ENOMEM);
    expect(h.call("madvise", a, PAGE, 100)).toBe(-1);
  });
  it("msync and mincore", () => {
    const { h, mem } = setup();
    const a = h.call("mmap", 0, 2 * PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0);
    expect(h.call("msync", a, PAGE, 4)).toBe(0);
    expect(h.call("msync", a, PAGE, 5)).toBe(EINVAL);
    expect(h.call("msync", ARENA_BASE, PAGE, 4)).toBe(ENOMEM);
    expect(h.call("mincore", a, 2 * PAGE, 0x20000)).toBe(0);
    expect([...mem.read(0x20000, 3)]).toEqual([1, 1, 0]);
    expect(h.call("mincore", a, PAGE, 0)).toBe(EFAULT);
  });
});

describe("mremap", () => {
  it("shrinks in place, grows in place when free, moves with MAYMOVE", () => {
    const { k, h, mem } = setup();
    const a = h.call("mmap", ARENA_BASE + 0x40000, 2 * PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0);
    expect(a).toBe(ARENA_BASE + 0x40000);
    mem.fill(a, 2 * PAGE, 3);
    expect(h.call("mremap", a, 2 * PAGE, PAGE, 0, 0)).toBe(a);
    expect(k.mm.used).toBe(PAGE);
    expect(h.call("mremap", a, PAGE, 3 * PAGE, 0, 0)).toBe(a);
    expect(mem.read(a + PAGE, 2 * PAGE).every((b) => b === 0)).toBe(true);
    // Block the growth, then move.
    h.call("mmap", a + 3 * PAGE, PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON | MAP_FIXED, -1, 0);
    expect(h.call("mremap", a, 3 * PAGE, 4 * PAGE, 0, 0)).toBe(ENOMEM);
    const b = h.call("mremap", a, 3 * PAGE, 4 * PAGE, 1, 0);
    expect(b).not.toBe(a);
    expect(mem.bytes[b - mem.base]).toBe(3);
    expect(mem.read(b + PAGE, 3 * PAGE).every((x) => x === 0)).toBe(true);
    expect(k.mm.find(a)).toBeUndefined();
  });
  it("MREMAP_FIXED moves to the given address", () => {
    const { k, h, mem } = setup();
    const a = h.call("mmap", 0, PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0);
    mem.fill(a, PAGE, 5);
    const dest = ARENA_BASE + 0x80000;
    expect(h.call("mremap", a, PAGE, PAGE, 3, dest)).toBe(dest);
    expect(mem.bytes[dest - mem.base]).toBe(5);
    expect(k.mm.find(a)).toBeUndefined();
    expect(h.call("mremap", dest, PAGE, PAGE, 3, dest)).toBe(EINVAL);
  });
  it("MREMAP_DONTUNMAP moves and leaves the old range mapped and empty", () => {
    const { k, h, mem } = setup();
    const a = h.call("mmap", 0, 2 * PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0);
    mem.fill(a, 2 * PAGE, 4);
    const b = h.call("mremap", a, 2 * PAGE, 2 * PAGE, 1 | 4, 0);
    expect(b).toBeGreaterThan(0);
    expect(b).not.toBe(a);
    expect(mem.bytes[b - mem.base]).toBe(4);
    expect(k.mm.find(a)).toBeDefined();
    expect(mem.read(a, 2 * PAGE).every((x) => x === 0)).toBe(true);
    expect(h.call("mremap", b, 2 * PAGE, 3 * PAGE, 1 | 4, 0)).toBe(EINVAL);
    expect(h.call("mremap", b, 2 * PAGE, 2 * PAGE, 4, 0)).toBe(EINVAL);
  });
  it("validates", () => {
    const { h } = setup();
    const a = h.call("mmap", 0, PAGE, PROT_RW, MAP_PRIVATE | MAP_ANON, -1, 0);
    expect(h.call("mremap", a, PAGE, 2 * PAGE, 8, 0)).toBe(EINVAL);
    expect(h.call("mremap", a, PAGE, 2 * PAGE, 2, 0)).toBe(EINVAL);
    expect(h.call("mremap", a + 1, PAGE, 2 * PAGE, 1, 0)).toBe(EINVAL);
    expect(h.call("mremap", a, PAGE, 0, 1, 0)).toBe(EINVAL);
    expect(h.call("mremap", ARENA_BASE, PAGE, 2 * PAGE, 1, 0)).toBe(EFAULT);
    expect(h.call("mremap", a, 2 * PAGE, 3 * PAGE, 1, 0)).toBe(EFAULT);
    expect(h.call("mremap", a, 0, PAGE, 1, 0)).toBe(EINVAL);
  });
});

describe("mmap of files", () => {
  const content = new Uint8Array(6000).map((_, i) => (i * 7) & 0xff);
  it("copies the file from the offset and zero-fills past its end", () => {
    const { k, h, mem } = setup({ fs: vfsWith({ 3: fileDesc(content) }) });
    const a = h.call("mmap", 0, 3 * PAGE, 1, MAP_PRIVATE, 3, PAGE);
    expect(a).toBeGreaterThan(0);
    expect([...mem.read(a, 6000 - PAGE)]).toEqual([...content.subarray(PAGE)]);
    expect(mem.read(a + 6000 - PAGE, 3 * PAGE - (6000 - PAGE)).every((b) => b === 0)).toBe(true);
    expect(k.mm.find(a)).toMatchObject({ kind: "file", offset: PAGE, name: "/data/file" });
    // MADV_DONTNEED does not wipe file-backed memory.
    expect(h.call("madvise", a, PAGE, 4)).toBe(0);
    expect(mem.bytes[a + 1 - mem.base]).toBe(content[PAGE + 1]);
  });
  it("checks the open mode and mappability", () => {
    const { h } = setup({
      fs: vfsWith({
        3: fileDesc(content, 1),
        4: fileDesc(content, 0),
        5: fileDesc(content, 2),
        6: fileDesc(content, 0, "none"),
        7: fileDesc(content, 2, "zero"),
      }),
    });
    expect(h.call("mmap", 0, PAGE, 1, MAP_PRIVATE, 3, 0)).toBe(EACCES);
    expect(h.call("mmap", 0, PAGE, PROT_RW, MAP_SHARED, 4, 0)).toBe(EACCES);
    expect(h.call("mmap", 0, PAGE, PROT_RW, MAP_SHARED, 5, 0)).toBe(ENODEV);
    expect(h.call("mmap", 0, PAGE, 1, MAP_SHARED, 5, 0)).toBeGreaterThan(0);
    expect(h.call("mmap", 0, PAGE, 1, MAP_PRIVATE, 6, 0)).toBe(ENODEV);
    expect(h.call("mmap", 0, PAGE, PROT_RW, MAP_SHARED, 7, 0)).toBeGreaterThan(0);
  });
  it("where the host kernel manages memory (nativeMemory), installs a copy of the file at the fd and runs mmap natively", () => {
    const { h } = setup({ fs: vfsWith({ 3: fileDesc(content), 5: fileDesc(content, 2) }) }, true);
    // Without an fd installer (not seccomp): ENODEV.
    expect(h.call("mmap", 0, PAGE, 1, MAP_PRIVATE, 3, 0)).toBe(ENODEV);
    const installed: { fd: number; bytes: Uint8Array; size: number }[] = [];
    Object.assign(h.task, {
      installFd(hostFd: number, target: number) {
        const size = fstatSync(hostFd).size;
        const bytes = new Uint8Array(size);
        readSync(hostFd, bytes, 0, size, 0);
        installed.push({ fd: target, bytes, size });
        return target;
      },
    });
    expect(h.call("mmap", 0, 2 * PAGE, 1, MAP_PRIVATE, 3, PAGE)).toBe(0);
    expect(h.resume).toBe(Resume.Continue);
    expect(installed).toHaveLength(1);
    expect(installed[0].fd).toBe(3);
    expect(installed[0].size).toBe(3 * PAGE);
    expect([...installed[0].bytes.subarray(PAGE, 6000)]).toEqual([...content.subarray(PAGE)]);
    expect(h.call("mmap", 0, PAGE, 1, MAP_PRIVATE, 4, 0)).toBe(EBADF);
    expect(h.call("mmap", 0, PAGE, 3, MAP_SHARED, 5, 0)).toBe(ENODEV);
    expect(h.call("mmap", 0, PAGE, 3, MAP_SHARED, 3, 0)).toBe(EACCES);
  });
});
