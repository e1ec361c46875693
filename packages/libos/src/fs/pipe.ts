// Pipes (fs/pipe.c): a byte ring shared by a read end and a write end.
// Capacity 64 KiB by default (F_SETPIPE_SZ changes it); writes of at most
// PIPE_BUF bytes are atomic; EOF when no writer is left; EPIPE (and SIGPIPE,
// reported through `onBrokenPipe`) when no reader is left.

import type { ByteBudget } from "../budget.js";
import { EAGAIN, EBADF, EBUSY, EINVAL, ENFILE, ENOMEM, EPERM, EPIPE, ERESTARTSYS } from "../errno.js";
import {
  FIONREAD,
  O_ACCMODE,
  O_NONBLOCK,
  O_RDONLY,
  O_WRONLY,
  PIPE_BUF,
  PIPE_DEF_SIZE,
  PIPE_MAX_SIZE,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLOUT,
  POLLRDNORM,
  POLLWRNORM,
  S_IFIFO,
} from "./constants.js";
import { fsClock } from "./time.js";
import { FileDescription, fail, type IoctlIo, type Stat } from "./types.js";

/**
 * How a blocking pipe operation waits until `ready()` may have changed: true
 * to look again, "intr" when a signal ended the wait (-ERESTARTSYS: EINTR or a restart), false when
 * nothing can ever change it (the call then answers EAGAIN).
 */
/** `partial`: a write has already put some bytes (a waiter that cannot resume it in place returns false: a short write). */
export type PipeWaiter = (ready: () => boolean, partial?: boolean) => boolean | "intr";

let pipeIno = 0x10000;

/** What a pipe gets when its full default size does not fit (fs/pipe.c: PIPE_MIN_DEF_BUFFERS pages, the soft-limit size). */
const PIPE_MIN_SIZE = 2 * 4096;
/** What the host holds for a pipe besides its buffer (the Pipe and its two descriptions), charged too. */
export const PIPE_COST = 512;

export class Pipe {
  buf: Uint8Array;
  head = 0; // read position
  len = 0; // bytes stored
  readers = 0;
  writers = 0;
  readonly ino = ++pipeIno;
  readonly ctime = fsClock.now();
  #released = false;

  /**
   * `budget`: the sandbox's, charged for the buffer (and a fixed cost) while
   * the pipe lives. Throws an errno-carrying error (ENFILE, as Linux's pipe2
   * at the hard per-user limit) when not even the small size fits.
   */
  constructor(
    capacity = PIPE_DEF_SIZE,
    readonly budget: ByteBudget | null = null,
  ) {
    if (budget) {
      // As Linux past the soft limit: a small pipe rather than none.
      if (!budget.charge(capacity + PIPE_COST)) {
        capacity = Math.min(capacity, PIPE_MIN_SIZE);
        if (!budget.charge(capacity + PIPE_COST)) fail(ENFILE);
      }
    }
    this.buf = new Uint8Array(capacity);
  }
  /** Both ends are closed: the buffer's charge goes back. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.budget?.release(this.capacity + PIPE_COST);
    this.buf = new Uint8Array(0);
    this.head = 0;
    this.len = 0;
  }
  get capacity(): number {
    return this.buf.byteLength;
  }
  get space(): number {
    return this.capacity - this.len;
  }

  take(dst: Uint8Array): number {
    const n = Math.min(dst.byteLength, this.len);
    const cap = this.capacity;
    const first = Math.min(n, cap - this.head);
    dst.set(this.buf.subarray(this.head, this.head + first), 0);
    if (n > first) dst.set(this.buf.subarray(0, n - first), first);
    this.head = (this.head + n) % cap;
    this.len -= n;
    if (this.len === 0) this.head = 0;
    return n;
  }

  put(src: Uint8Array): number {
    const n = Math.min(src.byteLength, this.space);
    const cap = this.capacity;
    const tail = (this.head + this.len) % cap;
    const first = Math.min(n, cap - tail);
    this.buf.set(src.subarray(0, first), tail);
    if (n > first) this.buf.set(src.subarray(first, n), 0);
    this.len += n;
    return n;
  }

  /** F_SETPIPE_SZ: rounds up to a power-of-two number of pages. */
  resize(size: number): number {
    if (size <= 0 || size > PIPE_MAX_SIZE) return size > PIPE_MAX_SIZE ? -EPERM : -EINVAL;
    let cap = 4096;
    while (cap < size) cap *= 2;
    if (cap < this.len) return -EBUSY;
    if (cap === this.capacity) return cap;
    // The new buffer is charged before it exists (ENOMEM, as a failed allocation in pipe_resize_ring).
    if (this.budget && !this.budget.resize(this.capacity, cap)) return -ENOMEM;
    const next = new Uint8Array(cap);
    const n = this.len;
    this.take(next.subarray(0, n));
    this.buf = next;
    this.head = 0;
    this.len = n;
    return cap;
  }
}

export class PipeEnd extends FileDescription {
  constructor(
    readonly pipe: Pipe,
    flags: number,
    readonly waiter: PipeWaiter | null,
    /** Called when a write finds no reader: the caller raises SIGPIPE. */
    readonly onBrokenPipe: (() => void) | null,
  ) {
    super(flags, null);
    if (this.readable) pipe.readers++;
    if (this.writable) pipe.writers++;
  }

  override read(dst: Uint8Array): number {
    if (!this.readable) return -EBADF;
    const p = this.pipe;
    if (dst.byteLength === 0) return 0;
    while (p.len === 0) {
      if (p.writers === 0) return 0;
      if (this.nonblocking || !this.waiter) return -EAGAIN;
      const w = this.waiter(() => p.len > 0 || p.writers === 0);
      if (w === "intr") return -ERESTARTSYS;
      if (!w) return -EAGAIN;
    }
    return p.take(dst);
  }

  override write(src: Uint8Array): number {
    if (!this.writable) return -EBADF;
    const p = this.pipe;
    const total = src.byteLength;
    if (total === 0) return 0; // fs/pipe.c: an empty write succeeds even with no reader
    if (p.readers === 0) {
      this.onBrokenPipe?.();
      return -EPIPE;
    }
    let done = 0;
    for (;;) {
      if (p.readers === 0) {
        if (done > 0) return done;
        this.onBrokenPipe?.();
        return -EPIPE;
      }
      const left = total - done;
      // Writes of at most PIPE_BUF bytes go in whole or not at all.
      const fits = left <= PIPE_BUF ? p.space >= left : p.space > 0;
      if (fits) {
        done += p.put(src.subarray(done));
        if (done === total) return total;
        if (this.nonblocking) return done;
      } else if (this.nonblocking || !this.waiter) {
        return done > 0 ? done : -EAGAIN;
      } else {
        const w = this.waiter(() => p.space > 0 || p.readers === 0, done > 0);
        if (w === "intr") return done > 0 ? done : -ERESTARTSYS;
        if (!w) return done > 0 ? done : -EAGAIN;
      }
    }
  }

  override reopen(flags: number): FileDescription {
    const d = new PipeEnd(this.pipe, flags & (O_ACCMODE | O_NONBLOCK), this.waiter, this.onBrokenPipe);
    d.path = this.path;
    return d;
  }

  override poll(): number {
    const p = this.pipe;
    let ev = 0;
    if (this.readable) {
      if (p.len > 0) ev |= POLLIN | POLLRDNORM;
      if (p.writers === 0) ev |= POLLHUP;
    }
    if (this.writable) {
      if (p.space >= PIPE_BUF || (p.space > 0 && p.capacity < PIPE_BUF)) ev |= POLLOUT | POLLWRNORM;
      if (p.readers === 0) ev |= POLLERR;
    }
    return ev;
  }

  override ioctl(req: number, arg: number, io: IoctlIo): number {
    if (req === FIONREAD) {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setInt32(0, this.pipe.len, true);
      io.write(arg, b);
      return 0;
    }
    return super.ioctl(req, arg, io);
  }

  override stat(): Stat {
    const t = this.pipe.ctime;
    return {
      dev: 0xc,
      ino: this.pipe.ino,
      mode: S_IFIFO | 0o600,
      nlink: 1,
      uid: 0,
      gid: 0,
      rdev: 0,
      size: 0,
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

  protected override release(): void {
    if (this.readable) this.pipe.readers--;
    if (this.writable) this.pipe.writers--;
    if (this.pipe.readers === 0 && this.pipe.writers === 0) this.pipe.release();
  }
}

/**
 * pipe2(2): [read end, write end]; `flags` may hold O_NONBLOCK (O_CLOEXEC is the fd table's).
 * With a `budget`, the buffer is charged to it (throws ENFILE when it is spent).
 */
export function createPipe(
  flags: number,
  waiter: PipeWaiter | null = null,
  onBrokenPipe: (() => void) | null = null,
  budget: ByteBudget | null = null,
): [PipeEnd, PipeEnd] {
  const pipe = new Pipe(PIPE_DEF_SIZE, budget);
  const nb = flags & O_NONBLOCK;
  const r = new PipeEnd(pipe, O_RDONLY | nb, waiter, onBrokenPipe);
  const w = new PipeEnd(pipe, O_WRONLY | nb, waiter, onBrokenPipe);
  r.path = `pipe:[${pipe.ino}]`;
  w.path = r.path;
  return [r, w];
}
