// File system calls: open/close/read/write and friends, stat, directories,
// links, attributes, dup/fcntl/ioctl. Pipes and poll/select live in
// files-pipes.ts and files-poll.ts.
//
// Every handler returns rax (>= 0 or -errno). VFS errors (FsError) become
// -errno here; a MemoryFault escapes to the dispatcher, which answers -EFAULT.

import { MemoryFault, type ProgramMemory, type SyscallEvent, type TaskControl } from "@kindling/syscall-tap";
import { define, type Handler, type Outcome, type SyscallModule, type SyscallTable } from "../dispatch.js";
import {
  EBADF,
  EFAULT,
  EINVAL,
  EISDIR,
  ENAMETOOLONG,
  ENODEV,
  ENOENT,
  ENOTDIR,
  EOPNOTSUPP,
  EPIPE,
  ERANGE,
  ESPIPE,
} from "../errno.js";
import {
  AT_EACCESS,
  AT_EMPTY_PATH,
  AT_FDCWD,
  AT_NO_AUTOMOUNT,
  AT_REMOVEDIR,
  AT_STATX_SYNC_TYPE,
  AT_SYMLINK_FOLLOW,
  AT_SYMLINK_NOFOLLOW,
  F_DUPFD,
  F_DUPFD_CLOEXEC,
  F_GETFD,
  F_GETFL,
  F_GETLK,
  F_GETPIPE_SZ,
  F_SETFD,
  F_SETFL,
  F_SETLK,
  F_SETLKW,
  F_SETPIPE_SZ,
  FD_CLOEXEC,
  FIOCLEX,
  FIONBIO,
  FIONCLEX,
  FIONREAD,
  MAX_RW_COUNT,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_LARGEFILE,
  O_NONBLOCK,
  O_PATH,
  O_TRUNC,
  O_WRONLY,
  PATH_MAX,
  POLLERR,
  POLLHUP,
  POLLIN,
  SETFL_MASK,
  STATX__RESERVED,
  UTIME_NOW,
  UTIME_OMIT,
} from "../fs/constants.js";
import {
  encodeStat,
  encodeStatfs,
  encodeStatx,
  latin1,
  packDirents,
  ST_NODEV,
  ST_NOSUID,
  ST_RDONLY,
  ST_RELATIME,
  ST_VALID,
  STAT_SIZE,
  STATFS_SIZE,
  STATX_STRUCT_SIZE,
} from "../fs/layout.js";
import { PipeEnd } from "../fs/pipe.js";
import type { SandboxFs } from "../fs/sandbox-fs.js";
import { HostStreamDescription } from "../fs/stdio.js";
import { DirectoryDescription, errnoOf, type FileDescription, type Stat, type Timespec } from "../fs/types.js";
import { type FsContext, type Loc, PathDescription } from "../fs/vfs.js";
import type { Libos } from "../kernel.js";
import { SIGPIPE } from "../signals.js";
import { waitHostReady } from "./files-poll.js";

// ------------------------------------------------------------------ helpers

export function fsOf(k: Libos): SandboxFs {
  return k.fs as SandboxFs;
}

/** Wraps a handler so VFS errors become -errno (MemoryFault still reaches the dispatcher as EFAULT). */
export function vfsCall(h: Handler): Handler {
  return (k, t, ev, out) => {
    const fs = k.fs as SandboxFs;
    fs.runTask = t;
    fs.runOut = out;
    try {
      return h(k, t, ev, out);
    } catch (e) {
      const errno = errnoOf(e);
      return -errno;
    }
  };
}

class Errno extends Error {
  constructor(readonly errno: number) {
    super(`errno ${errno}`);
  }
}
/** A bad program address: a MemoryFault, or EFAULT from a range check. */
function isFault(e: unknown): boolean {
  return e instanceof MemoryFault || (e instanceof Errno && e.errno === EFAULT);
}
function err(errno: number): never {
  throw new Errno(errno);
}

/** A path argument: NUL-terminated, at most PATH_MAX bytes with the NUL. */
export function readPath(mem: ProgramMemory, addr: number): string {
  if (addr === 0) err(EFAULT);
  const b = mem.readCString(addr, PATH_MAX);
  if (b === null) err(ENAMETOOLONG);
  return latin1(b);
}

/** The start of a relative walk: the cwd, or a directory fd. */
export function startOf(fs: SandboxFs, ctx: FsContext, dirfd: number, path: string): Loc {
  if (path.charCodeAt(0) === 47) return ctx.root;
  if (dirfd === AT_FDCWD) return ctx.cwd;
  const d = fs.fds.get(dirfd);
  if (!d) err(EBADF);
  if (!d.loc) err(ENOTDIR);
  if (path.length > 0 && !d.loc.inode.isDir) err(ENOTDIR);
  return d.loc;
}

function desc(fs: SandboxFs, fd: number): FileDescription {
  const d = fs.fds.get(fd);
  if (!d) err(EBADF);
  return d;
}

/** Signed 64-bit argument as a number (lseek offsets, pread positions). */
function argI64(ev: SyscallEvent, i: number): number {
  const v = ev.arg(i);
  if (v < 2 ** 53) return v;
  return Number(BigInt.asIntN(64, ev.argU64(i)));
}

const BOUNCE_MAX = 1 << 20;

/** Reads from `d` into program memory at `addr` (pos < 0: at the offset). */
export function readInto(d: FileDescription, mem: ProgramMemory, addr: number, count: number, pos = -1): number {
  let len = Math.min(count, MAX_RW_COUNT);
  if (len === 0) return pos < 0 ? d.read(new Uint8Array(0)) : d.pread(new Uint8Array(0), pos);
  if (mem.aliases) {
    const v = mem.view(addr, len);
    return pos < 0 ? d.read(v) : d.pread(v, pos);
  }
  if (!mem.contains(addr, len)) err(EFAULT);
  // Bounce through a bounded buffer; keep reading regular files until short.
  let total = 0;
  const regular = d.inode?.isRegular === true;
  while (len > 0) {
    const chunk = Math.min(len, BOUNCE_MAX);
    const buf = new Uint8Array(chunk);
    const n = pos < 0 ? d.read(buf) : d.pread(buf, pos + total);
    if (n < 0) return total > 0 ? total : n;
    if (n > 0) mem.write(addr + total, buf.subarray(0, n));
    total += n;
    len -= n;
    if (n < chunk || !regular) break;
  }
  return total;
}

/** Writes program memory `[addr, addr+count)` to `d`. */
export function writeFrom(d: FileDescription, mem: ProgramMemory, addr: number, count: number, pos = -1): number {
  let len = Math.min(count, MAX_RW_COUNT);
  if (len === 0) return pos < 0 ? d.write(new Uint8Array(0)) : d.pwrite(new Uint8Array(0), pos);
  if (mem.aliases || len <= BOUNCE_MAX) {
    const v = mem.view(addr, len);
    return pos < 0 ? d.write(v) : d.pwrite(v, pos);
  }
  if (!mem.contains(addr, len)) err(EFAULT);
  let total = 0;
  while (len > 0) {
    const chunk = Math.min(len, BOUNCE_MAX);
    const n = pos < 0 ? d.write(mem.read(addr + total, chunk)) : d.pwrite(mem.read(addr + total, chunk), pos + total);
    if (n < 0) return total > 0 ? total : n;
    total += n;
    len -= n;
    if (n < chunk) break;
  }
  return total;
}

function brokenPipe(k: Libos, t: TaskControl, r: number): number {
  if (r === -EPIPE) {
    // SIGPIPE goes to the writing thread (send_sig to current).
    const task = k.task(t);
    k.signals.raise(task, SIGPIPE, { signo: SIGPIPE, code: 0, pid: k.pid, uid: k.ruid }, task);
  }
  return r;
}

function statOf(d: FileDescription): Stat {
  const st = d.stat();
  if (d.loc) st.dev = d.loc.inode.fs.dev;
  return st;
}

function writeStat(mem: ProgramMemory, addr: number, st: Stat): void {
  const b = new Uint8Array(STAT_SIZE);
  encodeStat(st, new DataView(b.buffer));
  mem.write(addr, b);
}

function readTimespec(mem: ProgramMemory, addr: number): Timespec {
  const b = mem.read(addr, 16);
  const dv = new DataView(b.buffer, b.byteOffset, 16);
  return { sec: Number(dv.getBigInt64(0, true)), nsec: Number(dv.getBigInt64(8, true)) };
}

/** Resolves (dirfd, path, AT_EMPTY_PATH) to a location or a bare description (pipes, stdio). */
function lookupAt(
  fs: SandboxFs,
  t: TaskControl,
  dirfd: number,
  pathAddr: number,
  flags: number,
  follow: boolean,
): { loc: Loc | null; d: FileDescription | null } {
  const ctx = fs.context();
  let path: string;
  if (pathAddr === 0 && flags & AT_EMPTY_PATH) path = "";
  else path = readPath(t.memory, pathAddr);
  if (path.length === 0) {
    if (!(flags & AT_EMPTY_PATH)) err(ENOENT);
    if (dirfd === AT_FDCWD) return { loc: ctx.cwd, d: null };
    const d = desc(fs, dirfd);
    return { loc: d.loc, d };
  }
  const start = startOf(fs, ctx, dirfd, path);
  return { loc: fs.ns.resolve(ctx, start, path, follow), d: null };
}

// ------------------------------------------------------------------ open/close

function doOpen(k: Libos, t: TaskControl, dirfd: number, pathAddr: number, flags: number, mode: number): number {
  const fs = fsOf(k);
  const ctx = fs.context();
  const path = readPath(t.memory, pathAddr);
  if (flags & O_CREAT && flags & O_DIRECTORY) return -EINVAL;
  const start = startOf(fs, ctx, dirfd, path);
  const d = fs.ns.open(ctx, start, path, flags, flags & O_CREAT ? mode & 0o7777 : 0);
  if (!(flags & O_PATH)) d.flags |= O_LARGEFILE;
  return fs.fds.alloc(d, 0, (flags & O_CLOEXEC) !== 0);
}

const open: Handler = (k, t, ev) => doOpen(k, t, AT_FDCWD, ev.arg(0), ev.argI32(1), ev.arg(2));
const openat: Handler = (k, t, ev) => doOpen(k, t, ev.argI32(0), ev.arg(1), ev.argI32(2), ev.arg(3));
const creat: Handler = (k, t, ev) => doOpen(k, t, AT_FDCWD, ev.arg(0), O_CREAT | O_WRONLY | O_TRUNC, ev.arg(1));

const close: Handler = (k, _t, ev) => fsOf(k).fds.close(ev.argI32(0));

const closeRange: Handler = (k, _t, ev) => {
  const fs = fsOf(k);
  const first = ev.arg(0);
  const last = ev.arg(1);
  const flags = ev.arg(2);
  if (flags & ~6 || first > last) return -EINVAL;
  for (const fd of fs.fds.fds()) {
    if (fd < first || fd > last) continue;
    if (flags & 4) fs.fds.setCloexec(fd, true);
    else fs.fds.close(fd);
  }
  return 0;
};

// ------------------------------------------------------------------ read/write

/** A blocking host stream (stdio) that is not ready: wait in the kernel's way first. */
function hostWait(k: Libos, t: TaskControl, out: Outcome, fd: number, d: FileDescription, events: number): number {
  if (!(d instanceof HostStreamDescription) || d.nonblocking) return 0;
  if (d.poll() & (events | POLLHUP | POLLERR)) return 0;
  return waitHostReady(k, t, out, fd, events);
}

const read: Handler = (k, t, ev, out) => {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d?.readable || d instanceof PathDescription) return -EBADF;
  const w = hostWait(k, t, out, ev.argI32(0), d, POLLIN);
  if (w < 0 || out.resume !== 0) return w;
  return readInto(d, t.memory, ev.arg(1), ev.arg(2));
};

const write: Handler = (k, t, ev) => {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d?.writable || d instanceof PathDescription) return -EBADF;
  // Writes to host stdio are not pre-polled: a full host pipe is ordinary
  // backpressure, and every write would pay for a poll(2).
  return brokenPipe(k, t, writeFrom(d, t.memory, ev.arg(1), ev.arg(2)));
};

const pread64: Handler = (k, t, ev) => {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d?.readable || d instanceof PathDescription) return -EBADF;
  const pos = argI64(ev, 3);
  if (pos < 0) return -EINVAL;
  if (d instanceof PipeEnd || d.isTty()) return -ESPIPE;
  return readInto(d, t.memory, ev.arg(1), ev.arg(2), pos);
};

const pwrite64: Handler = (k, t, ev) => {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d?.writable || d instanceof PathDescription) return -EBADF;
  const pos = argI64(ev, 3);
  if (pos < 0) return -EINVAL;
  if (d instanceof PipeEnd || d.isTty()) return -ESPIPE;
  return brokenPipe(k, t, writeFrom(d, t.memory, ev.arg(1), ev.arg(2), pos));
};

const UIO_MAXIOV = 1024;

function readIovecs(mem: ProgramMemory, addr: number, cnt: number): number[] | number {
  if (cnt < 0 || cnt > UIO_MAXIOV) return -EINVAL;
  if (cnt === 0) return [];
  const b = mem.read(addr, cnt * 16);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: number[] = [];
  let total = 0n;
  for (let i = 0; i < cnt; i++) {
    const base = dv.getBigUint64(i * 16, true);
    const len = dv.getBigUint64(i * 16 + 8, true);
    if (len > 0x7fffffffffffffffn) return -EINVAL;
    total += len;
    if (total > 0x7fffffffffffffffn) return -EINVAL;
    out.push(Number(base), Number(len));
  }
  return out;
}

function doReadv(k: Libos, t: TaskControl, ev: SyscallEvent, pos: number): number {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d?.readable || d instanceof PathDescription) return -EBADF;
  const iov = readIovecs(t.memory, ev.arg(1), ev.argI32(2));
  if (typeof iov === "number") return iov;
  let total = 0;
  for (let i = 0; i < iov.length; i += 2) {
    const len = Math.min(iov[i + 1], MAX_RW_COUNT - total);
    if (len === 0) continue;
    let n: number;
    try {
      n = readInto(d, t.memory, iov[i], len, pos < 0 ? -1 : pos + total);
    } catch (e) {
      // Like Linux: a segment that cannot be copied to ends the call with what was read before it.
      if (total > 0 && isFault(e)) return total;
      throw e;
    }
    if (n < 0) return total > 0 ? total : n;
    total += n;
    if (n < len || total >= MAX_RW_COUNT) break;
  }
  return total;
}

function doWritev(k: Libos, t: TaskControl, ev: SyscallEvent, pos: number): number {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d?.writable || d instanceof PathDescription) return -EBADF;
  const iov = readIovecs(t.memory, ev.arg(1), ev.argI32(2));
  if (typeof iov === "number") return iov;
  let sum = 0;
  for (let i = 1; i < iov.length; i += 2) sum += iov[i];
  // Small vectors go out as one write: atomic on pipes, one host write for stdout.
  if (sum <= 65536) {
    const buf = new Uint8Array(sum);
    let off = 0;
    for (let i = 0; i < iov.length; i += 2) {
      if (iov[i + 1] === 0) continue;
      try {
        buf.set(t.memory.view(iov[i], iov[i + 1]), off);
      } catch (e) {
        // Like Linux: the segments before one that cannot be read are still written.
        if (off > 0 && isFault(e)) break;
        throw e;
      }
      off += iov[i + 1];
    }
    const data = off === sum ? buf : buf.subarray(0, off);
    return brokenPipe(k, t, pos < 0 ? d.write(data) : d.pwrite(data, pos));
  }
  let total = 0;
  for (let i = 0; i < iov.length; i += 2) {
    const len = Math.min(iov[i + 1], MAX_RW_COUNT - total);
    if (len === 0) continue;
    let n: number;
    try {
      n = writeFrom(d, t.memory, iov[i], len, pos < 0 ? -1 : pos + total);
    } catch (e) {
      if (total > 0 && isFault(e)) return total;
      throw e;
    }
    if (n < 0) return brokenPipe(k, t, total > 0 ? total : n);
    total += n;
    if (n < len || total >= MAX_RW_COUNT) break;
  }
  return total;
}

const readv: Handler = (k, t, ev, out) => {
  const d = fsOf(k).fds.get(ev.argI32(0));
  const w = d ? hostWait(k, t, out, ev.argI32(0), d, POLLIN) : 0;
  if (w < 0 || out.resume !== 0) return w;
  return doReadv(k, t, ev, -1);
};
const writev: Handler = (k, t, ev) => doWritev(k, t, ev, -1);
const preadv: Handler = (k, t, ev) => {
  const pos = argI64(ev, 3);
  return pos < 0 ? -EINVAL : doReadv(k, t, ev, pos);
};
const pwritev: Handler = (k, t, ev) => {
  const pos = argI64(ev, 3);
  return pos < 0 ? -EINVAL : doWritev(k, t, ev, pos);
};

const lseek: Handler = (k, _t, ev) => {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d || d instanceof PathDescription) return -EBADF;
  const whence = ev.arg(2);
  if (whence > 4) return -EINVAL;
  return d.seek(argI64(ev, 1), whence);
};

/** sendfile(out, in, *offset, count): a read/write loop through a bounce buffer. */
const sendfile: Handler = (k, t, ev) => {
  const fs = fsOf(k);
  const out = fs.fds.get(ev.argI32(0));
  const inp = fs.fds.get(ev.argI32(1));
  if (!out || !inp || !out.writable || !inp.readable) return -EBADF;
  if (inp.isDirectory) return -EINVAL;
  const offAddr = ev.arg(2);
  let pos = offAddr ? t.memory.readU64(offAddr) : -1;
  if (offAddr && pos > Number.MAX_SAFE_INTEGER) return -EINVAL;
  let left = Math.min(ev.arg(3), MAX_RW_COUNT);
  let total = 0;
  const buf = new Uint8Array(Math.min(left, 65536));
  while (left > 0) {
    const want = Math.min(left, buf.byteLength);
    const n = pos < 0 ? inp.read(buf.subarray(0, want)) : inp.pread(buf.subarray(0, want), pos);
    if (n < 0) return total > 0 ? total : n;
    if (n === 0) break;
    const w = out.write(buf.subarray(0, n));
    if (w < 0) return brokenPipe(k, t, total > 0 ? total : w);
    total += w;
    if (pos >= 0) pos += w;
    left -= w;
    if (w < n) break;
  }
  if (offAddr) t.memory.writeU64(offAddr, pos);
  return total;
};

// ------------------------------------------------------------------ stat

const fstat: Handler = (k, t, ev) => {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d) return -EBADF;
  writeStat(t.memory, ev.arg(1), statOf(d));
  return 0;
};

function statPath(k: Libos, t: TaskControl, dirfd: number, pathAddr: number, buf: number, flags: number): number {
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH)) return -EINVAL;
  const fs = fsOf(k);
  const r = lookupAt(fs, t, dirfd, pathAddr, flags, !(flags & AT_SYMLINK_NOFOLLOW));
  const st = r.d && (!r.loc || r.d.inode?.isRegular) ? statOf(r.d) : fs.ns.statLoc(r.loc as Loc);
  writeStat(t.memory, buf, st);
  return 0;
}

const stat: Handler = (k, t, ev) => statPath(k, t, AT_FDCWD, ev.arg(0), ev.arg(1), 0);
const lstat: Handler = (k, t, ev) => statPath(k, t, AT_FDCWD, ev.arg(0), ev.arg(1), AT_SYMLINK_NOFOLLOW);
const newfstatat: Handler = (k, t, ev) => statPath(k, t, ev.argI32(0), ev.arg(1), ev.arg(2), ev.argI32(3));

const statx: Handler = (k, t, ev) => {
  const flags = ev.argI32(2);
  const mask = ev.arg(3);
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH | AT_STATX_SYNC_TYPE)) return -EINVAL;
  if ((flags & AT_STATX_SYNC_TYPE) === AT_STATX_SYNC_TYPE) return -EINVAL;
  if (mask & STATX__RESERVED) return -EINVAL;
  const fs = fsOf(k);
  const r = lookupAt(fs, t, ev.argI32(0), ev.arg(1), flags, !(flags & AT_SYMLINK_NOFOLLOW));
  const st = r.d && (!r.loc || r.d.inode?.isRegular) ? statOf(r.d) : fs.ns.statLoc(r.loc as Loc);
  const b = new Uint8Array(STATX_STRUCT_SIZE);
  encodeStatx(st, new DataView(b.buffer), 0, 1);
  t.memory.write(ev.arg(4), b);
  return 0;
};

// ------------------------------------------------------------------ directories

const getdents64: Handler = (k, t, ev) => {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d || d instanceof PathDescription) return -EBADF;
  if (!(d instanceof DirectoryDescription)) return -ENOTDIR;
  const count = Math.min(ev.arg(2), MAX_RW_COUNT);
  const entries = d.entries();
  if (d.offset >= entries.length) {
    if (!t.memory.contains(ev.arg(1), Math.min(count, 1))) return -EFAULT;
    return 0;
  }
  const buf = new Uint8Array(Math.min(count, 65536));
  const [n, next] = packDirents(entries, d.offset, buf);
  if (n === 0) return -EINVAL;
  t.memory.write(ev.arg(1), buf.subarray(0, n));
  d.offset = next;
  return n;
};

const getcwd: Handler = (k, t, ev) => {
  const fs = fsOf(k);
  const path = fs.ns.getcwd(fs.context());
  const size = ev.arg(1);
  if (path.length + 1 > size) return -ERANGE;
  const b = new Uint8Array(path.length + 1);
  for (let i = 0; i < path.length; i++) b[i] = path.charCodeAt(i);
  t.memory.write(ev.arg(0), b);
  return b.byteLength;
};

const chdir: Handler = (k, t, ev) => {
  const fs = fsOf(k);
  const ctx = fs.context();
  const path = readPath(t.memory, ev.arg(0));
  fs.ns.chdir(ctx, startOf(fs, ctx, AT_FDCWD, path), path);
  return 0;
};

const fchdir: Handler = (k, _t, ev) => {
  const fs = fsOf(k);
  const d = fs.fds.get(ev.argI32(0));
  if (!d) return -EBADF;
  if (!d.loc) return -ENOTDIR;
  fs.ns.chdirLoc(fs.context(), d.loc);
  return 0;
};

function mkdirAt(k: Libos, t: TaskControl, dirfd: number, pathAddr: number, mode: number): number {
  const fs = fsOf(k);
  const ctx = fs.context();
  const path = readPath(t.memory, pathAddr);
  fs.ns.mkdir(ctx, startOf(fs, ctx, dirfd, path), path, mode);
  return 0;
}
const mkdir: Handler = (k, t, ev) => mkdirAt(k, t, AT_FDCWD, ev.arg(0), ev.arg(1));
const mkdirat: Handler = (k, t, ev) => mkdirAt(k, t, ev.argI32(0), ev.arg(1), ev.arg(2));

function unlinkAt(k: Libos, t: TaskControl, dirfd: number, pathAddr: number, flags: number): number {
  if (flags & ~AT_REMOVEDIR) return -EINVAL;
  const fs = fsOf(k);
  const ctx = fs.context();
  const path = readPath(t.memory, pathAddr);
  const start = startOf(fs, ctx, dirfd, path);
  if (flags & AT_REMOVEDIR) fs.ns.rmdir(ctx, start, path);
  else fs.ns.unlink(ctx, start, path);
  return 0;
}
const unlink: Handler = (k, t, ev) => unlinkAt(k, t, AT_FDCWD, ev.arg(0), 0);
const rmdir: Handler = (k, t, ev) => unlinkAt(k, t, AT_FDCWD, ev.arg(0), AT_REMOVEDIR);
const unlinkat: Handler = (k, t, ev) => unlinkAt(k, t, ev.argI32(0), ev.arg(1), ev.argI32(2));

function renameAt(
  k: Libos,
  t: TaskControl,
  olddir: number,
  oldAddr: number,
  newdir: number,
  newAddr: number,
  flags: number,
): number {
  const fs = fsOf(k);
  const ctx = fs.context();
  const oldPath = readPath(t.memory, oldAddr);
  const newPath = readPath(t.memory, newAddr);
  fs.ns.rename(
    ctx,
    startOf(fs, ctx, olddir, oldPath),
    oldPath,
    startOf(fs, ctx, newdir, newPath),
    newPath,
    flags >>> 0,
  );
  return 0;
}
const rename: Handler = (k, t, ev) => renameAt(k, t, AT_FDCWD, ev.arg(0), AT_FDCWD, ev.arg(1), 0);
const renameat: Handler = (k, t, ev) => renameAt(k, t, ev.argI32(0), ev.arg(1), ev.argI32(2), ev.arg(3), 0);
const renameat2: Handler = (k, t, ev) => renameAt(k, t, ev.argI32(0), ev.arg(1), ev.argI32(2), ev.arg(3), ev.argI32(4));

function symlinkAt(k: Libos, t: TaskControl, targetAddr: number, dirfd: number, pathAddr: number): number {
  const fs = fsOf(k);
  const ctx = fs.context();
  const target = readPath(t.memory, targetAddr);
  const path = readPath(t.memory, pathAddr);
  fs.ns.symlink(ctx, target, startOf(fs, ctx, dirfd, path), path);
  return 0;
}
const symlink: Handler = (k, t, ev) => symlinkAt(k, t, ev.arg(0), AT_FDCWD, ev.arg(1));
const symlinkat: Handler = (k, t, ev) => symlinkAt(k, t, ev.arg(0), ev.argI32(1), ev.arg(2));

function linkAt(
  k: Libos,
  t: TaskControl,
  olddir: number,
  oldAddr: number,
  newdir: number,
  newAddr: number,
  flags: number,
): number {
  if (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  const fs = fsOf(k);
  const ctx = fs.context();
  const oldPath = readPath(t.memory, oldAddr);
  const newPath = readPath(t.memory, newAddr);
  if (oldPath.length === 0) {
    if (!(flags & AT_EMPTY_PATH)) return -ENOENT;
    return -ENOENT; // linking an fd itself needs CAP_DAC_READ_SEARCH; report as an unlinked source.
  }
  fs.ns.link(
    ctx,
    startOf(fs, ctx, olddir, oldPath),
    oldPath,
    startOf(fs, ctx, newdir, newPath),
    newPath,
    (flags & AT_SYMLINK_FOLLOW) !== 0,
  );
  return 0;
}
const link: Handler = (k, t, ev) => linkAt(k, t, AT_FDCWD, ev.arg(0), AT_FDCWD, ev.arg(1), 0);
const linkat: Handler = (k, t, ev) => linkAt(k, t, ev.argI32(0), ev.arg(1), ev.argI32(2), ev.arg(3), ev.argI32(4));

function readlinkAt(k: Libos, t: TaskControl, dirfd: number, pathAddr: number, buf: number, size: number): number {
  if (size <= 0 || size > 0x7fffffff) return -EINVAL;
  const fs = fsOf(k);
  const ctx = fs.context();
  const path = readPath(t.memory, pathAddr);
  let target: string;
  if (path.length === 0) {
    const d = dirfd === AT_FDCWD ? null : desc(fs, dirfd);
    if (!d?.loc?.inode.isSymlink) return -ENOENT;
    target = d.loc.inode.readlink();
  } else target = fs.ns.readlink(ctx, startOf(fs, ctx, dirfd, path), path);
  const n = Math.min(size, target.length);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = target.charCodeAt(i);
  t.memory.write(buf, b);
  return n;
}
const readlink: Handler = (k, t, ev) => readlinkAt(k, t, AT_FDCWD, ev.arg(0), ev.arg(1), ev.argI32(2));
const readlinkat: Handler = (k, t, ev) => readlinkAt(k, t, ev.argI32(0), ev.arg(1), ev.arg(2), ev.argI32(3));

function accessAt(k: Libos, t: TaskControl, dirfd: number, pathAddr: number, mode: number, flags: number): number {
  if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  if (mode & ~7) return -EINVAL;
  const fs = fsOf(k);
  const ctx = fs.context();
  // access(2) checks with the real ids unless AT_EACCESS.
  const saved = ctx.cred;
  if (!(flags & AT_EACCESS)) ctx.cred = { uid: k.ruid, gid: k.rgid, groups: k.groups };
  try {
    const r = lookupAt(fs, t, dirfd, pathAddr, flags, !(flags & AT_SYMLINK_NOFOLLOW));
    if (!r.loc) return 0;
    fs.ns.accessLoc(ctx, r.loc, mode);
    return 0;
  } finally {
    ctx.cred = saved;
  }
}
const access: Handler = (k, t, ev) => accessAt(k, t, AT_FDCWD, ev.arg(0), ev.arg(1), 0);
const faccessat: Handler = (k, t, ev) => accessAt(k, t, ev.argI32(0), ev.arg(1), ev.arg(2), 0);
const faccessat2: Handler = (k, t, ev) => accessAt(k, t, ev.argI32(0), ev.arg(1), ev.arg(2), ev.argI32(3));

// ------------------------------------------------------------------ attributes

function locOrFail(r: { loc: Loc | null; d: FileDescription | null }): Loc {
  if (!r.loc) err(EBADF);
  return r.loc;
}

const chmod: Handler = (k, t, ev) => {
  const fs = fsOf(k);
  fs.ns.chmodLoc(fs.context(), locOrFail(lookupAt(fs, t, AT_FDCWD, ev.arg(0), 0, true)), ev.arg(1));
  return 0;
};
const fchmod: Handler = (k, _t, ev) => {
  const fs = fsOf(k);
  const d = fs.fds.get(ev.argI32(0));
  if (!d || d instanceof PathDescription) return -EBADF;
  if (!d.loc) return 0; // pipes and stdio: nothing to keep
  fs.ns.chmodLoc(fs.context(), d.loc, ev.arg(1));
  return 0;
};
function chmodAt(k: Libos, t: TaskControl, ev: SyscallEvent, flags: number): number {
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  const fs = fsOf(k);
  const loc = locOrFail(lookupAt(fs, t, ev.argI32(0), ev.arg(1), flags, !(flags & AT_SYMLINK_NOFOLLOW)));
  if (loc.inode.isSymlink) return -EOPNOTSUPP;
  fs.ns.chmodLoc(fs.context(), loc, ev.arg(2));
  return 0;
}
const fchmodat: Handler = (k, t, ev) => chmodAt(k, t, ev, 0);
const fchmodat2: Handler = (k, t, ev) => chmodAt(k, t, ev, ev.argI32(3));

function chownLoc(k: Libos, loc: Loc, uid: number, gid: number): number {
  const fs = fsOf(k);
  fs.ns.chownLoc(fs.context(), loc, uid === 0xffffffff ? -1 : uid, gid === 0xffffffff ? -1 : gid);
  return 0;
}
const chown: Handler = (k, t, ev) =>
  chownLoc(k, locOrFail(lookupAt(fsOf(k), t, AT_FDCWD, ev.arg(0), 0, true)), ev.arg(1) >>> 0, ev.arg(2) >>> 0);
const lchown: Handler = (k, t, ev) =>
  chownLoc(k, locOrFail(lookupAt(fsOf(k), t, AT_FDCWD, ev.arg(0), 0, false)), ev.arg(1) >>> 0, ev.arg(2) >>> 0);
const fchown: Handler = (k, _t, ev) => {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d || d instanceof PathDescription) return -EBADF;
  if (!d.loc) return 0;
  return chownLoc(k, d.loc, ev.arg(1) >>> 0, ev.arg(2) >>> 0);
};
const fchownat: Handler = (k, t, ev) => {
  const flags = ev.argI32(4);
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  const loc = locOrFail(lookupAt(fsOf(k), t, ev.argI32(0), ev.arg(1), flags, !(flags & AT_SYMLINK_NOFOLLOW)));
  return chownLoc(k, loc, ev.arg(2) >>> 0, ev.arg(3) >>> 0);
};

function validTime(ts: Timespec): boolean {
  return ts.nsec === UTIME_NOW || ts.nsec === UTIME_OMIT || (ts.nsec >= 0 && ts.nsec <= 999_999_999);
}

const utimensat: Handler = (k, t, ev) => {
  const fs = fsOf(k);
  const dirfd = ev.argI32(0);
  const pathAddr = ev.arg(1);
  const timesAddr = ev.arg(2);
  const flags = ev.argI32(3);
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  let times: [Timespec, Timespec] | null = null;
  if (timesAddr !== 0) {
    times = [readTimespec(t.memory, timesAddr), readTimespec(t.memory, timesAddr + 16)];
    if (!validTime(times[0]) || !validTime(times[1])) return -EINVAL;
  }
  let loc: Loc;
  if (pathAddr === 0) {
    // futimens: the fd itself.
    if (dirfd === AT_FDCWD) return -EFAULT;
    const d = desc(fs, dirfd);
    if (!d.loc) return 0;
    loc = d.loc;
  } else loc = locOrFail(lookupAt(fs, t, dirfd, pathAddr, flags, !(flags & AT_SYMLINK_NOFOLLOW)));
  fs.ns.utimesLoc(fs.context(), loc, times);
  return 0;
};

/** utimes(2)/futimesat: struct timeval[2]. */
function timevalsAt(k: Libos, t: TaskControl, dirfd: number, pathAddr: number, tvAddr: number): number {
  const fs = fsOf(k);
  let times: [Timespec, Timespec] | null = null;
  if (tvAddr !== 0) {
    const b = t.memory.read(tvAddr, 32);
    const dv = new DataView(b.buffer, b.byteOffset, 32);
    const tv = (o: number): Timespec => {
      const sec = Number(dv.getBigInt64(o, true));
      const usec = Number(dv.getBigInt64(o + 8, true));
      if (usec < 0 || usec >= 1_000_000) err(EINVAL);
      return { sec, nsec: usec * 1000 };
    };
    times = [tv(0), tv(16)];
  }
  const loc = locOrFail(lookupAt(fs, t, dirfd, pathAddr, 0, true));
  fs.ns.utimesLoc(fs.context(), loc, times);
  return 0;
}
const utimes: Handler = (k, t, ev) => timevalsAt(k, t, AT_FDCWD, ev.arg(0), ev.arg(1));
const futimesat: Handler = (k, t, ev) => timevalsAt(k, t, ev.argI32(0), ev.arg(1), ev.arg(2));

const truncate: Handler = (k, t, ev) => {
  const fs = fsOf(k);
  const len = argI64(ev, 1);
  if (len < 0) return -EINVAL;
  const loc = locOrFail(lookupAt(fs, t, AT_FDCWD, ev.arg(0), 0, true));
  fs.ns.truncateLoc(fs.context(), loc, len);
  return 0;
};
const ftruncate: Handler = (k, _t, ev) => {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d || d instanceof PathDescription) return -EBADF;
  const len = argI64(ev, 1);
  if (len < 0) return -EINVAL;
  if (d.inode?.isDir) return -EISDIR;
  if (!d.writable || !d.inode?.isRegular) return -EINVAL;
  if (d.loc?.mount.readonly) return -30; // EROFS
  return d.truncate(len);
};

const fsync: Handler = (k, _t, ev) => {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d || d instanceof PathDescription) return -EBADF;
  if (d instanceof PipeEnd) return -EINVAL;
  return d.fsync();
};

// ------------------------------------------------------------------ dup, fcntl, ioctl

const dup: Handler = (k, _t, ev) => {
  const fs = fsOf(k);
  const d = fs.fds.get(ev.argI32(0));
  if (!d) return -EBADF;
  return fs.fds.alloc(d.ref(), 0, false);
};

function dup3Impl(k: Libos, oldfd: number, newfd: number, flags: number, isDup2: boolean): number {
  const fs = fsOf(k);
  if (flags & ~O_CLOEXEC) return -EINVAL;
  const d = fs.fds.get(oldfd);
  if (oldfd === newfd) {
    if (!isDup2) return -EINVAL;
    return d ? newfd : -EBADF;
  }
  if (!d) return -EBADF;
  return fs.fds.installAt(newfd, d.ref(), (flags & O_CLOEXEC) !== 0);
}
const dup2: Handler = (k, _t, ev) => dup3Impl(k, ev.argI32(0), ev.argI32(1), 0, true);
const dup3: Handler = (k, _t, ev) => dup3Impl(k, ev.argI32(0), ev.argI32(1), ev.argI32(2), false);

const F_UNLCK = 2;

const fcntl: Handler = (k, t, ev) => {
  const fs = fsOf(k);
  const fd = ev.argI32(0);
  const cmd = ev.argI32(1);
  const d = fs.fds.get(fd);
  if (!d) return -EBADF;
  const isPath = d instanceof PathDescription;
  switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      const min = ev.arg(2);
      if (min >= fs.fds.limit()) return -EINVAL;
      return fs.fds.alloc(d.ref(), min, cmd === F_DUPFD_CLOEXEC);
    }
    case F_GETFD:
      return fs.fds.getCloexec(fd) ? FD_CLOEXEC : 0;
    case F_SETFD:
      return fs.fds.setCloexec(fd, (ev.arg(2) & FD_CLOEXEC) !== 0);
    case F_GETFL:
      return d.flags;
    case F_SETFL: {
      if (isPath) return -EBADF;
      const arg = ev.argI32(2);
      d.flags = (d.flags & ~SETFL_MASK) | (arg & SETFL_MASK & ~0o40000) /* O_DIRECT unsupported */;
      return 0;
    }
    case F_GETLK: {
      if (isPath) return -EBADF;
      // One process, no other lock holder: every lock would be granted.
      t.memory.read(ev.arg(2), 32);
      const b = new Uint8Array(2);
      b[0] = F_UNLCK;
      t.memory.write(ev.arg(2), b);
      return 0;
    }
    case F_SETLK:
    case F_SETLKW:
      if (isPath) return -EBADF;
      t.memory.read(ev.arg(2), 32);
      return 0;
    case F_GETPIPE_SZ:
      return d instanceof PipeEnd ? d.pipe.capacity : -EBADF;
    case F_SETPIPE_SZ:
      return d instanceof PipeEnd ? d.pipe.resize(ev.arg(2)) : -EBADF;
    default:
      return -EINVAL;
  }
};

const ioctl: Handler = (k, t, ev) => {
  const fs = fsOf(k);
  const fd = ev.argI32(0);
  const d = fs.fds.get(fd);
  if (!d || d instanceof PathDescription) return -EBADF;
  const req = ev.arg(1) >>> 0;
  const arg = ev.arg(2);
  switch (req) {
    case FIOCLEX:
      return fs.fds.setCloexec(fd, true);
    case FIONCLEX:
      return fs.fds.setCloexec(fd, false);
    case FIONBIO: {
      const on = t.memory.readU32(arg) !== 0;
      d.flags = on ? d.flags | O_NONBLOCK : d.flags & ~O_NONBLOCK;
      return 0;
    }
    case FIONREAD:
      if (d.inode?.isRegular) {
        // do_vfs_ioctl: bytes from the offset to the end of a regular file.
        const left = Math.max(0, d.stat().size - d.offset);
        t.memory.writeU32(arg, Math.min(left, 0x7fffffff));
        return 0;
      }
      return d.ioctl(req, arg, t.memory);
    default:
      return d.ioctl(req, arg, t.memory);
  }
};

// ------------------------------------------------------------------ statfs, advice, locks

function statfsOf(k: Libos, t: TaskControl, loc: Loc, buf: number): number {
  const m = loc.mount;
  const figures = m.fs.statfs?.() ?? {
    type: 0x01021994,
    bsize: 4096,
    blocks: 0,
    bfree: 0,
    bavail: 0,
    files: 0,
    ffree: 0,
    namelen: 255,
  };
  let flags = ST_VALID | ST_RELATIME;
  if (m.readonly) flags |= ST_RDONLY;
  if (m.fs.type === "hostfs" || m.fs.type === "proc") flags |= ST_NODEV | ST_NOSUID;
  const b = new Uint8Array(STATFS_SIZE);
  encodeStatfs(figures, m.fs.dev, flags, new DataView(b.buffer));
  t.memory.write(buf, b);
  void k;
  return 0;
}

const statfs: Handler = (k, t, ev) => {
  const r = lookupAt(fsOf(k), t, AT_FDCWD, ev.arg(0), 0, true);
  return statfsOf(k, t, locOrFail(r), ev.arg(1));
};
const fstatfs: Handler = (k, t, ev) => {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d) return -EBADF;
  if (!d.loc) {
    // pipefs / anonymous: report a pseudo file system.
    const b = new Uint8Array(STATFS_SIZE);
    encodeStatfs(
      { type: 0x50495045, bsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, namelen: 255 },
      0,
      ST_VALID,
      new DataView(b.buffer),
    );
    t.memory.write(ev.arg(1), b);
    return 0;
  }
  return statfsOf(k, t, d.loc, ev.arg(1));
};

const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
/** flock(2): one process holds every lock it asks for (checks in fs/locks.c order). */
const flock: Handler = (k, _t, ev) => {
  const cmd = ev.arg(1) >>> 0;
  if (cmd & 32) return 0; // LOCK_MAND: ignored since Linux 5.18
  const op = cmd & ~LOCK_NB;
  if (op !== LOCK_SH && op !== LOCK_EX && op !== LOCK_UN) return -EINVAL;
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d || d instanceof PathDescription) return -EBADF;
  return 0;
};

const fadvise64: Handler = (k, _t, ev) => {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d || d instanceof PathDescription) return -EBADF;
  if (d instanceof PipeEnd) return -ESPIPE;
  const advice = ev.argI32(3);
  if (advice < 0 || advice > 5 || argI64(ev, 2) < 0) return -EINVAL;
  return 0;
};

const readahead: Handler = (k, _t, ev) => {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d?.readable || d instanceof PathDescription) return -EBADF;
  if (!d.inode?.isRegular) return -EINVAL;
  return 0;
};

/** fallocate(2) mode 0: makes the file at least offset+len bytes long. */
const fallocate: Handler = (k, _t, ev) => {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d || d instanceof PathDescription) return -EBADF;
  const mode = ev.argI32(1);
  const off = argI64(ev, 2);
  const len = argI64(ev, 3);
  if (off < 0 || len <= 0) return -EINVAL;
  if (!d.writable) return -EBADF;
  if (d instanceof PipeEnd) return -ESPIPE;
  if (d.inode?.isDir) return -EISDIR;
  if (!d.inode?.isRegular) return -ENODEV;
  if (mode !== 0) return -EOPNOTSUPP;
  if (d.loc?.mount.readonly) return -30;
  const size = d.stat().size;
  if (off + len <= size) return 0;
  return d.truncate(off + len);
};

const sync: Handler = () => 0;
const syncfs: Handler = (k, _t, ev) => (fsOf(k).fds.get(ev.argI32(0)) ? 0 : -EBADF);

/** getdents(2): the old struct linux_dirent (d_type in the last byte of the record). */
const getdents: Handler = (k, t, ev) => {
  const d = fsOf(k).fds.get(ev.argI32(0));
  if (!d || d instanceof PathDescription) return -EBADF;
  if (!(d instanceof DirectoryDescription)) return -ENOTDIR;
  const count = Math.min(ev.arg(2), 65536);
  const entries = d.entries();
  const buf = new Uint8Array(count);
  const dv = new DataView(buf.buffer);
  let pos = 0;
  let i = d.offset;
  for (; i < entries.length; i++) {
    const e = entries[i];
    const reclen = (18 + e.name.length + 2 + 7) & ~7;
    if (pos + reclen > count) break;
    dv.setBigUint64(pos, BigInt(e.ino), true);
    dv.setBigUint64(pos + 8, BigInt(i + 1), true);
    dv.setUint16(pos + 16, reclen, true);
    for (let j = 0; j < e.name.length; j++) buf[pos + 18 + j] = e.name.charCodeAt(j);
    buf[pos + reclen - 1] = (e.type >>> 12) & 0xf;
    pos += reclen;
  }
  if (pos === 0 && i < entries.length) return -EINVAL;
  if (pos > 0) t.memory.write(ev.arg(1), buf.subarray(0, pos));
  d.offset = i;
  return pos;
};

// ------------------------------------------------------------------ registration

const handlers: Array<[Parameters<typeof define>[1], Handler]> = [
  ["open", open],
  ["openat", openat],
  ["creat", creat],
  ["close", close],
  ["close_range", closeRange],
  ["read", read],
  ["write", write],
  ["pread64", pread64],
  ["pwrite64", pwrite64],
  ["readv", readv],
  ["writev", writev],
  ["preadv", preadv],
  ["pwritev", pwritev],
  ["lseek", lseek],
  ["sendfile", sendfile],
  ["fstat", fstat],
  ["stat", stat],
  ["lstat", lstat],
  ["newfstatat", newfstatat],
  ["statx", statx],
  ["getdents64", getdents64],
  ["getcwd", getcwd],
  ["chdir", chdir],
  ["fchdir", fchdir],
  ["mkdir", mkdir],
  ["mkdirat", mkdirat],
  ["unlink", unlink],
  ["unlinkat", unlinkat],
  ["rmdir", rmdir],
  ["rename", rename],
  ["renameat", renameat],
  ["renameat2", renameat2],
  ["symlink", symlink],
  ["symlinkat", symlinkat],
  ["link", link],
  ["linkat", linkat],
  ["readlink", readlink],
  ["readlinkat", readlinkat],
  ["access", access],
  ["faccessat", faccessat],
  ["faccessat2", faccessat2],
  ["chmod", chmod],
  ["fchmod", fchmod],
  ["fchmodat", fchmodat],
  ["fchmodat2", fchmodat2],
  ["chown", chown],
  ["lchown", lchown],
  ["fchown", fchown],
  ["fchownat", fchownat],
  ["utimensat", utimensat],
  ["utimes", utimes],
  ["futimesat", futimesat],
  ["truncate", truncate],
  ["ftruncate", ftruncate],
  ["fsync", fsync],
  ["fdatasync", fsync],
  ["dup", dup],
  ["dup2", dup2],
  ["dup3", dup3],
  ["fcntl", fcntl],
  ["ioctl", ioctl],
  ["statfs", statfs],
  ["fstatfs", fstatfs],
  ["flock", flock],
  ["fadvise64", fadvise64],
  ["readahead", readahead],
  ["fallocate", fallocate],
  ["sync", sync],
  ["syncfs", syncfs],
  ["getdents", getdents],
];

export const filesModule: SyscallModule = {
  register(table: SyscallTable): void {
    for (const [name, h] of handlers) define(table, name, vfsCall(h));
  },
};
