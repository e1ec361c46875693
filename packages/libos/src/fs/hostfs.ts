// hostfs: a host directory as a file system, confined to that directory.
//
// Every host object is reached one name at a time, relative to an O_PATH fd of
// its parent directory, with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
// and O_NOFOLLOW, or with an *at system call that does not follow a final
// symlink. ".." and symlinks are resolved by the VFS inside the sandbox's own
// namespace, never by the host kernel, so no name the program supplies can
// reach outside the directory (gVisor's gofer works the same way).

import { closeSync, lstatSync, readlinkSync } from "node:fs";
import { isAbsolute, resolve as resolvePath } from "node:path";
import { RESOLVE_NO_MAGICLINKS as NO_MAGICLINKS, RESOLVE_NO_SYMLINKS } from "@kindling/sys-util";
import { native, syscallRaw } from "@kindling/sys-util/unsafe";
import type { ByteBudget } from "../budget.js";
import { EACCES, EBADF, EINVAL, EIO, ELOOP, ENOENT, ENOTDIR, EPERM, EROFS } from "../errno.js";
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  AT_REMOVEDIR,
  AT_SYMLINK_NOFOLLOW,
  O_ACCMODE,
  O_APPEND,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_PATH,
  O_RDONLY,
  O_TRUNC,
  O_WRONLY,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  STATX_BASIC_STATS,
  STATX_BTIME,
  UTIME_OMIT,
} from "./constants.js";
import { cstr, decodeStatx, latin1, parseDirents, STATX_STRUCT_SIZE } from "./layout.js";
import {
  allocDev,
  type Cred,
  type DirEntry,
  DirectoryDescription,
  FileDescription,
  type FileSystem,
  FsError,
  fail,
  Inode,
  type OpenContext,
  type SetAttr,
  type Stat,
  type StatFs,
  seekRegular,
} from "./types.js";

const SYS_lseek = 8;
const SYS_fsync = 74;
const SYS_ftruncate = 77;
const SYS_getdents64 = 217;
const SYS_mkdirat = 258;
const SYS_unlinkat = 263;
const SYS_linkat = 265;
const SYS_symlinkat = 266;
const SYS_readlinkat = 267;
const SYS_utimensat = 280;
const SYS_renameat2 = 316;
const SYS_statx = 332;
const SYS_openat2 = 437;
const SYS_fchmodat2 = 452;

const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_BENEATH = 0x08;
const RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;

const EMPTY = cstr("");
/**
 * Mode bits a sandbox may set on host files: never set-user-ID or
 * set-group-ID (a program running as root inside must not be able to leave a
 * setuid executable on the host).
 */
const HOST_MODE_MASK = 0o1777;
const statxBuf = new Uint8Array(STATX_STRUCT_SIZE);
const statxView = new DataView(statxBuf.buffer);
const howBuf = new BigUint64Array(3);

/** openat2(dirfd, name, {flags, mode, resolve: BENEATH|NO_MAGICLINKS}); -errno on failure. */
export function hostOpenat2(dirfd: number, name: string, flags: number, mode = 0): number {
  howBuf[0] = BigInt((flags | O_CLOEXEC) >>> 0);
  howBuf[1] = BigInt(flags & (O_CREAT | 0o20000000) ? mode & HOST_MODE_MASK : 0);
  howBuf[2] = BigInt(RESOLVE);
  return syscallRaw(SYS_openat2, dirfd, cstr(name), howBuf, 24);
}

/**
 * The first component of absolute `path` that is a symbolic link, with its
 * target, or null (for messages: the open itself refuses symlinks).
 */
export function symlinkComponent(path: string): { at: string; target: string } | null {
  let at = "";
  for (const part of path.split("/")) {
    if (part === "") continue;
    at = `${at}/${part}`;
    try {
      if (lstatSync(at).isSymbolicLink()) return { at, target: readlinkSync(at) };
    } catch {
      return null;
    }
  }
  return null;
}

/**
 * Opens a path an operator gave (a mount source, the root, a trace file)
 * without following a symbolic link in any component: a sandbox with a
 * writable mount could have planted one (openat2 RESOLVE_NO_SYMLINKS from
 * the process's root; a relative path is taken from the current directory,
 * whose path getcwd reports with no links in it). Throws FsError with a
 * message naming the offending component.
 */
export function openOperatorPath(path: string, flags: number, mode = 0): number {
  const abs = isAbsolute(path) ? path : resolvePath(path);
  howBuf[0] = BigInt((flags | O_CLOEXEC) >>> 0);
  howBuf[1] = BigInt(flags & O_CREAT ? mode & 0o7777 : 0);
  howBuf[2] = BigInt(RESOLVE_NO_SYMLINKS | NO_MAGICLINKS);
  const fd = syscallRaw(SYS_openat2, AT_FDCWD, cstr(abs), howBuf, 24);
  if (fd >= 0) return fd;
  if (-fd === ELOOP) {
    const link = symlinkComponent(abs);
    if (link) {
      throw new FsError(ELOOP, `${link.at} is a symbolic link (to ${link.target}); give the real path`);
    }
  }
  throw new FsError(-fd, abs);
}

function check(r: number): number {
  if (r < 0) throw new FsError(-r);
  return r;
}

/** One name, as the VFS hands it over: never empty, ".", "..", or containing "/" or NUL. */
function assertName(name: string): void {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    throw new FsError(EINVAL, "bad host name component");
  }
}

/** statx of `name` relative to `dirfd` (or of `dirfd` itself when name is ""), not following symlinks. */
function hostStatx(dirfd: number, name: string): Stat | null {
  const r =
    name === ""
      ? syscallRaw(
          SYS_statx,
          dirfd,
          EMPTY,
          AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW,
          STATX_BASIC_STATS | STATX_BTIME,
          statxBuf,
        )
      : syscallRaw(SYS_statx, dirfd, cstr(name), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, statxBuf);
  if (r === -ENOENT) return null;
  check(r);
  return decodeStatx(statxView);
}

/** A host fd owned by a Hostfs (or a created-but-not-yet-opened file): closed exactly once. */
interface Held {
  fd: number;
  closed: boolean;
  owner: Set<Held> | null;
}

function closeHeld(h: Held): void {
  if (h.closed) return;
  h.closed = true;
  h.owner?.delete(h);
  try {
    closeSync(h.fd);
  } catch {
    // nothing to do: the fd is gone either way
  }
}

/** Closes the fd of an inode the program can no longer reach (directories are cached weakly). */
const closer = new FinalizationRegistry<Held>(closeHeld);

export interface HostfsOptions {
  /** Writes are refused with EROFS unless true. */
  writable?: boolean;
  /**
   * Directory fds kept open at most (least recently used first out; a directory
   * whose fd was closed reopens it from its parent, checking the inode number,
   * when next used). Default 1024, at least 4.
   */
  maxDirFds?: number;
  /** The sandbox's byte budget: directory listings held by open descriptions are charged to it. */
  budget?: ByteBudget;
}

export class Hostfs implements FileSystem {
  readonly type = "hostfs";
  readonly dev = allocDev();
  readonly root: HostInode;
  readonly writable: boolean;
  /** The host directory as given (for naming host paths in the sandbox's terms, e.g. /proc/self/maps). */
  readonly hostPath: string;
  readonly #held = new Set<Held>();
  readonly #dirLru = new Map<HostInode, Held>();
  readonly maxDirFds: number;
  /** See HostfsOptions.budget (null: listings uncharged). */
  readonly budget: ByteBudget | null;
  #disposed = false;

  /** Opens `hostPath` (a directory, trusted: it comes from the sandbox's configuration). */
  constructor(hostPath: string, options: HostfsOptions = {}) {
    this.writable = options.writable ?? false;
    this.hostPath = isAbsolute(hostPath) ? hostPath : resolvePath(hostPath);
    this.maxDirFds = Math.max(4, Math.floor(options.maxDirFds ?? 1024));
    this.budget = options.budget ?? null;
    // No symlink in any component: one a sandbox planted in an earlier run's writable mount must not redirect this one.
    const fd = openOperatorPath(hostPath, O_PATH | O_DIRECTORY);
    const st = hostStatx(fd, "");
    if (st === null || (st.mode & S_IFMT) !== S_IFDIR) {
      closeSync(fd);
      fail(ENOTDIR, `${hostPath} is not a directory`);
    }
    this.#held.add({ fd, closed: false, owner: this.#held });
    this.root = new HostInode(this, st, null, "", fd);
  }

  /** Records an fd owned by `inode` (an O_PATH directory fd): closed when the inode is collected or at dispose(). */
  track(inode: HostInode, fd: number): void {
    const h: Held = { fd, closed: false, owner: this.#held };
    this.#held.add(h);
    closer.register(inode, h, inode);
  }

  /** Records a (non-root) directory's O_PATH fd in the LRU, closing the least recently used beyond maxDirFds. */
  adoptDir(inode: HostInode, fd: number): void {
    const h: Held = { fd, closed: false, owner: this.#held };
    this.#held.add(h);
    closer.register(inode, h, inode);
    this.#dirLru.set(inode, h);
    while (this.#dirLru.size > this.maxDirFds) {
      const [oldest, oh] = this.#dirLru.entries().next().value as [HostInode, Held];
      this.#dirLru.delete(oldest);
      closer.unregister(oldest);
      closeHeld(oh);
      oldest.evict();
    }
  }

  /** Marks a directory's fd as just used. */
  touchDir(inode: HostInode): void {
    const h = this.#dirLru.get(inode);
    if (h === undefined) return;
    this.#dirLru.delete(inode);
    this.#dirLru.set(inode, h);
  }

  /** Directory fds open now (for tests and stats). */
  get openDirFds(): number {
    return this.#dirLru.size;
  }

  /** Closes every host fd this file system holds. Descriptions already open keep their own fds. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const h of [...this.#held]) closeHeld(h);
    this.#held.clear();
    this.#dirLru.clear();
  }

  /** The host file system's figures (fstatfs on the root fd). */
  statfs(): StatFs {
    const b = new BigInt64Array(15);
    check(syscallRaw(138, this.root.fd, b));
    const n = (i: number) => Number(b[i]);
    return {
      type: n(0),
      bsize: n(1),
      blocks: n(2),
      bfree: n(3),
      bavail: n(4),
      files: n(5),
      ffree: n(6),
      namelen: n(8),
    };
  }

  writeCheck(): void {
    if (!this.writable) fail(EROFS);
  }
}

export class HostInode extends Inode {
  readonly ino: number;
  #mode: number;
  /** Cached child directories (revalidated against the host on each lookup). */
  readonly #dirs = new Map<string, WeakRef<HostInode>>();
  /** A created file's fd, handed to the open() that follows create(). */
  pendingFd = -1;

  #fd: number;
  /** A directory whose fd is in the file system's LRU (reopened from the parent after eviction). */
  readonly #managed: boolean;

  constructor(
    readonly fs: Hostfs,
    st: Stat,
    /** The parent directory (null for the root). */
    public dirParent: HostInode | null,
    public name: string,
    /** O_PATH fd of a directory, or the fd of an O_TMPFILE file; -1 for others. */
    fd: number,
    managed = false,
  ) {
    super();
    this.ino = st.ino;
    this.#mode = st.mode;
    this.#fd = fd;
    this.#managed = managed;
  }

  /** The host fd (a directory's is reopened from its parent if the LRU closed it). */
  get fd(): number {
    if (this.#managed) {
      if (this.#fd < 0) this.#reopen();
      else this.fs.touchDir(this);
    }
    return this.#fd;
  }

  /** The LRU closed this directory's fd. */
  evict(): void {
    this.#fd = -1;
  }

  #reopen(): void {
    const parent = this.dirParent;
    if (parent === null) fail(ENOENT);
    const fd = hostOpenat2(parent.fd, this.name, O_PATH | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0) fail(fd === -20 ? ENOENT : -fd);
    const st = hostStatx(fd, "");
    if (st === null || st.ino !== this.ino) {
      closeSync(fd);
      fail(ENOENT); // replaced on the host since we looked it up
    }
    this.#fd = fd;
    this.fs.adoptDir(this, fd);
  }

  get mode(): number {
    return this.#mode;
  }

  /** (dirfd, name) addressing this inode for *at calls: the parent and the name, or own fd and "" for the root. */
  #at(): [number, string] {
    // The root and an O_TMPFILE file have no name: they are reached through their own fd.
    if (this.dirParent === null || this.name === "") return [this.fd, ""];
    return [this.dirParent.fd, this.name];
  }

  getattr(): Stat {
    const st = this.fd >= 0 ? hostStatx(this.fd, "") : hostStatx(...this.#at());
    if (st === null) fail(ENOENT);
    this.#mode = st.mode;
    st.dev = this.fs.dev;
    return st;
  }

  // ---- directories ----
  override lookup(name: string): Inode | null {
    if (this.fd < 0) fail(20);
    assertName(name);
    const st = hostStatx(this.fd, name);
    if (st === null) return null;
    if ((st.mode & S_IFMT) !== S_IFDIR) return new HostInode(this.fs, st, this, name, -1);
    const cached = this.#dirs.get(name)?.deref();
    if (cached && cached.ino === st.ino) return cached;
    const fd = hostOpenat2(this.fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW);
    if (fd === -ENOENT || fd === -20) return null;
    check(fd);
    const dir = new HostInode(this.fs, st, this, name, fd, true);
    this.fs.adoptDir(dir, fd);
    this.#dirs.set(name, new WeakRef(dir));
    return dir;
  }
  override parent(): Inode {
    return this.dirParent ?? this;
  }
  override nameInParent(): string {
    return this.name;
  }
  override get unlinked(): boolean {
    return this.fd >= 0 && hostStatx(this.fd, "")?.nlink === 0;
  }
  override create(name: string, mode: number, _cred: Cred): Inode {
    this.fs.writeCheck();
    assertName(name);
    const fd = check(hostOpenat2(this.fd, name, O_CREAT | O_EXCL | O_RDWR_OR_WRONLY | O_NOFOLLOW, mode));
    const st = hostStatx(fd, "");
    if (st === null) fail(EIO);
    const node = new HostInode(this.fs, st, this, name, -1);
    node.pendingFd = fd;
    closer.register(node, { fd, closed: false, owner: null }, node);
    return node;
  }
  override mkdir(name: string, mode: number, _cred: Cred): Inode {
    this.fs.writeCheck();
    assertName(name);
    check(syscallRaw(SYS_mkdirat, this.fd, cstr(name), mode & HOST_MODE_MASK));
    const node = this.lookup(name);
    if (node === null) fail(ENOENT);
    return node;
  }
  override tmpfile(mode: number, _cred: Cred): Inode {
    this.fs.writeCheck();
    const fd = check(hostOpenat2(this.fd, ".", 0o20200000 /* O_TMPFILE */ | 2 /* O_RDWR */, mode));
    const own = syscallRaw(72 /* fcntl */, fd, 1030 /* F_DUPFD_CLOEXEC */, 0);
    if (own < 0) {
      closeSync(fd);
      check(own);
    }
    const st = hostStatx(fd, "");
    if (st === null) fail(EIO);
    const node = new HostInode(this.fs, st, this, "", own);
    this.fs.track(node, own);
    node.pendingFd = fd;
    return node;
  }
  override symlink(name: string, target: string, _cred: Cred): Inode {
    this.fs.writeCheck();
    assertName(name);
    check(syscallRaw(SYS_symlinkat, cstr(target), this.fd, cstr(name)));
    const node = this.lookup(name);
    if (node === null) fail(ENOENT);
    return node;
  }
  override link(name: string, target: Inode): void {
    this.fs.writeCheck();
    assertName(name);
    if (!(target instanceof HostInode) || target.fs !== this.fs) fail(EPERM);
    const [tfd, tname] = target.#at();
    if (tname === "") {
      if (target.isDir || target.dirParent === null) fail(EPERM);
      // An O_TMPFILE file: link it through our own fd's /proc entry (no AT_EMPTY_PATH privilege needed).
      check(syscallRaw(SYS_linkat, -100, cstr(`/proc/self/fd/${tfd}`), this.fd, cstr(name), 0x400));
      return;
    }
    check(syscallRaw(SYS_linkat, tfd, cstr(tname), this.fd, cstr(name), 0));
  }
  override unlink(name: string): void {
    this.fs.writeCheck();
    assertName(name);
    check(syscallRaw(SYS_unlinkat, this.fd, cstr(name), 0));
  }
  override rmdir(name: string): void {
    this.fs.writeCheck();
    assertName(name);
    check(syscallRaw(SYS_unlinkat, this.fd, cstr(name), AT_REMOVEDIR));
    this.#dirs.delete(name);
  }
  override rename(oldName: string, newDirI: Inode, newName: string, flags: number): void {
    this.fs.writeCheck();
    assertName(oldName);
    assertName(newName);
    const newDir = newDirI as HostInode;
    check(syscallRaw(SYS_renameat2, this.fd, cstr(oldName), newDir.fd, cstr(newName), flags));
    const moved = this.#dirs.get(oldName)?.deref();
    const other = newDir.#dirs.get(newName)?.deref();
    this.#dirs.delete(oldName);
    newDir.#dirs.delete(newName);
    if (moved) {
      moved.dirParent = newDir;
      moved.name = newName;
      newDir.#dirs.set(newName, new WeakRef(moved));
    }
    if (other && flags & 2 /* RENAME_EXCHANGE */) {
      other.dirParent = this;
      other.name = oldName;
      this.#dirs.set(oldName, new WeakRef(other));
    }
  }
  override readdir(): DirEntry[] {
    const fd = check(hostOpenat2(this.fd, ".", O_RDONLY | O_DIRECTORY));
    try {
      const buf = new Uint8Array(32768);
      const out: DirEntry[] = [];
      for (;;) {
        const n = check(syscallRaw(SYS_getdents64, fd, buf, buf.byteLength));
        if (n === 0) break;
        for (const e of parseDirents(buf, n)) if (e.name !== "." && e.name !== "..") out.push(e);
      }
      return out;
    } finally {
      closeSync(fd);
    }
  }

  // ---- symlinks ----
  override readlink(): string {
    const [dfd, name] = this.#at();
    const buf = new Uint8Array(4096);
    const n = check(syscallRaw(SYS_readlinkat, dfd, cstr(name), buf, buf.byteLength));
    return latin1(buf.subarray(0, n));
  }

  // ---- attributes ----
  override setattr(a: SetAttr): void {
    this.fs.writeCheck();
    // Giving host files away to other host users is not the sandbox's to do.
    if (a.uid !== undefined || a.gid !== undefined) fail(EPERM);
    const [dfd, name] = this.#at();
    const nameBuf = cstr(name);
    const atFlags = name === "" ? AT_EMPTY_PATH : AT_SYMLINK_NOFOLLOW;
    if (a.size !== undefined) {
      const fd = name === "" ? -EINVAL : hostOpenat2(dfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK);
      check(fd);
      try {
        check(syscallRaw(SYS_ftruncate, fd, a.size));
      } finally {
        closeSync(fd);
      }
    }
    if (a.mode !== undefined) check(syscallRaw(SYS_fchmodat2, dfd, nameBuf, a.mode & HOST_MODE_MASK, atFlags));
    if (a.atime || a.mtime) {
      const ts = new BigInt64Array([
        BigInt(a.atime?.sec ?? 0),
        BigInt(a.atime?.nsec ?? UTIME_OMIT),
        BigInt(a.mtime?.sec ?? 0),
        BigInt(a.mtime?.nsec ?? UTIME_OMIT),
      ]);
      check(syscallRaw(SYS_utimensat, dfd, nameBuf, ts, atFlags));
    }
  }

  override open(flags: number, _ctx: OpenContext): FileDescription {
    const type = this.#mode & S_IFMT;
    if (type === S_IFDIR) {
      const d = new DirectoryDescription(flags, this, () => [
        { name: ".", ino: this.ino, type: S_IFDIR },
        { name: "..", ino: this.parent().ino, type: S_IFDIR },
        ...this.readdir(),
      ]);
      d.budget = this.fs.budget;
      return d;
    }
    // A nodev mount: host device nodes, FIFOs and sockets are not opened.
    if (type === S_IFCHR || type === S_IFBLK || type === S_IFIFO || type === S_IFSOCK) fail(EACCES);
    let fd = this.pendingFd;
    if (fd >= 0) {
      this.pendingFd = -1;
      // Created O_RDWR (so a file created with mode 0 can still be written,
      // as Linux allows its creator); the description's flags limit access.
      closer.unregister(this);
    }
    if (fd < 0) {
      if (this.dirParent === null) fail(EBADF);
      const acc = flags & O_ACCMODE;
      if (acc !== O_RDONLY || flags & O_TRUNC) this.fs.writeCheck();
      const hostFlags = (flags & (O_ACCMODE | O_APPEND | O_TRUNC)) | O_NOFOLLOW | O_NONBLOCK;
      fd = check(hostOpenat2(this.dirParent.fd, this.name, hostFlags));
      const st = hostStatx(fd, "");
      if (st === null || (st.mode & S_IFMT) !== S_IFREG) {
        closeSync(fd);
        fail(EACCES);
      }
    }
    return new HostFileDescription(flags, this, fd);
  }
}

const O_RDWR_OR_WRONLY = 2;

/** An open host regular file; the offset is kept here (shared by dups) and passed to pread/pwrite. */
export class HostFileDescription extends FileDescription {
  override get mmapKind(): "file" {
    return "file";
  }
  #fd: number;
  constructor(
    flags: number,
    readonly node: HostInode,
    fd: number,
  ) {
    super(flags, node);
    this.#fd = fd;
  }
  override hostFd(): number {
    return this.#fd;
  }
  override read(dst: Uint8Array): number {
    const n = this.pread(dst, this.offset);
    if (n > 0) this.offset += n;
    return n;
  }
  override pread(dst: Uint8Array, pos: number): number {
    if (pos < 0) return -EINVAL;
    if (dst.byteLength === 0) return 0;
    return native().pread(this.#fd, dst, 0, dst.byteLength, pos);
  }
  override write(src: Uint8Array): number {
    if (this.append) this.offset = hostStatx(this.#fd, "")?.size ?? this.offset;
    const n = this.pwrite(src, this.offset);
    if (n > 0) this.offset += n;
    return n;
  }
  override pwrite(src: Uint8Array, pos0: number): number {
    // Linux: pwrite on an O_APPEND file appends.
    const pos = this.append ? (hostStatx(this.#fd, "")?.size ?? pos0) : pos0;
    if (pos < 0) return -EINVAL;
    if (src.byteLength === 0) return 0;
    return native().pwrite(this.#fd, src, 0, src.byteLength, pos);
  }
  override seek(off: number, whence: number): number {
    if (whence === 3 || whence === 4) {
      const r = syscallRaw(SYS_lseek, this.#fd, off, whence);
      if (r >= 0) this.offset = r;
      return r;
    }
    const st = hostStatx(this.#fd, "");
    return seekRegular(this, off, whence, st?.size ?? 0);
  }
  override stat(): Stat {
    const st = hostStatx(this.#fd, "");
    if (st === null) fail(EIO);
    st.dev = this.node.fs.dev;
    return st;
  }
  override truncate(size: number): number {
    if (!this.node.fs.writable) return -EROFS;
    return syscallRaw(SYS_ftruncate, this.#fd, size);
  }
  override fsync(): number {
    return syscallRaw(SYS_fsync, this.#fd);
  }
  protected override release(): void {
    if (this.#fd >= 0) {
      closeSync(this.#fd);
      this.#fd = -1;
    }
  }
}
