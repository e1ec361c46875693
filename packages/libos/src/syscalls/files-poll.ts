// pipe/pipe2, poll/ppoll, select/pselect6.
//
// One sandbox task runs at a time, synchronously: nothing inside the libos can
// change while a task waits. So a wait either involves host fds (stdio), and
// then blocks in the host's poll(2), or it only sleeps for the timeout.

import { syscallRaw } from "@kindling/sys-util";
import type { ProgramMemory, TaskControl } from "@kindling/syscall-tap";
import { RLIMIT_NOFILE } from "../abi.js";
import { define, type Handler, type SyscallModule, type SyscallTable } from "../dispatch.js";
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
import { fsOf, vfsCall } from "./files.js";

// ------------------------------------------------------------------ pipes

function doPipe(k: Libos, t: TaskControl, addr: number, flags: number): number {
  if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT)) return -EINVAL;
  if (!t.memory.contains(addr, 8)) return -EFAULT;
  const fs = fsOf(k);
  const [r, w] = createPipe(flags, (ready) => (fs.waiter ? fs.waiter(ready) : false));
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

/** Waits for host fds behind `descs` to change, at most `ms` (-1: forever). Returns false when there is nothing to wait on. */
function waitHost(k: Libos, descs: FileDescription[], events: number[], ms: number): boolean {
  const host: number[] = [];
  const ev: number[] = [];
  descs.forEach((d, i) => {
    if (d instanceof HostStreamDescription) {
      host.push(d.fd);
      ev.push(events[i]);
    }
  });
  if (host.length === 0) {
    if (ms > 0) k.sleep(ms);
    return false;
  }
  const buf = new Uint8Array(8 * host.length);
  const dv = new DataView(buf.buffer);
  host.forEach((fd, i) => {
    dv.setInt32(i * 8, fd, true);
    dv.setInt16(i * 8 + 4, ev[i] | POLLIN | POLLOUT, true);
  });
  syscallRaw(7, buf, host.length, ms < 0 ? -1 : Math.min(ms, 0x7fffffff));
  return true;
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

function pollWait(k: Libos, s: PollSet, ms: number): number {
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
  const deadline = ms < 0 ? Number.POSITIVE_INFINITY : k.clock.monotonicMs() + ms;
  for (;;) {
    const left = ms < 0 ? -1 : Math.max(0, Math.ceil(deadline - k.clock.monotonicMs()));
    const waited = waitHost(k, descs, evs, left);
    ready = scan(k, s);
    if (ready > 0) return ready;
    if (!waited) return ms < 0 ? -EINTR : 0; // nothing can change: a timeout, or a wait that would never end
    if (ms >= 0 && k.clock.monotonicMs() >= deadline) return 0;
  }
}

function doPoll(k: Libos, t: TaskControl, addr: number, nfds: number, ms: number): number {
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
  const r = pollWait(k, s, ms);
  if (r < 0) return r;
  for (let i = 0; i < nfds; i++) dv.setUint16(i * 8 + 6, s.revents[i], true);
  if (nfds > 0) mem.write(addr, raw);
  return r;
}

const poll: Handler = (k, t, ev) => doPoll(k, t, ev.arg(0), ev.arg(1), ev.argI32(2));

const ppoll: Handler = (k, t, ev) => {
  const ms = timespecMs(t.memory, ev.arg(2));
  if (Number.isNaN(ms)) return -EINVAL;
  if (ev.arg(3) !== 0 && ev.arg(4) !== 8) return -EINVAL;
  return doPoll(k, t, ev.arg(0), ev.arg(1), ms);
};

// ------------------------------------------------------------------ select

const POLLIN_SET = POLLIN | POLLRDNORM | POLLHUP | POLLERR;
const POLLOUT_SET = POLLOUT | POLLWRNORM | POLLERR;
const POLLEX_SET = POLLPRI;

function readSet(mem: ProgramMemory, addr: number, n: number): Uint8Array | null {
  if (addr === 0) return null;
  return mem.read(addr, Math.ceil(n / 64) * 8);
}

function doSelect(k: Libos, t: TaskControl, nfds: number, rA: number, wA: number, eA: number, ms: number): number {
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
  const r = pollWait(k, s, ms);
  if (r < 0) return r;
  const out = sets.map((x) => (x ? new Uint8Array(x.byteLength) : null));
  let count = 0;
  for (let i = 0; i < s.fds.length; i++) {
    const fd = s.fds[i];
    const re = s.revents[i];
    const ev = s.events[i];
    const byte = fd >> 3;
    const bit = 1 << (fd & 7);
    if (out[0] && ev & POLLIN && re & POLLIN_SET) {
      out[0][byte] |= bit;
      count++;
    }
    if (out[1] && ev & POLLOUT && re & POLLOUT_SET) {
      out[1][byte] |= bit;
      count++;
    }
    if (out[2] && ev & POLLPRI && re & POLLEX_SET) {
      out[2][byte] |= bit;
      count++;
    }
  }
  if (out[0]) mem.write(rA, out[0]);
  if (out[1]) mem.write(wA, out[1]);
  if (out[2]) mem.write(eA, out[2]);
  return count;
}

const select: Handler = (k, t, ev) => {
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
  const r = doSelect(k, t, ev.argI32(0), ev.arg(1), ev.arg(2), ev.arg(3), ms);
  if (r === 0 && tv !== 0) t.memory.write(tv, new Uint8Array(16)); // the time left: none
  return r;
};

const pselect6: Handler = (k, t, ev) => {
  const ms = timespecMs(t.memory, ev.arg(4));
  if (Number.isNaN(ms)) return -EINVAL;
  if (ev.arg(5) !== 0) {
    // struct { const sigset_t *ss; size_t ss_len; }
    const sigp = t.memory.readU64(ev.arg(5));
    const len = t.memory.readU64(ev.arg(5) + 8);
    if (sigp !== 0 && len !== 8) return -EINVAL;
  }
  const r = doSelect(k, t, ev.argI32(0), ev.arg(1), ev.arg(2), ev.arg(3), ms);
  if (r === 0 && ev.arg(4) !== 0) t.memory.write(ev.arg(4), new Uint8Array(16));
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
