// tmpfs: a file system in memory with Linux's semantics (mm/shmem.c, fs/libfs.c).

import { EEXIST, EFBIG, EINVAL, EISDIR, ENOENT, ENOSPC, ENOTDIR, ENOTEMPTY, EPERM } from "../errno.js";
import { O_TRUNC, RENAME_EXCHANGE, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from "./constants.js";
import { fsClock } from "./time.js";
import {
  allocDev,
  type Cred,
  type DirEntry,
  DirectoryDescription,
  FileDescription,
  type FileSystem,
  fail,
  Inode,
  type OpenContext,
  type SetAttr,
  type Stat,
  type StatFs,
  seekRegular,
  type Timespec,
} from "./types.js";

export interface TmpfsOptions {
  /** Bytes of file data the file system may hold (ENOSPC beyond); default 1 GiB. */
  maxBytes?: number;
  /** Files, directories and symlinks it may hold (ENOSPC beyond); default 2^20. */
  maxInodes?: number;
  /** Mode of the root directory; default 0o1777 (like /tmp). */
  rootMode?: number;
  uid?: number;
  gid?: number;
}

/** The largest tmpfs file size (every offset stays a safe integer); holes cost nothing. */
const MAX_FILE = Number.MAX_SAFE_INTEGER;
/** The most data one file stores (one ArrayBuffer). */
const MAX_DATA = 2 ** 32;

export class Tmpfs implements FileSystem {
  readonly type = "tmpfs";
  readonly dev = allocDev();
  readonly root: TmpInode;
  readonly maxBytes: number;
  readonly maxInodes: number;
  usedBytes = 0;
  /** Live inodes (linked or still open is not distinguished: counted until the last link goes). */
  inodes = 0;
  #nextIno = 1;

  constructor(options: TmpfsOptions = {}) {
    this.maxBytes = options.maxBytes ?? 1 << 30;
    this.maxInodes = options.maxInodes ?? 1 << 20;
    this.root = new TmpInode(this, S_IFDIR | ((options.rootMode ?? 0o1777) & 0o7777), {
      uid: options.uid ?? 0,
      gid: options.gid ?? 0,
    });
    this.root.dirParent = this.root;
  }

  statfs(): StatFs {
    const blocks = Math.floor(this.maxBytes / 4096);
    const used = Math.ceil(this.usedBytes / 4096);
    return {
      type: 0x01021994, // TMPFS_MAGIC
      bsize: 4096,
      blocks,
      bfree: Math.max(0, blocks - used),
      bavail: Math.max(0, blocks - used),
      files: this.maxInodes,
      ffree: Math.max(0, this.maxInodes - this.inodes),
      namelen: 255,
    };
  }

  allocIno(): number {
    if (this.inodes >= this.maxInodes) fail(ENOSPC);
    this.inodes++;
    this.#nextIno += 1;
    return this.#nextIno;
  }
}

export class TmpInode extends Inode {
  readonly ino: number;
  #mode: number;
  uid: number;
  gid: number;
  nlink: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  readonly btime: Timespec;
  // regular files
  data: Uint8Array = new Uint8Array(0);
  size = 0;
  // directories
  children: Map<string, TmpInode> | null = null;
  dirParent: TmpInode | null = null;
  dirName = "";
  removed = false;
  // symlinks
  target = "";

  constructor(
    readonly fs: Tmpfs,
    mode: number,
    cred: Cred,
  ) {
    super();
    this.ino = fs === undefined ? 0 : fs.allocIno();
    this.#mode = mode;
    this.uid = cred.uid;
    this.gid = cred.gid;
    const now = fsClock.now();
    this.atime = now;
    this.mtime = now;
    this.ctime = now;
    this.btime = now;
    if ((mode & S_IFMT) === S_IFDIR) {
      this.children = new Map();
      this.nlink = 2;
    } else {
      this.nlink = 1;
    }
  }

  get mode(): number {
    return this.#mode;
  }

  getattr(): Stat {
    const size = this.isRegular ? this.size : this.isSymlink ? this.target.length : this.isDir ? 4096 : 0;
    return {
      dev: this.fs.dev,
      ino: this.ino,
      mode: this.#mode,
      nlink: this.nlink,
      uid: this.uid,
      gid: this.gid,
      rdev: 0,
      size,
      blksize: 4096,
      blocks: this.isRegular ? Math.ceil(this.data.byteLength / 4096) * 8 : this.isDir ? 8 : 0,
      atimeSec: this.atime.sec,
      atimeNsec: this.atime.nsec,
      mtimeSec: this.mtime.sec,
      mtimeNsec: this.mtime.nsec,
      ctimeSec: this.ctime.sec,
      ctimeNsec: this.ctime.nsec,
      btimeSec: this.btime.sec,
      btimeNsec: this.btime.nsec,
    };
  }

  /** relatime: atime moves when it is not after mtime/ctime, or is a day old (fs/inode.c relatime_need_update). */
  accessed(): void {
    const a = this.atime;
    const before = (x: Timespec) => a.sec < x.sec || (a.sec === x.sec && a.nsec <= x.nsec);
    const now = fsClock.now();
    if (before(this.mtime) || before(this.ctime) || now.sec - a.sec >= 24 * 60 * 60) this.atime = now;
  }

  touch(m = true, c = true): void {
    const now = fsClock.now();
    if (m) this.mtime = now;
    if (c) this.ctime = now;
  }

  // ---- directories ----
  #dir(): Map<string, TmpInode> {
    if (this.children === null) fail(ENOTDIR);
    return this.children;
  }
  override lookup(name: string): Inode | null {
    return this.#dir().get(name) ?? null;
  }
  override parent(): Inode {
    return this.dirParent ?? this;
  }
  override nameInParent(): string {
    return this.dirName;
  }
  override get unlinked(): boolean {
    return this.removed;
  }
  #add(name: string, child: TmpInode): void {
    const dir = this.#dir();
    if (dir.has(name)) fail(EEXIST);
    dir.set(name, child);
    if (child.children !== null) {
      child.dirParent = this;
      child.dirName = name;
      this.nlink++;
    }
    this.touch();
  }
  override create(name: string, mode: number, cred: Cred): Inode {
    const node = new TmpInode(this.fs, S_IFREG | (mode & 0o7777), this.#owner(cred));
    this.#add(name, node);
    return node;
  }
  override tmpfile(mode: number, cred: Cred): Inode {
    this.#dir();
    const node = new TmpInode(this.fs, S_IFREG | (mode & 0o7777), this.#owner(cred));
    node.nlink = 0;
    this.fs.inodes--; // counted again only if it is ever linked
    return node;
  }
  override mkdir(name: string, mode: number, cred: Cred): Inode {
    const own = this.#owner(cred);
    const node = new TmpInode(this.fs, S_IFDIR | (mode & 0o7777) | (this.#mode & 0o2000), own);
    this.#add(name, node);
    return node;
  }
  override symlink(name: string, target: string, cred: Cred): Inode {
    const node = new TmpInode(this.fs, S_IFLNK | 0o777, this.#owner(cred));
    node.target = target;
    this.#add(name, node);
    return node;
  }
  /** Files made in a set-group-ID directory take its group. */
  #owner(cred: Cred): Cred {
    return { uid: cred.uid, gid: this.#mode & 0o2000 ? this.gid : cred.gid };
  }
  override link(name: string, target: Inode): void {
    if (!(target instanceof TmpInode) || target.fs !== this.fs) fail(EPERM);
    if (target.isDir) fail(EPERM);
    this.#add(name, target);
    if (target.nlink === 0) this.fs.inodes++; // an O_TMPFILE file gets its first name
    target.nlink++;
    target.touch(false, true);
  }
  override unlink(name: string): void {
    const dir = this.#dir();
    const child = dir.get(name);
    if (!child) fail(ENOENT);
    if (child.isDir) fail(EISDIR);
    dir.delete(name);
    child.nlink--;
    child.touch(false, true);
    this.touch();
    if (child.nlink === 0) child.#dropData();
  }
  /** Data of an unlinked file stays while descriptions hold it; its space is returned when the last link goes. */
  #dropData(): void {
    this.fs.inodes--;
    // The bytes stay readable through open descriptions (they hold this inode);
    // only the accounting is returned, as a later GC frees the buffer.
    this.fs.usedBytes -= this.data.byteLength;
    this.#accounted = false;
  }
  #accounted = true;
  override rmdir(name: string): void {
    const dir = this.#dir();
    const child = dir.get(name);
    if (!child) fail(ENOENT);
    if (!child.isDir) fail(ENOTDIR);
    if (child.children && child.children.size > 0) fail(ENOTEMPTY);
    dir.delete(name);
    child.removed = true;
    child.nlink = 0;
    this.fs.inodes--;
    this.nlink--;
    child.touch(false, true);
    this.touch();
  }
  override rename(oldName: string, newDirI: Inode, newName: string, flags: number): void {
    const newDir = newDirI as TmpInode;
    const from = this.#dir();
    const to = newDir.#dir();
    const src = from.get(oldName);
    if (!src) fail(ENOENT);
    const dst = to.get(newName);
    if (flags & RENAME_EXCHANGE) {
      if (!dst) fail(ENOENT);
      from.set(oldName, dst);
      to.set(newName, src);
      if (src.isDir) {
        src.dirParent = newDir;
        src.dirName = newName;
      }
      if (dst.isDir) {
        dst.dirParent = this;
        dst.dirName = oldName;
      }
      if (src.isDir !== dst.isDir && this !== newDir) {
        const [dirGains, dirLoses] = src.isDir ? [newDir, this as TmpInode] : [this as TmpInode, newDir];
        dirGains.nlink++;
        dirLoses.nlink--;
      }
      src.touch(false, true);
      dst.touch(false, true);
      this.touch();
      newDir.touch();
      return;
    }
    if (dst === src) return;
    if (dst) {
      if (src.isDir) {
        if (!dst.isDir) fail(ENOTDIR);
        if (dst.children && dst.children.size > 0) fail(ENOTEMPTY);
        to.delete(newName);
        dst.removed = true;
        dst.nlink = 0;
        this.fs.inodes--;
        newDir.nlink--;
      } else {
        if (dst.isDir) fail(EISDIR);
        to.delete(newName);
        dst.nlink--;
        if (dst.nlink === 0) dst.#dropData();
      }
      dst.touch(false, true);
    }
    from.delete(oldName);
    to.set(newName, src);
    if (src.isDir) {
      src.dirParent = newDir;
      src.dirName = newName;
      this.nlink--;
      newDir.nlink++;
    }
    src.touch(false, true);
    this.touch();
    newDir.touch();
  }
  override readdir(): DirEntry[] {
    const out: DirEntry[] = [];
    for (const [name, node] of this.#dir()) out.push({ name, ino: node.ino, type: node.mode & S_IFMT });
    return out;
  }

  // ---- symlinks ----
  override readlink(): string {
    if (!this.isSymlink) fail(EINVAL);
    this.accessed();
    return this.target;
  }

  // ---- attributes ----
  override setattr(a: SetAttr): void {
    if (a.size !== undefined) {
      if (this.isDir) fail(EISDIR);
      if (!this.isRegular) fail(EINVAL);
      this.resize(a.size);
      this.touch();
    }
    if (a.mode !== undefined) this.#mode = (this.#mode & S_IFMT) | (a.mode & 0o7777);
    if (a.uid !== undefined) this.uid = a.uid;
    if (a.gid !== undefined) this.gid = a.gid;
    if (a.atime) this.atime = a.atime;
    if (a.mtime) this.mtime = a.mtime;
    this.ctime = fsClock.now();
  }

  /** Sets the file size, growing (zero-filled) or shrinking; throws ENOSPC/EFBIG. */
  /**
   * Sets the file size. Growing is sparse: bytes past the stored data read as
   * zeros and take no memory until written (like tmpfs holes).
   */
  resize(size: number): void {
    if (size < 0) fail(EINVAL);
    if (size > MAX_FILE) fail(EFBIG);
    if (size < this.size) {
      const stored = this.data.byteLength;
      if (size < stored) this.data.fill(0, size, Math.min(this.size, stored));
      if (size === 0 && stored > 65536) this.#reallocate(0);
    }
    this.size = size;
  }
  /** Makes room for data up to `end` (a write). */
  ensure(end: number): void {
    if (end > this.data.byteLength) this.#reserve(end);
  }
  #reserve(need: number): void {
    if (need > MAX_DATA) fail(ENOSPC);
    const cap = Math.min(MAX_DATA, Math.max(need, this.data.byteLength * 2, 64));
    this.#reallocate(cap, need);
  }
  #reallocate(cap: number, need = cap): void {
    const delta = this.#accounted ? cap - this.data.byteLength : 0;
    if (delta > 0 && this.fs.usedBytes + delta > this.fs.maxBytes) {
      // Fall back to exactly what is needed before giving up.
      const exact = this.#accounted ? need - this.data.byteLength : 0;
      if (cap === need || this.fs.usedBytes + exact > this.fs.maxBytes) fail(ENOSPC);
      this.#reallocate(need);
      return;
    }
    const next = new Uint8Array(cap);
    next.set(this.data.subarray(0, Math.min(this.size, cap, this.data.byteLength)));
    this.data = next;
    this.fs.usedBytes += delta;
  }

  override open(flags: number, _ctx: OpenContext): FileDescription {
    if (this.isDir) {
      return new DirectoryDescription(flags, this, () => {
        this.accessed();
        const list: DirEntry[] = [
          { name: ".", ino: this.ino, type: S_IFDIR },
          { name: "..", ino: this.parent().ino, type: S_IFDIR },
        ];
        return list.concat(this.readdir());
      });
    }
    if (this.isRegular && flags & O_TRUNC && this.size > 0) {
      this.resize(0);
      this.touch();
    }
    return new TmpFileDescription(flags, this);
  }
}

export class TmpFileDescription extends FileDescription {
  override get mmapKind(): "file" {
    return "file";
  }
  constructor(
    flags: number,
    readonly node: TmpInode,
  ) {
    super(flags, node);
  }
  override read(dst: Uint8Array): number {
    const n = this.pread(dst, this.offset);
    if (n > 0) this.offset += n;
    return n;
  }
  override pread(dst: Uint8Array, pos: number): number {
    const node = this.node;
    if (pos < 0) return -EINVAL;
    if (dst.byteLength > 0) node.accessed();
    if (pos >= node.size) return 0;
    const n = Math.min(dst.byteLength, node.size - pos);
    const stored = Math.max(0, Math.min(n, node.data.byteLength - pos));
    if (stored > 0) dst.set(node.data.subarray(pos, pos + stored));
    if (stored < n) dst.fill(0, stored, n); // a hole
    return n;
  }
  override write(src: Uint8Array): number {
    if (this.append) this.offset = this.node.size;
    const n = this.pwriteAt(src, this.offset);
    if (n > 0) this.offset += n;
    return n;
  }
  override pwrite(src: Uint8Array, pos: number): number {
    // Linux: pwrite on an O_APPEND file appends (a documented bug kept for compatibility).
    return this.pwriteAt(src, this.append ? this.node.size : pos);
  }
  pwriteAt(src: Uint8Array, pos: number): number {
    const node = this.node;
    if (pos < 0) return -EINVAL;
    const len = src.byteLength;
    if (len === 0) return 0;
    const end = pos + len;
    if (end > MAX_FILE) {
      if (pos >= MAX_FILE) return -EFBIG;
      return this.pwriteAt(src.subarray(0, MAX_FILE - pos), pos);
    }
    try {
      node.ensure(end);
    } catch {
      return -ENOSPC;
    }
    if (end > node.size) node.size = end;
    node.data.set(src, pos);
    node.touch();
    return len;
  }
  override seek(off: number, whence: number): number {
    return seekRegular(this, off, whence, this.node.size);
  }
  override truncate(size: number): number {
    try {
      this.node.setattr({ size });
      return 0;
    } catch (e) {
      return -((e as { errno?: number }).errno ?? EINVAL);
    }
  }
}
