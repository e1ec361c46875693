// Synthetic file systems: directories, text files and symlinks computed on
// demand (procfs), and device nodes (devfs). Read-only except devices.

import type { ByteBudget } from "../budget.js";
import { EACCES, EINVAL, ENOMEM, ENOSPC, EPERM } from "../errno.js";
import { S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from "./constants.js";
import { makeDev } from "./layout.js";
import { fsClock } from "./time.js";
import {
  allocDev,
  type DirEntry,
  DirectoryDescription,
  FileDescription,
  type FileSystem,
  fail,
  Inode,
  type IoctlIo,
  type OpenContext,
  type Stat,
  type StatFs,
  seekRegular,
} from "./types.js";
import type { Loc } from "./vfs.js";

export class SynthFs implements FileSystem {
  readonly dev = allocDev();
  readonly root: SynthDir;
  #inos = new Map<string, number>();
  readonly mountTime = fsClock.now();
  /**
   * The sandbox's byte budget: the snapshots open descriptions hold (a
   * directory's listing, a file's text) are charged to it, as a program
   * can hold thousands of them (/proc/self/fd listings grow with the fds).
   */
  budget: ByteBudget | null = null;
  constructor(
    readonly type: string,
    children: () => Map<string, SynthNode>,
  ) {
    this.root = new SynthDir(this, "", null, children);
  }
  statfs(): StatFs {
    const proc = this.type === "proc";
    return {
      type: proc ? 0x9fa0 : 0x01021994, // PROC_SUPER_MAGIC, TMPFS_MAGIC (devtmpfs)
      bsize: 4096,
      blocks: 0,
      bfree: 0,
      bavail: 0,
      files: 0,
      ffree: 0,
      namelen: 255,
    };
  }
  /** Stable inode numbers by path key. */
  inoFor(key: string): number {
    let n = this.#inos.get(key);
    if (n === undefined) {
      n = this.#inos.size + 2;
      this.#inos.set(key, n);
    }
    return n;
  }
}

/** A node description before it becomes an inode under some directory. */
export type SynthNode =
  | { kind: "dir"; children: () => Map<string, SynthNode>; mode?: number }
  | { kind: "file"; content: () => Uint8Array | string; mode?: number }
  | { kind: "link"; target: () => string; magic?: () => Loc | null }
  | { kind: "dev"; rdev: [number, number]; mode?: number; open: (flags: number) => FileDescription };

function baseStat(fs: SynthFs, ino: number, mode: number, nlink: number, size: number, rdev = 0): Stat {
  const t = fs.mountTime;
  return {
    dev: fs.dev,
    ino,
    mode,
    nlink,
    uid: 0,
    gid: 0,
    rdev,
    size,
    blksize: 4096,
    blocks: 0,
    atimeSec: t.sec,
    atimeNsec: t.nsec,
    mtimeSec: t.sec,
    mtimeNsec: t.nsec,
    ctimeSec: t.sec,
    ctimeNsec: t.nsec,
  };
}

export class SynthDir extends Inode {
  readonly ino: number;
  constructor(
    readonly fs: SynthFs,
    readonly key: string,
    readonly up: SynthDir | null,
    readonly children: () => Map<string, SynthNode>,
    readonly perm = 0o555,
  ) {
    super();
    this.ino = key === "" ? 1 : fs.inoFor(key);
  }
  get mode(): number {
    return S_IFDIR | this.perm;
  }
  getattr(): Stat {
    return baseStat(this.fs, this.ino, this.mode, 2, 0);
  }
  override lookup(name: string): Inode | null {
    const node = this.children().get(name);
    return node ? this.#inode(name, node) : null;
  }
  #inode(name: string, node: SynthNode): Inode {
    const key = `${this.key}/${name}`;
    switch (node.kind) {
      case "dir":
        return new SynthDir(this.fs, key, this, node.children, node.mode ?? 0o555);
      case "file":
        return new SynthFile(this.fs, key, node.content, node.mode ?? 0o444);
      case "link":
        return new SynthLink(this.fs, key, node.target, node.magic);
      case "dev":
        return new SynthDevice(this.fs, key, node);
    }
  }
  override parent(): Inode {
    return this.up ?? this;
  }
  override nameInParent(): string {
    return this.key.slice(this.key.lastIndexOf("/") + 1);
  }
  override readdir(): DirEntry[] {
    const out: DirEntry[] = [];
    for (const [name, node] of this.children()) {
      const type =
        node.kind === "dir" ? S_IFDIR : node.kind === "file" ? S_IFREG : node.kind === "link" ? S_IFLNK : S_IFCHR;
      out.push({ name, ino: this.fs.inoFor(`${this.key}/${name}`), type });
    }
    return out;
  }
  override create(): Inode {
    fail(EACCES);
  }
  override mkdir(): Inode {
    fail(EACCES);
  }
  override symlink(): Inode {
    fail(EACCES);
  }
  override unlink(): void {
    fail(EACCES);
  }
  override rmdir(): void {
    fail(EACCES);
  }
  override link(): void {
    fail(EACCES);
  }
  override rename(): void {
    fail(EACCES);
  }
  open(flags: number): FileDescription {
    const d = new DirectoryDescription(flags, this, () => [
      { name: ".", ino: this.ino, type: S_IFDIR },
      { name: "..", ino: this.parent().ino, type: S_IFDIR },
      ...this.readdir(),
    ]);
    d.budget = this.fs.budget;
    return d;
  }
}

export class SynthFile extends Inode {
  readonly ino: number;
  constructor(
    readonly fs: SynthFs,
    key: string,
    readonly content: () => Uint8Array | string,
    readonly perm: number,
  ) {
    super();
    this.ino = fs.inoFor(key);
  }
  get mode(): number {
    return S_IFREG | this.perm;
  }
  getattr(): Stat {
    // procfs reports size 0 for generated files.
    return baseStat(this.fs, this.ino, this.mode, 1, 0);
  }
  open(flags: number): FileDescription {
    const c = this.content();
    const bytes = typeof c === "string" ? Buffer.from(c, "latin1") : c;
    const budget = this.fs.budget;
    if (budget && !budget.charge(bytes.byteLength)) fail(ENOMEM);
    return new BytesDescription(flags, this, bytes, budget);
  }
}

/** A read-only description over a snapshot of bytes (taken at open, like seq_file's first read). */
export class BytesDescription extends FileDescription {
  constructor(
    flags: number,
    inode: Inode | null,
    readonly bytes: Uint8Array,
    /** Charged bytes.byteLength by the opener, returned when the last reference goes. */
    private readonly budget: ByteBudget | null = null,
  ) {
    super(flags, inode);
  }
  protected override release(): void {
    this.budget?.release(this.bytes.byteLength);
  }
  override read(dst: Uint8Array): number {
    const n = this.pread(dst, this.offset);
    if (n > 0) this.offset += n;
    return n;
  }
  override pread(dst: Uint8Array, pos: number): number {
    if (pos < 0) return -EINVAL;
    if (pos >= this.bytes.byteLength) return 0;
    const n = Math.min(dst.byteLength, this.bytes.byteLength - pos);
    dst.set(this.bytes.subarray(pos, pos + n));
    return n;
  }
  override write(): number {
    return -EINVAL;
  }
  override pwrite(): number {
    return -EINVAL;
  }
  override seek(off: number, whence: number): number {
    return seekRegular(this, off, whence, this.bytes.byteLength);
  }
}

export class SynthLink extends Inode {
  readonly ino: number;
  constructor(
    readonly fs: SynthFs,
    key: string,
    readonly target: () => string,
    readonly jump?: () => Loc | null,
  ) {
    super();
    this.ino = fs.inoFor(key);
  }
  get mode(): number {
    return S_IFLNK | 0o777;
  }
  override magic(): Loc | null {
    return this.jump ? this.jump() : null;
  }
  getattr(): Stat {
    return baseStat(this.fs, this.ino, this.mode, 1, 0);
  }
  override readlink(): string {
    return this.target();
  }
  open(): FileDescription {
    fail(40);
  }
}

export class SynthDevice extends Inode {
  readonly ino: number;
  constructor(
    readonly fs: SynthFs,
    key: string,
    readonly node: Extract<SynthNode, { kind: "dev" }>,
  ) {
    super();
    this.ino = fs.inoFor(key);
  }
  get mode(): number {
    return S_IFCHR | (this.node.mode ?? 0o666);
  }
  getattr(): Stat {
    return baseStat(this.fs, this.ino, this.mode, 1, 0, makeDev(this.node.rdev[0], this.node.rdev[1]));
  }
  override setattr(): void {
    fail(EPERM);
  }
  open(flags: number, _ctx: OpenContext): FileDescription {
    const d = this.node.open(flags);
    d.inode = this;
    return d;
  }
}

// ------------------------------------------------------------------ devices

/** /dev/null: reads EOF, swallows writes. */
export class NullDevice extends FileDescription {
  override read(_dst: Uint8Array): number {
    return 0;
  }
  override pread(_dst: Uint8Array, _pos: number): number {
    return 0;
  }
  override write(src: Uint8Array): number {
    return src.byteLength;
  }
  override pwrite(src: Uint8Array, _pos: number): number {
    return src.byteLength;
  }
  override seek(): number {
    this.offset = 0;
    return 0;
  }
}

/** /dev/zero: reads zeros, swallows writes; mmap gives anonymous memory. */
export class ZeroDevice extends NullDevice {
  override get mmapKind(): "zero" {
    return "zero";
  }
  override read(dst: Uint8Array): number {
    dst.fill(0);
    return dst.byteLength;
  }
  override pread(dst: Uint8Array): number {
    dst.fill(0);
    return dst.byteLength;
  }
}

/** /dev/full: reads zeros, writes fail with ENOSPC. */
export class FullDevice extends ZeroDevice {
  override write(_src: Uint8Array): number {
    return -ENOSPC;
  }
  override pwrite(_src: Uint8Array, _pos: number): number {
    return -ENOSPC;
  }
}

/** /dev/urandom and /dev/random. */
export class RandomDevice extends NullDevice {
  constructor(
    flags: number,
    readonly fill: (buf: Uint8Array) => void,
  ) {
    super(flags, null);
  }
  override read(dst: Uint8Array): number {
    this.fill(dst);
    return dst.byteLength;
  }
  override pread(dst: Uint8Array): number {
    return this.read(dst);
  }
}

/** An open description seen through /proc/self/fd/N when it has no location (pipes, stdio). */
export class DescInode extends Inode {
  constructor(
    readonly fs: FileSystem,
    readonly desc: FileDescription,
    readonly ino: number,
  ) {
    super();
  }
  get mode(): number {
    return this.desc.stat().mode;
  }
  getattr(): Stat {
    return this.desc.stat();
  }
  override get reopens(): boolean {
    return true;
  }
  open(flags: number): FileDescription {
    return this.desc.reopen(flags);
  }
}

export function isDir(mode: number): boolean {
  return (mode & S_IFMT) === S_IFDIR;
}

export type { IoctlIo };
