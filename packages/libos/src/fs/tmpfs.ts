// tmpfs: a file system in memory with Linux's semantics (mm/shmem.c, fs/libfs.c).

import { ByteBudget, DEFAULT_BUDGET_BYTES } from "../budget.js";
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
  /**
   * Bytes of file data this file system may hold (its size=; ENOSPC beyond).
   * Default: no cap of its own when a `budget` is given, else 1 GiB.
   */
  maxBytes?: number;
  /**
   * The sandbox's byte budget, shared by all its tmpfs mounts (and its pipes,
   * threads...): file data, names, symlink targets and a fixed cost per inode
   * are charged to it (ENOSPC when it is spent). Default: a budget of its own
   * (`maxBytes` for the data, and 1 GiB more for the metadata).
   */
  budget?: ByteBudget;
  /** Files, directories and symlinks it may hold (ENOSPC beyond); default 2^20. */
  maxInodes?: number;
  /** Mode of the root directory; default 0o1777 (like /tmp). */
  rootMode?: number;
  uid?: number;
  gid?: number;
}

/** The largest tmpfs file size (every offset stays a safe integer); holes cost nothing. */
const MAX_FILE = Number.MAX_SAFE_INTEGER;
/**
 * File data is stored in chunks of at most this many bytes, each allocated
 * when first written (holes cost nothing, as tmpfs pages) and grown by
 * doubling up to this size: a growing file never copies more than one chunk,
 * so the host never holds much more than the charged bytes.
 */
export const CHUNK = 1 << 16;

/** Walks [pos, pos + len) chunk by chunk: chunk i, the offset in it, the bytes taken there, the bytes before. */
function spans(pos: number, len: number, f: (i: number, off: number, take: number, done: number) => void): void {
  for (let done = 0; done < len; ) {
    const at = pos + done;
    const i = Math.floor(at / CHUNK);
    const off = at - i * CHUNK;
    const take = Math.min(CHUNK - off, len - done);
    f(i, off, take, done);
    done += take;
  }
}

/**
 * What the host holds for one inode besides its data (the TmpInode object,
 * its times, its empty data array or its children map), charged to the
 * budget so that even empty files are bounded (measured on Node 20: ~0.5 KiB
 * for an empty file and its name).
 */
export const INODE_COST = 1024;
/** What one directory entry costs besides its name's bytes (the map entry, the string header). */
export const DIRENT_COST = 96;

/** The budget charge of a directory entry named `name` (two bytes a character: V8 may store it as UTF-16). */
function direntCost(name: string): number {
  return DIRENT_COST + 2 * name.length;
}
/** The budget charge of a symlink target. */
function targetCost(target: string): number {
  return 2 * target.length;
}

export class Tmpfs implements FileSystem {
  readonly type = "tmpfs";
  readonly dev = allocDev();
  readonly root: TmpInode;
  readonly maxBytes: number;
  readonly maxInodes: number;
  readonly budget: ByteBudget;
  /** Bytes of file data held (a file unlinked but still open included). */
  usedBytes = 0;
  /** Live inodes: linked, or unlinked but still open (as Linux counts them until eviction). */
  inodes = 0;
  #nextIno = 1;

  constructor(options: TmpfsOptions = {}) {
    this.maxBytes = options.maxBytes ?? (options.budget ? Number.POSITIVE_INFINITY : DEFAULT_BUDGET_BYTES);
    // Alone, a budget of its own: its data cap (maxBytes counts data only) and room for its metadata.
    const own = Number.isFinite(this.maxBytes) ? this.maxBytes + DEFAULT_BUDGET_BYTES : DEFAULT_BUDGET_BYTES;
    this.budget = options.budget ?? new ByteBudget(own);
    this.maxInodes = options.maxInodes ?? 1 << 20;
    this.root = new TmpInode(this, S_IFDIR | ((options.rootMode ?? 0o1777) & 0o7777), {
      uid: options.uid ?? 0,
      gid: options.gid ?? 0,
    });
    this.root.dirParent = this.root;
  }

  statfs(): StatFs {
    // The size is what this file system may still grow to: its own cap, and what the sandbox's budget has left.
    const used = Math.ceil(this.usedBytes / 4096);
    const free = Math.max(
      0,
      Math.min(Math.floor((this.maxBytes - this.usedBytes) / 4096), Math.floor(this.budget.free / 4096)),
    );
    const blocks = Math.min(Math.floor(this.maxBytes / 4096), used + free);
    return {
      type: 0x01021994, // TMPFS_MAGIC
      bsize: 4096,
      blocks,
      bfree: free,
      bavail: free,
      files: this.maxInodes,
      ffree: Math.max(0, this.maxInodes - this.inodes),
      namelen: 255,
    };
  }

  allocIno(): number {
    if (this.inodes >= this.maxInodes) fail(ENOSPC);
    if (!this.budget.charge(INODE_COST)) fail(ENOSPC);
    this.inodes++;
    this.#nextIno += 1;
    return this.#nextIno;
  }

  /** Takes `n` bytes of file data (this file system's cap, then the budget); false when they do not fit. */
  chargeData(n: number): boolean {
    if (n <= 0) return true;
    if (this.usedBytes + n > this.maxBytes || !this.budget.charge(n)) return false;
    this.usedBytes += n;
    return true;
  }
  releaseData(n: number): void {
    if (n <= 0) return;
    this.usedBytes -= n;
    this.budget.release(n);
  }
  /** Charges a name or symlink target (ENOSPC when the budget is spent). */
  chargeMeta(n: number): void {
    if (!this.budget.charge(n)) fail(ENOSPC);
  }
  releaseMeta(n: number): void {
    this.budget.release(n);
  }
  /** An inode has gone (its last link and its last open description). */
  freeIno(): void {
    this.inodes--;
    this.budget.release(INODE_COST);
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
  // regular files: chunk index -> its bytes (missing: a hole); `stored` bytes in all
  readonly chunks = new Map<number, Uint8Array>();
  stored = 0;
  size = 0;
  // directories
  children: Map<string, TmpInode> | null = null;
  dirParent: TmpInode | null = null;
  dirName = "";
  removed = false;
  // symlinks
  target = "";
  /** Open descriptions of this (regular) file: an unlinked file lives, and stays charged, until the last closes. */
  opens = 0;
  /** Set when the inode has gone and its charges were returned. */
  #dead = false;

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
      blocks: this.isRegular ? Math.ceil(this.stored / 4096) * 8 : this.isDir ? 8 : 0,
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
    this.fs.chargeMeta(direntCost(name));
    dir.set(name, child);
    if (child.children !== null) {
      child.dirParent = this;
      child.dirName = name;
      this.nlink++;
    }
    this.touch();
  }
  /** Links a new inode under `name`; the inode goes again when that fails (EEXIST, ENOSPC). */
  #addNew(name: string, node: TmpInode): TmpInode {
    try {
      this.#add(name, node);
    } catch (e) {
      node.nlink = 0;
      node.#die();
      throw e;
    }
    return node;
  }
  override create(name: string, mode: number, cred: Cred): Inode {
    this.#dir();
    return this.#addNew(name, new TmpInode(this.fs, S_IFREG | (mode & 0o7777), this.#owner(cred)));
  }
  override tmpfile(mode: number, cred: Cred): Inode {
    this.#dir();
    // Unnamed, but an inode all the same (Linux counts it): it goes when its last description closes.
    const node = new TmpInode(this.fs, S_IFREG | (mode & 0o7777), this.#owner(cred));
    node.nlink = 0;
    return node;
  }
  override mkdir(name: string, mode: number, cred: Cred): Inode {
    this.#dir();
    const own = this.#owner(cred);
    return this.#addNew(name, new TmpInode(this.fs, S_IFDIR | (mode & 0o7777) | (this.#mode & 0o2000), own));
  }
  override symlink(name: string, target: string, cred: Cred): Inode {
    this.#dir();
    const node = new TmpInode(this.fs, S_IFLNK | 0o777, this.#owner(cred));
    try {
      this.fs.chargeMeta(targetCost(target));
    } catch (e) {
      node.nlink = 0;
      node.#die();
      throw e;
    }
    node.target = target;
    return this.#addNew(name, node);
  }
  /** Files made in a set-group-ID directory take its group. */
  #owner(cred: Cred): Cred {
    return { uid: cred.uid, gid: this.#mode & 0o2000 ? this.gid : cred.gid };
  }
  override link(name: string, target: Inode): void {
    if (!(target instanceof TmpInode) || target.fs !== this.fs) fail(EPERM);
    if (target.isDir) fail(EPERM);
    if (target.#dead) fail(ENOENT);
    this.#add(name, target);
    target.nlink++;
    target.touch(false, true);
  }
  override unlink(name: string): void {
    const dir = this.#dir();
    const child = dir.get(name);
    if (!child) fail(ENOENT);
    if (child.isDir) fail(EISDIR);
    this.#removeEntry(dir, name);
    child.nlink--;
    child.touch(false, true);
    this.touch();
    child.#lastUse();
  }
  /** Removes a directory entry and returns its name's charge. */
  #removeEntry(dir: Map<string, TmpInode>, name: string): void {
    dir.delete(name);
    this.fs.releaseMeta(direntCost(name));
  }
  /** The inode goes when neither a name nor an open description holds it (an unlinked open file keeps its charge). */
  #lastUse(): void {
    if (this.nlink === 0 && this.opens === 0) this.#die();
  }
  /** Returns every charge of a gone inode and drops its data. */
  #die(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.fs.releaseData(this.stored);
    this.chunks.clear();
    this.stored = 0;
    this.size = 0;
    if (this.isSymlink) this.fs.releaseMeta(targetCost(this.target));
    this.fs.freeIno();
  }
  /** A description of this file was closed for the last time. */
  closed(): void {
    this.opens--;
    this.#lastUse();
  }
  override rmdir(name: string): void {
    const dir = this.#dir();
    const child = dir.get(name);
    if (!child) fail(ENOENT);
    if (!child.isDir) fail(ENOTDIR);
    if (child.children && child.children.size > 0) fail(ENOTEMPTY);
    this.#removeEntry(dir, name);
    child.removed = true;
    child.nlink = 0;
    child.#die();
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
    // Names: src's entry moves to newName (a replaced dst's entry is reused), so only the name lengths differ.
    if (dst === undefined && !this.fs.budget.resize(direntCost(oldName), direntCost(newName))) fail(ENOSPC);
    if (dst) {
      if (src.isDir) {
        if (!dst.isDir) fail(ENOTDIR);
        if (dst.children && dst.children.size > 0) fail(ENOTEMPTY);
        to.delete(newName);
        dst.removed = true;
        dst.nlink = 0;
        dst.#die();
        newDir.nlink--;
      } else {
        if (dst.isDir) fail(EISDIR);
        to.delete(newName);
        dst.nlink--;
        dst.#lastUse();
      }
      this.fs.releaseMeta(direntCost(oldName));
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

  /**
   * Sets the file size (throws EINVAL/EFBIG). Growing is sparse: bytes past the
   * stored data read as zeros and take no memory until written (tmpfs holes);
   * shrinking returns the chunks beyond the end.
   */
  resize(size: number): void {
    if (size < 0) fail(EINVAL);
    if (size > MAX_FILE) fail(EFBIG);
    if (size < this.size) {
      const keep = Math.ceil(size / CHUNK);
      for (const [i, c] of this.chunks) {
        if (i >= keep) {
          this.chunks.delete(i);
          this.stored -= c.byteLength;
          this.fs.releaseData(c.byteLength);
        } else if (i === keep - 1) c.fill(0, size - i * CHUNK); // the tail reads as zeros if it grows again
      }
    }
    this.size = size;
  }

  /** Copies [pos, pos + dst.length) of the data (zeros in holes and past the stored bytes). */
  readAt(dst: Uint8Array, pos: number): void {
    spans(pos, dst.byteLength, (i, off, take, done) => {
      const c = this.chunks.get(i);
      const have = c === undefined ? 0 : Math.max(0, Math.min(take, c.byteLength - off));
      if (have > 0) dst.set(c!.subarray(off, off + have), done);
      if (have < take) dst.fill(0, done + have, done + take);
    });
  }

  /** Stores `src` at `pos`: all of it, or nothing and ENOSPC when its chunks do not fit. */
  writeAt(src: Uint8Array, pos: number): void {
    const end = pos + src.byteLength;
    const first = Math.floor(pos / CHUNK);
    const last = Math.floor((end - 1) / CHUNK);
    // What each touched chunk must grow to: doubling (fewer copies) if the whole write fits so, else exactly.
    const grow = (exact: boolean): Array<[number, number]> => {
      const out: Array<[number, number]> = [];
      for (let i = first; i <= last; i++) {
        const need = Math.min(CHUNK, end - i * CHUNK);
        const len = this.chunks.get(i)?.byteLength ?? 0;
        if (need <= len) continue;
        let cap = need;
        if (!exact) {
          cap = Math.max(64, len * 2);
          while (cap < need) cap *= 2;
          cap = Math.min(CHUNK, cap);
        }
        out.push([i, cap]);
      }
      return out;
    };
    const delta = (g: Array<[number, number]>) =>
      g.reduce((sum, [i, cap]) => sum + cap - (this.chunks.get(i)?.byteLength ?? 0), 0);
    let plan = grow(false);
    if (!this.fs.chargeData(delta(plan))) {
      plan = grow(true);
      if (!this.fs.chargeData(delta(plan))) fail(ENOSPC);
    }
    for (const [i, cap] of plan) {
      const old = this.chunks.get(i);
      const next = new Uint8Array(cap);
      if (old) next.set(old);
      this.stored += cap - (old?.byteLength ?? 0);
      this.chunks.set(i, next);
    }
    spans(pos, src.byteLength, (i, off, take, done) => this.chunks.get(i)!.set(src.subarray(done, done + take), off));
  }

  override open(flags: number, _ctx: OpenContext): FileDescription {
    if (this.isDir) {
      const d = new DirectoryDescription(flags, this, () => {
        this.accessed();
        const list: DirEntry[] = [
          { name: ".", ino: this.ino, type: S_IFDIR },
          { name: "..", ino: this.parent().ino, type: S_IFDIR },
        ];
        return list.concat(this.readdir());
      });
      d.budget = this.fs.budget;
      return d;
    }
    if (this.#dead) fail(ENOENT);
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
    node.opens++;
  }
  protected override release(): void {
    this.node.closed();
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
    node.readAt(n === dst.byteLength ? dst : dst.subarray(0, n), pos);
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
      node.writeAt(src, pos);
    } catch {
      return -ENOSPC;
    }
    if (end > node.size) node.size = end;
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
