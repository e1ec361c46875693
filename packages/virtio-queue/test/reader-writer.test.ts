import { MockSplitQueue, Reader, ReaderWriter, readerWriter, VIRTQ_DESC_F_WRITE, Writer } from "@kindling/virtio-queue";
import { codecs, GuestMemoryMmap } from "@kindling/vm-memory";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";

const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: 0x100000 }], { dirtyTracking: true });
afterAll(() => mem.close());

function chainOf(lens: number[], write: boolean) {
  mem.getBytes(0, 0x100000).fill(0);
  const mock = new MockSplitQueue(mem, 0x1000, 16);
  const q = mock.createQueue();
  const descs = lens.map((len, i) => ({ addr: 0x10000 + i * 0x1000, len, flags: write ? VIRTQ_DESC_F_WRITE : 0 }));
  descs.forEach((d, i) => {
    const b = mem.getBytes(d.addr, d.len);
    for (let j = 0; j < b.length; j++) b[j] = (i * 31 + j) & 0xff;
  });
  mock.addChain(descs);
  return { chain: q.popDescriptorChain(mem)!, descs };
}

function expectedBytes(descs: Array<{ addr: number; len: number }>): Uint8Array {
  const parts = descs.map((d) => mem.getBytes(d.addr, d.len).slice());
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe("Reader", () => {
  it("splitAt, consume and reads see the chain's bytes in order (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(40), { minLength: 1, maxLength: 5 }),
        fc.nat(250),
        fc.nat(20),
        fc.nat(7),
        (lens, splitRaw, skip, chunk) => {
          const { chain, descs } = chainOf(lens, false);
          const all = expectedBytes(descs);
          const r = new Reader(mem, chain);
          expect(r.availableBytes()).toBe(all.length);
          const skipped = r.consume(skip);
          expect(skipped).toBe(Math.min(skip, all.length));
          const at = Math.min(splitRaw, r.availableBytes());
          const tail = r.splitAt(at);
          expect(r.availableBytes()).toBe(at);
          expect(tail.availableBytes()).toBe(all.length - skipped - at);
          const got: number[] = [];
          const buf = new Uint8Array(chunk + 1);
          for (const part of [r, tail]) {
            for (let n = part.read(buf); n > 0; n = part.read(buf)) got.push(...buf.subarray(0, n));
            expect(part.availableBytes()).toBe(0);
          }
          expect(got).toEqual([...all.subarray(skipped)]);
          expect(() => r.splitAt(1)).toThrowError(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
        },
      ),
    );
  });

  it("readObj across buffer boundaries", () => {
    const { chain } = chainOf([3, 5], false);
    const r = new Reader(mem, chain);
    expect(r.readU8()).toBe(0);
    const v = r.readObj(codecs.u32); // bytes 1,2 of buffer 0 then 0,1 of buffer 1
    expect(v).toBe((1 | (2 << 8) | (31 << 16) | (32 << 24)) >>> 0);
    expect(r.views().map((b) => b.length)).toEqual([3]);
  });
});

describe("Writer", () => {
  it("writes land in the chain's writable buffers in order and mark them dirty (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(40), { minLength: 1, maxLength: 5 }),
        fc.nat(250),
        fc.uint8Array({ maxLength: 300 }),
        (lens, splitRaw, data) => {
          const { chain, descs } = chainOf(lens, true);
          mem.resetDirty();
          const w = new Writer(mem, chain);
          const total = w.availableBytes();
          const at = Math.min(splitRaw, total);
          const tail = w.splitAt(at);
          const n1 = w.write(data);
          const n2 = tail.write(data.subarray(n1));
          expect(n1).toBe(Math.min(at, data.length));
          expect(n1 + n2).toBe(Math.min(total, data.length));
          expect(w.bytesWritten() + tail.bytesWritten()).toBe(n1 + n2);
          const all = expectedBytes(descs);
          expect([...all.subarray(0, n1 + n2)]).toEqual([...data.subarray(0, n1 + n2)]);
          if (n1 + n2 > 0) expect(mem.dirtyPages().length).toBeGreaterThan(0);
          if (data.length > total) {
            expect(() => tail.writeAll(data)).toThrowError(expect.objectContaining({ code: "UNEXPECTED_EOF" }));
          }
        },
      ),
    );
  });

  it("writeObj across buffer boundaries and readerWriter split", () => {
    mem.getBytes(0, 0x100000).fill(0);
    const mock = new MockSplitQueue(mem, 0x1000, 16);
    const q = mock.createQueue();
    mock.addChain([
      { addr: 0x10000, len: 2 },
      { addr: 0x20000, len: 3, flags: VIRTQ_DESC_F_WRITE },
      { addr: 0x30000, len: 5, flags: VIRTQ_DESC_F_WRITE },
    ]);
    const [r, w] = readerWriter(mem, q.popDescriptorChain(mem)!);
    expect(r.availableBytes()).toBe(2);
    expect(w.availableBytes()).toBe(8);
    w.writeObj(0x0807060504030201n, codecs.u64);
    expect([...mem.getBytes(0x20000, 3)]).toEqual([1, 2, 3]);
    expect([...mem.getBytes(0x30000, 5)]).toEqual([4, 5, 6, 7, 8]);
    expect(w.availableBytes()).toBe(0);
  });
});

describe("fd I/O straight between files and the chain", () => {
  it("Writer.readFrom and Reader.writeTo", async () => {
    const { mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = mkdtempSync(join(tmpdir(), "virtio-queue-"));
    try {
      const src = join(dir, "src");
      writeFileSync(src, Buffer.from("0123456789abcdef"));
      const fd = openSync(src, "r+");
      try {
        const w = chainOf([5, 7], true);
        const writer = new Writer(mem, w.chain);
        expect(writer.readFrom(fd, 100, 2)).toBe(12);
        expect(Buffer.from(expectedBytes(w.descs)).toString()).toBe("23456789abcd");
        const r = chainOf([4, 4], false);
        mem.writeSlice(Buffer.from("WXYZ"), r.descs[0].addr);
        mem.writeSlice(Buffer.from("wxyz"), r.descs[1].addr);
        const reader = new Reader(mem, r.chain);
        reader.consume(2);
        expect(reader.writeTo(fd, 5, 16)).toBe(5);
        expect(readFileSync(src).toString()).toBe("0123456789abcdefYZwxy");
      } finally {
        closeSync(fd);
      }
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe("ReaderWriter", () => {
  it("reuses one pair across chains of different shapes", () => {
    mem.getBytes(0, 0x100000).fill(0);
    const mock = new MockSplitQueue(mem, 0x1000, 16);
    const q = mock.createQueue();
    const rw = new ReaderWriter();
    mem.writeSlice(Uint8Array.of(1, 2, 3, 4, 5, 6), 0x10000);
    mock.addChain([
      { addr: 0x10000, len: 2 },
      { addr: 0x10002, len: 4 },
      { addr: 0x20000, len: 8, flags: VIRTQ_DESC_F_WRITE },
    ]);
    mock.addChain([{ addr: 0x10004, len: 2 }]);
    mock.addChain([{ addr: 0x1_0000_0000n, len: 2 }]);
    rw.load(mem, q.popDescriptorChain(mem)!);
    expect(rw.reader.availableBytes()).toBe(6);
    expect(rw.reader.readU32()).toBe(0x04030201);
    expect(rw.writer.availableBytes()).toBe(8);
    rw.writer.writeU64(9n);
    rw.load(mem, q.popDescriptorChain(mem)!);
    expect(rw.reader.availableBytes()).toBe(2);
    expect(rw.reader.readU16()).toBe(0x0605);
    expect(rw.reader.views()).toEqual([]);
    expect(rw.writer.availableBytes()).toBe(0);
    expect(() => rw.load(mem, q.popDescriptorChain(mem)!)).toThrowError(
      expect.objectContaining({ code: "INVALID_BUFFER" }),
    );
    expect(mem.readU64(0x20000)).toBe(9n);
  });
});
