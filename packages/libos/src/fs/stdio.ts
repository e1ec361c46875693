// The program's standard streams: host fds passed through (tty-aware), hooks
// for tests and embedders, Node.js streams, or /dev/null.

import { isatty } from "node:tty";
import { ioctlRaw, native, syscallRaw } from "@kindling/sys-util/unsafe";
import type { ByteBudget } from "../budget.js";
import { EAGAIN, EBADF, EINTR, ENOTTY, ERESTARTSYS, ESPIPE } from "../errno.js";
import { SYS } from "../sysno.js";
import type { StdioEndpoint, StdioHooks } from "../vfs-contract.js";
import {
  F_GETFL,
  FIONREAD,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  O_ACCMODE,
  O_APPEND,
  O_CLOEXEC,
  O_NOCTTY,
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  PIPE_BUF,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLOUT,
  S_IFCHR,
  S_IFIFO,
  S_IFMT,
  S_IFSOCK,
  TCGETS,
  TCSETS,
  TCSETSF,
  TCSETSW,
  TIOCGPGRP,
  TIOCGWINSZ,
  TIOCSPGRP,
} from "./constants.js";
import { decodeStatx, STATX_STRUCT_SIZE } from "./layout.js";
import { NullDevice } from "./synth.js";
import { fsClock } from "./time.js";
import { FileDescription, type IoctlIo, type Stat } from "./types.js";

const AT_EMPTY_PATH = 0x1000;

/** struct termios (kernel's, as TCGETS copies it): 36 bytes (4 flags, c_line, 19 cc). */
export const TERMIOS_SIZE = 36;
export const WINSIZE_SIZE = 8;

function charDevStat(ino: number, mode = S_IFCHR | 0o620): Stat {
  const t = fsClock.now();
  return {
    dev: 0x16,
    ino,
    mode,
    nlink: 1,
    uid: 0,
    gid: 0,
    rdev: 0x8800,
    size: 0,
    blksize: 1024,
    blocks: 0,
    atimeSec: t.sec,
    atimeNsec: t.nsec,
    mtimeSec: t.sec,
    mtimeNsec: t.nsec,
    ctimeSec: t.sec,
    ctimeNsec: t.nsec,
  };
}

/**
 * How a host stream waits until its fd may be ready for `events` (POLLIN,
 * POLLOUT): true to try again, "intr" when a signal for the program ended the
 * wait, false when the wait must end for good (the sandbox's deadline passed
 * and the program was ended). The file side gives one that honours the
 * deadline, timers and signals; the default waits in poll(2) without a limit.
 */
export type HostWaiter = (fd: number, events: number) => boolean | "intr";

/** poll(2) of one host fd for `events` for at most `ms` (-1: no limit); the revents, or 0. */
export function pollHostFd(fd: number, events: number, ms: number): number {
  const pfd = new Uint8Array(8);
  const dv = new DataView(pfd.buffer);
  dv.setInt32(0, fd, true);
  dv.setInt16(4, events, true);
  const r = syscallRaw(SYS.poll, pfd, 1, ms);
  return r > 0 ? dv.getInt16(6, true) & 0xffff : 0;
}

const waitForever: HostWaiter = (fd, events) => {
  pollHostFd(fd, events, -1);
  return true;
};

/**
 * How the host fd is used without ever blocking the host thread (a blocking
 * read or write there could outlive the sandbox's deadline):
 * "file": regular files and block devices, which do not wait;
 * "socket": send/recv with MSG_DONTWAIT;
 * "private": pipes and terminals, through a description of our own opened
 *   O_NONBLOCK from /proc/self/fd (the shared one's flags belong to others);
 * "polled": where that cannot be opened: poll first, then at most PIPE_BUF
 *   bytes per write (which a ready pipe takes whole), unless the host
 *   description is O_NONBLOCK already.
 */
type HostIo = "file" | "socket" | "private" | "polled";

/** A host fd used as a stream: reads and writes pass straight through (no offset of ours). */
export class HostStreamDescription extends FileDescription {
  readonly tty: boolean;
  #io: HostIo | undefined;
  /** Our own O_NONBLOCK description of the same pipe or terminal ("private"), closed at release. */
  #own = -1;
  constructor(
    flags: number,
    readonly fd: number,
    readonly waiter: HostWaiter = waitForever,
  ) {
    super(flags, null);
    this.tty = isatty(fd);
    this.path = this.tty ? "/dev/tty" : `host:[${fd}]`;
  }
  override isTty(): boolean {
    return this.tty;
  }
  override reopen(flags: number): FileDescription {
    return new HostStreamDescription(flags & (O_ACCMODE | O_APPEND | O_NONBLOCK), this.fd, this.waiter);
  }
  override hostFd(): number {
    return this.fd;
  }
  /** How I/O on the fd goes (decided at the first read or write). */
  get io(): HostIo {
    if (this.#io === undefined) this.#io = this.#chooseIo();
    return this.#io;
  }
  #chooseIo(): HostIo {
    const st = this.stat();
    const type = st.mode & S_IFMT;
    if (type === S_IFSOCK) return "socket";
    if (type !== S_IFIFO && type !== S_IFCHR) return "file";
    const acc = this.readable && this.writable ? O_RDWR : this.writable ? O_WRONLY : O_RDONLY;
    // O_NONBLOCK also keeps the open itself from waiting (a FIFO without a peer: ENXIO, then "polled").
    const own = native().open(`/proc/self/fd/${this.fd}`, acc | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
    if (own < 0) return "polled";
    this.#own = own;
    return "private";
  }
  /** The host description is O_NONBLOCK (nothing of ours can block on it). */
  #hostNonblocking(): boolean {
    const fl = syscallRaw(SYS.fcntl, this.fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK) !== 0;
  }
  /** One attempt that never blocks the host thread: a count, -EAGAIN when not ready, or -errno. */
  #readOnce(dst: Uint8Array): number {
    switch (this.io) {
      case "socket":
        return syscallRaw(SYS.recvfrom, this.fd, dst, dst.byteLength, MSG_DONTWAIT, 0, 0);
      case "private":
        return native().pread(this.#own, dst, 0, dst.byteLength, -1);
      case "polled":
        if (!this.#hostNonblocking() && (pollHostFd(this.fd, POLLIN, 0) & (POLLIN | POLLHUP | POLLERR)) === 0) {
          return -EAGAIN;
        }
        return native().pread(this.fd, dst, 0, dst.byteLength, -1);
      default:
        return native().pread(this.fd, dst, 0, dst.byteLength, -1);
    }
  }
  #writeOnce(src: Uint8Array, from: number): number {
    const len = src.byteLength - from;
    switch (this.io) {
      case "socket":
        return syscallRaw(SYS.sendto, this.fd, src.subarray(from), len, MSG_DONTWAIT | MSG_NOSIGNAL, 0, 0);
      case "private":
        return native().pwrite(this.#own, src, from, len, -1);
      case "polled":
        if (this.#hostNonblocking()) return native().pwrite(this.fd, src, from, len, -1);
        if ((pollHostFd(this.fd, POLLOUT, 0) & (POLLOUT | POLLHUP | POLLERR)) === 0) return -EAGAIN;
        return native().pwrite(this.fd, src, from, Math.min(len, PIPE_BUF), -1);
      default:
        return native().pwrite(this.fd, src, from, len, -1);
    }
  }
  override read(dst: Uint8Array): number {
    if (dst.byteLength === 0) return 0;
    for (;;) {
      const n = this.#readOnce(dst);
      if ((n !== -EAGAIN && n !== -EINTR) || (n === -EAGAIN && this.nonblocking)) return n;
      const w = this.waiter(this.fd, POLLIN);
      if (w === "intr") return -ERESTARTSYS;
      if (!w) return -EAGAIN;
    }
  }
  override write(src: Uint8Array): number {
    let done = 0;
    while (done < src.byteLength) {
      const n = this.#writeOnce(src, done);
      if (n === -EAGAIN || n === -EINTR) {
        if (n === -EAGAIN && this.nonblocking) return done > 0 ? done : n;
        const w = this.waiter(this.fd, POLLOUT);
        if (w === "intr") return done > 0 ? done : -ERESTARTSYS;
        if (!w) return done > 0 ? done : -EAGAIN;
        continue;
      }
      if (n < 0) return done > 0 ? done : n;
      done += n;
    }
    return done;
  }
  /** Regular host files behind stdio keep their own offset: pread/pwrite work there. */
  override pread(dst: Uint8Array, pos: number): number {
    if (this.io !== "file") return -ESPIPE;
    return native().pread(this.fd, dst, 0, dst.byteLength, pos);
  }
  override pwrite(src: Uint8Array, pos: number): number {
    if (this.io !== "file") return -ESPIPE;
    return native().pwrite(this.fd, src, 0, src.byteLength, pos);
  }
  override seek(off: number, whence: number): number {
    return syscallRaw(SYS.lseek, this.fd, off, whence);
  }
  protected override release(): void {
    if (this.#own >= 0) {
      native().close(this.#own);
      this.#own = -1;
    }
  }
  override poll(): number {
    const pfd = new Uint8Array(8);
    const dv = new DataView(pfd.buffer);
    dv.setInt32(0, this.fd, true);
    dv.setInt16(4, POLLIN | POLLOUT, true);
    const r = syscallRaw(SYS.poll, pfd, 1, 0);
    if (r < 0) return POLLERR;
    let ev = dv.getInt16(6, true) & 0xffff;
    if (!this.readable) ev &= ~POLLIN;
    if (!this.writable) ev &= ~POLLOUT;
    return ev;
  }
  override stat(): Stat {
    const buf = new Uint8Array(STATX_STRUCT_SIZE);
    const r = syscallRaw(SYS.statx, this.fd, Buffer.from("\0"), AT_EMPTY_PATH, 0x7ff, buf);
    if (r < 0) return charDevStat(this.fd + 3);
    const st = decodeStatx(new DataView(buf.buffer));
    return st;
  }
  override ioctl(req: number, arg: number, io: IoctlIo): number {
    return ttyIoctl(this.fd, this.tty, req, arg, io);
  }
}

/** TCGETS/TIOCGWINSZ (and the harmless TCSETS*, TIOC[GS]PGRP) forwarded to a host terminal. */
function ttyIoctl(fd: number, tty: boolean, req: number, arg: number, io: IoctlIo): number {
  if (req === FIONREAD && !tty) {
    const b = new Uint8Array(4);
    const r = ioctlRaw(fd, FIONREAD, b);
    if (r < 0) return r;
    io.write(arg, b);
    return 0;
  }
  if (!tty) return -ENOTTY;
  switch (req) {
    case TCGETS: {
      const b = new Uint8Array(TERMIOS_SIZE);
      const r = ioctlRaw(fd, TCGETS, b);
      if (r < 0) return r;
      io.write(arg, b);
      return 0;
    }
    case TIOCGWINSZ: {
      const b = new Uint8Array(WINSIZE_SIZE);
      const r = ioctlRaw(fd, TIOCGWINSZ, b);
      if (r < 0) return r;
      io.write(arg, b);
      return 0;
    }
    case TCSETS:
    case TCSETSW:
    case TCSETSF: {
      const b = io.read(arg, TERMIOS_SIZE);
      return ioctlRaw(fd, req, b.slice());
    }
    case TIOCGPGRP: {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setInt32(0, 1, true);
      io.write(arg, b);
      return 0;
    }
    case TIOCSPGRP:
      io.read(arg, 4);
      return 0;
    default:
      return -ENOTTY;
  }
}

/** Stdio served by synchronous hooks (tests, captured output). */
export class HooksDescription extends FileDescription {
  constructor(
    flags: number,
    readonly hooks: StdioHooks,
  ) {
    super(flags, null);
    this.path = hooks.isTTY ? "/dev/pts/0" : "pipe:[hooks]";
  }
  override isTty(): boolean {
    return this.hooks.isTTY === true;
  }
  override reopen(flags: number): FileDescription {
    return new HooksDescription(flags & (O_ACCMODE | O_APPEND | O_NONBLOCK), this.hooks);
  }
  override read(dst: Uint8Array): number {
    if (!this.hooks.read) return this.readable ? 0 : -EBADF;
    return this.hooks.read(dst);
  }
  override write(src: Uint8Array): number {
    if (!this.hooks.write) return src.byteLength;
    return this.hooks.write(src);
  }
  override poll(): number {
    return (this.readable ? POLLIN | 0x040 : 0) | (this.writable ? POLLOUT | 0x100 : 0);
  }
  override stat(): Stat {
    return this.hooks.isTTY ? charDevStat(3) : { ...charDevStat(4, S_IFIFO | 0o600), dev: 0xc, rdev: 0 };
  }
  override ioctl(req: number, arg: number, io: IoctlIo): number {
    if (!this.hooks.isTTY) return -ENOTTY;
    if (req === TCGETS) {
      // A plausible cooked-mode termios (ICRNL|IXON, OPOST|ONLCR, B38400|CS8|CREAD, ISIG|ICANON|ECHO...).
      const b = new Uint8Array(TERMIOS_SIZE);
      const dv = new DataView(b.buffer);
      dv.setUint32(0, 0o2400, true);
      dv.setUint32(4, 0o5, true);
      dv.setUint32(8, 0o277, true);
      dv.setUint32(12, 0o105073, true);
      b.set([3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0], 17);
      io.write(arg, b);
      return 0;
    }
    if (req === TIOCGWINSZ) {
      const b = new Uint8Array(WINSIZE_SIZE);
      const dv = new DataView(b.buffer);
      dv.setUint16(0, 24, true);
      dv.setUint16(2, 80, true);
      io.write(arg, b);
      return 0;
    }
    if (req === TCSETS || req === TCSETSW || req === TCSETSF) {
      io.read(arg, TERMIOS_SIZE);
      return 0;
    }
    return -ENOTTY;
  }
}

/** A Node.js writable stream (writes are queued) or readable (reads what is buffered). */
export class NodeStreamDescription extends FileDescription {
  /**
   * `budget`: what the stream queues is charged to it until flushed (the
   * sandbox runs synchronously, so a stream drains only after it); a write
   * beyond it is EAGAIN, and for a blocking description `onFull` ends the
   * program first (nothing can drain the stream while it runs).
   */
  constructor(
    flags: number,
    readonly stream: NodeJS.ReadableStream | NodeJS.WritableStream,
    readonly budget: ByteBudget | null = null,
    readonly onFull: (() => void) | null = null,
  ) {
    super(flags, null);
    this.path = "pipe:[stream]";
  }
  override write(src: Uint8Array): number {
    const s = this.stream as NodeJS.WritableStream;
    if (typeof s.write !== "function") return -EBADF;
    const n = src.byteLength;
    const budget = this.budget;
    if (budget === null) {
      s.write(Buffer.from(src));
      return n;
    }
    if (!budget.charge(n)) {
      if (!this.nonblocking) this.onFull?.();
      return -EAGAIN;
    }
    s.write(Buffer.from(src), () => budget.release(n));
    return n;
  }
  override read(dst: Uint8Array): number {
    const s = this.stream as NodeJS.ReadableStream;
    if (typeof s.read !== "function") return -EBADF;
    const chunk = s.read(dst.byteLength) as Buffer | string | null;
    if (chunk === null) return (s as { readableEnded?: boolean }).readableEnded ? 0 : -EAGAIN;
    const b = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    dst.set(b.subarray(0, dst.byteLength));
    if (b.byteLength > dst.byteLength) s.unshift(b.subarray(dst.byteLength));
    return Math.min(b.byteLength, dst.byteLength);
  }
  override stat(): Stat {
    return { ...charDevStat(5, S_IFIFO | 0o600), dev: 0xc, rdev: 0 };
  }
}

/**
 * The description for stdio slot `i` (0 reads, 1 and 2 write); a host fd waits
 * with `waiter`; a Node.js stream's backlog is charged to `budget` (see NodeStreamDescription).
 */
export function stdioDescription(
  i: number,
  ep: StdioEndpoint,
  waiter?: HostWaiter,
  budget: ByteBudget | null = null,
  onFull: (() => void) | null = null,
): FileDescription {
  const flags = i === 0 ? O_RDONLY : O_WRONLY;
  if (ep === "null") {
    const d = new NullDevice(O_RDWR, null);
    d.path = "/dev/null";
    return d;
  }
  if (typeof ep === "number") {
    if (!Number.isInteger(ep) || ep < 0) throw new RangeError(`stdio[${i}]: bad host fd ${ep}`);
    return new HostStreamDescription(isatty(ep) ? O_RDWR : flags, ep, waiter);
  }
  // Node streams are EventEmitters; plain objects with read/write are hooks.
  if (typeof ep === "object" && ep !== null && typeof (ep as { on?: unknown }).on === "function") {
    return new NodeStreamDescription(flags, ep as NodeJS.ReadableStream | NodeJS.WritableStream, budget, onFull);
  }
  if (typeof ep === "object" && ep !== null) return new HooksDescription(flags, ep as StdioHooks);
  throw new RangeError(`stdio[${i}]: unsupported endpoint`);
}
