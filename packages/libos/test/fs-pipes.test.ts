import * as nfs from "node:fs";
import { syscall } from "@kindling/sys-util/unsafe";
import { afterEach, describe, expect, it } from "vitest";
import { FakeClock } from "./core-setup.js";
import { E, FsHarness, MEM_BASE, O } from "./fs-harness.js";

let t: FsHarness;
afterEach(() => t?.dispose());

function pipe(t: FsHarness, flags = 0): [number, number] {
  const p = t.alloc(8);
  expect(t.call("pipe2", p, flags)).toBe(0);
  return [t.mem.i32(p), t.mem.i32(p + 4)];
}

describe("pipes", () => {
  it("carries bytes, reports EOF when writers are gone, EAGAIN when empty", () => {
    t = new FsHarness();
    const [r, w] = pipe(t, O.NONBLOCK);
    expect([r, w]).toEqual([3, 4]);
    expect(t.read(r)).toBe(E.EAGAIN);
    expect(t.write(w, "ping")).toBe(4);
    expect(t.read(r, 2)).toBe("pi");
    expect(t.read(r)).toBe("ng");
    expect(t.read(w)).toBe(E.EBADF);
    expect(t.write(r, "x")).toBe(E.EBADF);
    t.call("close", w);
    expect(t.read(r)).toBe("");
    expect(t.call("lseek", r, 0, 0)).toBe(E.ESPIPE);
    expect(t.call("pread64", r, t.alloc(4), 4, 0)).toBe(E.ESPIPE);
  });

  it("fills to 64 KiB, keeps PIPE_BUF writes atomic, grows with F_SETPIPE_SZ", () => {
    t = new FsHarness();
    const [r, w] = pipe(t, O.NONBLOCK);
    expect(t.call("fcntl", w, 1032)).toBe(65536);
    const big = new Uint8Array(70000).fill(0x61);
    expect(t.write(w, big)).toBe(65536);
    expect(t.write(w, "x")).toBe(E.EAGAIN);
    expect(t.read(r, 10)).toBe("aaaaaaaaaa");
    expect(t.write(w, new Uint8Array(100))).toBe(E.EAGAIN); // 10 free, 100 <= PIPE_BUF: all or nothing
    expect(t.write(w, new Uint8Array(5000))).toBe(10); // > PIPE_BUF: partial
    expect(t.call("fcntl", w, 1031, 100000)).toBe(131072);
    expect(t.call("fcntl", w, 1031, 4096)).toBe(-16); // EBUSY: holds more than that
    const n = t.alloc(4);
    expect(t.call("ioctl", r, 0x541b, n)).toBe(0);
    expect(t.mem.i32(n)).toBe(65536);
  });

  it("EPIPE and SIGPIPE when no reader is left", () => {
    t = new FsHarness();
    const [r, w] = pipe(t);
    t.call("close", r);
    expect(t.write(w, "x")).toBe(E.EPIPE);
    // SIGPIPE's default action ends the process at the end of the call.
    expect(t.k.termSignal).toBe(13);
  });

  it("pipe2 validates flags and the pointer, and sets O_CLOEXEC", () => {
    t = new FsHarness();
    expect(t.call("pipe2", t.alloc(8), 0o1)).toBe(E.EINVAL);
    expect(t.call("pipe2", 8, 0)).toBe(E.EFAULT);
    expect(t.call("pipe", 2 ** 40)).toBe(E.EFAULT);
    expect(t.fs.fds.size).toBe(3);
    const [r, w] = pipe(t, O.CLOEXEC);
    expect(t.call("fcntl", r, 1)).toBe(1);
    expect(t.call("fcntl", w, 3)).toBe(O.WRONLY);
    const st = t.alloc(144);
    expect(t.call("fstat", r, st)).toBe(0);
    expect(t.mem.dv.getUint32(st - MEM_BASE + 24, true) & 0o170000).toBe(0o010000);
    expect(t.readlink(`/proc/self/fd/${r}`)).toMatch(/^pipe:\[\d+\]$/);
  });

  it("a blocking read that nothing can satisfy ends the program as a deadlock, not a hang", () => {
    t = new FsHarness();
    const [r] = pipe(t);
    t.read(r);
    expect(t.k.termSignal).toBe(9);
    expect(t.k.killReason).toMatch(/deadlock: a pipe wait/);
  });

  it("SIGALRM interrupts a blocking pipe read", () => {
    const clock = new FakeClock();
    t = new FsHarness({}, { clock, sleep: clock.sleep });
    const [r] = pipe(t);
    const sa = t.alloc(32);
    t.mem.writeU64(sa, 1); // SIG_IGN would discard it: use a handler address instead
    t.mem.writeU64(sa, 0x1234);
    t.mem.writeU64(sa + 8, 0x04000000); // SA_RESTORER
    t.mem.writeU64(sa + 16, 0x1234);
    expect(t.call("rt_sigaction", 14, sa, 0, 8)).toBe(0);
    expect(t.call("alarm", 2)).toBe(0);
    const before = clock.mono;
    t.h.task.regs.rsp = BigInt(MEM_BASE + 0x400000);
    t.read(r);
    expect(clock.mono - before).toBeGreaterThanOrEqual(2000);
    expect(t.k.termSignal).toBe(0);
  });
});

describe("poll, ppoll, select, pselect6", () => {
  it("poll reports readiness, POLLNVAL, POLLHUP, and ignores negative fds", () => {
    t = new FsHarness();
    const [r, w] = pipe(t);
    const pfd = t.alloc(32);
    const set = (i: number, fd: number, ev: number) => {
      t.mem.dv.setInt32(pfd - MEM_BASE + i * 8, fd, true);
      t.mem.dv.setInt16(pfd - MEM_BASE + i * 8 + 4, ev, true);
    };
    const rev = (i: number) => t.mem.dv.getInt16(pfd - MEM_BASE + i * 8 + 6, true);
    set(0, r, 1);
    set(1, w, 4);
    set(2, 99, 1);
    set(3, -1, 1);
    expect(t.call("poll", pfd, 4, 0)).toBe(2);
    expect([rev(0), rev(1), rev(2), rev(3)]).toEqual([0, 4, 0x20, 0]);
    t.write(w, "x");
    expect(t.call("poll", pfd, 1, 1000)).toBe(1);
    expect(rev(0)).toBe(1);
    t.read(r);
    // nothing ready with a timeout: sleeps and returns 0
    expect(t.call("poll", pfd, 1, 50)).toBe(0);
    t.call("close", w);
    expect(t.call("poll", pfd, 1, 0)).toBe(1);
    expect(rev(0)).toBe(0x10);
    expect(t.call("poll", pfd, 1 << 21, 0)).toBe(E.EINVAL);
    expect(t.call("poll", 16, 1, 0)).toBe(E.EFAULT);
    const ts = t.alloc(16);
    t.mem.writeU64(ts + 8, 1e9);
    expect(t.call("ppoll", pfd, 1, ts, 0, 8)).toBe(E.EINVAL);
  });

  it("select sets and clears bits; EBADF for a closed fd in a set", () => {
    t = new FsHarness();
    const [r, w] = pipe(t);
    const rs = t.alloc(8);
    const ws = t.alloc(8);
    const tv = t.alloc(16);
    t.mem.write(rs, new Uint8Array([1 << r]));
    t.mem.write(ws, new Uint8Array([1 << w]));
    expect(t.call("select", w + 1, rs, ws, 0, tv)).toBe(1);
    expect(t.mem.read(rs, 1)[0]).toBe(0);
    expect(t.mem.read(ws, 1)[0]).toBe(1 << w);
    t.write(w, "data");
    t.mem.write(rs, new Uint8Array([1 << r]));
    t.mem.write(ws, new Uint8Array([1 << w]));
    expect(t.call("pselect6", w + 1, rs, ws, 0, 0, 0)).toBe(2);
    t.mem.write(rs, new Uint8Array([1 << 7]));
    expect(t.call("select", 8, rs, 0, 0, tv)).toBe(E.EBADF);
    t.mem.dv.setBigInt64(tv - MEM_BASE + 8, -1n, true);
    t.mem.write(rs, new Uint8Array([1 << r]));
    expect(t.call("select", 8, rs, 0, 0, tv)).toBe(E.EINVAL);
    expect(t.call("select", -1, 0, 0, 0, 0)).toBe(E.EINVAL);
  });

  it("waits on a host fd behind stdin until it becomes readable", () => {
    const [rfd, wfd] = hostPipe();
    t = new FsHarness({}, { stdio: [rfd, "null", "null"] });
    nfs.writeSync(wfd, "host!");
    const pfd = t.alloc(8);
    t.mem.dv.setInt32(pfd - MEM_BASE, 0, true);
    t.mem.dv.setInt16(pfd - MEM_BASE + 4, 1, true);
    expect(t.call("poll", pfd, 1, -1)).toBe(1);
    expect(t.read(0)).toBe("host!");
    nfs.closeSync(wfd);
    expect(t.read(0)).toBe("");
    expect(t.call("ioctl", 0, 0x5401, t.alloc(64))).toBe(E.ENOTTY);
    nfs.closeSync(rfd);
  });
});

describe("ioctl", () => {
  it("TCGETS/TIOCGWINSZ on a tty hook, ENOTTY elsewhere, FIOCLEX/FIONBIO", () => {
    t = new FsHarness({}, { stdio: [{ read: () => 0, isTTY: true }, { write: (b) => b.length, isTTY: true }, "null"] });
    const buf = t.alloc(64);
    expect(t.call("ioctl", 1, 0x5401, buf)).toBe(0);
    expect(t.call("ioctl", 1, 0x5413, buf)).toBe(0);
    expect(t.mem.dv.getUint16(buf - MEM_BASE, true)).toBe(24);
    expect(t.mem.dv.getUint16(buf - MEM_BASE + 2, true)).toBe(80);
    expect(t.call("ioctl", 2, 0x5401, buf)).toBe(E.ENOTTY);
    expect(t.call("ioctl", 1, 0x5401, 8)).toBe(E.EFAULT);
    expect(t.call("ioctl", 1, 0x12345678, buf)).toBe(E.ENOTTY);
    expect(t.call("ioctl", 55, 0x5401, buf)).toBe(E.EBADF);
    expect(t.call("ioctl", 1, 0x5451, 0)).toBe(0);
    expect(t.call("fcntl", 1, 1)).toBe(1);
    t.mem.writeU32(buf, 1);
    expect(t.call("ioctl", 1, 0x5421, buf)).toBe(0);
    expect(t.call("fcntl", 1, 3) & O.NONBLOCK).toBe(O.NONBLOCK);
    // a terminal on stdio makes /dev/tty
    const tty = t.open("/dev/tty", O.RDWR);
    expect(tty).toBeGreaterThan(0);
    expect(t.call("ioctl", tty, 0x5413, buf)).toBe(0);
  });
});

function hostPipe(): [number, number] {
  const fds = new Int32Array(2);
  syscall(293, fds, 0o2000000); // pipe2(fds, O_CLOEXEC)
  return [fds[0], fds[1]];
}

describe("pipe waiter hook", () => {
  it("a blocking read asks SandboxFs.waiter, which may let another task write", () => {
    t = new FsHarness();
    const [r, w] = pipe(t);
    let asked = 0;
    t.fs.waiter = (ready) => {
      asked++;
      // another task writes while this one waits
      const fd = t.fs.fds.get(w);
      fd?.write(new TextEncoder().encode("late"));
      return ready();
    };
    expect(t.read(r)).toBe("late");
    expect(asked).toBe(1);
    // a waiter that cannot help: EAGAIN instead of hanging
    t.fs.waiter = () => false;
    expect(t.read(r)).toBe(E.EAGAIN);
  });
});

describe("waits: signals, timers and deadlock", () => {
  function timed() {
    const clock = new FakeClock();
    const h = new FsHarness({}, { clock, sleep: clock.sleep });
    return { h, clock };
  }
  function pollfd(h: FsHarness, fd: number, events: number): number {
    const p = h.alloc(8);
    h.mem.dv.setInt32(p - MEM_BASE, fd, true);
    h.mem.dv.setInt16(p - MEM_BASE + 4, events, true);
    return p;
  }

  it("poll with only internal objects and no timeout ends the program as a deadlock", () => {
    const { h } = timed();
    t = h;
    const [r] = pipe(h);
    expect(h.call("poll", pollfd(h, r, 1), 1, -1)).toBe(0);
    expect(h.k.termSignal).toBe(9);
    expect(h.k.killReason).toMatch(/deadlock: poll/);
  });

  it("a timeout sleeps on the kernel's clock; SIGALRM interrupts the wait", () => {
    const { h, clock } = timed();
    t = h;
    const [r] = pipe(h);
    const start = clock.mono;
    expect(h.call("poll", pollfd(h, r, 1), 1, 250)).toBe(0);
    expect(clock.mono - start).toBeGreaterThanOrEqual(250);
    expect(h.call("alarm", 1)).toBe(0);
    const before = clock.mono;
    h.call("poll", pollfd(h, r, 1), 1, 5000);
    expect(clock.mono - before).toBeGreaterThanOrEqual(1000);
    expect(clock.mono - before).toBeLessThan(5000);
    expect(h.k.termSignal).toBe(14); // SIGALRM's default action
  });

  it("pselect6's mask blocks SIGALRM during the wait and is restored after", () => {
    const { h, clock } = timed();
    t = h;
    const [r] = pipe(h);
    const rs = h.alloc(8);
    h.mem.write(rs, new Uint8Array([1 << r]));
    const ts = h.alloc(16);
    h.mem.writeU64(ts, 3);
    const mask = h.alloc(8);
    h.mem.writeBigU64(mask, 1n << 13n); // SIGALRM
    const sig = h.alloc(16);
    h.mem.writeU64(sig, mask);
    h.mem.writeU64(sig + 8, 8);
    expect(h.call("alarm", 1)).toBe(0);
    const before = clock.mono;
    expect(h.call("pselect6", r + 1, rs, 0, 0, ts, sig)).toBe(0);
    expect(clock.mono - before).toBeGreaterThanOrEqual(3000);
    expect(h.k.task(h.h.task).sigmask).toBe(0n);
    expect(h.k.termSignal).toBe(14); // delivered once the old mask is back
    h.mem.writeU64(sig + 8, 7);
    expect(h.call("pselect6", r + 1, rs, 0, 0, ts, sig)).toBe(E.EINVAL);
  });
});

describe("blocking reads of host stdio", () => {
  it("wait like poll: an ITIMER_REAL expiry ends a read of an empty host pipe", () => {
    const [rfd, wfd] = hostPipe();
    t = new FsHarness({}, { stdio: [rfd, "null", "null"] });
    try {
      const itv = t.alloc(32);
      t.mem.writeU64(itv + 16, 0);
      t.mem.writeU64(itv + 24, 100_000); // it_value: 100 ms
      expect(t.call("setitimer", 0, itv, 0)).toBe(0);
      const start = performance.now();
      t.read(0);
      expect(performance.now() - start).toBeGreaterThanOrEqual(90);
      expect(t.k.termSignal).toBe(14);
    } finally {
      nfs.closeSync(wfd);
      nfs.closeSync(rfd);
    }
  });
});
