// pipe/pipe2, poll/ppoll, select/pselect6.
//
// One sandbox task runs at a time, synchronously: nothing inside the libos can
// change while a task waits. So a wait either involves host fds (stdio), and
// then blocks in the host's poll(2), or it only sleeps for the timeout.

import { syscallRaw } from "@kindling/sys-util/unsafe";
import type { ProgramMemory, TaskControl } from "@kindling/syscall-tap";
import { RLIMIT_NOFILE } from "../abi.js";
import { define, type Handler, type Outcome, type SyscallModule, type SyscallTable } from "../dispatch.js";
import { EBADF, EFAULT, EINTR, EINVAL, EMFILE } from "../errno.js";
import {
  O_CLOEXEC,
  O_DIRECT,
  O_NONBLOCK,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  POLLPRI,
  POLLRDNORM,
  POLLWRNORM,
} from "../fs/constants.js";
import { createPipe } from "../fs/pipe.js";
import { HostStreamDescription } from "../fs/stdio.js";
import type { FileDescription } from "../fs/types.js";
import type { Libos } from "../kernel.js";
import { SIGKILL, SIGSTOP } from "../signals.js";
import { fsOf, vfsCall } from "./files.js";

/** SIGKILL and SIGSTOP cannot be blocked. */
const UNBLOCKABLE = (1n << BigInt(SIGKILL - 1)) | (1n << BigInt(SIGSTOP - 1));

// ------------------------------------------------------------------ pipes

function doPipe(k: Libos, t: TaskControl, addr: number, flags: number): number {
  if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT)) return -EINVAL;
  if (!t.memory.contains(addr, 8)) return -EFAULT;
  const fs = fsOf(k);
  const [r, w] = createPipe(flags, (ready, partial) => fs.wait(ready, partial), null, fs.budget);
  const cloexec = (flags & O_CLOEXEC) !== 0;
  const rfd = fs.fds.alloc(r, 0, cloexec);
  if (rfd < 0) {
    w.unref();
    return rfd;
  }
  const wfd = fs.fds.alloc(w, 0, cloexec);
  if (wfd < 0) {
    fs.fds.close(rfd);
    return wfd === -EINVAL ? -EMFILE : wfd;
  }
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setInt32(0, rfd, true);
  dv.setInt32(4, wfd, true);
  try {
    t.memory.write(addr, b);
  } catch (e) {
    fs.fds.close(rfd);
    fs.fds.close(wfd);
    throw e;
  }
  return 0;
}

const pipe: Handler = (k, t, ev) => doPipe(k, t, ev.arg(0), 0);
const pipe2: Handler = (k, t, ev) => doPipe(k, t, ev.arg(0), ev.argI32(1));

// ------------------------------------------------------------------ readiness

/** Host fds (stdio) among the polled descriptions, as a struct pollfd array; null when none. */
function hostPollfds(descs: FileDescription[], events: number[]): Uint8Array | null {
  const host: number[] = [];
  const ev: number[] = [];
  descs.forEach((d, i) => {
    if (d instanceof HostStreamDescription) {
      host.push(d.fd);
      ev.push(events[i]);
    }
  });
  if (host.length === 0) return null;
  const buf = new Uint8Array(8 * host.length);
  const dv = new DataView(buf.buffer);
  host.forEach((fd, i) => {
    dv.setInt32(i * 8, fd, true);
    dv.setInt16(i * 8 + 4, ev[i] | POLLIN | POLLOUT, true);
  });
  return buf;
}

/** Timeout in ms from a struct timespec pointer (0 = NULL → -1, forever); -EINVAL when malformed. */
function timespecMs(mem: ProgramMemory, addr: number): number {
  if (addr === 0) return -1;
  const b = mem.read(addr, 16);
  const dv = new DataView(b.buffer, b.byteOffset, 16);
  const sec = dv.getBigInt64(0, true);
  const nsec = dv.getBigInt64(8, true);
  if (sec < 0n || nsec < 0n || nsec >= 1_000_000_000n) return Number.NaN;
  return Number(sec) * 1000 + Math.ceil(Number(nsec) / 1e6);
}

interface PollSet {
  fds: number[];
  events: number[];
  revents: number[];
}

function scan(k: Libos, s: PollSet): number {
  const table = fsOf(k).fds;
  let ready = 0;
  for (let i = 0; i < s.fds.length; i++) {
    const fd = s.fds[i];
    if (fd < 0) {
      s.revents[i] = 0;
      continue;
    }
    const d = table.get(fd);
    const r = d ? d.poll() & (s.events[i] | POLLERR | POLLHUP) : POLLNVAL;
    s.revents[i] = r;
    if (r) ready++;
  }
  return ready;
}

/** A wait nothing can end, or one past the sandbox's deadline: the program ends (the core's convention). */
function stuck(k: Libos, out: Outcome, why: string, what: string): number {
  k.killBy(
    SIGKILL,
    out,
    why === "deadlock" ? `deadlock: ${what} that nothing can end` : `timeout: the deadline passed during ${what}`,
  );
  return 0;
}

/**
 * Waits until something in `s` is ready, `ms` passes (-1: no limit) or a
 * signal arrives (-EINTR). Internal objects (pipes, files) cannot change while
 * the only task waits, so without host fds this is the kernel's block(); with
 * host fds (stdio) it is the host's poll(2), in slices that end at the next
 * timer expiry and the sandbox's deadline.
 */
function pollWait(k: Libos, t: TaskControl, out: Outcome, s: PollSet, ms: number, what: string): number {
  let ready = scan(k, s);
  if (ready > 0 || ms === 0) return ready;
  const table = fsOf(k).fds;
  const descs: FileDescription[] = [];
  const evs: number[] = [];
  s.fds.forEach((fd, i) => {
    const d = fd >= 0 ? table.get(fd) : undefined;
    if (d) {
      descs.push(d);
      evs.push(s.events[i]);
    }
  });
  const host = hostPollfds(descs, evs);
  if (host === null && ms < 0 && k.sched !== undefined && k.sched.others > 0) {
    // Another thread can make one ready (cooperative threads, kvm): wait in the scheduler; poll runs again then.
    k.sched.blockUntil(k, t, out, () => scan(k, s) > 0);
    return 0;
  }
  if (host === null) {
    const r = k.block(t, ms < 0 ? Number.POSITIVE_INFINITY : ms);
    if (r === true) return -EINTR;
    if (r === false) return scan(k, s);
    return stuck(k, out, r, what);
  }
  const end = ms < 0 ? Number.POSITIVE_INFINITY : k.clock.monotonicMs() + ms;
  const deadline = (k as { deadline?: number }).deadline ?? Number.POSITIVE_INFINITY;
  for (;;) {
    if (k.signals.deliverable) return -EINTR;
    const now = k.clock.monotonicMs();
    if (now >= deadline) return stuck(k, out, "timeout", what);
    const until = Math.min(end, k.realTimerAt, deadline);
    const slice = until === Number.POSITIVE_INFINITY ? -1 : Math.min(0x7fffffff, Math.max(0, Math.ceil(until - now)));
    syscallRaw(7, host, host.byteLength / 8, slice);
    if (k.realTimerAt !== Number.POSITIVE_INFINITY) k.checkTimers(t);
    ready = scan(k, s);
    if (ready > 0) return ready;
    if (k.signals.deliverable) return -EINTR;
    if (k.clock.monotonicMs() >= end) return 0;
  }
}

/**
 * Before a blocking read or write on a host stream (stdio) behind sandbox fd
 * `fd`: waits until it is ready the same way poll does, so timers, signals
 * and the deadline still end the wait. Returns 0 when ready, -EINTR, or 0 with
 * the program ended.
 */
export function waitHostReady(k: Libos, t: TaskControl, out: Outcome, fd: number, events: number): number {
  const s: PollSet = { fds: [fd], events: [events], revents: [0] };
  const r = pollWait(k, t, out, s, -1, events & POLLIN ? "a read" : "a write");
  return Math.min(r, 0);
}

/**
 * ppoll/pselect6's temporary signal mask: applied for the wait; when the wait
 * ends with EINTR the handler's frame restores the old mask (as rt_sigsuspend).
 */
function withMask(k: Libos, t: TaskControl, mask: bigint | null, wait: () => number): number {
  if (mask === null) return wait();
  const task = k.task(t);
  const old = task.sigmask;
  task.sigmask = mask & ~UNBLOCKABLE;
  k.signals.update(task);
  const r = wait();
  if (r === -EINTR) task.savedMask = old;
  else {
    task.sigmask = old;
    k.signals.update(task);
  }
  return r;
}

function doPoll(
  k: Libos,
  t: TaskControl,
  out: Outcome,
  addr: number,
  nfds: number,
  ms: number,
  mask: bigint | null,
  what: string,
): number {
  if (nfds > k.rlimitNumber(RLIMIT_NOFILE) || nfds > 1 << 20) return -EINVAL;
  const mem = t.memory;
  const raw = nfds > 0 ? mem.read(addr, nfds * 8) : new Uint8Array(0);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const s: PollSet = { fds: [], events: [], revents: [] };
  for (let i = 0; i < nfds; i++) {
    s.fds.push(dv.getInt32(i * 8, true));
    s.events.push(dv.getUint16(i * 8 + 4, true));
    s.revents.push(0);
  }
  const r = withMask(k, t, mask, () => pollWait(k, t, out, s, ms, what));
  if (r <= 0 && (r < 0 || out.resume !== 0)) return r;
  for (let i = 0; i < nfds; i++) dv.setUint16(i * 8 + 6, s.revents[i], true);
  if (nfds > 0) mem.write(addr, raw);
  return r;
}

const poll: Handler = (k, t, ev, out) => doPoll(k, t, out, ev.arg(0), ev.arg(1), ev.argI32(2), null, "poll");

const ppoll: Handler = (k, t, ev, out) => {
  const ms = timespecMs(t.memory, ev.arg(2));
  if (Number.isNaN(ms)) return -EINVAL;
  let mask: bigint | null = null;
  if (ev.arg(3) !== 0) {
    if (ev.arg(4) !== 8) return -EINVAL;
    mask = t.memory.readBigU64(ev.arg(3));
  }
  return doPoll(k, t, out, ev.arg(0), ev.arg(1), ms, mask, "ppoll");
};

// ------------------------------------------------------------------ select

const POLLIN_SET = POLLIN | POLLRDNORM | POLLHUP | POLLERR;
const POLLOUT_SET = POLLOUT | POLLWRNORM | POLLERR;
const POLLEX_SET = POLLPRI;

function readSet(mem: ProgramMemory, addr: number, n: number): Uint8Array | null {
  if (addr === 0) return null;
  return mem.read(addr, Math.ceil(n / 64) * 8);
}

function doSelect(
  k: Libos,
  t: TaskControl,
  out: Outcome,
  nfds: number,
  rA: number,
  wA: number,
  eA: number,
  ms: number,
  mask: bigint | null,
  what: string,
): number {
  if (nfds < 0 || nfds > 0x7fffffff) return -EINVAL;
  const table = fsOf(k).fds;
  const maxFd = Math.max(-1, ...table.fds());
  const n = Math.min(nfds, Math.max(maxFd + 1, 0) + 64 * 1024);
  const mem = t.memory;
  const sets = [readSet(mem, rA, n), readSet(mem, wA, n), readSet(mem, eA, n)];
  const s: PollSet = { fds: [], events: [], revents: [] };
  for (let fd = 0; fd < n; fd++) {
    const byte = fd >> 3;
    const bit = 1 << (fd & 7);
    let ev = 0;
    if (sets[0] && sets[0][byte] & bit) ev |= POLLIN_SET;
    if (sets[1] && sets[1][byte] & bit) ev |= POLLOUT_SET;
    if (sets[2] && sets[2][byte] & bit) ev |= POLLEX_SET;
    if (ev === 0) continue;
    if (!table.get(fd)) return -EBADF;
    s.fds.push(fd);
    s.events.push(ev);
    s.revents.push(0);
  }
  const r = withMask(k, t, mask, () => pollWait(k, t, out, s, ms, what));
  if (r < 0 || out.resume !== 0) return r;
  const res = sets.map((x) => (x ? new Uint8Array(x.byteLength) : null));
  let count = 0;
  for (let i = 0; i < s.fds.length; i++) {
    const fd = s.fds[i];
    const re = s.revents[i];
    const ev = s.events[i];
    const byte = fd >> 3;
    const bit = 1 << (fd & 7);
    if (res[0] && ev & POLLIN && re & POLLIN_SET) {
      res[0][byte] |= bit;
      count++;
    }
    if (res[1] && ev & POLLOUT && re & POLLOUT_SET) {
      res[1][byte] |= bit;
      count++;
    }
    if (res[2] && ev & POLLPRI && re & POLLEX_SET) {
      res[2][byte] |= bit;
      count++;
    }
  }
  if (res[0]) mem.write(rA, res[0]);
  if (res[1]) mem.write(wA, res[1]);
  if (res[2]) mem.write(eA, res[2]);
  return count;
}

const select: Handler = (k, t, ev, out) => {
  const tv = ev.arg(4);
  let ms = -1;
  if (tv !== 0) {
    const b = t.memory.read(tv, 16);
    const dv = new DataView(b.buffer, b.byteOffset, 16);
    const sec = dv.getBigInt64(0, true);
    const usec = dv.getBigInt64(8, true);
    if (sec < 0n || usec < 0n || usec >= 1_000_000n) return -EINVAL;
    ms = Number(sec) * 1000 + Math.ceil(Number(usec) / 1000);
  }
  const r = doSelect(k, t, out, ev.argI32(0), ev.arg(1), ev.arg(2), ev.arg(3), ms, null, "select");
  if (r === 0 && tv !== 0 && out.resume === 0) t.memory.write(tv, new Uint8Array(16)); // the time left: none
  return r;
};

const pselect6: Handler = (k, t, ev, out) => {
  const ms = timespecMs(t.memory, ev.arg(4));
  if (Number.isNaN(ms)) return -EINVAL;
  let mask: bigint | null = null;
  if (ev.arg(5) !== 0) {
    // struct { const sigset_t *ss; size_t ss_len; }
    const sigp = t.memory.readU64(ev.arg(5));
    const len = t.memory.readU64(ev.arg(5) + 8);
    if (sigp !== 0) {
      if (len !== 8) return -EINVAL;
      mask = t.memory.readBigU64(sigp);
    }
  }
  const r = doSelect(k, t, out, ev.argI32(0), ev.arg(1), ev.arg(2), ev.arg(3), ms, mask, "pselect6");
  if (r === 0 && ev.arg(4) !== 0 && out.resume === 0) t.memory.write(ev.arg(4), new Uint8Array(16));
  return r;
};

export const pollModule: SyscallModule = {
  register(table: SyscallTable): void {
    define(table, "pipe", vfsCall(pipe));
    define(table, "pipe2", vfsCall(pipe2));
    define(table, "poll", vfsCall(poll));
    define(table, "ppoll", vfsCall(ppoll));
    define(table, "select", vfsCall(select));
    define(table, "pselect6", vfsCall(pselect6));
  },
};
