// The VFS: a mount table and Linux's path walk (fs/namei.c) over any FileSystem.
//
// A location is a (mount, inode) pair. Walking ".." never leaves the process's
// root and crosses mount boundaries through the mount point, so a path can only
// ever reach what is mounted below the root.

import {
  EACCES,
  EBUSY,
  EEXIST,
  EINVAL,
  EISDIR,
  ELOOP,
  ENAMETOOLONG,
  ENOENT,
  ENOTDIR,
  ENOTEMPTY,
  EPERM,
  EROFS,
  EXDEV,
} from "../errno.js";
import {
  __O_TMPFILE,
  AT_EACCESS,
  F_OK,
  MAXSYMLINKS,
  NAME_MAX,
  O_ACCMODE,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOFOLLOW,
  O_PATH,
  O_RDONLY,
  O_TRUNC,
  O_WRONLY,
  PATH_MAX,
  R_OK,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  RENAME_WHITEOUT,
  S_IFDIR,
  S_IFMT,
  S_IFREG,
  S_ISGID,
  S_ISUID,
  S_ISVTX,
  STATUS_FLAGS_DROP,
  UTIME_NOW,
  UTIME_OMIT,
  W_OK,
  X_OK,
} from "./constants.js";
import { fsClock } from "./time.js";
import {
  type Cred,
  type DirEntry,
  DirectoryDescription,
  FileDescription,
  type FileSystem,
  fail,
  type Inode,
  type SetAttr,
  type Stat,
  type Timespec,
} from "./types.js";

/** One mounted file system. */
export class Mount {
  /** Mounts on directories of this mount: parent-directory ino → name → mount. */
  readonly children = new Map<number, Map<string, Mount>>();
  constructor(
    readonly fs: FileSystem,
    readonly parent: Mount | null,
    /** The directory (in `parent`) holding the mount point, and the mount point's name. */
    readonly parentDir: Inode | null,
    readonly name: string,
    readonly readonly: boolean,
    readonly path: string,
  ) {}
  get root(): Inode {
    return this.fs.root;
  }
  childMount(dir: Inode, name: string): Mount | undefined {
    if (this.children.size === 0) return undefined;
    return this.children.get(dir.ino)?.get(name);
  }
}

/** A place in the tree: which mount, which inode. */
export interface Loc {
  mount: Mount;
  inode: Inode;
}

/** The file-system state of one process: root, cwd, umask, credentials. */
export interface FsContext {
  root: Loc;
  cwd: Loc;
  umask: number;
  cred: Cred;
}

/** The result of walking all but the last component. */
export interface Parent {
  dir: Loc;
  name: string;
  kind: "norm" | "dot" | "dotdot" | "root";
  /** The path ended with "/". */
  slash: boolean;
}

interface Walk {
  links: number;
}

export function sameLoc(a: Loc, b: Loc): boolean {
  return a.mount === b.mount && a.inode.ino === b.inode.ino;
}

/** Permission check as generic_permission does it (root: DAC override, but exec needs one x bit). */
export function permitted(inode: Inode, cred: Cred, mask: number): boolean {
  if (mask === 0) return true;
  const mode = inode.mode;
  if (cred.uid === 0) {
    if (mask & X_OK && (mode & S_IFMT) !== S_IFDIR && (mode & 0o111) === 0) return false;
    return true;
  }
  const st = inode.getattr();
  let bits: number;
  if (st.uid === cred.uid) bits = (mode >> 6) & 7;
  else if (st.gid === cred.gid || cred.groups?.includes(st.gid)) bits = (mode >> 3) & 7;
  else bits = mode & 7;
  return (bits & mask) === mask;
}

export interface MountOptions {
  readonly?: boolean;
}

export class MountNamespace {
  rootMount: Mount;

  constructor(root: FileSystem, options: MountOptions = {}) {
    this.rootMount = new Mount(root, null, null, "", options.readonly ?? false, "/");
  }

  /** A context whose root and cwd are the sandbox root. */
  context(cred: Cred = { uid: 0, gid: 0 }, umask = 0o022): FsContext {
    const root = { mount: this.rootMount, inode: this.rootMount.root };
    return { root, cwd: root, umask, cred };
  }

  /**
   * Mounts `fs` at absolute `path`. The parent directory must exist; the mount
   * point itself need not (a read-only root can still get a /tmp).
   */
  mount(path: string, fs: FileSystem, options: MountOptions = {}): Mount {
    const ctx = this.context();
    const p = this.walkParent(ctx, ctx.root, path, { links: 0 });
    if (p.kind !== "norm") fail(EBUSY, `cannot mount on ${path}`);
    if (!p.dir.inode.isDir) fail(ENOTDIR);
    const canon = joinPath(this.pathOf(ctx, p.dir), p.name);
    const m = new Mount(fs, p.dir.mount, p.dir.inode, p.name, options.readonly ?? false, canon);
    let byName = p.dir.mount.children.get(p.dir.inode.ino);
    if (!byName) {
      byName = new Map();
      p.dir.mount.children.set(p.dir.inode.ino, byName);
    }
    byName.set(p.name, m);
    return m;
  }

  /** Every mount, root first (for /proc/self/mounts and disposal). */
  mounts(): Mount[] {
    const out: Mount[] = [];
    const visit = (m: Mount) => {
      out.push(m);
      for (const byName of m.children.values()) for (const c of byName.values()) visit(c);
    };
    visit(this.rootMount);
    return out;
  }

  dispose(): void {
    for (const m of this.mounts()) m.fs.dispose?.();
  }

  // ------------------------------------------------------------------ the walk

  /** ".." of `loc`, never above the context's root. */
  up(ctx: FsContext, loc: Loc): Loc {
    if (sameLoc(loc, ctx.root)) return loc;
    if (loc.inode.ino === loc.mount.root.ino) {
      // ".." of a mount's root is the directory that holds its mount point.
      const m = loc.mount;
      if (m.parent === null || m.parentDir === null) return loc;
      return { mount: m.parent, inode: m.parentDir };
    }
    return { mount: loc.mount, inode: loc.inode.parent() };
  }

  /** The child `name` of directory `dir` (a mount root when something is mounted there), unfollowed. */
  child(dir: Loc, name: string): Loc | null {
    const m = dir.mount.childMount(dir.inode, name);
    if (m) return { mount: m, inode: m.root };
    if (name.length > NAME_MAX) fail(ENAMETOOLONG);
    const inode = dir.inode.lookup(name);
    return inode ? { mount: dir.mount, inode } : null;
  }

  #mayLookup(ctx: FsContext, dir: Loc): void {
    if (!dir.inode.isDir) fail(ENOTDIR);
    if (!permitted(dir.inode, ctx.cred, X_OK)) fail(EACCES);
  }

  #follow(ctx: FsContext, dir: Loc, link: Loc, w: Walk): Loc {
    if (++w.links > MAXSYMLINKS) fail(ELOOP);
    const jump = link.inode.magic();
    if (jump) return jump;
    const target = link.inode.readlink();
    if (target.length === 0) fail(ENOENT);
    return this.#resolve(ctx, dir, target, true, w);
  }

  /** Walks every component but the last. */
  walkParent(ctx: FsContext, start: Loc, path: string, w: Walk): Parent {
    if (path.length === 0) fail(ENOENT);
    if (path.length >= PATH_MAX) fail(ENAMETOOLONG);
    let loc = path.charCodeAt(0) === 47 ? ctx.root : start;
    const comps = path.split("/");
    let last = comps.length - 1;
    const slash = comps[last] === "" && path.length > 0;
    while (last >= 0 && comps[last] === "") last--;
    if (last < 0) return { dir: loc, name: "/", kind: "root", slash: true };
    for (let i = 0; i < last; i++) {
      const c = comps[i];
      if (c === "" || c === ".") {
        if (c === ".") this.#mayLookup(ctx, loc);
        continue;
      }
      this.#mayLookup(ctx, loc);
      if (c === "..") {
        loc = this.up(ctx, loc);
        continue;
      }
      const next = this.child(loc, c);
      if (next === null) fail(ENOENT);
      loc = next.inode.isSymlink ? this.#follow(ctx, loc, next, w) : next;
    }
    this.#mayLookup(ctx, loc);
    const name = comps[last];
    const kind = name === "." ? "dot" : name === ".." ? "dotdot" : "norm";
    return { dir: loc, name, kind, slash };
  }

  /** Looks up the last component; null when it does not exist. */
  lookupLast(ctx: FsContext, p: Parent, follow: boolean, w: Walk): Loc | null {
    let loc: Loc | null;
    if (p.kind === "root" || p.kind === "dot") loc = p.dir;
    else if (p.kind === "dotdot") loc = this.up(ctx, p.dir);
    else {
      loc = this.child(p.dir, p.name);
      if (loc?.inode.isSymlink && (follow || p.slash)) loc = this.#follow(ctx, p.dir, loc, w);
    }
    if (loc && p.slash && !loc.inode.isDir) fail(ENOTDIR);
    return loc;
  }

  #resolve(ctx: FsContext, start: Loc, path: string, follow: boolean, w: Walk): Loc {
    const p = this.walkParent(ctx, start, path, w);
    const loc = this.lookupLast(ctx, p, follow, w);
    if (loc === null) fail(ENOENT);
    return loc;
  }

  /** Resolves `path` from `start` (the cwd or a dirfd's directory). */
  resolve(ctx: FsContext, start: Loc, path: string, follow = true): Loc {
    return this.#resolve(ctx, start, path, follow, { links: 0 });
  }

  /** The absolute path of a directory location as getcwd reports it. */
  pathOf(ctx: FsContext, loc: Loc): string {
    const parts: string[] = [];
    let cur = loc;
    for (let guard = 0; guard < 4096; guard++) {
      if (sameLoc(cur, ctx.root)) break;
      if (cur.inode.ino === cur.mount.root.ino) {
        const m = cur.mount;
        if (m.parent === null || m.parentDir === null) break;
        parts.push(m.name);
        cur = { mount: m.parent, inode: m.parentDir };
        continue;
      }
      const name = cur.inode.nameInParent();
      if (name === "") break;
      parts.push(name);
      cur = { mount: cur.mount, inode: cur.inode.parent() };
    }
    return `/${parts.reverse().join("/")}`;
  }

  // ------------------------------------------------------------------ operations

  /** open(2)/openat(2) semantics (fs/namei.c path_openat, do_open, may_open). */
  open(ctx: FsContext, start: Loc, path: string, flags: number, mode: number): FileDescription {
    const w: Walk = { links: 0 };
    if (flags & O_PATH) {
      const loc = this.#resolve(ctx, start, path, (flags & O_NOFOLLOW) === 0, w);
      if (flags & O_DIRECTORY && !loc.inode.isDir) fail(ENOTDIR);
      const d = new PathDescription(flags & (O_PATH | O_DIRECTORY | O_NOFOLLOW), loc);
      d.path = this.#descPath(ctx, loc, null, path);
      d.loc = loc;
      return d;
    }
    if ((flags & __O_TMPFILE) === __O_TMPFILE) return this.#openTmpfile(ctx, start, path, flags, mode, w);
    let p = this.walkParent(ctx, start, path, w);
    let loc: Loc | null;
    let created = false;
    if (flags & O_CREAT) {
      if (p.kind !== "norm" || p.slash) fail(EISDIR);
      for (;;) {
        loc = this.child(p.dir, p.name);
        if (loc === null) break;
        if (flags & O_EXCL) fail(EEXIST);
        if (!loc.inode.isSymlink) break;
        if (flags & O_NOFOLLOW) fail(ELOOP);
        const jump = loc.inode.magic();
        if (jump) {
          if (++w.links > MAXSYMLINKS) fail(ELOOP);
          loc = jump;
          break;
        }
        // A symlink to a missing file: O_CREAT creates its target.
        if (++w.links > MAXSYMLINKS) fail(ELOOP);
        const target = loc.inode.readlink();
        if (target.length === 0) fail(ENOENT);
        const tp = this.walkParent(ctx, p.dir, target, w);
        if (tp.kind !== "norm") {
          loc = this.lookupLast(ctx, tp, true, w);
          if (loc === null) fail(ENOENT);
          break;
        }
        if (tp.slash) fail(EISDIR);
        p = tp;
      }
      if (loc === null) {
        const dir = p.dir;
        if (dir.inode.unlinked) fail(ENOENT);
        if (dir.mount.readonly) fail(EROFS);
        if (!permitted(dir.inode, ctx.cred, W_OK | X_OK)) fail(EACCES);
        const inode = dir.inode.create(p.name, mode & ~ctx.umask & 0o7777, ctx.cred);
        loc = { mount: dir.mount, inode };
        created = true;
      } else if (loc.inode.isDir) fail(EISDIR);
    } else {
      loc = this.lookupLast(ctx, p, (flags & O_NOFOLLOW) === 0, w);
      if (loc === null) fail(ENOENT);
    }
    const inode = loc.inode;
    if (inode.isSymlink) fail(ELOOP);
    if (flags & O_DIRECTORY && !inode.isDir) fail(ENOTDIR);
    const acc = flags & O_ACCMODE;
    const wantWrite = acc === O_WRONLY || acc === 2 || (flags & O_TRUNC) !== 0;
    if (inode.isDir && (wantWrite || acc === 3)) fail(EISDIR);
    if (!created && !inode.reopens) {
      const type = inode.mode & S_IFMT;
      if (wantWrite && loc.mount.readonly && (type === S_IFREG || type === S_IFDIR)) fail(EROFS);
      let mask = 0;
      if (acc === O_RDONLY || acc === 2) mask |= R_OK;
      if (wantWrite) mask |= W_OK;
      if (!permitted(inode, ctx.cred, mask)) fail(EACCES);
    }
    const status = (flags & ~STATUS_FLAGS_DROP) | 0;
    const openFlags = created ? flags & ~O_TRUNC : flags;
    let d: FileDescription;
    if (inode.isDir) {
      d = this.#openDir(loc, status);
    } else {
      d = inode.open(openFlags, { cred: ctx.cred });
      d.flags = status;
    }
    if (inode.reopens) return d; // a description reopened through /proc/self/fd keeps its own path
    const at = loc;
    d.setPathFn(() => this.#descPath(ctx, at, p, path));
    d.loc = loc;
    return d;
  }

  /** open(dir, O_TMPFILE | O_WRONLY or O_RDWR): an unnamed regular file in `dir`. */
  #openTmpfile(ctx: FsContext, start: Loc, path: string, flags: number, mode: number, w: Walk): FileDescription {
    const acc = flags & O_ACCMODE;
    if (acc !== O_WRONLY && acc !== 2) fail(EINVAL);
    const dir = this.#resolve(ctx, start, path, true, w);
    if (!dir.inode.isDir) fail(ENOTDIR);
    if (dir.mount.readonly) fail(EROFS);
    if (!permitted(dir.inode, ctx.cred, W_OK | X_OK)) fail(EACCES);
    const inode = dir.inode.tmpfile(mode & ~ctx.umask & 0o7777, ctx.cred);
    const d = inode.open(flags & ~(__O_TMPFILE | O_TRUNC), { cred: ctx.cred });
    d.flags = flags & ~STATUS_FLAGS_DROP; // F_GETFL keeps O_TMPFILE, as Linux does
    const dirPath = this.pathOf(ctx, dir);
    d.setPathFn(() => `${joinPath(dirPath, `#${inode.ino}`)} (deleted)`);
    d.loc = { mount: dir.mount, inode };
    return d;
  }

  #openDir(loc: Loc, flags: number): FileDescription {
    const inner = loc.inode.open(flags, { cred: { uid: 0, gid: 0 } });
    const byName = loc.mount.children.get(loc.inode.ino);
    if (!byName || !(inner instanceof DirectoryDescription)) return inner;
    // Mount points that do not exist in the underlying directory still show up in listings.
    const outer = new DirectoryDescription(flags, loc.inode, () => {
      const list = inner.listing();
      const seen = new Set(list.map((e) => e.name));
      for (const [name, m] of byName) {
        if (!seen.has(name)) list.push({ name, ino: m.root.ino, type: S_IFDIR });
        else {
          const i = list.findIndex((e) => e.name === name);
          list[i] = { name, ino: m.root.ino, type: S_IFDIR };
        }
      }
      return list;
    });
    outer.budget = inner.budget; // the snapshot is the outer one's (the inner one keeps none)
    return outer;
  }

  /** The /proc/self/fd text of an open object: its path, with " (deleted)" once its last link is gone. */
  #descPath(ctx: FsContext, loc: Loc, p: Parent | null, path: string): string {
    try {
      if (loc.inode.isDir) return this.pathOf(ctx, loc) + (loc.inode.unlinked ? " (deleted)" : "");
      if (p && p.kind === "norm") {
        const full = joinPath(this.pathOf(ctx, p.dir), p.name);
        return loc.inode.getattr().nlink === 0 ? `${full} (deleted)` : full;
      }
    } catch {
      // the directory went away: fall back to the name the program used
    }
    return path;
  }

  /** stat/lstat/newfstatat. */
  stat(ctx: FsContext, start: Loc, path: string, follow: boolean): Stat {
    const loc = this.resolve(ctx, start, path, follow);
    return this.statLoc(loc);
  }

  statLoc(loc: Loc): Stat {
    const st = loc.inode.getattr();
    st.dev = loc.inode.fs.dev;
    return st;
  }

  /** faccessat2(2). */
  access(ctx: FsContext, start: Loc, path: string, mode: number, flags: number, follow: boolean): void {
    if (mode & ~7) fail(EINVAL);
    const cred =
      flags & AT_EACCESS ? ctx.cred : { uid: ctx.cred.uid, gid: ctx.cred.gid, groups: ctx.cred.groups ?? [] };
    const loc = this.resolve(ctx, start, path, follow);
    if (mode === F_OK) return;
    const type = loc.inode.mode & S_IFMT;
    if (mode & W_OK && loc.mount.readonly && (type === S_IFREG || type === S_IFDIR || loc.inode.isSymlink)) {
      fail(EROFS);
    }
    if (!permitted(loc.inode, cred, mode)) fail(EACCES);
  }

  /** The permission part of access(2) on a resolved location. */
  accessLoc(ctx: FsContext, loc: Loc, mode: number): void {
    if (mode & ~7) fail(EINVAL);
    if (mode === F_OK) return;
    const type = loc.inode.mode & S_IFMT;
    if (mode & W_OK && loc.mount.readonly && (type === S_IFREG || type === S_IFDIR || loc.inode.isSymlink)) {
      fail(EROFS);
    }
    if (!permitted(loc.inode, ctx.cred, mode)) fail(EACCES);
  }

  /** Linux filename_create + may_create: returns the parent for a new entry. */
  #createParent(ctx: FsContext, start: Loc, path: string, isDir: boolean): Parent {
    const p = this.walkParent(ctx, start, path, { links: 0 });
    if (p.kind !== "norm") fail(EEXIST);
    const existing = this.child(p.dir, p.name);
    if (existing) fail(EEXIST);
    if (p.slash && !isDir) fail(ENOENT);
    if (p.dir.mount.readonly) fail(EROFS);
    if (p.dir.inode.unlinked) fail(ENOENT);
    if (!permitted(p.dir.inode, ctx.cred, W_OK | X_OK)) fail(EACCES);
    return p;
  }

  mkdir(ctx: FsContext, start: Loc, path: string, mode: number): void {
    const p = this.#createParent(ctx, start, path, true);
    p.dir.inode.mkdir(p.name, mode & ~ctx.umask & 0o1777, ctx.cred);
  }

  symlink(ctx: FsContext, target: string, start: Loc, path: string): void {
    if (target.length === 0) fail(ENOENT);
    if (target.length >= PATH_MAX) fail(ENAMETOOLONG);
    const p = this.#createParent(ctx, start, path, false);
    p.dir.inode.symlink(p.name, target, ctx.cred);
  }

  /** linkat(2) in do_linkat's order: filename_create, EXDEV, may_linkat, vfs_link. */
  link(ctx: FsContext, oldStart: Loc, oldPath: string, newStart: Loc, newPath: string, follow: boolean): void {
    const old = this.resolve(ctx, oldStart, oldPath, follow);
    const p = this.walkParent(ctx, newStart, newPath, { links: 0 });
    if (p.kind !== "norm") fail(EEXIST);
    if (this.child(p.dir, p.name)) fail(EEXIST);
    if (p.slash) fail(ENOENT);
    if (p.dir.mount.readonly) fail(EROFS);
    if (old.mount !== p.dir.mount) fail(EXDEV);
    this.#mayLink(ctx, old.inode);
    if (p.dir.inode.unlinked) fail(ENOENT);
    if (!permitted(p.dir.inode, ctx.cred, W_OK | X_OK)) fail(EACCES);
    if (old.inode.isDir) fail(EPERM);
    p.dir.inode.link(p.name, old.inode);
  }

  /**
   * may_linkat with fs.protected_hardlinks = 1 (the default): someone who does
   * not own a file may link it only if it is a regular, non-set-ID file they
   * can read and write.
   */
  #mayLink(ctx: FsContext, inode: Inode): void {
    if (ctx.cred.uid === 0) return;
    const st = inode.getattr();
    if (st.uid === ctx.cred.uid) return;
    const mode = st.mode;
    const safe =
      (mode & S_IFMT) === S_IFREG &&
      !(mode & S_ISUID) &&
      (mode & (S_ISGID | 0o010)) !== (S_ISGID | 0o010) &&
      permitted(inode, ctx.cred, R_OK | W_OK);
    if (!safe) fail(EPERM);
  }

  /** may_delete's sticky-directory rule. */
  #checkSticky(ctx: FsContext, dir: Inode, victim: Inode): void {
    if (ctx.cred.uid === 0 || !(dir.mode & S_ISVTX)) return;
    const uid = ctx.cred.uid;
    if (victim.getattr().uid !== uid && dir.getattr().uid !== uid) fail(EPERM);
  }

  #isMountRoot(loc: Loc): boolean {
    return loc.inode.ino === loc.mount.root.ino && loc.mount.parent !== null;
  }

  unlink(ctx: FsContext, start: Loc, path: string): void {
    const p = this.walkParent(ctx, start, path, { links: 0 });
    if (p.kind !== "norm") fail(EISDIR);
    if (p.dir.mount.readonly) fail(EROFS);
    const victim = this.child(p.dir, p.name);
    if (victim === null) fail(ENOENT);
    if (p.slash) fail(victim.inode.isDir ? EISDIR : ENOTDIR);
    if (!permitted(p.dir.inode, ctx.cred, W_OK | X_OK)) fail(EACCES);
    this.#checkSticky(ctx, p.dir.inode, victim.inode);
    if (victim.mount !== p.dir.mount) fail(EISDIR);
    if (victim.inode.isDir) fail(EISDIR);
    p.dir.inode.unlink(p.name);
  }

  rmdir(ctx: FsContext, start: Loc, path: string): void {
    const p = this.walkParent(ctx, start, path, { links: 0 });
    if (p.kind === "dotdot") fail(ENOTEMPTY);
    if (p.kind === "dot") fail(EINVAL);
    if (p.kind === "root") fail(EBUSY);
    if (p.dir.mount.readonly) fail(EROFS);
    const victim = this.child(p.dir, p.name);
    if (victim === null) fail(ENOENT);
    if (!permitted(p.dir.inode, ctx.cred, W_OK | X_OK)) fail(EACCES);
    this.#checkSticky(ctx, p.dir.inode, victim.inode);
    if (!victim.inode.isDir) fail(ENOTDIR);
    if (victim.mount !== p.dir.mount || sameLoc(victim, ctx.root) || sameLoc(victim, ctx.cwd)) {
      if (victim.mount !== p.dir.mount || sameLoc(victim, ctx.root)) fail(EBUSY);
    }
    if (p.dir.mount.children.get(victim.inode.ino)?.size) fail(EBUSY);
    p.dir.inode.rmdir(p.name);
  }

  /** renameat2(2) (fs/namei.c do_renameat2 and vfs_rename). */
  rename(ctx: FsContext, oldStart: Loc, oldPath: string, newStart: Loc, newPath: string, flags: number): void {
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) fail(EINVAL);
    if (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE) fail(EINVAL);
    if (flags & RENAME_WHITEOUT) fail(EINVAL);
    const op = this.walkParent(ctx, oldStart, oldPath, { links: 0 });
    const np = this.walkParent(ctx, newStart, newPath, { links: 0 });
    if (op.kind !== "norm") fail(EBUSY);
    if (np.kind !== "norm") fail(flags & RENAME_NOREPLACE ? EEXIST : EBUSY);
    if (op.dir.mount !== np.dir.mount) fail(EXDEV);
    if (op.dir.mount.readonly) fail(EROFS);
    const src = this.child(op.dir, op.name);
    if (src === null) fail(ENOENT);
    const dst = this.child(np.dir, np.name);
    if (flags & RENAME_EXCHANGE && dst === null) fail(ENOENT);
    if (flags & RENAME_NOREPLACE && dst !== null) fail(EEXIST);
    if (!src.inode.isDir) {
      if (op.slash) fail(ENOTDIR);
      if (np.slash && !(flags & RENAME_EXCHANGE)) fail(ENOTDIR);
    }
    if (flags & RENAME_EXCHANGE && dst && !dst.inode.isDir && np.slash) fail(ENOTDIR);
    if (src.mount !== op.dir.mount || (dst && dst.mount !== np.dir.mount)) fail(EBUSY);
    // Source must not be an ancestor of the target directory, and vice versa.
    if (this.#isAncestor(ctx, src, np.dir)) fail(EINVAL);
    if (dst && this.#isAncestor(ctx, dst, op.dir)) fail(flags & RENAME_EXCHANGE ? EINVAL : ENOTEMPTY);
    if (dst && dst.inode === src.inode) return;
    if (dst && dst.inode.ino === src.inode.ino && dst.mount === src.mount && !src.inode.isDir) return;
    if (!permitted(op.dir.inode, ctx.cred, W_OK | X_OK)) fail(EACCES);
    if (!permitted(np.dir.inode, ctx.cred, W_OK | X_OK)) fail(EACCES);
    this.#checkSticky(ctx, op.dir.inode, src.inode);
    if (dst) this.#checkSticky(ctx, np.dir.inode, dst.inode);
    if (src.inode.isDir && op.dir.inode.ino !== np.dir.inode.ino && !permitted(src.inode, ctx.cred, W_OK)) {
      fail(EACCES);
    }
    if (dst && !(flags & RENAME_EXCHANGE)) {
      if (src.inode.isDir && !dst.inode.isDir) fail(ENOTDIR);
      if (!src.inode.isDir && dst.inode.isDir) fail(EISDIR);
    }
    if (np.dir.inode.unlinked) fail(ENOENT);
    if (this.#isMountRoot(src) || (dst && this.#isMountRoot(dst))) fail(EBUSY);
    if (sameLoc(src, ctx.root) || (dst && sameLoc(dst, ctx.root))) fail(EBUSY);
    op.dir.inode.rename(op.name, np.dir.inode, np.name, flags);
  }

  /** True when directory `a` is `b` or one of `b`'s ancestors (same mount). */
  #isAncestor(ctx: FsContext, a: Loc, b: Loc): boolean {
    if (!a.inode.isDir) return false;
    let cur = b;
    for (let guard = 0; guard < 65536; guard++) {
      if (cur.mount === a.mount && cur.inode.ino === a.inode.ino) return true;
      const up = this.up(ctx, cur);
      if (sameLoc(up, cur)) return false;
      cur = up;
    }
    return false;
  }

  readlink(ctx: FsContext, start: Loc, path: string): string {
    const loc = this.resolve(ctx, start, path, false);
    if (!loc.inode.isSymlink) fail(EINVAL);
    return loc.inode.readlink();
  }

  // ---- attributes ----

  #owner(ctx: FsContext, loc: Loc): void {
    if (ctx.cred.uid !== 0 && loc.inode.getattr().uid !== ctx.cred.uid) fail(EPERM);
  }

  chmodLoc(ctx: FsContext, loc: Loc, mode: number): void {
    if (loc.mount.readonly) fail(EROFS);
    this.#owner(ctx, loc);
    let m = mode & 0o7777;
    const st = loc.inode.getattr();
    if (ctx.cred.uid !== 0 && st.gid !== ctx.cred.gid && !ctx.cred.groups?.includes(st.gid)) m &= ~S_ISGID;
    loc.inode.setattr({ mode: m });
  }

  chownLoc(ctx: FsContext, loc: Loc, uid: number, gid: number): void {
    if (loc.mount.readonly) fail(EROFS);
    const st = loc.inode.getattr();
    const a: SetAttr = {};
    if (uid !== -1 && uid !== st.uid) {
      if (ctx.cred.uid !== 0) fail(EPERM);
      a.uid = uid;
    }
    if (gid !== -1 && gid !== st.gid) {
      if (ctx.cred.uid !== 0 && (st.uid !== ctx.cred.uid || (gid !== ctx.cred.gid && !ctx.cred.groups?.includes(gid))))
        fail(EPERM);
      a.gid = gid;
    }
    if (!loc.inode.isDir && (a.uid !== undefined || a.gid !== undefined)) a.mode = st.mode & ~(S_ISUID | S_ISGID);
    loc.inode.setattr(a);
  }

  /** utimensat semantics; `times` null means both now. */
  utimesLoc(ctx: FsContext, loc: Loc, times: [Timespec, Timespec] | null): void {
    const now = fsClock.now();
    const a: SetAttr = {};
    const [at, mt] = times ?? [
      { sec: 0, nsec: UTIME_NOW },
      { sec: 0, nsec: UTIME_NOW },
    ];
    if (at.nsec === UTIME_OMIT && mt.nsec === UTIME_OMIT) return;
    if (loc.mount.readonly) fail(EROFS);
    const explicit =
      (at.nsec !== UTIME_NOW && at.nsec !== UTIME_OMIT) || (mt.nsec !== UTIME_NOW && mt.nsec !== UTIME_OMIT);
    const isOwner = ctx.cred.uid === 0 || loc.inode.getattr().uid === ctx.cred.uid;
    if (!isOwner) {
      if (explicit) fail(EPERM);
      if (!permitted(loc.inode, ctx.cred, W_OK)) fail(EACCES);
    }
    if (at.nsec !== UTIME_OMIT) a.atime = at.nsec === UTIME_NOW ? now : at;
    if (mt.nsec !== UTIME_OMIT) a.mtime = mt.nsec === UTIME_NOW ? now : mt;
    loc.inode.setattr(a);
  }

  truncateLoc(ctx: FsContext, loc: Loc, size: number): void {
    if (loc.inode.isDir) fail(EISDIR);
    if (!loc.inode.isRegular) fail(EINVAL);
    if (loc.mount.readonly) fail(EROFS);
    if (!permitted(loc.inode, ctx.cred, W_OK)) fail(EACCES);
    if (size < 0) fail(EINVAL);
    loc.inode.setattr({ size });
  }

  chdir(ctx: FsContext, start: Loc, path: string): void {
    const loc = this.resolve(ctx, start, path, true);
    this.chdirLoc(ctx, loc);
  }

  chdirLoc(ctx: FsContext, loc: Loc): void {
    if (!loc.inode.isDir) fail(ENOTDIR);
    if (!permitted(loc.inode, ctx.cred, X_OK)) fail(EACCES);
    ctx.cwd = loc;
  }

  getcwd(ctx: FsContext): string {
    if (ctx.cwd.inode.unlinked) fail(ENOENT);
    return this.pathOf(ctx, ctx.cwd);
  }
}

/** A description opened with O_PATH: it names a location and supports only *at, fstat, fchdir, close. */
export class PathDescription extends FileDescription {
  constructor(flags: number, loc: Loc) {
    super(flags, loc.inode);
    this.loc = loc;
  }
  override read(): number {
    return -9;
  }
  override write(): number {
    return -9;
  }
  override pread(): number {
    return -9;
  }
  override pwrite(): number {
    return -9;
  }
  override seek(): number {
    return -9;
  }
}

export function joinPath(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

export type { DirEntry };
