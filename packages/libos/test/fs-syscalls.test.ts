import { afterEach, describe, expect, it } from "vitest";
import { Tmpfs } from "../src/fs/index.js";
import { FakeMemory } from "./fake-task.js";
import { E, FsHarness, MEM_BASE, MEM_SIZE, O } from "./fs-harness.js";

let t: FsHarness;
afterEach(() => t?.dispose());

describe("open/read/write/close on tmpfs", () => {
  it("creates, writes, reads back, and shares the offset between dups", () => {
    t = new FsHarness();
    const fd = t.open("/f", O.RDWR | O.CREAT, 0o600);
    expect(fd).toBe(3);
    expect(t.write(fd, "hello world")).toBe(11);
    expect(t.call("lseek", fd, 0, 0)).toBe(0);
    const d = t.call("dup", fd);
    expect(d).toBe(4);
    expect(t.read(fd, 5)).toBe("hello");
    expect(t.read(d, 100)).toBe(" world");
    expect(t.read(fd, 100)).toBe("");
    expect(t.stat("/f").size).toBe(11);
    expect(t.stat("/f").mode).toBe(0o100600);
    expect(t.call("close", fd)).toBe(0);
    expect(t.call("close", fd)).toBe(E.EBADF);
    expect(t.call("close", d)).toBe(0);
  });

  it("follows Linux for O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY and access modes", () => {
    t = new FsHarness();
    expect(t.writeFile("/a", "12345")).toBe(5);
    expect(t.open("/a", O.CREAT | O.EXCL | O.WRONLY)).toBe(E.EEXIST);
    expect(t.open("/a", O.DIRECTORY)).toBe(E.ENOTDIR);
    expect(t.open("/a/", O.RDONLY)).toBe(E.ENOTDIR);
    expect(t.open("/missing")).toBe(E.ENOENT);
    expect(t.open("/missing/x", O.CREAT | O.WRONLY)).toBe(E.ENOENT);
    expect(t.open("/", O.WRONLY)).toBe(E.EISDIR);
    expect(t.open("/new/", O.CREAT | O.WRONLY)).toBe(E.EISDIR);
    const ro = t.open("/a", O.RDONLY);
    expect(t.write(ro, "x")).toBe(E.EBADF);
    const wo = t.open("/a", O.WRONLY | O.APPEND);
    expect(t.read(wo)).toBe(E.EBADF);
    expect(t.write(wo, "67")).toBe(2);
    expect(t.readFile("/a")).toBe("1234567");
    const tr = t.open("/a", O.WRONLY | O.TRUNC);
    expect(t.stat("/a").size).toBe(0);
    expect(t.call("fcntl", tr, 3)).toBe(O.WRONLY | 0o100000);
  });

  it("returns EFAULT for bad buffers and ENAMETOOLONG for long paths", () => {
    t = new FsHarness();
    const fd = t.open("/f", O.RDWR | O.CREAT);
    expect(t.call("write", fd, 0x10, 5)).toBe(E.EFAULT);
    expect(t.call("read", fd, 2 ** 47, 5)).toBe(E.EFAULT);
    expect(t.call("openat", -100, 0, 0)).toBe(E.EFAULT);
    expect(t.open(`/${"a".repeat(256)}`, O.CREAT | O.WRONLY)).toBe(E.ENAMETOOLONG);
    expect(t.open("/x".repeat(2048))).toBe(E.ENAMETOOLONG);
    expect(t.call("read", 99, t.alloc(4), 4)).toBe(E.EBADF);
  });

  it("readv/writev gather and scatter", () => {
    t = new FsHarness();
    const fd = t.open("/v", O.RDWR | O.CREAT);
    const iov = t.alloc(48);
    const parts = ["ab", "", "cdef"];
    parts.forEach((p, i) => {
      const a = t.str(p);
      t.mem.writeU64(iov + i * 16, a);
      t.mem.writeU64(iov + i * 16 + 8, p.length);
    });
    expect(t.call("writev", fd, iov, 3)).toBe(6);
    expect(t.call("lseek", fd, 0, 0)).toBe(0);
    const b1 = t.alloc(3);
    const b2 = t.alloc(10);
    t.mem.writeU64(iov, b1);
    t.mem.writeU64(iov + 8, 3);
    t.mem.writeU64(iov + 16, b2);
    t.mem.writeU64(iov + 24, 10);
    expect(t.call("readv", fd, iov, 2)).toBe(6);
    expect(Buffer.from(t.mem.read(b1, 3)).toString()).toBe("abc");
    expect(Buffer.from(t.mem.read(b2, 3)).toString()).toBe("def");
    expect(t.call("readv", fd, iov, 1025)).toBe(E.EINVAL);
    expect(t.call("readv", fd, iov, -1)).toBe(E.EINVAL);
  });

  it("pread64/pwrite64 leave the offset alone; lseek validates", () => {
    t = new FsHarness();
    const fd = t.open("/p", O.RDWR | O.CREAT);
    t.write(fd, "0123456789");
    const b = t.alloc(4);
    expect(t.call("pread64", fd, b, 4, 3)).toBe(4);
    expect(Buffer.from(t.mem.read(b, 4)).toString()).toBe("3456");
    expect(t.call("lseek", fd, 0, 1)).toBe(10);
    expect(t.call("pwrite64", fd, t.str("XY"), 2, 20)).toBe(2);
    expect(t.stat("/p").size).toBe(22);
    expect(t.call("pread64", fd, b, 4, -1n)).toBe(E.EINVAL);
    expect(t.call("lseek", fd, -1n, 0)).toBe(E.EINVAL);
    expect(t.call("lseek", fd, 0, 7)).toBe(E.EINVAL);
    expect(t.call("lseek", fd, -2n, 2)).toBe(20);
    expect(t.call("lseek", fd, 11, 4)).toBe(22); // SEEK_HOLE
    t.call("lseek", fd, 5, 0);
    const nb = t.alloc(4);
    expect(t.call("ioctl", fd, 0x541b, nb)).toBe(0); // FIONREAD: bytes left
    expect(t.mem.i32(nb)).toBe(17);
  });
});

describe("directories and names", () => {
  it("mkdir, getdents64, rmdir, unlink with Linux's errors", () => {
    t = new FsHarness();
    expect(t.call("mkdir", t.str("/d"), 0o755)).toBe(0);
    expect(t.call("mkdir", t.str("/d"), 0o755)).toBe(E.EEXIST);
    expect(t.call("mkdir", t.str("/d/e/"), 0o755)).toBe(0);
    expect(t.call("mkdir", t.str("/d/."), 0o755)).toBe(E.EEXIST);
    expect(t.call("mkdir", t.str("/nope/x"), 0o755)).toBe(E.ENOENT);
    t.writeFile("/d/f", "x");
    expect(t.list("/d")).toEqual([".", "..", "e", "f"]);
    expect(t.stat("/d").nlink).toBe(3);
    expect(t.call("rmdir", t.str("/d"))).toBe(E.ENOTEMPTY);
    expect(t.call("rmdir", t.str("/d/f"))).toBe(E.ENOTDIR);
    expect(t.call("rmdir", t.str("/d/."))).toBe(E.EINVAL);
    expect(t.call("rmdir", t.str("/d/.."))).toBe(E.ENOTEMPTY);
    expect(t.call("unlink", t.str("/d/e"))).toBe(E.EISDIR);
    expect(t.call("unlink", t.str("/d/f/"))).toBe(E.ENOTDIR);
    expect(t.call("unlink", t.str("/d/f"))).toBe(0);
    expect(t.call("unlink", t.str("/d/f"))).toBe(E.ENOENT);
    expect(t.call("unlinkat", -100, t.str("/d/e"), 0x200)).toBe(0);
    expect(t.call("unlinkat", -100, t.str("/d"), 0x1)).toBe(E.EINVAL);
    expect(t.call("rmdir", t.str("/d"))).toBe(0);
    expect(t.call("rmdir", t.str("/"))).toBe(E.EBUSY);
  });

  it("chdir, getcwd, fchdir and relative *at calls", () => {
    t = new FsHarness();
    t.call("mkdir", t.str("/a"), 0o755);
    t.call("mkdir", t.str("/a/b"), 0o755);
    expect(t.call("chdir", t.str("/a/b"))).toBe(0);
    expect(t.getcwd()).toBe("/a/b");
    t.writeFile("rel", "r");
    expect(t.readFile("/a/b/rel")).toBe("r");
    expect(t.call("chdir", t.str("../../../.."))).toBe(0);
    expect(t.getcwd()).toBe("/");
    const dfd = t.open("/a", O.DIRECTORY);
    expect(t.call("fchdir", dfd)).toBe(0);
    expect(t.getcwd()).toBe("/a");
    expect(t.call("openat", dfd, t.str("b/rel"), 0)).toBeGreaterThan(0);
    const f = t.open("/a/b/rel");
    expect(t.call("openat", f, t.str("x"), 0)).toBe(E.ENOTDIR);
    expect(t.call("openat", 77, t.str("x"), 0)).toBe(E.EBADF);
    expect(t.call("openat", 77, t.str("/a/b/rel"), 0)).toBeGreaterThan(0);
    expect(t.call("chdir", t.str("/a/b/rel"))).toBe(E.ENOTDIR);
    expect(t.call("fchdir", f)).toBe(E.ENOTDIR);
    const buf = t.alloc(4);
    expect(t.call("getcwd", buf, 2)).toBe(E.ERANGE);
    // The cwd renamed: getcwd follows; the cwd removed: ENOENT.
    t.call("chdir", t.str("/a/b"));
    expect(t.call("rename", t.str("/a"), t.str("/z"))).toBe(0);
    expect(t.getcwd()).toBe("/z/b");
    t.call("unlink", t.str("/z/b/rel"));
    expect(t.call("rmdir", t.str("/z/b"))).toBe(0);
    expect(t.getcwd()).toBe(E.ENOENT);
  });

  it("symlinks: follow, NOFOLLOW, ELOOP after 40, dangling O_CREAT, readlink", () => {
    t = new FsHarness();
    t.writeFile("/target", "T");
    expect(t.call("symlink", t.str("target"), t.str("/l"))).toBe(0);
    expect(t.readFile("/l")).toBe("T");
    expect(t.readlink("/l")).toBe("target");
    expect(t.readlink("/target")).toBe(E.EINVAL);
    expect(t.open("/l", O.NOFOLLOW)).toBe(E.ELOOP);
    expect(t.stat("/l", 0x100).mode & 0o170000).toBe(0o120000);
    expect(t.stat("/l").mode & 0o170000).toBe(0o100000);
    // a chain of 40 links resolves, 41 is ELOOP
    t.call("symlink", t.str("target"), t.str("/c0"));
    for (let i = 1; i <= 40; i++) t.call("symlink", t.str(`c${i - 1}`), t.str(`/c${i}`));
    expect(t.readFile("/c39")).toBe("T");
    expect(t.open("/c40")).toBe(E.ELOOP);
    t.call("symlink", t.str("self"), t.str("/self"));
    expect(t.open("/self")).toBe(E.ELOOP);
    // O_CREAT through a dangling link creates the target
    t.call("symlink", t.str("/made"), t.str("/dangling"));
    expect(t.open("/dangling", O.CREAT | O.WRONLY)).toBeGreaterThan(0);
    expect(t.stat("/made").ret).toBe(0);
    expect(t.open("/dangling", O.CREAT | O.EXCL | O.WRONLY)).toBe(E.EEXIST);
    expect(t.call("symlink", t.str(""), t.str("/e"))).toBe(E.ENOENT);
    expect(t.call("symlink", t.str("x"), t.str("/l"))).toBe(E.EEXIST);
    // readlink truncates without NUL
    const b = t.alloc(8);
    expect(t.call("readlink", t.str("/l"), b, 3)).toBe(3);
    expect(t.call("readlink", t.str("/l"), b, 0)).toBe(E.EINVAL);
    // a trailing slash follows the link and requires a directory
    t.call("mkdir", t.str("/dir"), 0o755);
    t.call("symlink", t.str("dir"), t.str("/dl"));
    expect(t.stat("/dl/", 0x100).mode & 0o170000).toBe(0o040000);
    expect(t.stat("/l/").ret).toBe(E.ENOTDIR);
  });

  it("hard links share the inode and keep data after unlink while open", () => {
    t = new FsHarness();
    t.writeFile("/a", "data");
    expect(t.call("link", t.str("/a"), t.str("/b"))).toBe(0);
    expect(t.stat("/a").nlink).toBe(2);
    expect(t.stat("/b").ino).toBe(t.stat("/a").ino);
    expect(t.call("link", t.str("/"), t.str("/c"))).toBe(E.EPERM);
    expect(t.call("link", t.str("/a"), t.str("/b"))).toBe(E.EEXIST);
    const fd = t.open("/a");
    t.call("unlink", t.str("/a"));
    t.call("unlink", t.str("/b"));
    expect(t.stat("/a").ret).toBe(E.ENOENT);
    expect(t.read(fd)).toBe("data");
    const st = t.alloc(144);
    expect(t.call("fstat", fd, st)).toBe(0);
    expect(Number(t.mem.dv.getBigUint64(st - MEM_BASE + 16, true))).toBe(0);
  });

  it("renameat2: replace, NOREPLACE, EXCHANGE, directory rules", () => {
    t = new FsHarness();
    t.writeFile("/a", "A");
    t.writeFile("/b", "B");
    t.call("mkdir", t.str("/d"), 0o755);
    t.call("mkdir", t.str("/d/sub"), 0o755);
    t.call("mkdir", t.str("/e"), 0o755);
    const r2 = (a: string, b: string, f = 0) => t.call("renameat2", -100, t.str(a), -100, t.str(b), f);
    expect(r2("/a", "/b", 1)).toBe(E.EEXIST);
    expect(r2("/a", "/b", 2)).toBe(0);
    expect(t.readFile("/a")).toBe("B");
    expect(t.readFile("/b")).toBe("A");
    expect(r2("/a", "/nope", 2)).toBe(E.ENOENT);
    expect(r2("/a", "/b", 3)).toBe(E.EINVAL);
    expect(r2("/a", "/b", 8)).toBe(E.EINVAL);
    expect(r2("/a", "/b")).toBe(0);
    expect(t.readFile("/b")).toBe("B");
    expect(t.stat("/a").ret).toBe(E.ENOENT);
    expect(r2("/d", "/d/sub/x")).toBe(E.EINVAL);
    expect(r2("/d", "/e")).toBe(0); // empty dir replaced
    expect(r2("/e", "/b")).toBe(E.ENOTDIR);
    expect(r2("/b", "/e")).toBe(E.EISDIR);
    t.call("mkdir", t.str("/f"), 0o755);
    expect(r2("/f", "/e")).toBe(E.ENOTEMPTY);
    expect(r2("/b/", "/c")).toBe(E.ENOTDIR);
    expect(r2("/.", "/x")).toBe(E.EBUSY);
    expect(r2("/b", "/b")).toBe(0);
    expect(r2("/nothing", "/x")).toBe(E.ENOENT);
    expect(t.call("rename", t.str("/b"), t.str("/dev/b"))).toBe(E.EXDEV);
  });
});

describe("fd table rules", () => {
  it("dup2/dup3/F_DUPFD/cloexec follow Linux", () => {
    t = new FsHarness();
    const fd = t.open("/dev/null", O.RDWR | O.CLOEXEC);
    expect(fd).toBe(3);
    expect(t.call("fcntl", fd, 1)).toBe(1);
    expect(t.call("fcntl", fd, 2, 0)).toBe(0);
    expect(t.call("fcntl", fd, 1)).toBe(0);
    expect(t.call("dup2", fd, fd)).toBe(fd);
    expect(t.call("dup2", 55, 55)).toBe(E.EBADF);
    expect(t.call("dup3", fd, fd, 0)).toBe(E.EINVAL);
    expect(t.call("dup3", fd, 10, 0o2000000)).toBe(10);
    expect(t.call("fcntl", 10, 1)).toBe(1);
    expect(t.call("dup3", fd, 11, 1)).toBe(E.EINVAL);
    expect(t.call("fcntl", fd, 0, 5)).toBe(5);
    expect(t.call("fcntl", fd, 0, 5)).toBe(6);
    expect(t.call("fcntl", fd, 1030, 0)).toBe(4);
    expect(t.call("fcntl", 4, 1)).toBe(1);
    expect(t.call("fcntl", fd, 0, 1 << 20)).toBe(E.EINVAL);
    expect(t.call("dup2", fd, 1 << 20)).toBe(E.EBADF);
    expect(t.call("fcntl", fd, 999)).toBe(E.EINVAL);
    // F_SETFL changes only O_APPEND|O_NONBLOCK|...; shared by dups
    expect(t.call("fcntl", fd, 4, O.NONBLOCK | O.WRONLY)).toBe(0);
    expect(t.call("fcntl", 5, 3) & (O.NONBLOCK | 3)).toBe(O.NONBLOCK | O.RDWR);
  });

  it("EMFILE at RLIMIT_NOFILE, lowest fd first", () => {
    t = new FsHarness({}, { rlimits: { 7: [8n, 8n] } });
    const fds: number[] = [];
    for (;;) {
      const fd = t.open("/dev/null");
      if (fd < 0) {
        expect(fd).toBe(E.EMFILE);
        break;
      }
      fds.push(fd);
    }
    expect(fds).toEqual([3, 4, 5, 6, 7]);
    t.call("close", 5);
    expect(t.open("/dev/null")).toBe(5);
    const p = t.alloc(8);
    expect(t.call("pipe2", p, 0)).toBe(E.EMFILE);
    t.call("close", 6);
    expect(t.call("pipe2", p, 0)).toBe(E.EMFILE);
    expect(t.open("/dev/null")).toBe(6);
  });
});

describe("stat layouts, devices, procfs", () => {
  it("struct stat and statx fields", () => {
    t = new FsHarness();
    t.writeFile("/s", "abc", 0o640);
    const buf = t.alloc(256);
    expect(t.call("statx", -100, t.str("/s"), 0, 0x7ff, buf)).toBe(0);
    const dv = t.mem.dv;
    const o = buf - MEM_BASE;
    expect(dv.getUint32(o, true) & 0x7ff).toBe(0x7ff);
    expect(dv.getUint16(o + 28, true)).toBe(0o100640);
    expect(Number(dv.getBigUint64(o + 40, true))).toBe(3);
    expect(dv.getUint32(o + 16, true)).toBe(1);
    expect(t.call("statx", -100, t.str("/s"), 0x6000, 0x7ff, buf)).toBe(E.EINVAL);
    expect(t.call("statx", -100, t.str("/s"), 0, 0x80000000, buf)).toBe(E.EINVAL);
    expect(t.call("statx", -100, t.str(""), 0, 0x7ff, buf)).toBe(E.ENOENT);
    const fd = t.open("/s");
    expect(t.call("statx", fd, t.str(""), 0x1000, 0x7ff, buf)).toBe(0);
    expect(Number(dv.getBigUint64(o + 40, true))).toBe(3);
    expect(t.call("newfstatat", fd, t.str(""), buf, 0x1000)).toBe(0);
    expect(t.call("newfstatat", fd, t.str(""), buf, 0x4)).toBe(E.EINVAL);
  });

  it("/dev/null, /dev/zero, /dev/urandom, /dev/full", () => {
    t = new FsHarness();
    expect(t.readFile("/dev/null")).toBe("");
    const z = t.open("/dev/zero");
    const b = t.alloc(16);
    t.mem.fill(b, 16, 7);
    expect(t.call("read", z, b, 16)).toBe(16);
    expect([...t.mem.read(b, 16)].every((x) => x === 0)).toBe(true);
    const u = t.open("/dev/urandom");
    expect(t.call("read", u, b, 16)).toBe(16);
    const full = t.open("/dev/full", O.WRONLY);
    expect(t.write(full, "x")).toBe(-28);
    expect(t.stat("/dev/null").mode).toBe(0o020666);
    expect(t.call("ioctl", z, 0x5401, b)).toBe(E.ENOTTY);
    expect(t.list("/dev")).toEqual(
      expect.arrayContaining(["null", "zero", "urandom", "random", "full", "shm", "stdin", "stdout", "stderr"]),
    );
    expect(t.open("/dev/tty")).toBeLessThan(0);
    expect(t.call("unlink", t.str("/dev/null"))).toBe(E.EACCES);
  });

  it("/proc/self: exe, fd, cmdline, maps, meminfo, cpuinfo", () => {
    t = new FsHarness();
    expect(t.readlink("/proc/self")).toBe("42");
    expect(t.readlink("/proc/self/exe")).toBe("/bin/prog");
    expect(t.readlink("/proc/self/root")).toBe("/");
    t.call("mkdir", t.str("/w"), 0o755);
    const fd = t.open("/w/file", O.CREAT | O.RDWR);
    expect(t.readlink(`/proc/self/fd/${fd}`)).toBe("/w/file");
    expect(t.list("/proc/self/fd")).toEqual([".", "..", "0", "1", "2", String(fd), String(fd + 1)]);
    expect(t.readFile("/proc/self/cmdline")).toBe("prog\0a1\0");
    expect(t.readFile("/proc/meminfo")).toMatch(/^MemTotal: +\d+ kB\n/);
    expect(t.readFile("/proc/cpuinfo")).toMatch(/^processor\t: 0\n/);
    expect(t.readFile("/proc/self/stat")).toMatch(/^42 \(prog\) R 1 /);
    expect(typeof t.readFile("/proc/self/maps")).toBe("string");
    expect(t.open("/proc/self/x", O.CREAT | O.WRONLY)).toBe(E.EACCES);
    // /proc/self/root/.. is still the root: no way up
    expect(t.list("/proc/self/root/../..")).toEqual(t.list("/"));
  });
});

describe("permissions (non-root)", () => {
  it("EACCES on a file without the bits, and on a directory without search", () => {
    t = new FsHarness({}, { identity: { pid: 5, uid: 1000, gid: 1000, groups: [1000] } });
    // root dir 0755 owned by root: a user cannot create
    expect(t.open("/x", O.CREAT | O.WRONLY)).toBe(E.EACCES);
    expect(t.open("/dev/shm/x", O.CREAT | O.WRONLY, 0o600)).toBeGreaterThan(0);
    expect(t.call("chmod", t.str("/dev/shm/x"), 0)).toBe(0);
    expect(t.open("/dev/shm/x", O.RDONLY)).toBe(E.EACCES);
    expect(t.call("access", t.str("/dev/shm/x"), 4)).toBe(E.EACCES);
    expect(t.call("access", t.str("/dev/shm/x"), 0)).toBe(0);
    expect(t.call("mkdir", t.str("/dev/shm/d"), 0o600)).toBe(0);
    expect(t.open("/dev/shm/d/y", O.CREAT | O.WRONLY)).toBe(E.EACCES);
    expect(t.call("chmod", t.str("/"), 0o777)).toBe(E.EPERM);
  });
});

describe("program memory that does not alias (seccomp platform)", () => {
  class CopyMemory extends FakeMemory {
    override readonly aliases = false;
    override view(addr: number, len: number): Uint8Array {
      return this.read(addr, len);
    }
  }
  it("reads and writes go through bounce buffers, in chunks, with the same results", () => {
    t = new FsHarness({}, {}, new CopyMemory(MEM_BASE, MEM_SIZE));
    const fd = t.open("/big", O.RDWR | O.CREAT);
    const n = 1536 * 1024 + 123;
    const src = t.alloc(n);
    for (let i = 0; i < n; i += 4096) t.mem.bytes[src - MEM_BASE + i] = (i / 4096) & 0xff;
    expect(t.call("write", fd, src, n)).toBe(n);
    expect(t.call("lseek", fd, 0, 0)).toBe(0);
    const dst = t.alloc(n);
    expect(t.call("read", fd, dst, n + 1000)).toBe(n);
    expect(Buffer.compare(t.mem.read(src, n), t.mem.read(dst, n))).toBe(0);
    expect(t.call("pread64", fd, dst, 10, n - 5)).toBe(5);
    expect(t.call("read", fd, MEM_BASE + MEM_SIZE - 10, 100)).toBe(E.EFAULT);
  });
});

describe("magic links in /proc/self", () => {
  it("/dev/stdout, /proc/self/fd/N and /proc/self/cwd lead to the open objects", () => {
    t = new FsHarness();
    const fd = t.open("/dev/stdout", O.WRONLY | O.CREAT | O.TRUNC);
    expect(fd).toBe(3);
    expect(t.write(fd, "via /dev/stdout\n")).toBe(16);
    expect(t.stdout()).toBe("via /dev/stdout\n");
    expect(t.open("/dev/stdout", O.WRONLY | O.NOFOLLOW)).toBe(E.ELOOP);
    const p = t.alloc(8);
    t.call("pipe2", p, 0);
    const [r, w] = [t.mem.i32(p), t.mem.i32(p + 4)];
    const w2 = t.open(`/proc/self/fd/${r}`, O.WRONLY);
    expect(w2).toBeGreaterThan(0);
    expect(t.write(w2, "loop")).toBe(4);
    expect(t.read(r)).toBe("loop");
    expect(t.stat(`/proc/self/fd/${w}`).mode & 0o170000).toBe(0o010000);
    t.call("mkdir", t.str("/cw"), 0o755);
    t.writeFile("/cw/f", "in cwd");
    t.call("chdir", t.str("/cw"));
    expect(t.readFile("/proc/self/cwd/f")).toBe("in cwd");
    const ffd = t.open("/cw/f");
    expect(t.readFile(`/proc/self/fd/${ffd}`)).toBe("in cwd");
    t.call("rename", t.str("/cw/f"), t.str("/cw/g"));
    expect(t.readFile(`/proc/self/fd/${ffd}`)).toBe("in cwd"); // follows the object, not the old name
    t.call("unlink", t.str("/cw/g"));
    expect(t.readlink(`/proc/self/fd/${ffd}`)).toBe("/cw/f (deleted)");
    expect(t.readFile(`/proc/self/fd/${ffd}`)).toBe("in cwd");
    expect(t.list("/proc/self/root/..")).toEqual(t.list("/"));
  });
});

describe("statfs", () => {
  it("reports tmpfs and proc magics, and ST_RDONLY on a read-only mount", () => {
    t = new FsHarness({ mounts: [{ path: "/ro", fs: new Tmpfs(), readonly: true }] });
    const b = t.alloc(120);
    const f = (off: number) => Number(t.mem.dv.getBigInt64(b - MEM_BASE + off, true));
    expect(t.call("statfs", t.str("/"), b)).toBe(0);
    expect(f(0)).toBe(0x01021994);
    expect(f(8)).toBe(4096);
    expect(f(80) & 1).toBe(0);
    expect(t.call("statfs", t.str("/proc/self"), b)).toBe(0);
    expect(f(0)).toBe(0x9fa0);
    expect(t.call("statfs", t.str("/ro"), b)).toBe(0);
    expect(f(80) & 1).toBe(1);
    const fd = t.open("/ro");
    expect(t.call("fstatfs", fd, b)).toBe(0);
    expect(f(80) & 0x21).toBe(0x21);
    expect(t.call("statfs", t.str("/nope"), b)).toBe(E.ENOENT);
    expect(t.call("statfs", t.str("/"), 8)).toBe(E.EFAULT);
  });
});

describe("tmpfs times", () => {
  it("relatime: a read moves atime only when it is not after mtime", () => {
    t = new FsHarness();
    t.writeFile("/r", "abc");
    const ts = t.alloc(32);
    t.mem.writeU64(ts, 100); // atime 100 s
    t.mem.writeU64(ts + 8, 0);
    t.mem.writeU64(ts + 16, 200); // mtime 200 s
    t.mem.writeU64(ts + 24, 0);
    expect(t.call("utimensat", -100, t.str("/r"), ts, 0)).toBe(0);
    const atime = () => {
      const b = t.alloc(256);
      t.call("statx", -100, t.str("/r"), 0, 0x7ff, b);
      return Number(t.mem.dv.getBigInt64(b - MEM_BASE + 64, true));
    };
    const mtime = () => {
      const b = t.alloc(256);
      t.call("statx", -100, t.str("/r"), 0, 0x7ff, b);
      return Number(t.mem.dv.getBigInt64(b - MEM_BASE + 112, true));
    };
    expect(atime()).toBe(100);
    expect(mtime()).toBe(200);
    expect(t.readFile("/r")).toBe("abc");
    const a1 = atime();
    expect(a1).toBeGreaterThan(1_000_000_000);
    t.mem.writeU64(ts, 300);
    t.mem.writeU64(ts + 8, 0);
    t.mem.writeU64(ts + 24, 0x3ffffffe); // UTIME_OMIT for mtime
    expect(t.call("utimensat", -100, t.str("/r"), ts, 0)).toBe(0);
    expect(mtime()).toBe(200);
    // atime 300 is after mtime 200 but ctime (now) is later: relatime still updates.
    t.readFile("/r");
    expect(atime()).toBeGreaterThan(1_000_000_000);
  });
});

describe("mounts", () => {
  it("crossing, .., EXDEV, EBUSY and listings with mount points", () => {
    const inner = new Tmpfs();
    t = new FsHarness({
      mounts: [
        { path: "/m", fs: inner },
        { path: "/m/deeper", tmpfs: true },
      ],
    });
    expect(t.list("/")).toEqual(expect.arrayContaining(["m", "dev", "proc"]));
    expect(t.list("/m")).toEqual([".", "..", "deeper"]);
    t.writeFile("/m/f", "in m");
    t.writeFile("/top", "top");
    expect(t.call("chdir", t.str("/m/deeper"))).toBe(0);
    expect(t.getcwd()).toBe("/m/deeper");
    expect(t.readFile("../f")).toBe("in m");
    expect(t.readFile("../../top")).toBe("top");
    expect(t.stat("/m").dev).not.toBe(t.stat("/").dev);
    expect(t.stat("/m/deeper").dev).not.toBe(t.stat("/m").dev);
    expect(t.call("rename", t.str("/m/f"), t.str("/g"))).toBe(E.EXDEV);
    expect(t.call("link", t.str("/m/f"), t.str("/g"))).toBe(E.EXDEV);
    expect(t.call("rename", t.str("/m/f"), t.str("/m/g"))).toBe(0);
    expect(t.call("rmdir", t.str("/m/deeper"))).toBe(E.EBUSY);
    expect(t.call("rmdir", t.str("/m"))).toBe(E.EBUSY);
    expect(t.call("rename", t.str("/m"), t.str("/n"))).toBe(E.EBUSY); // a mount point (vfs_rename)
    expect(t.call("unlink", t.str("/m"))).toBe(E.EISDIR);
    expect(t.call("mkdir", t.str("/m"), 0o755)).toBe(E.EEXIST);
    expect(t.readlink("/proc/mounts")).toBe("self/mounts");
    expect(t.readFile("/proc/mounts")).toMatch(/^tmpfs \/ tmpfs rw/);
    expect(t.readFile("/proc/mounts")).toContain("tmpfs /m/deeper tmpfs rw");
  });
});

describe("tmpfs holes and limits", () => {
  it("ftruncate grows sparsely; holes read as zeros; ENOSPC at the size limit", () => {
    const small = new Tmpfs({ maxBytes: 1 << 20 });
    t = new FsHarness({ mounts: [{ path: "/s", fs: small }] });
    const fd = t.open("/s/f", O.RDWR | O.CREAT);
    expect(t.call("ftruncate", fd, 512 * 1024 * 1024)).toBe(0);
    expect(t.stat("/s/f").size).toBe(512 * 1024 * 1024);
    expect(small.usedBytes).toBeLessThan(4096);
    const b = t.alloc(16);
    t.mem.fill(b, 16, 0xaa);
    expect(t.call("pread64", fd, b, 16, 512 * 1024 * 1024 - 8)).toBe(8);
    expect([...t.mem.read(b, 8)]).toEqual(new Array(8).fill(0));
    expect(t.call("pwrite64", fd, t.str("xyz"), 3, 100)).toBe(3);
    expect(t.call("pread64", fd, b, 6, 98)).toBe(6);
    expect(Buffer.from(t.mem.read(b, 6)).toString("latin1")).toBe("\0\0xyz\0");
    expect(t.call("ftruncate", fd, 101)).toBe(0);
    expect(t.call("ftruncate", fd, 200)).toBe(0);
    expect(t.call("pread64", fd, b, 4, 99)).toBe(4);
    expect(Buffer.from(t.mem.read(b, 4)).toString("latin1")).toBe("\0x\0\0");
    const big = t.alloc(600 * 1024);
    expect(t.call("pwrite64", fd, big, 600 * 1024, 0)).toBe(600 * 1024);
    expect(t.call("pwrite64", fd, big, 600 * 1024, 600 * 1024)).toBe(-28);
    expect(t.call("ftruncate", fd, 2 ** 40)).toBe(0); // sparse, like Linux tmpfs
    expect(t.call("ftruncate", fd, 2n ** 62n)).toBe(-27); // beyond what we represent exactly
  });

  it("ENOSPC at the inode limit; removing files gives inodes back", () => {
    t = new FsHarness({ mounts: [{ path: "/s", fs: new Tmpfs({ maxInodes: 4 }) }] });
    expect(t.writeFile("/s/a", "")).toBe(0);
    expect(t.call("mkdir", t.str("/s/d"), 0o755)).toBe(0);
    expect(t.call("symlink", t.str("a"), t.str("/s/l"))).toBe(0);
    expect(t.open("/s/b", O.CREAT | O.WRONLY)).toBe(-28);
    expect(t.call("mkdir", t.str("/s/e"), 0o755)).toBe(-28);
    expect(t.call("unlink", t.str("/s/l"))).toBe(0);
    expect(t.call("mkdir", t.str("/s/e"), 0o755)).toBe(0);
    expect(t.call("rmdir", t.str("/s/e"))).toBe(0);
    expect(t.call("rmdir", t.str("/s/d"))).toBe(0);
    expect(t.writeFile("/s/b", "")).toBe(0);
    const b = t.alloc(120);
    expect(t.call("statfs", t.str("/s"), b)).toBe(0);
    expect(Number(t.mem.dv.getBigInt64(b - MEM_BASE + 40, true))).toBe(4);
    expect(Number(t.mem.dv.getBigInt64(b - MEM_BASE + 48, true))).toBe(1);
  });
});
