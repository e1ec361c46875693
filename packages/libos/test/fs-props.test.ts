// Property tests: path resolution against the host kernel's own chroot-like
// resolution (openat2 RESOLVE_IN_ROOT) on identical random trees, and hostile
// arguments to every file system call.
import * as nfs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { syscallRaw } from "@kindling/sys-util/unsafe";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { Tmpfs } from "../src/fs/index.js";
import { SYS, type SyscallName } from "../src/sysno.js";
import { FakeClock } from "./core-setup.js";
import { E, FsHarness, MEM_BASE, MEM_SIZE } from "./fs-harness.js";

type Node =
  | { kind: "dir"; children: Map<string, Node> }
  | { kind: "file"; content: string }
  | { kind: "link"; target: string };

const NAMES = ["a", "b", "c", "d"];
const targetComp = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("a", "b", "c", "d") },
  { weight: 1, arbitrary: fc.constantFrom("..", ".", "", "zz") },
);
const targetArb = fc
  .tuple(fc.boolean(), fc.array(targetComp, { minLength: 1, maxLength: 5 }), fc.boolean())
  .map(([abs, parts, slash]) => (abs ? "/" : "") + parts.join("/") + (slash ? "/" : ""))
  .filter((s) => s.length > 0);

const nodeArb: fc.Memo<Node> = fc.memo((depth) =>
  depth <= 1
    ? fc.oneof(
        fc.constant<Node>({ kind: "dir", children: new Map() }),
        fc.string({ maxLength: 4 }).map<Node>((s) => ({ kind: "file", content: s })),
        targetArb.map<Node>((target) => ({ kind: "link", target })),
      )
    : fc.oneof(
        fc.string({ maxLength: 4 }).map<Node>((s) => ({ kind: "file", content: s })),
        targetArb.map<Node>((target) => ({ kind: "link", target })),
        fc
          .uniqueArray(fc.tuple(fc.constantFrom(...NAMES), nodeArb(depth - 1)), {
            selector: ([n]) => n,
            maxLength: 4,
          })
          .map<Node>((entries) => ({ kind: "dir", children: new Map(entries) })),
      ),
);

const rootArb = fc
  .uniqueArray(fc.tuple(fc.constantFrom(...NAMES), nodeArb(3)), { selector: ([n]) => n, minLength: 1, maxLength: 4 })
  .map((entries) => new Map(entries));

let counter = 0;
/** Builds the tree on the host (real directories only, so nothing is created through a link). */
function buildHost(dir: string, children: Map<string, Node>, prefix: string): void {
  for (const [name, node] of children) {
    const p = join(dir, name);
    if (node.kind === "dir") {
      nfs.mkdirSync(p);
      buildHost(p, node.children, `${prefix}/${name}`);
    } else if (node.kind === "file") nfs.writeFileSync(p, `${prefix}/${name}:${node.content}`);
    else nfs.symlinkSync(node.target, p);
  }
}
function buildSandbox(t: FsHarness, dir: string, children: Map<string, Node>, prefix: string, mounted = false): void {
  for (const [name, node] of children) {
    const p = `${dir}/${name}`;
    if (node.kind === "dir") {
      const r = t.call("mkdir", t.str(p), 0o755);
      if (!(mounted && r === -17)) expect(r).toBe(0);
      buildSandbox(t, p, node.children, `${prefix}/${name}`, mounted);
    } else if (node.kind === "file")
      expect(t.writeFile(p, `${prefix}/${name}:${node.content}`)).toBeGreaterThanOrEqual(0);
    else expect(t.call("symlink", t.str(node.target), t.str(p))).toBe(0);
  }
}

const RESOLVE_IN_ROOT = 0x10;
/** The host kernel's answer: openat2(root, path, RESOLVE_IN_ROOT). */
function hostOpen(rootFd: number, path: string, flags: number): string {
  const how = new BigUint64Array([BigInt(flags | 0o2000000), 0n, BigInt(RESOLVE_IN_ROOT)]);
  const fd = syscallRaw(437, rootFd, Buffer.from(`${path}\0`, "latin1"), how, 24);
  if (fd < 0) return `errno ${fd}`;
  try {
    const st = nfs.fstatSync(fd);
    if (st.isDirectory()) return `dir ${nfs.readdirSync(`/proc/self/fd/${fd}`).sort().join(",")}`;
    return `file ${nfs.readFileSync(fd, "latin1")}`;
  } finally {
    nfs.closeSync(fd);
  }
}
function sandboxOpen(t: FsHarness, path: string, flags: number): string {
  const fd = t.open(path, flags);
  if (fd < 0) return `errno ${fd}`;
  const st = t.alloc(144);
  t.call("fstat", fd, st);
  const mode = t.mem.dv.getUint32(st - MEM_BASE + 24, true);
  t.call("close", fd);
  if ((mode & 0o170000) === 0o040000) {
    const names = t.list(path);
    if (typeof names === "number") return `list-errno ${names}`;
    return `dir ${names.filter((n) => n !== "." && n !== ".." && n !== "dev" && n !== "proc").join(",")}`;
  }
  return `file ${t.readFile(path)}`;
}

const pathComp = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("a", "b", "c", "d") },
  { weight: 1, arbitrary: fc.constantFrom("..", ".", "", "zz") },
);
const pathArb = fc
  .tuple(fc.boolean(), fc.array(pathComp, { minLength: 1, maxLength: 6 }), fc.boolean())
  .map(([abs, parts, slash]) => (abs ? "/" : "") + parts.join("/") + (slash ? "/" : ""));

/** Every path in the tree ("a", "a/b", …). */
function treePaths(children: Map<string, Node>, prefix = ""): string[] {
  const out: string[] = [];
  for (const [name, node] of children) {
    const p = prefix ? `${prefix}/${name}` : name;
    out.push(p);
    if (node.kind === "dir") out.push(...treePaths(node.children, p));
  }
  return out;
}
/** Paths near the tree: existing ones, with a random prefix ("/", "../", "x/../") and suffix. */
function treePathArb(tree: Map<string, Node>): fc.Arbitrary<string> {
  const known = treePaths(tree);
  return fc.oneof(
    { weight: 1, arbitrary: pathArb },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          fc.constantFrom("", "/", "../", "./", "a/../", "/../../", "//"),
          fc.constantFrom(...known),
          fc.constantFrom("", "", "/", "/.", "/..", "/a", "/../b", "//c/"),
        )
        .map(([pre, p, suf]) => pre + p + suf),
    },
  );
}

/** A fake clock whose sleeps advance it, so timeouts in hostile calls cost no real time. */
function fakeTime() {
  const clock = new FakeClock();
  return { clock, sleep: clock.sleep };
}

const dirs: string[] = [];
const stats = new Map<string, number>();
afterAll(() => {
  if (process.env.FS_PROP_STATS) console.log([...stats].sort().join("\n"));
  for (const d of dirs) nfs.rmSync(d, { recursive: true, force: true });
});

describe("path resolution matches the host kernel's (RESOLVE_IN_ROOT) on random trees", () => {
  it("tmpfs root and hostfs root both agree with Linux", () => {
    fc.assert(
      fc.property(
        rootArb.chain((tree) =>
          fc.tuple(
            fc.constant(tree),
            fc.array(fc.tuple(treePathArb(tree), fc.constantFrom(0, 0, 0o400000, 0o200000)), {
              minLength: 1,
              maxLength: 40,
            }),
          ),
        ),
        ([tree, paths]) => {
          const host = nfs.mkdtempSync(join(tmpdir(), `kindling-fsprop-${counter++}-`));
          dirs.push(host);
          buildHost(host, tree, "");
          const rootFd = nfs.openSync(host, "r");
          const tmp = new FsHarness({ dev: false, proc: false });
          const hst = new FsHarness({ root: host, dev: false, proc: false });
          try {
            buildSandbox(tmp, "", tree, "");
            for (const [path, flags] of paths) {
              if (path === "") continue;
              const want = hostOpen(rootFd, path, flags);
              if (process.env.FS_PROP_STATS)
                stats.set(
                  want
                    .split(" ")
                    .slice(0, want.startsWith("errno") ? 2 : 1)
                    .join(" "),
                  (stats.get(
                    want
                      .split(" ")
                      .slice(0, want.startsWith("errno") ? 2 : 1)
                      .join(" "),
                  ) ?? 0) + 1,
                );
              expect(sandboxOpen(tmp, path, flags), `tmpfs ${path} flags ${flags}`).toBe(want);
              expect(sandboxOpen(hst, path, flags), `hostfs ${path} flags ${flags}`).toBe(want);
            }
          } finally {
            nfs.closeSync(rootFd);
            tmp.dispose();
            hst.dispose();
            nfs.rmSync(host, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 80 },
    );
  });
});

describe("mounts are transparent to path resolution", () => {
  it("a tree gives the same answers when its top directories are separate tmpfs mounts", () => {
    fc.assert(
      fc.property(
        rootArb.chain((tree) =>
          fc.tuple(
            fc.constant(tree),
            fc.array(fc.tuple(treePathArb(tree), fc.constantFrom(0, 0o400000, 0o200000)), {
              minLength: 1,
              maxLength: 30,
            }),
          ),
        ),
        ([tree, paths]) => {
          // Top directories and their subdirectories become mounts (nested mounts included).
          const mounts: Array<{ path: string; fs: Tmpfs }> = [];
          for (const [name, node] of tree) {
            if (node.kind !== "dir") continue;
            mounts.push({ path: `/${name}`, fs: new Tmpfs() });
            for (const [sub, n2] of node.children)
              if (n2.kind === "dir") mounts.push({ path: `/${name}/${sub}`, fs: new Tmpfs() });
          }
          const flat = new FsHarness({ dev: false, proc: false });
          const split = new FsHarness({ dev: false, proc: false, mounts });
          try {
            buildSandbox(flat, "", tree, "");
            buildSandbox(split, "", tree, "", true);
            for (const cwd of ["/", ...mounts.map((m) => m.path)]) {
              flat.call("chdir", flat.str(cwd));
              split.call("chdir", split.str(cwd));
              for (const [path, flags] of paths) {
                if (path === "") continue;
                expect(sandboxOpen(split, path, flags), `${cwd}: ${path}`).toBe(sandboxOpen(flat, path, flags));
              }
              expect(split.getcwd()).toBe(flat.getcwd());
            }
          } finally {
            flat.dispose();
            split.dispose();
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("hostile arguments", () => {
  const calls: SyscallName[] = [
    "read",
    "write",
    "open",
    "openat",
    "close",
    "stat",
    "fstat",
    "lstat",
    "newfstatat",
    "statx",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "lseek",
    "ioctl",
    "pread64",
    "pwrite64",
    "readv",
    "writev",
    "access",
    "faccessat",
    "faccessat2",
    "pipe",
    "pipe2",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "fsync",
    "fdatasync",
    "truncate",
    "ftruncate",
    "getdents64",
    "getcwd",
    "chdir",
    "fchdir",
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "mkdirat",
    "rmdir",
    "creat",
    "link",
    "linkat",
    "unlink",
    "unlinkat",
    "symlink",
    "symlinkat",
    "readlink",
    "readlinkat",
    "chmod",
    "fchmod",
    "fchmodat",
    "utimensat",
    "sendfile",
    "close_range",
  ];
  it("every file syscall answers a number in [-4095, 2^53) and never throws", () => {
    const t = new FsHarness({}, fakeTime());
    try {
      t.writeFile("/f", "content");
      t.call("mkdir", t.str("/d"), 0o755);
      const good = [t.str("/f"), t.str("/d"), t.str("d"), t.str(""), t.alloc(4096)];
      const arg = fc.oneof(
        fc.constantFrom(...good),
        fc.constantFrom(0, 1, 2, 3, 4, -1, -100, 0x1000, 4096, 65536, 2 ** 31, 2 ** 32 - 1, MEM_BASE + MEM_SIZE - 1),
        fc.constantFrom(2n ** 63n, 2n ** 64n - 1n, 2n ** 47n, BigInt(MEM_BASE + MEM_SIZE - 8)),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.integer({ min: MEM_BASE - 64, max: MEM_BASE + MEM_SIZE + 64 }),
      );
      fc.assert(
        fc.property(fc.constantFrom(...calls), fc.array(arg, { minLength: 6, maxLength: 6 }), (name, args) => {
          const r = t.call(SYS[name], ...args);
          expect(Number.isInteger(r)).toBe(true);
          expect(r).toBeGreaterThanOrEqual(-4095);
          expect(r).toBeLessThan(2 ** 53);
          if (t.fs.fds.size > 900) t.call("close_range", 3, 2 ** 31, 0);
        }),
        { numRuns: 4000 },
      );
      expect(t.call("close", 1000000)).toBe(E.EBADF);
    } finally {
      t.dispose();
    }
  });

  it("the same on a writable hostfs mount: no host error escapes, nothing outside changes", () => {
    const host = nfs.mkdtempSync(join(tmpdir(), "kindling-fshostile-"));
    dirs.push(host);
    nfs.mkdirSync(join(host, "w"));
    nfs.mkdirSync(join(host, "outside"));
    nfs.writeFileSync(join(host, "outside/keep"), "keep");
    nfs.symlinkSync("../outside", join(host, "w/out"));
    nfs.writeFileSync(join(host, "w/f"), "content");
    const t = new FsHarness({ mounts: [{ path: "/w", host: join(host, "w"), writable: true }] }, fakeTime());
    try {
      t.call("chdir", t.str("/w"));
      const good = [t.str("/w/f"), t.str("/w"), t.str("out"), t.str("f"), t.str("new"), t.str("/w/d/x"), t.alloc(4096)];
      const arg = fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...good) },
        {
          weight: 2,
          arbitrary: fc.constantFrom(
            0,
            1,
            2,
            3,
            4,
            5,
            -1,
            -100,
            0o100,
            0o101,
            0o102,
            0o1101,
            0o200000,
            0x200,
            0o755,
            2 ** 31,
          ),
        },
        { weight: 1, arbitrary: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) },
        { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) },
      );
      fc.assert(
        fc.property(fc.constantFrom(...calls), fc.array(arg, { minLength: 6, maxLength: 6 }), (name, args) => {
          const r = t.call(SYS[name], ...args);
          expect(Number.isInteger(r)).toBe(true);
          expect(r).toBeGreaterThanOrEqual(-4095);
          if (t.fs.fds.size > 900) t.call("close_range", 3, 2 ** 31, 0);
        }),
        { numRuns: 4000 },
      );
    } finally {
      t.dispose();
    }
    expect(nfs.readdirSync(join(host, "outside"))).toEqual(["keep"]);
    expect(nfs.readFileSync(join(host, "outside/keep"), "utf8")).toBe("keep");
    expect(nfs.statSync(join(host, "outside")).mode & 0o7777).toBe(0o755);
  });
});

describe("the fd table against a model", () => {
  type FdOp =
    | { op: "open"; cloexec: boolean }
    | { op: "dup"; fd: number }
    | { op: "dup2"; fd: number; to: number }
    | { op: "dup3"; fd: number; to: number; cloexec: boolean }
    | { op: "dupfd"; fd: number; min: number; cloexec: boolean }
    | { op: "close"; fd: number }
    | { op: "setfd"; fd: number; cloexec: boolean };
  const fdArb = fc.integer({ min: -1, max: 20 });
  const opArb: fc.Arbitrary<FdOp> = fc.oneof(
    fc.record({ op: fc.constant("open" as const), cloexec: fc.boolean() }),
    fc.record({ op: fc.constant("dup" as const), fd: fdArb }),
    fc.record({ op: fc.constant("dup2" as const), fd: fdArb, to: fdArb }),
    fc.record({ op: fc.constant("dup3" as const), fd: fdArb, to: fdArb, cloexec: fc.boolean() }),
    fc.record({
      op: fc.constant("dupfd" as const),
      fd: fdArb,
      min: fc.integer({ min: 0, max: 20 }),
      cloexec: fc.boolean(),
    }),
    fc.record({ op: fc.constant("close" as const), fd: fdArb }),
    fc.record({ op: fc.constant("setfd" as const), fd: fdArb, cloexec: fc.boolean() }),
  );

  it("lowest-free allocation, dup rules, cloexec per fd and EMFILE at RLIMIT_NOFILE match the model", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const LIMIT = 16;
        const t = new FsHarness({ dev: true, proc: false }, { rlimits: { 7: [BigInt(LIMIT), BigInt(LIMIT)] } });
        try {
          // model: fd → [object id, cloexec]; fds 0-2 are stdio objects 0, 1, 2
          const model = new Map<number, [number, boolean]>([
            [0, [0, false]],
            [1, [1, false]],
            [2, [2, false]],
          ]);
          const ids = new Map<number, number>(); // libos description → object id, via an inode number probe
          let nextId = 3;
          const lowest = (min: number) => {
            let fd = min;
            while (model.has(fd)) fd++;
            return fd;
          };
          const ok = (fd: number) => fd >= 0 && model.has(fd);
          for (const o of ops) {
            let want: number;
            let got: number;
            switch (o.op) {
              case "open": {
                const fd = lowest(0);
                want = fd >= LIMIT ? E.EMFILE : fd;
                got = t.open("/dev/null", o.cloexec ? 0o2000000 : 0);
                if (want >= 0) model.set(fd, [nextId++, o.cloexec]);
                break;
              }
              case "dup": {
                const fd = lowest(0);
                want = !ok(o.fd) ? E.EBADF : fd >= LIMIT ? E.EMFILE : fd;
                got = t.call("dup", o.fd);
                if (want >= 0) model.set(fd, [model.get(o.fd)?.[0] ?? -1, false]);
                break;
              }
              case "dup2":
              case "dup3": {
                const flags = o.op === "dup3" && o.cloexec ? 0o2000000 : 0;
                // fs/file.c: dup3 checks oldfd == newfd (EINVAL) before anything else;
                // dup2 with oldfd == newfd only checks that it is open.
                if (o.op === "dup3" && o.fd === o.to) want = E.EINVAL;
                else if (!ok(o.fd)) want = E.EBADF;
                else if (o.fd === o.to) want = o.to;
                else if (o.to < 0 || o.to >= LIMIT) want = E.EBADF;
                else want = o.to;
                got = o.op === "dup2" ? t.call("dup2", o.fd, o.to) : t.call("dup3", o.fd, o.to, flags);
                if (want >= 0 && o.fd !== o.to) model.set(o.to, [model.get(o.fd)?.[0] ?? -1, flags !== 0]);
                break;
              }
              case "dupfd": {
                if (!ok(o.fd)) want = E.EBADF;
                else if (o.min >= LIMIT) want = E.EINVAL;
                else {
                  const fd = lowest(o.min);
                  want = fd >= LIMIT ? E.EMFILE : fd;
                }
                got = t.call("fcntl", o.fd, o.cloexec ? 1030 : 0, o.min);
                if (want >= 0) model.set(want, [model.get(o.fd)?.[0] ?? -1, o.cloexec]);
                break;
              }
              case "close":
                want = ok(o.fd) ? 0 : E.EBADF;
                got = t.call("close", o.fd);
                model.delete(o.fd);
                break;
              case "setfd":
                want = ok(o.fd) ? 0 : E.EBADF;
                got = t.call("fcntl", o.fd, 2, o.cloexec ? 1 : 0);
                if (ok(o.fd)) {
                  const e = model.get(o.fd);
                  if (e) e[1] = o.cloexec;
                }
                break;
            }
            expect(got, JSON.stringify(o)).toBe(want);
          }
          // Every fd the model has is open with the same cloexec bit; dups share one description.
          expect(t.fs.fds.fds()).toEqual([...model.keys()].sort((a, b) => a - b));
          for (const [fd, [id, cloexec]] of model) {
            expect(t.call("fcntl", fd, 1)).toBe(cloexec ? 1 : 0);
            const d = t.fs.fds.get(fd);
            const seen = d ? ids.get(id) : undefined;
            if (d && seen === undefined) ids.set(id, fd);
            else if (d && seen !== undefined) expect(t.fs.fds.get(seen)).toBe(d);
          }
        } finally {
          t.dispose();
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("pipes against a model", () => {
  it("non-blocking reads and writes keep order, capacity and PIPE_BUF atomicity", () => {
    const opArb = fc.oneof(
      fc.record({
        op: fc.constant("w" as const),
        n: fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 70000 })),
      }),
      fc.record({ op: fc.constant("r" as const), n: fc.integer({ min: 0, max: 70000 }) }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), fc.integer({ min: 0, max: 255 }), (ops, seed) => {
        const t = new FsHarness({ dev: false, proc: false });
        try {
          const p = t.alloc(8);
          expect(t.call("pipe2", p, 0o4000)).toBe(0);
          const [r, w] = [t.mem.i32(p), t.mem.i32(p + 4)];
          const buf = t.alloc(70000);
          let queue: number[] = [];
          let counter = seed;
          for (const o of ops) {
            if (o.op === "w") {
              const data = new Uint8Array(o.n);
              for (let i = 0; i < o.n; i++) data[i] = counter++ & 0xff;
              t.mem.write(buf, data);
              const space = 65536 - queue.length;
              const want =
                o.n === 0
                  ? 0
                  : o.n <= 4096
                    ? space >= o.n
                      ? o.n
                      : E.EAGAIN
                    : space > 0
                      ? Math.min(o.n, space)
                      : E.EAGAIN;
              expect(t.call("write", w, buf, o.n)).toBe(want);
              if (want > 0) queue = queue.concat([...data.subarray(0, want)]);
              else counter -= o.n;
            } else {
              const want = o.n === 0 ? 0 : queue.length === 0 ? E.EAGAIN : Math.min(o.n, queue.length);
              const got = t.call("read", r, buf, o.n);
              expect(got).toBe(want);
              if (got > 0) {
                expect([...t.mem.read(buf, got)]).toEqual(queue.slice(0, got));
                queue = queue.slice(got);
              }
            }
          }
          const n = t.alloc(4);
          expect(t.call("ioctl", r, 0x541b, n)).toBe(0);
          expect(t.mem.i32(n)).toBe(queue.length);
        } finally {
          t.dispose();
        }
      }),
      { numRuns: 150 },
    );
  });
});
