// readv/writev with a bad segment after good ones: like Linux, the call
// returns the bytes moved before the bad segment (and EFAULT only when the
// first segment is bad). The file offset moves by what was moved.
import { describe, expect, it } from "vitest";
import { FakeMemory } from "./fake-task.js";
import { FsHarness, MEM_BASE, MEM_SIZE } from "./fs-harness.js";

const O_RDWR = 2;
const O_CREAT = 0o100;
const EFAULT = -14;
const BAD = MEM_BASE + MEM_SIZE + 0x100000; // outside the program's memory

function iovecs(t: FsHarness, segs: Array<[number, number]>): number {
  const iov = t.alloc(segs.length * 16);
  segs.forEach(([base, len], i) => {
    t.mem.writeU64(iov + i * 16, base);
    t.mem.writeU64(iov + i * 16 + 8, len);
  });
  return iov;
}

describe("readv/writev stop at a bad segment", () => {
  it("readv returns what it read before the bad segment", () => {
    const t = new FsHarness();
    const fd = t.open("/f", O_RDWR | O_CREAT);
    expect(t.write(fd, "abcdefgh")).toBe(8);
    expect(t.call("lseek", fd, 0, 0)).toBe(0);
    const a = t.alloc(4);
    expect(
      t.call(
        "readv",
        fd,
        iovecs(t, [
          [a, 4],
          [BAD, 4],
        ]),
        2,
      ),
    ).toBe(4);
    expect(Buffer.from(t.mem.read(a, 4)).toString()).toBe("abcd");
    expect(t.call("lseek", fd, 0, 1)).toBe(4);
    expect(
      t.call(
        "readv",
        fd,
        iovecs(t, [
          [BAD, 4],
          [a, 4],
        ]),
        2,
      ),
    ).toBe(EFAULT);
    expect(t.call("lseek", fd, 0, 1)).toBe(4);
    expect(
      t.call(
        "preadv",
        fd,
        iovecs(t, [
          [a, 2],
          [BAD, 4],
        ]),
        2,
        6,
      ),
    ).toBe(2);
    expect(Buffer.from(t.mem.read(a, 2)).toString()).toBe("gh");
  });
  it("writev writes the segments before the bad one", () => {
    const t = new FsHarness();
    const fd = t.open("/g", O_RDWR | O_CREAT);
    const s = t.str("12345");
    expect(
      t.call(
        "writev",
        fd,
        iovecs(t, [
          [s, 5],
          [BAD, 4],
        ]),
        2,
      ),
    ).toBe(5);
    expect(
      t.call(
        "writev",
        fd,
        iovecs(t, [
          [BAD, 4],
          [s, 5],
        ]),
        2,
      ),
    ).toBe(EFAULT);
    // A large vector takes the segment-by-segment path.
    const big = t.alloc(70000);
    expect(
      t.call(
        "writev",
        fd,
        iovecs(t, [
          [big, 70000],
          [BAD, 4],
        ]),
        2,
      ),
    ).toBe(70000);
    expect(t.call("lseek", fd, 0, 2)).toBe(70005);
  });
});

describe("readv stops at a bad segment where memory is copied (seccomp)", () => {
  it("returns what it read before the bad segment", () => {
    const mem = new FakeMemory(MEM_BASE, MEM_SIZE);
    Object.defineProperty(mem, "aliases", { value: false });
    const t = new FsHarness({}, {}, mem);
    const fd = t.open("/f", O_RDWR | O_CREAT);
    expect(t.write(fd, "abcdefgh")).toBe(8);
    expect(t.call("lseek", fd, 0, 0)).toBe(0);
    const a = t.alloc(4);
    expect(
      t.call(
        "readv",
        fd,
        iovecs(t, [
          [a, 4],
          [BAD, 4],
        ]),
        2,
      ),
    ).toBe(4);
    expect(Buffer.from(t.mem.read(a, 4)).toString()).toBe("abcd");
    expect(
      t.call(
        "readv",
        fd,
        iovecs(t, [
          [BAD, 4],
          [a, 4],
        ]),
        2,
      ),
    ).toBe(EFAULT);
  });
});
