// The VFS object model: inodes (one per file-system object), open file
// descriptions (one per open(2), shared by dup'ed fds) and file systems.
//
// Names and paths are "binary strings": one character per byte (latin1), so
// any byte sequence a program passes survives a round trip to a host file name.

import type { ByteBudget } from "../budget.js";
import { EBADF, EINVAL, EISDIR, ENOMEM, ENOTDIR, ENOTTY, EPERM, ESPIPE } from "../errno.js";
import {
  O_ACCMODE,
  O_APPEND,
  O_NONBLOCK,
  O_RDONLY,
  O_WRONLY,
  POLLIN,
  POLLOUT,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  SEEK_CUR,
  SEEK_DATA,
  SEEK_END,
  SEEK_HOLE,
  SEEK_SET,
} from "./constants.js";
import type { Loc } from "./vfs.js";

/** A failed VFS operation: `errno` is the positive Linux errno. */
export class FsError extends Error {
  override readonly name = "FsError";
  readonly code: string;
  constructor(
    readonly errno: number,
    detail?: string,
  ) {
    super(`${errnoCode(errno)}${detail ? `: ${detail}` : ""}`);
    this.code = errnoCode(errno);
  }
}

const CODES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  5: "EIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  24: "EMFILE",
  25: "ENOTTY",
  27: "EFBIG",
  28: "ENOSPC",
  29: "ESPIPE",
  30: "EROFS",
  31: "EMLINK",
  32: "EPIPE",
  36: "ENAMETOOLONG",
  39: "ENOTEMPTY",
  40: "ELOOP",
  75: "EOVERFLOW",
  95: "EOPNOTSUPP",
};

export function errnoCode(errno: number): string {
  return CODES[errno] ?? `E${errno}`;
}

/** Throws FsError(errno). */
export function fail(errno: number, detail?: string): never {
  throw new FsError(errno, detail);
}

/** The errno of a thrown VFS error (FsError, a host SysError, a MemoryFault), else rethrows. */
export function errnoOf(e: unknown): number {
  if (e instanceof FsError) return e.errno;
  if (e && typeof e === "object") {
    const o = e as { errno?: unknown; code?: unknown; name?: unknown };
    if (o.name === "MemoryFault") return 14;
    if (typeof o.errno === "number" && o.errno > 0) return o.errno;
    if (typeof o.errno === "number" && o.errno < 0) return -o.errno;
  }
  throw e;
}

/** The attributes of an inode, as stat(2) and statx(2) report them. */
export interface Stat {
  dev: number;
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blksize: number;
  blocks: number;
  atimeSec: number;
  atimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
  btimeSec?: number;
  btimeNsec?: number;
}

/** Who is asking: the effective ids a permission check uses. */
export interface Cred {
  uid: number;
  gid: number;
  groups?: readonly number[];
}

export const ROOT_CRED: Cred = { uid: 0, gid: 0 };

/** A point in time as Linux keeps it. */
export interface Timespec {
  sec: number;
  nsec: number;
}

/** Changes setattr applies; absent fields are left alone. */
export interface SetAttr {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: Timespec;
  mtime?: Timespec;
}

/** One directory entry (without "." and ".."). */
export interface DirEntry {
  name: string;
  ino: number;
  /** S_IFMT bits of the entry's mode (0 when unknown). */
  type: number;
}

/** What `Inode.open` needs to know beyond the flags. */
export interface OpenContext {
  cred: Cred;
}

let nextDev = 1;
/** A fresh anonymous device number (minor of major 0, like Linux's get_anon_bdev). */
export function allocDev(): number {
  nextDev += 1;
  return nextDev + 0x20;
}

/** statfs(2) figures. */
export interface StatFs {
  type: number;
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  namelen: number;
}

/** A file system: it owns inodes and reports read-only-ness. */
export interface FileSystem {
  readonly type: string;
  readonly dev: number;
  readonly root: Inode;
  /** statfs(2): sizes and the f_type magic. */
  statfs?(): StatFs;
  /** Releases host resources (host fds). */
  dispose?(): void;
}

/**
 * An inode. The defaults answer as Linux does for an object that does not
 * support the operation; file systems override what they implement.
 */
export abstract class Inode {
  abstract readonly fs: FileSystem;
  abstract readonly ino: number;
  /** Full st_mode (type and permission bits), current. */
  abstract get mode(): number;
  abstract getattr(): Stat;

  get isDir(): boolean {
    return (this.mode & S_IFMT) === S_IFDIR;
  }
  get isSymlink(): boolean {
    return (this.mode & S_IFMT) === S_IFLNK;
  }
  get isRegular(): boolean {
    return (this.mode & S_IFMT) === S_IFREG;
  }

  // ---- directories ----
  /** The child called `name` (never "." or ".."), or null. */
  lookup(_name: string): Inode | null {
    fail(ENOTDIR);
  }
  /** The parent directory (for ".." and getcwd); a file system's root returns itself. */
  parent(): Inode {
    return this;
  }
  /** This directory's name in its parent (for getcwd); "" for the root or when unlinked. */
  nameInParent(): string {
    return "";
  }
  /** True when this directory was removed (getcwd then fails with ENOENT). */
  get unlinked(): boolean {
    return false;
  }
  create(_name: string, _mode: number, _cred: Cred): Inode {
    fail(ENOTDIR);
  }
  mkdir(_name: string, _mode: number, _cred: Cred): Inode {
    fail(ENOTDIR);
  }
  symlink(_name: string, _target: string, _cred: Cred): Inode {
    fail(ENOTDIR);
  }
  /** O_TMPFILE: a regular file in this directory's file system with no name (nlink 0). */
  tmpfile(_mode: number, _cred: Cred): Inode {
    fail(95); // EOPNOTSUPP
  }
  link(_name: string, _target: Inode): void {
    fail(ENOTDIR);
  }
  unlink(_name: string): void {
    fail(ENOTDIR);
  }
  rmdir(_name: string): void {
    fail(ENOTDIR);
  }
  /** Moves `oldName` to `newDir/newName` (same file system; checks done by the VFS). */
  rename(_oldName: string, _newDir: Inode, _newName: string, _flags: number): void {
    fail(ENOTDIR);
  }
  readdir(): DirEntry[] {
    fail(ENOTDIR);
  }

  // ---- symlinks ----
  /**
   * For a magic link (procfs fd/N, exe, cwd, root): the location it designates,
   * followed without parsing its text (Linux's nd_jump_link). Null for an
   * ordinary symlink.
   */
  magic(): Loc | null {
    return null;
  }
  /** Opening this inode skips the mode-bit check (a description reopened through /proc/self/fd). */
  get reopens(): boolean {
    return false;
  }
  readlink(): string {
    fail(EINVAL);
  }

  // ---- all ----
  setattr(_attr: SetAttr): void {
    fail(EPERM);
  }
  /** Opens this inode; `flags` are open(2)'s, already checked for access. */
  abstract open(flags: number, ctx: OpenContext): FileDescription;
}

/**
 * An open file description (struct file): the offset and status flags shared
 * by every fd dup'ed from one open(2).
 *
 * I/O methods take a byte array that is either a view aliasing program memory
 * or a bounce buffer; they return a count or -errno and never throw for I/O errors.
 */
export abstract class FileDescription {
  /** Status flags: access mode, O_APPEND, O_NONBLOCK, … */
  flags: number;
  offset = 0;
  #refs = 1;
  /** The inode this description was opened on (none for pipes created by pipe2). */
  inode: Inode | null;
  #path = "";
  #pathFn: (() => string) | null = null;
  /** The sandbox path of the open object, for /proc/self/fd and /proc/self/maps (computed when first asked). */
  get path(): string {
    return this.#pathFn ? this.#pathFn() : this.#path;
  }
  set path(v: string) {
    this.#pathFn = null;
    this.#path = v;
  }
  /** Sets the path as a function, evaluated when asked (open() does not pay; renames and unlinks show). */
  setPathFn(fn: () => string): void {
    this.#pathFn = fn;
  }
  /** Where it was opened (for fchdir, *at with a dirfd, fstat's st_dev); null for pipes and stdio. */
  loc: Loc | null = null;

  constructor(flags: number, inode: Inode | null) {
    this.flags = flags;
    this.inode = inode;
  }

  /** O_RDONLY or O_RDWR (access mode 3 allows neither, as in Linux). */
  get readable(): boolean {
    const acc = this.flags & O_ACCMODE;
    return acc === O_RDONLY || acc === 2;
  }
  get writable(): boolean {
    const acc = this.flags & O_ACCMODE;
    return acc === O_WRONLY || acc === 2;
  }
  get nonblocking(): boolean {
    return (this.flags & O_NONBLOCK) !== 0;
  }
  get append(): boolean {
    return (this.flags & O_APPEND) !== 0;
  }

  /** read(2) at the description's offset. */
  read(_dst: Uint8Array): number {
    return -EINVAL;
  }
  write(_src: Uint8Array): number {
    return -EINVAL;
  }
  /** pread64(2): at `pos`, offset unchanged. */
  pread(_dst: Uint8Array, _pos: number): number {
    return -ESPIPE;
  }
  pwrite(_src: Uint8Array, _pos: number): number {
    return -ESPIPE;
  }
  /** lseek(2); the default is a non-seekable object. */
  seek(_off: number, _whence: number): number {
    return -ESPIPE;
  }
  stat(): Stat {
    if (this.inode) return this.inode.getattr();
    fail(EBADF);
  }
  /** ftruncate(2). */
  truncate(_size: number): number {
    return -EINVAL;
  }
  ioctl(_req: number, _arg: number, _io: IoctlIo): number {
    return -ENOTTY;
  }
  /** Ready events right now; files without a poll method are always ready (DEFAULT_POLLMASK). */
  poll(): number {
    return POLLIN | POLLOUT | 0x040 /* POLLRDNORM */ | 0x100 /* POLLWRNORM */;
  }
  /** The entries of a directory opened for getdents64, from the description's position. */
  get isDirectory(): boolean {
    return false;
  }
  fsync(): number {
    return 0;
  }
  /** A host fd holding this description's data, when it has one (file-backed mmap, seccomp ADDFD). */
  hostFd(): number {
    return -1;
  }
  /** How mmap treats this file: "file" (copied in by pread), "zero" (anonymous), undefined (ENODEV). */
  get mmapKind(): "file" | "zero" | undefined {
    return undefined;
  }
  /** open() through /proc/self/fd/N of a description without a location (pipes, stdio). */
  reopen(_flags: number): FileDescription {
    return this.ref();
  }
  /** Whether this is a terminal (isatty). */
  isTty(): boolean {
    return false;
  }

  ref(): this {
    this.#refs++;
    return this;
  }
  /** Drops one reference; the last one releases the object. */
  unref(): void {
    if (--this.#refs === 0) this.release();
  }
  get refs(): number {
    return this.#refs;
  }
  protected release(): void {}
}

/** Program-memory access for ioctls that take a pointer argument. */
export interface IoctlIo {
  read(addr: number, len: number): Uint8Array;
  write(addr: number, data: Uint8Array): void;
}

/** lseek arithmetic for a regular-file-like object of `size` bytes. */
export function seekRegular(fd: FileDescription, off: number, whence: number, size: number): number {
  let base: number;
  switch (whence) {
    case SEEK_SET:
      base = 0;
      break;
    case SEEK_CUR:
      base = fd.offset;
      break;
    case SEEK_END:
      base = size;
      break;
    case SEEK_DATA:
      if (off < 0 || off >= size) return -6; // ENXIO
      fd.offset = off;
      return off;
    case SEEK_HOLE:
      if (off < 0 || off >= size) return -6;
      fd.offset = size;
      return size;
    default:
      return -EINVAL;
  }
  const pos = base + off;
  if (pos < 0 || !Number.isSafeInteger(pos)) return -EINVAL;
  fd.offset = pos;
  return pos;
}

/** What a listing snapshot holds per entry besides the name (its object, its slot), charged to a budget. */
export const SNAPSHOT_ENTRY_COST = 64;

/** A directory description: getdents64 walks a snapshot taken at the first call or after rewind. */
export class DirectoryDescription extends FileDescription {
  #entries: DirEntry[] | null = null;
  /**
   * The sandbox's byte budget, when the directory's file system has one: a
   * snapshot is charged while held (open directories times their entries
   * would otherwise be host memory without a bound); ENOMEM when it does not fit.
   */
  budget: ByteBudget | null = null;
  #charged = 0;
  constructor(
    flags: number,
    inode: Inode,
    /** Produces the listing including "." and "..". */
    private readonly list: () => DirEntry[],
  ) {
    super(flags, inode);
  }
  override get isDirectory(): boolean {
    return true;
  }
  entries(): DirEntry[] {
    if (this.#entries === null || this.offset === 0) {
      const list = this.list();
      if (this.budget) {
        let cost = 0;
        for (const e of list) cost += SNAPSHOT_ENTRY_COST + 2 * e.name.length;
        this.budget.release(this.#charged);
        this.#charged = 0;
        this.#entries = null;
        if (!this.budget.charge(cost)) fail(ENOMEM);
        this.#charged = cost;
      }
      this.#entries = list;
    }
    return this.#entries;
  }
  /** A fresh listing, not kept (for a description that lists on behalf of another). */
  listing(): DirEntry[] {
    return this.list();
  }
  protected override release(): void {
    this.budget?.release(this.#charged);
    this.#charged = 0;
    this.#entries = null;
  }
  override read(): number {
    return -EISDIR;
  }
  override write(): number {
    return -EBADF;
  }
  override pread(): number {
    return -EISDIR;
  }
  override pwrite(): number {
    return -EBADF;
  }
  override seek(off: number, whence: number): number {
    if (whence === SEEK_SET && off >= 0) {
      this.offset = off;
      return off;
    }
    if (whence === SEEK_CUR && this.offset + off >= 0) {
      this.offset += off;
      return this.offset;
    }
    return -EINVAL;
  }
}

/** Checks `append` semantics: writes go to the end when O_APPEND. */
export function isAppend(flags: number): boolean {
  return (flags & O_APPEND) !== 0;
}
