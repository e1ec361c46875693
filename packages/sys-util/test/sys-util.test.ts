import {
  AT_FDCWD,
  close,
  EFD_NONBLOCK,
  EventFd,
  errnoName,
  ftruncate,
  ioctl,
  MADV_DONTNEED,
  MFD_CLOEXEC,
  MmapRegion,
  memfdCreate,
  O_DIRECTORY,
  O_RDONLY,
  open,
  openat2,
  pread,
  pwrite,
  RESOLVE_BENEATH,
  SysError,
  spawn,
  UsageError,
  waitpid,
} from "@kindling/sys-util";
import { describe, expect, it } from "vitest";

describe("errors", () => {
  it("names errno values", () => {
    expect(errnoName(22)).toBe("EINVAL");
    expect(errnoName(2)).toBe("ENOENT");
    expect(errnoName(9999)).toBe("E9999");
  });
  it("open of a missing file is a SysError with errno and code", () => {
    try {
      open("/nonexistent/kindling", O_RDONLY);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SysError);
      expect((e as SysError).errno).toBe(2);
      expect((e as SysError).code).toBe("ENOENT");
    }
  });
  it("ioctl on a closed fd is EBADF", () => {
    expect(() => ioctl(987654, 0x1234)).toThrowError(expect.objectContaining({ code: "EBADF" }));
  });
});

describe("mmap", () => {
  it("maps, writes, reads and unmaps exactly once", () => {
    const m = MmapRegion.anonymous(8192);
    expect(m.length).toBe(8192);
    expect(m.hostAddress % 4096n).toBe(0n);
    const b = m.bytes();
    b[100] = 42;
    expect(m.bytes(100, 1)[0]).toBe(42);
    m.madvise(0, 4096, MADV_DONTNEED);
    expect(m.bytes(100, 1)[0]).toBe(0);
    m.unmap();
    expect(m.mapped).toBe(false);
    // Old views are detached (empty), not dangling.
    expect(b.length).toBe(0);
    expect(b[100]).toBeUndefined();
    expect(() => m.bytes()).toThrow(UsageError);
    expect(() => m.unmap()).toThrow(UsageError);
  });
  it("rejects zero and out-of-range lengths with typed errors", () => {
    expect(() => MmapRegion.anonymous(0)).toThrow(SysError);
    // Larger than one ArrayBuffer can be: a typed error, not a crash of the process.
    expect(() => MmapRegion.anonymous(2 ** 32 + 4096)).toThrow(UsageError);
    const m = MmapRegion.anonymous(4096);
    expect(() => m.bytes(4000, 200)).toThrow(UsageError);
    m.unmap();
  });
  it("shared memfd mappings see each other's writes; private ones are copy-on-write", () => {
    const fd = memfdCreate("kindling-test", MFD_CLOEXEC);
    ftruncate(fd, 4096);
    const a = MmapRegion.file(fd, 4096, 0, true);
    const b = MmapRegion.file(fd, 4096, 0, true);
    a.bytes()[7] = 99;
    expect(b.bytes()[7]).toBe(99);
    const priv = MmapRegion.file(fd, 4096, 0, false);
    expect(priv.bytes()[7]).toBe(99);
    priv.bytes()[7] = 1;
    expect(a.bytes()[7]).toBe(99);
    a.unmap();
    b.unmap();
    priv.unmap();
    close(fd);
  });
  it("pread/pwrite go straight to and from mapped memory", () => {
    const fd = memfdCreate("kindling-io");
    const m = MmapRegion.anonymous(4096);
    m.bytes().set([1, 2, 3, 4], 10);
    expect(pwrite(fd, m.buffer, 10, 4, 0)).toBe(4);
    expect(pread(fd, m.buffer, 100, 4, 0)).toBe(4);
    expect([...m.bytes(100, 4)]).toEqual([1, 2, 3, 4]);
    expect(() => pread(fd, m.buffer, 4090, 100, 0)).toThrow(UsageError);
    m.unmap();
    close(fd);
  });
});

describe("eventfd", () => {
  it("counts writes and reports EAGAIN as zero when non-blocking", () => {
    const e = new EventFd(0, EFD_NONBLOCK);
    expect(e.tryRead()).toBe(0n);
    e.write(2);
    e.write(3n);
    expect(e.read()).toBe(5n);
    e.close();
    expect(() => e.fd).toThrow(UsageError);
  });
});

describe("openat2", () => {
  it("refuses to resolve beneath a root with ..", () => {
    const dir = open("/usr", O_RDONLY | O_DIRECTORY);
    expect(openat2(dir, "bin", { flags: O_RDONLY | O_DIRECTORY, resolve: RESOLVE_BENEATH })).toBeGreaterThan(0);
    expect(() => openat2(dir, "../etc/passwd", { flags: O_RDONLY, resolve: RESOLVE_BENEATH })).toThrowError(
      expect.objectContaining({ code: "EXDEV" }),
    );
    expect(() => openat2(AT_FDCWD, "/etc/passwd", { flags: O_RDONLY, resolve: RESOLVE_BENEATH })).toThrowError(
      expect.objectContaining({ code: "EXDEV" }),
    );
    close(dir);
  });
});

describe("spawn", () => {
  it("runs a program and reports its exit status", () => {
    const p = spawn({ file: "/bin/sh", argv: ["sh", "-c", "exit 7"] });
    expect(waitpid(p.pid).exitCode).toBe(7);
  });
  it("reports an exec failure as a SysError", () => {
    expect(() => spawn({ file: "/nonexistent", argv: ["x"] })).toThrowError(
      expect.objectContaining({ code: "ENOENT" }),
    );
  });
});

describe("mapping registry", () => {
  it("an address reused after unmap() is not disturbed when the old buffer is collected", async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(gc, "vitest runs with --expose-gc").toBeTypeOf("function");
    for (let i = 0; i < 50; i++) {
      const a = MmapRegion.anonymous(4096);
      a.unmap();
      // The kernel usually hands the same address out again.
      const b = MmapRegion.anonymous(4096);
      gc?.();
      await new Promise((r) => setImmediate(r));
      b.bytes()[0] = 1;
      b.unmap();
    }
  });
});

describe("spawn with a seccomp listener", () => {
  // One instruction: every system call becomes a user notification.
  const notifyAll = new Uint8Array(8);
  new DataView(notifyAll.buffer).setUint16(0, 0x06, true); // BPF_RET | BPF_K
  new DataView(notifyAll.buffer).setUint32(4, 0x7fc00000, true); // SECCOMP_RET_USER_NOTIF

  it("hands over the listener and lets only the spawn's own execve through", () => {
    const p = spawn({ file: "/bin/true", argv: ["true"], seccomp: notifyAll, seccompFlags: 8 });
    expect(p.listenerFd).toBeGreaterThan(2);
    // The program's first system call (not the execve) is waiting for an answer.
    const notif = new Uint8Array(80);
    expect(ioctl(p.listenerFd, 0xc0502100, notif)).toBe(0); // SECCOMP_IOCTL_NOTIF_RECV
    const dv = new DataView(notif.buffer);
    expect(dv.getUint32(8, true)).toBe(p.pid);
    expect(dv.getInt32(16, true)).not.toBe(59); // not execve
    close(p.listenerFd); // without a listener the filter fails every call; the dynamic loader gives up
    process.kill(p.pid, "SIGKILL");
    expect(waitpid(p.pid).signal).not.toBeNull(); // killed, or crashed on ENOSYS first
  });

  it("reports an exec failure behind the filter as a SysError instead of hanging", () => {
    expect(() => spawn({ file: "/nonexistent", argv: ["x"], seccomp: notifyAll, seccompFlags: 8 })).toThrowError(
      expect.objectContaining({ code: "ENOENT" }),
    );
  });
});
