// The program's standard streams: host fds passed through (tty-aware), hooks
// for tests and embedders, Node.js streams, or /dev/null.

import { isatty } from "node:tty";
import { ioctlRaw, native, syscallRaw } from "@kindling/sys-util";
import { EAGAIN, EBADF, ENOTTY } from "../errno.js";
import type { StdioEndpoint, StdioHooks } from "../vfs-contract.js";
import {
  FIONREAD,
  O_ACCMODE,
  O_APPEND,
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  POLLERR,
  POLLIN,
  POLLOUT,
  S_IFCHR,
  S_IFIFO,
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

const SYS_poll = 7;
const SYS_statx = 332;
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

/** A host fd used as a stream: reads and writes pass straight through (no offset of ours). */
export class HostStreamDescription extends FileDescription {
  readonly tty: boolean;
  constructor(
    flags: number,
    readonly fd: number,
  ) {
    super(flags, null);
    this.tty = isatty(fd);
    this.path = this.tty ? "/dev/tty" : `host:[${fd}]`;
  }
  override isTty(): boolean {
    return this.tty;
  }
  override reopen(flags: number): FileDescription {
    return new HostStreamDescription(flags & (O_ACCMODE | O_APPEND | O_NONBLOCK), this.fd);
  }
  override hostFd(): number {
    return this.fd;
  }
  override read(dst: Uint8Array): number {
    if (dst.byteLength === 0) return 0;
    for (;;) {
      const n = native().pread(this.fd, dst, 0, dst.byteLength, -1);
      if (n === -EAGAIN && !this.nonblocking) {
        this.#waitHost(POLLIN);
        continue;
      }
      return n;
    }
  }
  override write(src: Uint8Array): number {
    let done = 0;
    while (done < src.byteLength) {
      const n = native().pwrite(this.fd, src, done, src.byteLength - done, -1);
      if (n === -EAGAIN) {
        if (this.nonblocking) return done > 0 ? done : n;
        this.#waitHost(POLLOUT);
        continue;
      }
      if (n < 0) return done > 0 ? done : n;
      done += n;
    }
    return done;
  }
  /** Regular host files behind stdio keep their own offset: pread/pwrite work there. */
  override pread(dst: Uint8Array, pos: number): number {
    return native().pread(this.fd, dst, 0, dst.byteLength, pos);
  }
  override pwrite(src: Uint8Array, pos: number): number {
    return native().pwrite(this.fd, src, 0, src.byteLength, pos);
  }
  override seek(off: number, whence: number): number {
    return syscallRaw(8, this.fd, off, whence);
  }
  #waitHost(events: number): void {
    const pfd = new Uint8Array(8);
    const dv = new DataView(pfd.buffer);
    dv.setInt32(0, this.fd, true);
    dv.setInt16(4, events, true);
    syscallRaw(SYS_poll, pfd, 1, -1);
  }
  override poll(): number {
    const pfd = new Uint8Array(8);
    const dv = new DataView(pfd.buffer);
    dv.setInt32(0, this.fd, true);
    dv.setInt16(4, POLLIN | POLLOUT, true);
    const r = syscallRaw(SYS_poll, pfd, 1, 0);
    if (r < 0) return POLLERR;
    let ev = dv.getInt16(6, true) & 0xffff;
    if (!this.readable) ev &= ~POLLIN;
    if (!this.writable) ev &= ~POLLOUT;
    return ev;
  }
  override stat(): Stat {
    const buf = new Uint8Array(STATX_STRUCT_SIZE);
    const r = syscallRaw(SYS_statx, this.fd, Buffer.from("\0"), AT_EMPTY_PATH, 0x7ff, buf);
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
  constructor(
    flags: number,
    readonly stream: NodeJS.ReadableStream | NodeJS.WritableStream,
  ) {
    super(flags, null);
    this.path = "pipe:[stream]";
  }
  override write(src: Uint8Array): number {
    const s = this.stream as NodeJS.WritableStream;
    if (typeof s.write !== "function") return -EBADF;
    s.write(Buffer.from(src));
    return src.byteLength;
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

/** The description for stdio slot `i` (0 reads, 1 and 2 write). */
export function stdioDescription(i: number, ep: StdioEndpoint): FileDescription {
  const flags = i === 0 ? O_RDONLY : O_WRONLY;
  if (ep === "null") {
    const d = new NullDevice(O_RDWR, null);
    d.path = "/dev/null";
    return d;
  }
  if (typeof ep === "number") {
    if (!Number.isInteger(ep) || ep < 0) throw new RangeError(`stdio[${i}]: bad host fd ${ep}`);
    return new HostStreamDescription(isatty(ep) ? O_RDWR : flags, ep);
  }
  // Node streams are EventEmitters; plain objects with read/write are hooks.
  if (typeof ep === "object" && ep !== null && typeof (ep as { on?: unknown }).on === "function") {
    return new NodeStreamDescription(flags, ep as NodeJS.ReadableStream | NodeJS.WritableStream);
  }
  if (typeof ep === "object" && ep !== null) return new HooksDescription(flags, ep as StdioHooks);
  throw new RangeError(`stdio[${i}]: unsupported endpoint`);
}
