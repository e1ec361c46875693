// Test harness for the file side: a Libos with a SandboxFs and a fake task.
import { Libos, type LibosOptions } from "@kindling/libos";
import { SandboxFs, type SandboxFsOptions } from "../src/fs/index.js";
import { FakeMemory, Harness } from "./fake-task.js";

export const MEM_BASE = 0x10000;
export const MEM_SIZE = 0x800000;

export class FsHarness {
  readonly k: Libos;
  readonly h: Harness;
  readonly mem: FakeMemory;
  readonly fs: SandboxFs;
  readonly out: Uint8Array[] = [];
  readonly err: Uint8Array[] = [];
  #bump = MEM_BASE + 0x1000;

  constructor(fsOptions: SandboxFsOptions = {}, opts: Partial<LibosOptions> = {}, mem?: FakeMemory) {
    this.mem = mem ?? new FakeMemory(MEM_BASE, MEM_SIZE);
    this.fs = new SandboxFs(fsOptions);
    this.k = new Libos({
      memory: { base: MEM_BASE + MEM_SIZE / 2, size: MEM_SIZE / 2 },
      identity: { pid: 42, ppid: 1, uid: 0, gid: 0, groups: [0] },
      fs: this.fs,
      stdio: [
        { read: () => 0 },
        {
          write: (b) => {
            this.out.push(b.slice());
            return b.length;
          },
        },
        {
          write: (b) => {
            this.err.push(b.slice());
            return b.length;
          },
        },
      ],
      exe: "/bin/prog",
      argv: ["prog", "a1"],
      ...opts,
    });
    this.h = new Harness(this.k, this.mem);
  }

  /** Allocates `len` bytes of scratch memory (zeroed). */
  alloc(len: number): number {
    const a = this.#bump;
    this.#bump += (len + 15) & ~15;
    if (this.#bump > MEM_BASE + MEM_SIZE / 2) throw new Error("scratch exhausted");
    this.mem.fill(a, len, 0);
    return a;
  }
  /** A C string in scratch memory (bytes as latin1 or utf8). */
  str(s: string): number {
    const b = Buffer.from(`${s}\0`, "utf8");
    const a = this.alloc(b.length);
    this.mem.write(a, b);
    return a;
  }
  call(name: Parameters<Harness["call"]>[0], ...args: Array<number | bigint>): number {
    return this.h.call(name, ...args);
  }
  /** open(path, flags, mode) */
  open(path: string, flags = 0, mode = 0o644): number {
    return this.call("openat", -100, this.str(path), flags, mode);
  }
  write(fd: number, data: string | Uint8Array): number {
    const b = typeof data === "string" ? Buffer.from(data) : data;
    const a = this.alloc(b.length);
    this.mem.write(a, b);
    return this.call("write", fd, a, b.length);
  }
  read(fd: number, len = 4096): string | number {
    const a = this.alloc(len);
    const n = this.call("read", fd, a, len);
    if (n < 0) return n;
    return Buffer.from(this.mem.read(a, n)).toString("latin1");
  }
  #readBuf = 0;
  readFile(path: string): string | number {
    const fd = this.open(path);
    if (fd < 0) return fd;
    if (this.#readBuf === 0) this.#readBuf = this.alloc(65536);
    let s = "";
    for (;;) {
      const n = this.call("read", fd, this.#readBuf, 65536);
      if (n < 0) return n;
      if (n === 0) break;
      s += Buffer.from(this.mem.read(this.#readBuf, n)).toString("latin1");
    }
    this.call("close", fd);
    return s;
  }
  writeFile(path: string, data: string, mode = 0o644): number {
    const fd = this.open(path, 0o1 | 0o100 | 0o1000, mode);
    if (fd < 0) return fd;
    const n = this.write(fd, data);
    this.call("close", fd);
    return n;
  }
  stat(
    path: string,
    flags = 0,
  ): { ret: number; mode: number; size: number; ino: number; nlink: number; dev: number; uid: number } {
    const buf = this.alloc(144);
    const ret = this.call("newfstatat", -100, this.str(path), buf, flags);
    const dv = this.mem.dv;
    const o = buf - MEM_BASE;
    return {
      ret,
      dev: Number(dv.getBigUint64(o, true)),
      ino: Number(dv.getBigUint64(o + 8, true)),
      nlink: Number(dv.getBigUint64(o + 16, true)),
      mode: dv.getUint32(o + 24, true),
      uid: dv.getUint32(o + 28, true),
      size: Number(dv.getBigInt64(o + 48, true)),
    };
  }
  readlink(path: string): string | number {
    const buf = this.alloc(4096);
    const n = this.call("readlinkat", -100, this.str(path), buf, 4096);
    if (n < 0) return n;
    return Buffer.from(this.mem.read(buf, n)).toString("latin1");
  }
  getcwd(): string | number {
    const buf = this.alloc(4096);
    const n = this.call("getcwd", buf, 4096);
    if (n < 0) return n;
    return Buffer.from(this.mem.read(buf, n - 1)).toString("latin1");
  }
  /** Directory names via getdents64. */
  list(path: string): string[] | number {
    const fd = this.open(path, 0o200000);
    if (fd < 0) return fd;
    const names: string[] = [];
    const buf = this.alloc(4096);
    for (;;) {
      const n = this.call("getdents64", fd, buf, 4096);
      if (n < 0) return n;
      if (n === 0) break;
      let p = 0;
      while (p < n) {
        const reclen = this.mem.dv.getUint16(buf - MEM_BASE + p + 16, true);
        names.push(this.mem.cstring(buf + p + 19));
        p += reclen;
      }
    }
    this.call("close", fd);
    return names.sort();
  }
  stdout(): string {
    return Buffer.concat(this.out).toString("latin1");
  }
  dispose(): void {
    this.fs.dispose();
  }
}

export const O = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  EXCL: 0o200,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  NONBLOCK: 0o4000,
  DIRECTORY: 0o200000,
  NOFOLLOW: 0o400000,
  CLOEXEC: 0o2000000,
  PATH: 0o10000000,
} as const;

export const E = {
  EPERM: -1,
  ENOENT: -2,
  EBADF: -9,
  EAGAIN: -11,
  EACCES: -13,
  EFAULT: -14,
  EBUSY: -16,
  EEXIST: -17,
  EXDEV: -18,
  ENOTDIR: -20,
  EISDIR: -21,
  EINVAL: -22,
  EMFILE: -24,
  ENOTTY: -25,
  ESPIPE: -29,
  EROFS: -30,
  EPIPE: -32,
  ERANGE: -34,
  ENAMETOOLONG: -36,
  ENOTEMPTY: -39,
  ELOOP: -40,
} as const;
