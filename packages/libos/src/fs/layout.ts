// Byte layouts of x86-64 Linux: struct stat (asm/stat.h), struct statx
// (uapi/linux/stat.h), struct linux_dirent64, struct pollfd, struct timespec.

import { fileTypeToDt, STATX_BASIC_STATS, STATX_BTIME } from "./constants.js";
import type { DirEntry, Stat } from "./types.js";

export const STAT_SIZE = 144;
export const STATX_STRUCT_SIZE = 256;

/** dev_t → major (glibc's gnu_dev_major). */
export function devMajor(dev: number): number {
  return ((dev >>> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
}
/** dev_t → minor. */
export function devMinor(dev: number): number {
  return (dev & 0xff) | ((dev >>> 12) & ~0xff & 0xfffff);
}
/** (major, minor) → userspace dev_t (new_encode_dev for values below 2^32). */
export function makeDev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/** Encodes struct stat into `dv` at `off`. */
export function encodeStat(st: Stat, dv: DataView, off = 0): void {
  dv.setBigUint64(off + 0, BigInt(st.dev), true);
  dv.setBigUint64(off + 8, BigInt(st.ino), true);
  dv.setBigUint64(off + 16, BigInt(st.nlink), true);
  dv.setUint32(off + 24, st.mode >>> 0, true);
  dv.setUint32(off + 28, st.uid >>> 0, true);
  dv.setUint32(off + 32, st.gid >>> 0, true);
  dv.setUint32(off + 36, 0, true);
  dv.setBigUint64(off + 40, BigInt(st.rdev), true);
  dv.setBigInt64(off + 48, BigInt(st.size), true);
  dv.setBigInt64(off + 56, BigInt(st.blksize), true);
  dv.setBigInt64(off + 64, BigInt(st.blocks), true);
  dv.setBigInt64(off + 72, BigInt(st.atimeSec), true);
  dv.setBigUint64(off + 80, BigInt(st.atimeNsec), true);
  dv.setBigInt64(off + 88, BigInt(st.mtimeSec), true);
  dv.setBigUint64(off + 96, BigInt(st.mtimeNsec), true);
  dv.setBigInt64(off + 104, BigInt(st.ctimeSec), true);
  dv.setBigUint64(off + 112, BigInt(st.ctimeNsec), true);
  dv.setBigInt64(off + 120, 0n, true);
  dv.setBigInt64(off + 128, 0n, true);
  dv.setBigInt64(off + 136, 0n, true);
}

export function decodeStat(dv: DataView, off = 0): Stat {
  const n = (o: number) => Number(dv.getBigInt64(off + o, true));
  return {
    dev: Number(dv.getBigUint64(off, true)),
    ino: Number(dv.getBigUint64(off + 8, true)),
    nlink: n(16),
    mode: dv.getUint32(off + 24, true),
    uid: dv.getUint32(off + 28, true),
    gid: dv.getUint32(off + 32, true),
    rdev: Number(dv.getBigUint64(off + 40, true)),
    size: n(48),
    blksize: n(56),
    blocks: n(64),
    atimeSec: n(72),
    atimeNsec: n(80),
    mtimeSec: n(88),
    mtimeNsec: n(96),
    ctimeSec: n(104),
    ctimeNsec: n(112),
  };
}

function putTs(dv: DataView, off: number, sec: number, nsec: number): void {
  dv.setBigInt64(off, BigInt(sec), true);
  dv.setUint32(off + 8, nsec >>> 0, true);
  dv.setInt32(off + 12, 0, true);
}

/** Encodes struct statx (256 bytes); `mask` is what the caller asked for, reported as what we fill. */
export function encodeStatx(st: Stat, dv: DataView, off = 0, mountId = 0): void {
  for (let i = 0; i < STATX_STRUCT_SIZE; i += 8) dv.setBigUint64(off + i, 0n, true);
  const hasB = st.btimeSec !== undefined;
  dv.setUint32(off + 0, STATX_BASIC_STATS | (hasB ? STATX_BTIME : 0) | 0x1000 /* STATX_MNT_ID */, true);
  dv.setUint32(off + 4, st.blksize >>> 0, true);
  dv.setUint32(off + 16, st.nlink >>> 0, true);
  dv.setUint32(off + 20, st.uid >>> 0, true);
  dv.setUint32(off + 24, st.gid >>> 0, true);
  dv.setUint16(off + 28, st.mode & 0xffff, true);
  dv.setBigUint64(off + 32, BigInt(st.ino), true);
  dv.setBigUint64(off + 40, BigInt(st.size), true);
  dv.setBigUint64(off + 48, BigInt(st.blocks), true);
  putTs(dv, off + 64, st.atimeSec, st.atimeNsec);
  if (hasB) putTs(dv, off + 80, st.btimeSec ?? 0, st.btimeNsec ?? 0);
  putTs(dv, off + 96, st.ctimeSec, st.ctimeNsec);
  putTs(dv, off + 112, st.mtimeSec, st.mtimeNsec);
  dv.setUint32(off + 128, devMajor(st.rdev), true);
  dv.setUint32(off + 132, devMinor(st.rdev), true);
  dv.setUint32(off + 136, devMajor(st.dev), true);
  dv.setUint32(off + 140, devMinor(st.dev), true);
  dv.setBigUint64(off + 144, BigInt(mountId), true);
}

export function decodeStatx(dv: DataView, off = 0): Stat & { mask: number } {
  const ts = (o: number): [number, number] => [Number(dv.getBigInt64(off + o, true)), dv.getUint32(off + o + 8, true)];
  const [as, an] = ts(64);
  const [bs, bn] = ts(80);
  const [cs, cn] = ts(96);
  const [ms, mn] = ts(112);
  const mask = dv.getUint32(off, true);
  const st: Stat & { mask: number } = {
    mask,
    blksize: dv.getUint32(off + 4, true),
    nlink: dv.getUint32(off + 16, true),
    uid: dv.getUint32(off + 20, true),
    gid: dv.getUint32(off + 24, true),
    mode: dv.getUint16(off + 28, true),
    ino: Number(dv.getBigUint64(off + 32, true)),
    size: Number(dv.getBigUint64(off + 40, true)),
    blocks: Number(dv.getBigUint64(off + 48, true)),
    atimeSec: as,
    atimeNsec: an,
    ctimeSec: cs,
    ctimeNsec: cn,
    mtimeSec: ms,
    mtimeNsec: mn,
    rdev: makeDev(dv.getUint32(off + 128, true), dv.getUint32(off + 132, true)),
    dev: makeDev(dv.getUint32(off + 136, true), dv.getUint32(off + 140, true)),
  };
  if (mask & STATX_BTIME) {
    st.btimeSec = bs;
    st.btimeNsec = bn;
  }
  return st;
}

/** The record length of a linux_dirent64 for a name of `nameLen` bytes. */
export function direntReclen(nameLen: number): number {
  return (19 + nameLen + 1 + 7) & ~7;
}

/**
 * Packs directory entries from index `start` into `buf` as linux_dirent64
 * records; d_off is the index of the next entry. Returns [bytes, next index].
 */
export function packDirents(entries: readonly DirEntry[], start: number, buf: Uint8Array): [number, number] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  let i = start;
  for (; i < entries.length; i++) {
    const e = entries[i];
    const reclen = direntReclen(e.name.length);
    if (pos + reclen > buf.byteLength) break;
    dv.setBigUint64(pos, BigInt(e.ino), true);
    dv.setBigInt64(pos + 8, BigInt(i + 1), true);
    dv.setUint16(pos + 16, reclen, true);
    dv.setUint8(pos + 18, fileTypeToDt(e.type));
    for (let j = 0; j < e.name.length; j++) buf[pos + 19 + j] = e.name.charCodeAt(j);
    buf.fill(0, pos + 19 + e.name.length, pos + reclen);
    pos += reclen;
  }
  return [pos, i];
}

/** Parses linux_dirent64 records (used on host getdents64 output). */
export function parseDirents(buf: Uint8Array, len: number): DirEntry[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, len);
  const out: DirEntry[] = [];
  let pos = 0;
  while (pos + 19 <= len) {
    const reclen = dv.getUint16(pos + 16, true);
    if (reclen < 20 || pos + reclen > len) break;
    let end = pos + 19;
    while (end < pos + reclen && buf[end] !== 0) end++;
    const name = latin1(buf.subarray(pos + 19, end));
    const dt = dv.getUint8(pos + 18);
    out.push({ name, ino: Number(dv.getBigUint64(pos, true)), type: (dt << 12) & 0o170000 });
    pos += reclen;
  }
  return out;
}

/** Bytes → binary string. */
export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}
/** Binary string → bytes. */
export function bytesOf(s: string): Uint8Array {
  return Buffer.from(s, "latin1");
}
/** Binary string + NUL → bytes (a C string for a host syscall). */
export function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, "latin1");
}

export const STATFS_SIZE = 120;
/** statfs f_flags bits (include/linux/statfs.h). */
export const ST_RDONLY = 0x0001;
export const ST_NOSUID = 0x0002;
export const ST_NODEV = 0x0004;
export const ST_VALID = 0x0020;
export const ST_RELATIME = 0x1000;

/** Encodes struct statfs (x86-64, 120 bytes). */
export function encodeStatfs(
  s: {
    type: number;
    bsize: number;
    blocks: number;
    bfree: number;
    bavail: number;
    files: number;
    ffree: number;
    namelen: number;
  },
  fsid: number,
  flags: number,
  dv: DataView,
  off = 0,
): void {
  const put = (o: number, v: number) => dv.setBigInt64(off + o, BigInt(Math.trunc(v)), true);
  put(0, s.type);
  put(8, s.bsize);
  put(16, s.blocks);
  put(24, s.bfree);
  put(32, s.bavail);
  put(40, s.files);
  put(48, s.ffree);
  dv.setUint32(off + 56, fsid >>> 0, true);
  dv.setUint32(off + 60, 0, true);
  put(64, s.namelen);
  put(72, s.bsize);
  put(80, flags);
  for (let i = 88; i < 120; i += 8) put(i, 0);
}
