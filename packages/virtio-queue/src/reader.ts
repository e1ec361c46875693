import type { ByteCodec, GuestMemoryMmap, GuestMemoryRegion } from "@kindling/vm-memory";
import type { DescriptorChain } from "./chain.js";
import { VIRTQ_DESC_F_WRITE } from "./descriptor.js";
import { VirtioQueueError } from "./errors.js";

/** The buffers of one direction of a chain: parallel arrays of (region, offset in region, length). */
const NO_REGIONS: GuestMemoryRegion[] = [];
const NO_NUMBERS: number[] = [];

export class ChainBuffers {
  // Start as shared empty arrays (never written): a direction without buffers allocates nothing.
  regions: GuestMemoryRegion[] = NO_REGIONS;
  offs: number[] = NO_NUMBERS;
  lens: number[] = NO_NUMBERS;
  /** Buffers in use (the arrays may be longer: they keep their capacity across clear()). */
  n = 0;
  /** Current buffer and position in it. */
  idx = 0;
  pos = 0;
  /** Bytes left / bytes done. */
  left = 0;
  done = 0;

  /** Bytes still available. */
  availableBytes(): number {
    return this.left;
  }
  /** Skips up to `n` bytes; returns the count skipped. */
  consume(n: number): number {
    let want = Math.min(n, this.left);
    const total = want;
    while (want > 0) {
      const k = Math.min(want, this.lens[this.idx] - this.pos);
      this.step(k);
      want -= k;
    }
    return total;
  }
  /** The remaining buffers as raw views, in order (no copy). */
  views(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = this.idx; i < this.n; i++) {
      const from = this.offs[i] + (i === this.idx ? this.pos : 0);
      out.push(this.regions[i].bytes.subarray(from, this.offs[i] + this.lens[i]));
    }
    return out;
  }

  /** Empties the list (keeping the arrays' capacity) for reuse with another chain. */
  clear(): void {
    this.n = 0;
    this.idx = 0;
    this.pos = 0;
    this.left = 0;
    this.done = 0;
  }

  add(mem: GuestMemoryMmap, addr: number, len: number): void {
    if (len === 0) return;
    const r = mem.regionForRange(addr, len);
    if (r === undefined) {
      throw new VirtioQueueError(
        "INVALID_BUFFER",
        `buffer [0x${addr.toString(16)}, +${len}) is not inside one guest memory region`,
      );
    }
    this.#push(r, addr - r.startN, len);
    this.left += len;
  }

  #push(r: GuestMemoryRegion, off: number, len: number): void {
    const i = this.n++;
    if (i < this.regions.length) {
      this.regions[i] = r;
      this.offs[i] = off;
      this.lens[i] = len;
    } else if (i === 0) {
      this.regions = [r];
      this.offs = [off];
      this.lens = [len];
    } else {
      this.regions.push(r);
      this.offs.push(off);
      this.lens.push(len);
    }
  }

  /** Copies up to `n` bytes between the buffers and `buf[at..]`; returns the count. */
  copy(buf: Uint8Array, at: number, n: number, toGuest: boolean): number {
    let want = Math.min(n, this.left);
    const total = want;
    while (want > 0) {
      const r = this.regions[this.idx];
      const start = this.offs[this.idx] + this.pos;
      const k = Math.min(want, this.lens[this.idx] - this.pos);
      if (toGuest) {
        r.bytes.set(k === buf.byteLength && at === 0 ? buf : buf.subarray(at, at + k), start);
        r.bitmap?.mark(start, k);
      } else {
        buf.set(r.bytes.subarray(start, start + k), at);
      }
      at += k;
      want -= k;
      this.step(k);
    }
    return total;
  }

  step(k: number): void {
    this.pos += k;
    this.left -= k;
    this.done += k;
    if (this.pos === this.lens[this.idx]) {
      this.idx++;
      this.pos = 0;
    }
  }

  /** Moves everything after `offset` bytes from the current position into `other` (empty). */
  protected splitInto(offset: number, other: ChainBuffers): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.left) {
      throw new VirtioQueueError("INVALID_ARGUMENT", `split at ${offset} is beyond the ${this.left} bytes available`);
    }
    let skip = offset;
    let i = this.idx;
    let p = this.pos;
    while (i < this.n && skip >= this.lens[i] - p) {
      skip -= this.lens[i] - p;
      i++;
      p = 0;
    }
    p += skip;
    // `other` gets [i, p..] onward; this keeps up to there.
    for (let j = i; j < this.n; j++) {
      const from = j === i ? p : 0;
      if (this.lens[j] - from === 0) continue;
      other.#push(this.regions[j], this.offs[j] + from, this.lens[j] - from);
      other.left += this.lens[j] - from;
    }
    this.n = i + (p > 0 ? 1 : 0);
    if (p > 0) this.lens[i] = p;
    this.left = offset;
  }
}

function eof(what: string, want: number, have: number): VirtioQueueError {
  return new VirtioQueueError("UNEXPECTED_EOF", `${what}: ${want} bytes wanted, ${have} left in the chain`);
}

function chainError(chain: DescriptorChain): VirtioQueueError {
  return new VirtioQueueError(chain.error!, `descriptor chain ${chain.headIndex} is malformed: ${chain.error}`);
}

/** Walks a chain once and builds the device-readable and device-writable buffer lists. */
function collect(
  mem: GuestMemoryMmap,
  chain: DescriptorChain,
  readable: ChainBuffers | null,
  writable: ChainBuffers | null,
) {
  while (chain.advance()) {
    const target = (chain.flags & VIRTQ_DESC_F_WRITE) !== 0 ? writable : readable;
    if (target !== null) target.add(mem, chain.addrHi * 4294967296 + chain.addrLo, chain.len);
  }
  if (chain.error !== undefined) throw chainError(chain);
}

/**
 * The device-readable side of a chain as one stream. Every buffer was checked
 * to lie inside one guest memory region when the reader was built.
 */
export class Reader extends ChainBuffers {
  /** Over the chain's device-readable descriptors (consumes the chain); without arguments, empty. */
  constructor(mem?: GuestMemoryMmap, chain?: DescriptorChain) {
    super();
    if (mem !== undefined && chain !== undefined) collect(mem, chain, this, null);
  }

  bytesRead(): number {
    return this.done;
  }
  /** Copies up to buf.length bytes; returns the count. */
  read(buf: Uint8Array): number {
    return this.copy(buf, 0, buf.byteLength, false);
  }
  /** Fills `buf` or throws UNEXPECTED_EOF (consuming nothing). */
  readExact(buf: Uint8Array): void {
    if (buf.byteLength > this.left) throw eof("readExact", buf.byteLength, this.left);
    this.copy(buf, 0, buf.byteLength, false);
  }
  readObj<T>(codec: ByteCodec<T>): T {
    if (codec.size > this.left) throw eof("readObj", codec.size, this.left);
    const i = this.idx;
    if (codec.size <= this.lens[i] - this.pos) {
      const v = codec.decode(this.regions[i].view, this.offs[i] + this.pos);
      this.step(codec.size);
      return v;
    }
    const tmp = new Uint8Array(codec.size);
    this.copy(tmp, 0, codec.size, false);
    return codec.decode(new DataView(tmp.buffer), 0);
  }
  readU8(): number {
    if (this.left < 1) throw eof("readU8", 1, 0);
    const v = this.regions[this.idx].bytes[this.offs[this.idx] + this.pos];
    this.step(1);
    return v;
  }
  readU16(): number {
    return this.readObj(U16);
  }
  readU32(): number {
    return this.readObj(U32);
  }
  readU64(): bigint {
    return this.readObj(U64);
  }
  /** Splits off everything after `offset` bytes into a new Reader; this one keeps the first `offset`. */
  splitAt(offset: number): Reader {
    const r = new Reader();
    this.splitInto(offset, r);
    return r;
  }
  /** pwrite(2)s up to `count` bytes of the chain straight from guest memory to `fd`; returns bytes written. */
  writeTo(fd: number, count: number, position: number | bigint = -1): number {
    let want = Math.min(count, this.left);
    let done = 0;
    let pos = BigInt(position);
    while (want > 0) {
      const k = Math.min(want, this.lens[this.idx] - this.pos);
      const n = this.regions[this.idx].writeTo(fd, this.offs[this.idx] + this.pos, k, pos);
      this.step(n);
      done += n;
      want -= n;
      if (pos >= 0n) pos += BigInt(n);
      if (n < k) break;
    }
    return done;
  }
}

/** The device-writable side of a chain as one stream. Writes mark the regions' dirty bitmaps. */
export class Writer extends ChainBuffers {
  /** Over the chain's device-writable descriptors (consumes the chain); without arguments, empty. */
  constructor(mem?: GuestMemoryMmap, chain?: DescriptorChain) {
    super();
    if (mem !== undefined && chain !== undefined) collect(mem, chain, null, this);
  }

  bytesWritten(): number {
    return this.done;
  }
  /** Copies up to buf.length bytes into the chain; returns the count. */
  write(buf: Uint8Array): number {
    return this.copy(buf, 0, buf.byteLength, true);
  }
  /** Writes all of `buf` or throws UNEXPECTED_EOF (writing nothing). */
  writeAll(buf: Uint8Array): void {
    if (buf.byteLength > this.left) throw eof("writeAll", buf.byteLength, this.left);
    this.copy(buf, 0, buf.byteLength, true);
  }
  writeObj<T>(value: T, codec: ByteCodec<T>): void {
    if (codec.size > this.left) throw eof("writeObj", codec.size, this.left);
    const i = this.idx;
    if (codec.size <= this.lens[i] - this.pos) {
      const off = this.offs[i] + this.pos;
      codec.encode(value, this.regions[i].view, off);
      this.regions[i].bitmap?.mark(off, codec.size);
      this.step(codec.size);
      return;
    }
    const tmp = new Uint8Array(codec.size);
    codec.encode(value, new DataView(tmp.buffer), 0);
    this.copy(tmp, 0, codec.size, true);
  }
  writeU8(value: number): void {
    if (this.left < 1) throw eof("writeU8", 1, 0);
    const off = this.offs[this.idx] + this.pos;
    this.regions[this.idx].bytes[off] = value;
    this.regions[this.idx].bitmap?.mark(off, 1);
    this.step(1);
  }
  writeU16(value: number): void {
    this.writeObj(value, U16);
  }
  writeU32(value: number): void {
    this.writeObj(value, U32);
  }
  writeU64(value: bigint): void {
    this.writeObj(value, U64);
  }
  splitAt(offset: number): Writer {
    const w = new Writer();
    this.splitInto(offset, w);
    return w;
  }
  /** pread(2)s up to `count` bytes from `fd` straight into the chain's buffers; returns bytes read. */
  readFrom(fd: number, count: number, position: number | bigint = -1): number {
    let want = Math.min(count, this.left);
    let done = 0;
    let pos = BigInt(position);
    while (want > 0) {
      const k = Math.min(want, this.lens[this.idx] - this.pos);
      const off = this.offs[this.idx] + this.pos;
      const n = this.regions[this.idx].readFrom(fd, off, k, pos);
      this.step(n);
      done += n;
      want -= n;
      if (pos >= 0n) pos += BigInt(n);
      if (n < k) break;
    }
    return done;
  }
}

/** Builds the Reader and the Writer of a chain in one walk (consumes the chain). */
export function readerWriter(mem: GuestMemoryMmap, chain: DescriptorChain): [Reader, Writer] {
  const r = new Reader();
  const w = new Writer();
  collect(mem, chain, r, w);
  return [r, w];
}

const U16: ByteCodec<number> = {
  size: 2,
  decode: (v, o) => v.getUint16(o, true),
  encode: (x, v, o) => v.setUint16(o, x, true),
};
const U32: ByteCodec<number> = {
  size: 4,
  decode: (v, o) => v.getUint32(o, true),
  encode: (x, v, o) => v.setUint32(o, x, true),
};
const U64: ByteCodec<bigint> = {
  size: 8,
  decode: (v, o) => v.getBigUint64(o, true),
  encode: (x, v, o) => v.setBigUint64(o, BigInt.asUintN(64, x), true),
};

/**
 * A reusable Reader/Writer pair: `load(mem, chain)` walks a chain once and
 * points `reader` and `writer` at its buffers, reusing the same objects and
 * arrays for every chain (no allocation per chain once warm). A loaded pair
 * is valid until the next `load`.
 */
export class ReaderWriter {
  readonly reader = new Reader();
  readonly writer = new Writer();

  /** Walks `chain` (consuming it); throws like readerWriter. */
  load(mem: GuestMemoryMmap, chain: DescriptorChain): this {
    this.reader.clear();
    this.writer.clear();
    collect(mem, chain, this.reader, this.writer);
    return this;
  }
}
