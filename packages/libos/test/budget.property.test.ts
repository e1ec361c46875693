// The sandbox's byte budget: the class against a model, and the tmpfs, pipes
// and /dev/shm of a SandboxFs charging it (never beyond the limit, ENOSPC /
// ENOMEM / ENFILE at it, and every byte back once everything is gone).

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { ByteBudget, Libos, sandboxMemory } from "@kindling/libos";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FD_COST } from "../src/fs/fdtable.js";
import { CHUNK, INODE_COST, type TmpFileDescription, Tmpfs, type TmpInode } from "../src/fs/tmpfs.js";
import { SCRATCH, setup } from "./core-setup.js";
import { FakeMemory, Harness } from "./fake-task.js";
import { FsHarness, MEM_BASE } from "./fs-harness.js";

const ENOSPC = -28;
const ENOMEM = -12;
const ENFILE = -23;
const F_SETPIPE_SZ = 1031;
const O_RDWR = 2;
const O_CREAT = 0o100;
const O_TMPFILE = 0o20200000;

describe("ByteBudget against a model", () => {
  it("charge succeeds exactly when it fits; release never goes below zero; used stays in [0, limit]", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("charge" as const), n: fc.nat(5000) }),
      fc.record({ kind: fc.constant("release" as const), n: fc.nat(6000) }),
      fc.record({ kind: fc.constant("resize" as const), from: fc.nat(3000), to: fc.nat(3000) }),
    );
    fc.assert(
      fc.property(fc.nat(20000), fc.array(op, { maxLength: 200 }), (limit, ops) => {
        const b = new ByteBudget(limit);
        let used = 0;
        let peak = 0;
        for (const o of ops) {
          if (o.kind === "charge") {
            const fits = used + o.n <= limit;
            expect(b.charge(o.n)).toBe(fits);
            if (fits) used += o.n;
          } else if (o.kind === "release") {
            b.release(o.n);
            used = Math.max(0, used - o.n);
          } else {
            const fits = o.to <= o.from || used + (o.to - o.from) <= limit;
            expect(b.resize(o.from, o.to)).toBe(fits);
            if (fits) used = Math.max(0, used + o.to - o.from);
          }
          peak = Math.max(peak, used);
          expect(b.used).toBe(used);
          expect(b.free).toBe(limit - used);
          expect(b.peak).toBe(peak);
        }
      }),
    );
  });
  it("refuses bad limits with a typed error and bad charges without charging", () => {
    expect(() => new ByteBudget(-1)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => new ByteBudget(Number.NaN)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    const b = new ByteBudget(100);
    expect(b.charge(-5)).toBe(false);
    expect(b.charge(Number.NaN)).toBe(false);
    expect(b.charge(1.5)).toBe(false);
    expect(b.charge(0)).toBe(true);
    b.release(Number.POSITIVE_INFINITY);
    expect(b.used).toBe(0);
    expect(new ByteBudget(Number.POSITIVE_INFINITY).charge(2 ** 40)).toBe(true);
  });
});

type FsOp =
  | { op: "write"; f: number; off: number; len: number }
  | { op: "truncate"; f: number; len: number }
  | { op: "open"; f: number }
  | { op: "close"; slot: number }
  | { op: "unlink"; f: number }
  | { op: "symlink"; f: number; len: number }
  | { op: "rename"; f: number; g: number }
  | { op: "mkdir"; f: number }
  | { op: "rmdir"; f: number }
  | { op: "link"; f: number; g: number }
  | { op: "tmpfile" }
  | { op: "pipe"; size: number };

const NAMES = 6;
const fsOp: fc.Arbitrary<FsOp> = fc.oneof(
  fc.record({ op: fc.constant("write" as const), f: fc.nat(NAMES - 1), off: fc.nat(300_000), len: fc.nat(200_000) }),
  fc.record({ op: fc.constant("truncate" as const), f: fc.nat(NAMES - 1), len: fc.nat(400_000) }),
  fc.record({ op: fc.constant("open" as const), f: fc.nat(NAMES - 1) }),
  fc.record({ op: fc.constant("close" as const), slot: fc.nat(7) }),
  fc.record({ op: fc.constant("unlink" as const), f: fc.nat(NAMES - 1) }),
  fc.record({ op: fc.constant("symlink" as const), f: fc.nat(NAMES - 1), len: fc.integer({ min: 1, max: 4095 }) }),
  fc.record({ op: fc.constant("rename" as const), f: fc.nat(NAMES - 1), g: fc.nat(NAMES - 1) }),
  fc.record({ op: fc.constant("mkdir" as const), f: fc.nat(NAMES - 1) }),
  fc.record({ op: fc.constant("rmdir" as const), f: fc.nat(NAMES - 1) }),
  fc.record({ op: fc.constant("link" as const), f: fc.nat(NAMES - 1), g: fc.nat(NAMES - 1) }),
  fc.constant({ op: "tmpfile" as const }),
  fc.record({ op: fc.constant("pipe" as const), size: fc.integer({ min: 1, max: 1 << 20 }) }),
);

describe("a SandboxFs charges its one budget (property)", () => {
  it("tmpfs (root, /dev/shm, a tmpfs mount), names, links and pipes stay within the budget and give every byte back", () => {
    fc.assert(
      fc.property(fc.integer({ min: 64 << 10, max: 1 << 20 }), fc.array(fsOp, { maxLength: 60 }), (limit, ops) => {
        const budget = new ByteBudget(limit);
        let t: FsHarness;
        try {
          t = new FsHarness({ budget, mounts: [{ path: "/m", tmpfs: true }] });
        } catch {
          return; // the few inodes of an empty sandbox did not fit: nothing to check
        }
        try {
          const base = budget.used;
          const dirs = ["/", "/dev/shm/", "/m/"];
          const paths = dirs.flatMap((d) => Array.from({ length: NAMES }, (_, i) => t.str(`${d}f${i}`)));
          const path = (f: number, salt: number) => paths[((salt % dirs.length) * NAMES + f) % paths.length];
          const data = t.alloc(200_000);
          const target = t.str("x".repeat(4095));
          const pipeFds = t.alloc(8);
          const fds: number[] = [];
          let salt = 0;
          for (const o of ops) {
            salt++;
            let r = 0;
            switch (o.op) {
              case "write": {
                const fd = t.call("openat", -100, path(o.f, salt), O_RDWR | O_CREAT, 0o644);
                if (fd >= 0) {
                  r = t.call("pwrite64", fd, data, o.len, o.off);
                  t.call("close", fd);
                } else r = fd;
                break;
              }
              case "truncate":
                r = t.call("truncate", path(o.f, salt), o.len);
                break;
              case "open": {
                const fd = t.call("openat", -100, path(o.f, salt), O_RDWR, 0);
                if (fd >= 0) fds.push(fd);
                r = fd;
                break;
              }
              case "close":
                if (fds.length > 0) r = t.call("close", fds.splice(o.slot % fds.length, 1)[0]);
                break;
              case "unlink":
                r = t.call("unlink", path(o.f, salt));
                break;
              case "symlink": {
                // The target's first `len` bytes: a C string cut short by a NUL written there.
                t.mem.write(target + o.len, new Uint8Array([0]));
                r = t.call("symlink", target, path(o.f, salt));
                t.mem.write(target + o.len, new Uint8Array([0x78]));
                break;
              }
              case "rename":
                r = t.call("rename", path(o.f, salt), path(o.g, salt));
                break;
              case "mkdir":
                r = t.call("mkdir", path(o.f, salt), 0o755);
                break;
              case "rmdir":
                r = t.call("rmdir", path(o.f, salt));
                break;
              case "link":
                r = t.call("link", path(o.f, salt), path(o.g, salt));
                break;
              case "tmpfile": {
                const fd = t.call("openat", -100, t.str(dirs[salt % dirs.length]), O_RDWR | O_TMPFILE, 0o600);
                if (fd >= 0) {
                  fds.push(fd);
                  r = t.call("pwrite64", fd, data, 10_000, 0);
                } else r = fd;
                break;
              }
              case "pipe": {
                r = t.call("pipe2", pipeFds, 0);
                if (r === 0) {
                  const rfd = t.mem.dv.getInt32(pipeFds - MEM_BASE, true);
                  const wfd = t.mem.dv.getInt32(pipeFds - MEM_BASE + 4, true);
                  fds.push(rfd, wfd);
                  const s = t.call("fcntl", wfd, F_SETPIPE_SZ, o.size);
                  expect(s > 0 || s === ENOMEM).toBe(true);
                } else expect([ENFILE, ENOMEM]).toContain(r); // no pipe, or no fd for it
                break;
              }
            }
            expect(Number.isInteger(r) && r >= -4095).toBe(true);
            expect(budget.used).toBeLessThanOrEqual(limit);
            expect(budget.used).toBeGreaterThanOrEqual(0);
          }
          // Everything goes: every byte and inode comes back (the names below the roots included).
          for (const fd of fds) t.call("close", fd);
          for (let round = 0; round < 3; round++) {
            for (const d of dirs) {
              for (let f = 0; f < NAMES; f++) {
                const p = t.str(`${d}f${f}`);
                if (t.call("unlink", p) !== 0) t.call("rmdir", p);
              }
            }
          }
          expect(budget.used).toBe(base);
        } finally {
          t.dispose();
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe("tmpfs charges", () => {
  it("a file unlinked while open keeps its bytes charged, its growth too, until the last close", () => {
    const budget = new ByteBudget(1 << 20);
    const t = new FsHarness({ budget });
    const base = budget.used;
    const buf = t.alloc(256 << 10);
    const fd = t.open("/f", O_RDWR | O_CREAT);
    expect(t.call("write", fd, buf, 256 << 10)).toBe(256 << 10);
    const dup = t.call("dup", fd);
    expect(t.call("unlink", t.str("/f"))).toBe(0);
    const held = budget.used;
    expect(held).toBeGreaterThanOrEqual(base + (256 << 10));
    // Growth of the unlinked file is charged: the budget runs out (ENOSPC), it is not exceeded.
    let n = 0;
    for (let i = 0; i < 8 && n >= 0; i++) n = t.call("write", fd, buf, 256 << 10);
    expect(n).toBe(ENOSPC);
    expect(budget.used).toBeLessThanOrEqual(1 << 20);
    expect(budget.used).toBeGreaterThan(held);
    t.call("close", fd);
    expect(budget.used).toBeGreaterThan(held); // the dup still holds it
    t.call("close", dup);
    expect(budget.used).toBeLessThanOrEqual(base);
    t.dispose();
  });
  it("symlink targets, names and empty inodes are charged: a flood ends in ENOSPC within the budget", () => {
    const budget = new ByteBudget(4 << 20);
    const t = new FsHarness({ budget });
    const target = t.str("t".repeat(4095));
    let r = 0;
    let made = 0;
    for (; made < 100_000 && r === 0; made++) r = t.call("symlink", target, t.str(`/s${made}`));
    expect(r).toBe(ENOSPC);
    expect(made).toBeLessThan(1100); // 4 MiB / (4 KiB + costs)
    expect(budget.used).toBeLessThanOrEqual(4 << 20);
    const t2 = new FsHarness({ budget: new ByteBudget(4 << 20) });
    const name = t2.alloc(64);
    r = 0;
    made = 0;
    for (; made < 100_000 && r >= 0; made++) {
      t2.mem.write(name, Buffer.from(`/e${made}\0`));
      r = t2.call("openat", -100, name, O_CREAT | O_RDWR, 0o644);
      if (r >= 0) t2.call("close", r);
    }
    expect(r).toBe(ENOSPC);
    expect(made).toBeLessThan((4 << 20) / INODE_COST + 1);
    t.dispose();
    t2.dispose();
  });
  it("statfs shows the budget's size, shared by every tmpfs; a size= cap of its own stays below it", () => {
    const budget = new ByteBudget(8 << 20);
    const own = new Tmpfs({ maxBytes: 1 << 20, budget });
    const t = new FsHarness({ budget, mounts: [{ path: "/small", fs: own }] });
    const sfs = t.alloc(120);
    const blocks = (p: string) => {
      expect(t.call("statfs", t.str(p), sfs)).toBe(0);
      const dv = t.mem.dv;
      const o = sfs - MEM_BASE;
      return { blocks: Number(dv.getBigUint64(o + 16, true)), free: Number(dv.getBigUint64(o + 24, true)) };
    };
    expect(blocks("/dev/shm").blocks).toBeLessThanOrEqual(2048);
    expect(blocks("/dev/shm").blocks).toBeGreaterThan(1900);
    expect(blocks("/small").blocks).toBe(256);
    const buf = t.alloc(2 << 20);
    const fd = t.open("/dev/shm/x", O_RDWR | O_CREAT);
    expect(t.call("write", fd, buf, 2 << 20)).toBe(2 << 20);
    expect(t.call("write", fd, buf, 2 << 20)).toBe(2 << 20);
    // The root tmpfs sees what /dev/shm took.
    expect(blocks("/").free).toBeLessThan(1100);
    expect(t.call("write", t.open("/small/y", O_RDWR | O_CREAT), buf, 2 << 20)).toBe(ENOSPC);
    t.dispose();
  });
  it("sysinfo and /proc/meminfo report the budget, not the host's RAM", () => {
    const budget = new ByteBudget(48 << 20);
    const t = new FsHarness({ budget });
    const si = t.alloc(112);
    expect(t.call("sysinfo", si)).toBe(0);
    const total = Number(t.mem.dv.getBigUint64(si - MEM_BASE + 32, true));
    expect(total).toBe(48 << 20);
    expect(t.readFile("/proc/meminfo")).toMatch(/^MemTotal: +49152 kB\n/);
    const m = sandboxMemory(budget, t.k);
    expect(m.total).toBe(48 << 20);
    t.dispose();
  });
});

/** Program memory that is copied, not aliased (as on seccomp), recording the largest single copy. */
class CopiedMemory extends FakeMemory {
  override readonly aliases = false;
  largest = 0;
  override write(addr: number, data: Uint8Array): void {
    this.largest = Math.max(this.largest, data.byteLength);
    super.write(addr, data);
  }
}

describe("a call's transient host buffers are bounded", () => {
  it("output queued for a Node.js stream is charged until flushed: beyond the budget the program is stopped", async () => {
    const budget = new ByteBudget(1 << 20);
    const sink = new PassThrough({ highWaterMark: 1 << 30 }); // nobody reads it while the program runs
    const t = new FsHarness({ budget }, { stdio: ["null", sink, "null"] });
    const base = budget.used;
    const buf = t.alloc(65536);
    let n = 0;
    let writes = 0;
    for (; writes < 1000; writes++) {
      n = t.call("write", 1, buf, 65536);
      if (n < 0) break;
    }
    expect(n).toBe(-11); // EAGAIN, and the program is ended: nothing drains the stream while it runs
    expect(writes).toBeLessThanOrEqual(16);
    expect(t.k.killReason).toMatch(/^memory: /);
    expect(budget.used).toBeLessThanOrEqual(1 << 20);
    // Once the event loop runs, the stream takes the chunks and the charge comes back.
    await new Promise((r) => setTimeout(r, 20));
    expect(budget.used).toBe(base - 3 * FD_COST); // and the stopped program's fds 0-2 were closed
    t.dispose();
  });
  it("getrandom of 24 MiB into copied memory goes through a buffer of at most 1 MiB", () => {
    const mem = new CopiedMemory(0x10000, 32 << 20);
    const h = new Harness(new Libos({ memory: { base: 0, size: 0 } }), mem, true);
    const len = 24 << 20;
    expect(h.call("getrandom", 0x10000, len, 0)).toBe(len);
    expect(mem.largest).toBeLessThanOrEqual(1 << 20);
    // Every MiB got random bytes (not a zero page left behind).
    for (let off = 0; off < len; off += 1 << 20) {
      expect(mem.bytes.subarray(off, off + 4096).some((b) => b !== 0)).toBe(true);
    }
  });
});

describe("thread contexts are charged (kvm's cooperative threads)", () => {
  const THREAD = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000;
  it("clone answers EAGAIN when the budget cannot hold another context; an exit gives it back", () => {
    const budget = new ByteBudget(256 << 10);
    const s = setup({ budget, maxTasks: 100_000 } as never);
    s.h.task.regs = { ...s.h.task.regs, rcx: 0x400100n, r11: 0x246n, rsp: 0x1f0000n };
    let tid = 0;
    let made = 0;
    for (; made < 10_000; made++) {
      tid = s.h.call("clone", THREAD, 0x180000, 0, 0, 0);
      if (tid < 0) break;
    }
    expect(tid).toBe(-11); // EAGAIN
    expect(made).toBeGreaterThan(0);
    expect(made).toBeLessThan((256 << 10) / 2048);
    expect(budget.used).toBeLessThanOrEqual(256 << 10);
    const full = budget.used;
    // The main thread waits: a child runs and exits; its context's charge comes back.
    s.mem.writeU32(SCRATCH + 0x100, 0);
    s.h.call("futex", SCRATCH + 0x100, 128, 0, 0, 0, 0);
    s.h.call("exit", 0);
    expect(budget.used).toBeLessThan(full);
    expect(s.h.call("clone", THREAD, 0x180000, 0, 0, 0)).toBeGreaterThan(0);
  });
});

describe("directory listings are charged while held", () => {
  it("many open directory descriptions of a big directory end in ENOMEM within the budget, and close gives it back", () => {
    const budget = new ByteBudget(8 << 20);
    const t = new FsHarness({ budget });
    const name = t.alloc(64);
    for (let i = 0; i < 2000; i++) {
      t.mem.write(name, Buffer.from(`/d/entry-with-a-long-name-${i}\0`));
      if (i === 0) expect(t.call("mkdir", t.str("/d"), 0o755)).toBe(0);
      const fd = t.call("openat", -100, name, O_CREAT | O_RDWR, 0o644);
      expect(fd).toBeGreaterThanOrEqual(0);
      t.call("close", fd);
    }
    const afterFiles = budget.used;
    const buf = t.alloc(4096);
    const dirs: number[] = [];
    let r = 0;
    // "/" too: its listing is made by the mount namespace (it has /dev and /proc under it).
    for (let i = 0; i < 1000 && r >= 0; i++) {
      const fd = t.call("openat", -100, t.str(i % 2 ? "/d" : "/"), 0o200000, 0); // O_DIRECTORY
      expect(fd).toBeGreaterThanOrEqual(0);
      dirs.push(fd);
      r = t.call("getdents64", fd, buf, 4096);
    }
    expect(r).toBe(ENOMEM);
    expect(dirs.length).toBeLessThan(100);
    expect(budget.used).toBeLessThanOrEqual(8 << 20);
    for (const fd of dirs) t.call("close", fd);
    expect(budget.used).toBe(afterFiles);
    t.dispose();
  });
});

describe("host directory listings are charged too", () => {
  it("a host root with many entries: open descriptions of it end in ENOMEM within the budget", () => {
    const dir = mkdtempSync(join(tmpdir(), "kindling-budget-"));
    try {
      for (let i = 0; i < 2000; i++) writeFileSync(join(dir, `host-entry-with-a-long-name-${i}`), "");
      const budget = new ByteBudget(4 << 20);
      const t = new FsHarness({ root: dir, budget });
      const base = budget.used;
      const buf = t.alloc(4096);
      const path = t.str("/");
      const fds: number[] = [];
      let r = 0;
      for (let i = 0; i < 500 && r >= 0; i++) {
        const fd = t.call("openat", -100, path, 0o200000, 0);
        fds.push(fd);
        r = t.call("getdents64", fd, buf, 4096);
      }
      expect(r).toBe(ENOMEM);
      expect(fds.length).toBeLessThan(40);
      for (const fd of fds) t.call("close", fd);
      expect(budget.used).toBe(base);
      t.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("open fds are charged", () => {
  it("with RLIMIT_NOFILE raised to a million, opens end in ENOMEM at the budget, not in host memory", () => {
    const budget = new ByteBudget(1 << 20);
    const t = new FsHarness({ budget });
    const RLIMIT_NOFILE = 7;
    t.k.setRlimit(RLIMIT_NOFILE, 1n << 20n, 1n << 20n);
    const base = budget.used;
    const path = t.str("/dev/null");
    const fds: number[] = [];
    let fd = 0;
    for (let i = 0; i < 100_000 && fd >= 0; i++) {
      fd = t.call("openat", -100, path, O_RDWR, 0);
      if (fd >= 0) fds.push(fd);
    }
    expect(fd).toBe(ENOMEM);
    expect(fds.length).toBeLessThan((1 << 20) / 256);
    expect(t.call("dup", 0)).toBe(ENOMEM);
    for (const x of fds) t.call("close", x);
    expect(budget.used).toBe(base);
    t.dispose();
  });
});

describe("tmpfs file data in chunks against a model (property)", () => {
  it("reads give back what was written, zeros in holes and past a truncation, across chunk boundaries", () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("write" as const),
        off: fc.nat(CHUNK * 4),
        len: fc.nat(CHUNK + 100),
        byte: fc.nat(255),
      }),
      fc.record({ kind: fc.constant("truncate" as const), len: fc.nat(CHUNK * 5) }),
      fc.record({ kind: fc.constant("read" as const), off: fc.nat(CHUNK * 5), len: fc.nat(CHUNK * 2) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const budget = new ByteBudget(64 << 20);
        const fs = new Tmpfs({ budget });
        const node = fs.root.create("f", 0o644, { uid: 0, gid: 0 }) as TmpInode;
        const d = node.open(O_RDWR, { cred: { uid: 0, gid: 0 } }) as TmpFileDescription;
        let model = new Uint8Array(0);
        for (const o of ops) {
          if (o.kind === "write") {
            if (o.len === 0) continue;
            expect(d.pwrite(new Uint8Array(o.len).fill(o.byte), o.off)).toBe(o.len);
            if (o.off + o.len > model.length) {
              const m = new Uint8Array(o.off + o.len);
              m.set(model);
              model = m;
            }
            model.fill(o.byte, o.off, o.off + o.len);
          } else if (o.kind === "truncate") {
            expect(d.truncate(o.len)).toBe(0);
            const m = new Uint8Array(o.len);
            m.set(model.subarray(0, Math.min(o.len, model.length)));
            model = m;
          } else {
            const dst = new Uint8Array(o.len).fill(0xee);
            const n = d.pread(dst, o.off);
            const want = Math.max(0, Math.min(o.len, model.length - o.off));
            expect(n).toBe(want);
            expect(Buffer.from(dst.subarray(0, n)).equals(Buffer.from(model.subarray(o.off, o.off + n)))).toBe(true);
          }
          expect(node.getattr().size).toBe(model.length);
          // What is stored (and charged) is never more than the chunks the data touches.
          expect(node.stored).toBeLessThanOrEqual(Math.ceil(model.length / CHUNK) * CHUNK);
          expect(fs.usedBytes).toBe(node.stored);
        }
        d.unref();
        fs.root.unlink("f");
        expect(fs.usedBytes).toBe(0);
      }),
      { numRuns: 150 },
    );
  });
});

describe("procfs snapshots are charged", () => {
  it("an open listing and an open text hold their bytes until the last close (a dup shares one charge); ENOMEM when they do not fit", () => {
    const budget = new ByteBudget(256 << 10);
    const t = new FsHarness({ budget });
    const buf = t.alloc(64);
    const base = budget.used;
    const text = t.open("/proc/self/status");
    expect(text).toBeGreaterThanOrEqual(0);
    const withText = budget.used;
    expect(withText).toBeGreaterThan(base + FD_COST); // the fd and the status text
    const dir = t.open("/proc/self/fd", 0o200000);
    expect(t.call("getdents64", dir, buf, 64)).toBeGreaterThan(0);
    const dup = t.call("dup", dir);
    const held = budget.used;
    expect(held).toBeGreaterThan(withText + FD_COST);
    t.call("close", dir);
    t.call("close", text);
    expect(budget.used).toBeGreaterThan(base);
    t.call("close", dup);
    expect(budget.used).toBe(base); // each snapshot released once, not twice
    // Many listings each holding the others' entries: refused at the budget, never beyond it.
    const fds: number[] = [];
    let r = 0;
    for (let i = 0; i < 400 && r >= 0; i++) {
      const fd = t.open("/proc/self/fd", 0o200000);
      if (fd < 0) break;
      fds.push(fd);
    }
    for (const fd of fds) {
      r = t.call("getdents64", fd, buf, 64);
      if (r < 0) break;
    }
    expect(r).toBe(ENOMEM);
    expect(budget.used).toBeLessThanOrEqual(256 << 10);
    for (const fd of fds) t.call("close", fd);
    expect(budget.used).toBe(base);
    t.dispose();
  });
});
