import { createHash } from "node:crypto";
import * as nfs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Hostfs, hostOpenat2 } from "../src/fs/index.js";
import { E, FsHarness, O } from "./fs-harness.js";

/** A digest of every name, type, mode, size, link target, content and mtime under `dir`. */
function hashTree(dir: string): string {
  const h = createHash("sha256");
  const walk = (p: string) => {
    const st = nfs.lstatSync(p, { bigint: true });
    h.update(`${p}\0${st.mode}\0${st.size}\0${st.mtimeNs}\0${st.nlink}\0`);
    if (st.isSymbolicLink()) h.update(nfs.readlinkSync(p));
    else if (st.isFile()) h.update(nfs.readFileSync(p));
    else if (st.isDirectory()) for (const n of nfs.readdirSync(p).sort()) walk(join(p, n));
  };
  walk(dir);
  return h.digest("hex");
}

let base: string;
let root: string;
let t: FsHarness;

beforeAll(() => {
  base = nfs.mkdtempSync(join(tmpdir(), "kindling-hostfs-"));
  root = join(base, "root");
  nfs.mkdirSync(join(root, "etc"), { recursive: true });
  nfs.mkdirSync(join(root, "data/sub"), { recursive: true });
  nfs.mkdirSync(join(base, "outside"));
  nfs.writeFileSync(join(base, "outside/secret"), "SECRET");
  nfs.writeFileSync(join(root, "etc/hostname"), "sandbox\n");
  nfs.writeFileSync(join(root, "data/hello.txt"), "hello from the host\n");
  nfs.writeFileSync(join(root, "data/sub/deep"), "deep");
  nfs.symlinkSync(join(base, "outside/secret"), join(root, "abs-out")); // absolute, out of the root
  nfs.symlinkSync("../outside/secret", join(root, "rel-out")); // relative, out of the root
  nfs.symlinkSync("../../outside", join(root, "data/up2"));
  nfs.symlinkSync("/etc/hostname", join(root, "abs-in")); // absolute, meant for the sandbox root
  nfs.symlinkSync("data/hello.txt", join(root, "rel-in"));
  nfs.symlinkSync("/proc/self/root", join(root, "magic"));
});

afterAll(() => {
  nfs.rmSync(base, { recursive: true, force: true });
});
afterEach(() => t?.dispose());

describe("hostfs as a read-only root", () => {
  it("reads files, lists directories, resolves links inside the sandbox", () => {
    t = new FsHarness({ root });
    expect(t.readFile("/etc/hostname")).toBe("sandbox\n");
    expect(t.readFile("/data/hello.txt")).toBe("hello from the host\n");
    expect(t.readFile("/rel-in")).toBe("hello from the host\n");
    expect(t.readFile("/abs-in")).toBe("sandbox\n");
    expect(t.list("/data")).toEqual([".", "..", "hello.txt", "sub", "up2"]);
    expect(t.list("/")).toEqual(
      expect.arrayContaining([
        ".",
        "..",
        "abs-in",
        "abs-out",
        "data",
        "etc",
        "rel-in",
        "rel-out",
        "magic",
        "dev",
        "proc",
      ]),
    );
    const st = t.stat("/data/hello.txt");
    expect(st.size).toBe(20);
    expect(st.ino).toBe(Number(nfs.statSync(join(root, "data/hello.txt")).ino));
    expect(t.readlink("/abs-out")).toBe(join(base, "outside/secret"));
    expect(t.call("chdir", t.str("/data/sub"))).toBe(0);
    expect(t.getcwd()).toBe("/data/sub");
    expect(t.readFile("deep")).toBe("deep");
    expect(t.readFile("../../etc/hostname")).toBe("sandbox\n");
  });

  it("every escape attempt fails with Linux's errno and the host is untouched", () => {
    const before = hashTree(base);
    t = new FsHarness({ root });
    expect(t.readFile("/../outside/secret")).toBe(E.ENOENT);
    expect(t.readFile("/../../../../outside/secret")).toBe(E.ENOENT);
    expect(t.readFile("../outside/secret")).toBe(E.ENOENT);
    expect(t.readFile("/abs-out")).toBe(E.ENOENT);
    expect(t.readFile("/rel-out")).toBe(E.ENOENT);
    expect(t.readFile("/data/up2/secret")).toBe(E.ENOENT);
    expect(t.readFile("/proc/self/root/../outside/secret")).toBe(E.ENOENT);
    expect(t.readFile("/magic/../outside/secret")).toBe(E.ENOENT);
    expect(t.list("/magic/..")).toEqual(t.list("/"));
    expect(t.open(`${base}/outside/secret`)).toBe(E.ENOENT);
    // writes to the read-only root
    expect(t.open("/new", O.CREAT | O.WRONLY)).toBe(E.EROFS);
    expect(t.open("/etc/hostname", O.WRONLY)).toBe(E.EROFS);
    expect(t.open("/etc/hostname", O.RDONLY | O.TRUNC)).toBe(E.EROFS);
    expect(t.open("/etc/hostname", O.RDONLY | O.CREAT)).toBeGreaterThan(0);
    expect(t.call("mkdir", t.str("/d"), 0o777)).toBe(E.EROFS);
    expect(t.call("mkdir", t.str("/etc"), 0o777)).toBe(E.EEXIST);
    expect(t.call("unlink", t.str("/etc/hostname"))).toBe(E.EROFS);
    expect(t.call("unlink", t.str("/etc/none"))).toBe(E.EROFS);
    expect(t.call("rmdir", t.str("/data/sub"))).toBe(E.EROFS);
    expect(t.call("rename", t.str("/etc/hostname"), t.str("/etc/x"))).toBe(E.EROFS);
    expect(t.call("symlink", t.str("/"), t.str("/ln"))).toBe(E.EROFS);
    expect(t.call("link", t.str("/etc/hostname"), t.str("/hl"))).toBe(E.EROFS);
    expect(t.call("chmod", t.str("/etc/hostname"), 0o777)).toBe(E.EROFS);
    expect(t.call("truncate", t.str("/etc/hostname"), 0)).toBe(E.EROFS);
    expect(t.call("utimensat", -100, t.str("/etc/hostname"), 0, 0)).toBe(E.EROFS);
    expect(t.call("access", t.str("/etc/hostname"), 2)).toBe(E.EROFS);
    const fd = t.open("/etc/hostname");
    expect(t.call("ftruncate", fd, 0)).toBe(E.EINVAL);
    expect(t.write(fd, "x")).toBe(E.EBADF);
    expect(t.call("fchmod", fd, 0o777)).toBe(E.EROFS);
    t.dispose();
    expect(hashTree(base)).toBe(before);
  });

  it("the host kernel itself refuses ../ and absolute paths under RESOLVE_BENEATH", () => {
    const fs = new Hostfs(root);
    try {
      const fd = fs.root.fd;
      expect(hostOpenat2(fd, "../outside/secret", 0)).toBe(E.EXDEV);
      expect(hostOpenat2(fd, `${base}/outside/secret`, 0)).toBe(E.EXDEV);
      expect(hostOpenat2(fd, "abs-out", 0)).toBe(E.EXDEV);
      expect(hostOpenat2(fd, "rel-out", 0)).toBe(E.EXDEV);
      const ok = hostOpenat2(fd, "etc/hostname", 0);
      expect(ok).toBeGreaterThan(0);
      nfs.closeSync(ok);
    } finally {
      fs.dispose();
    }
  });

  it("property: random walks with .., ., links and slashes never leave the root", () => {
    const before = hashTree(base);
    t = new FsHarness({ root });
    const comp = fc.constantFrom(
      "..",
      ".",
      "",
      "data",
      "sub",
      "etc",
      "up2",
      "abs-out",
      "rel-out",
      "magic",
      "outside",
      "secret",
      "proc",
      "self",
      "root",
    );
    fc.assert(
      fc.property(fc.array(comp, { maxLength: 12 }), fc.boolean(), (parts, abs) => {
        const path = (abs ? "/" : "") + parts.join("/");
        if (path === "") return;
        const fd = t.open(path);
        if (fd >= 0) {
          const r = t.read(fd, 64);
          t.call("close", fd);
          expect(r).not.toBe("SECRET");
          if (typeof r === "string") expect(r).not.toContain("SECRET");
        } else {
          expect([E.ENOENT, E.ENOTDIR, E.ELOOP, E.EACCES]).toContain(fd);
        }
      }),
      { numRuns: 400 },
    );
    t.dispose();
    expect(hashTree(base)).toBe(before);
  });
});

describe("hostfs mounted read-write", () => {
  it("creates, writes, renames, links and removes on the host, only inside", () => {
    const work = join(base, "work");
    nfs.mkdirSync(work);
    const outsideBefore = hashTree(join(base, "outside"));
    t = new FsHarness({ mounts: [{ path: "/w", host: work, writable: true }] });
    expect(t.writeFile("/w/a.txt", "alpha")).toBe(5);
    expect(nfs.readFileSync(join(work, "a.txt"), "utf8")).toBe("alpha");
    expect(t.call("mkdir", t.str("/w/d"), 0o750)).toBe(0);
    expect(nfs.statSync(join(work, "d")).mode & 0o777).toBe(0o750 & ~0o022);
    expect(t.call("rename", t.str("/w/a.txt"), t.str("/w/d/b.txt"))).toBe(0);
    expect(nfs.readFileSync(join(work, "d/b.txt"), "utf8")).toBe("alpha");
    expect(t.call("link", t.str("/w/d/b.txt"), t.str("/w/c.txt"))).toBe(0);
    expect(nfs.statSync(join(work, "c.txt")).nlink).toBe(2);
    expect(t.call("symlink", t.str("../outside/secret"), t.str("/w/evil"))).toBe(0);
    expect(nfs.readlinkSync(join(work, "evil"))).toBe("../outside/secret");
    expect(t.readFile("/w/evil")).toBe(E.ENOENT); // resolves to /outside/secret in the sandbox
    expect(t.call("chmod", t.str("/w/c.txt"), 0o600)).toBe(0);
    // no set-user-ID/set-group-ID bits and no chown reach the host
    expect(t.open("/w/suid", O.CREAT | O.WRONLY, 0o4755)).toBeGreaterThan(0);
    expect(nfs.statSync(join(work, "suid")).mode & 0o7777).toBe(0o755);
    expect(t.call("chmod", t.str("/w/suid"), 0o6711)).toBe(0);
    expect(nfs.statSync(join(work, "suid")).mode & 0o7777).toBe(0o711);
    expect(t.call("chown", t.str("/w/suid"), 1234, 1234)).toBe(E.EPERM);
    expect(t.call("unlink", t.str("/w/suid"))).toBe(0);
    expect(nfs.statSync(join(work, "c.txt")).mode & 0o777).toBe(0o600);
    // chmod through the link must not touch the link's host target
    expect(t.call("chmod", t.str("/w/evil"), 0o777)).toBe(E.ENOENT);
    const ts = t.alloc(32);
    t.mem.writeU64(ts, 1_000_000);
    t.mem.writeU64(ts + 8, 5);
    t.mem.writeU64(ts + 16, 2_000_000);
    t.mem.writeU64(ts + 24, 7);
    expect(t.call("utimensat", -100, t.str("/w/c.txt"), ts, 0)).toBe(0);
    expect(Number(nfs.statSync(join(work, "c.txt"), { bigint: true }).mtimeNs)).toBe(2_000_000 * 1e9 + 7);
    expect(t.call("truncate", t.str("/w/c.txt"), 2)).toBe(0);
    expect(nfs.readFileSync(join(work, "c.txt"), "utf8")).toBe("al");
    const fd = t.open("/w/d/b.txt", O.RDWR | O.APPEND);
    expect(t.write(fd, "!")).toBe(1);
    expect(t.call("lseek", fd, 0, 1)).toBe(3);
    expect(t.call("ftruncate", fd, 1)).toBe(0);
    expect(t.call("fsync", fd)).toBe(0);
    expect(t.call("unlink", t.str("/w/c.txt"))).toBe(0);
    expect(nfs.existsSync(join(work, "c.txt"))).toBe(false);
    expect(t.call("unlink", t.str("/w/c.txt"))).toBe(E.ENOENT);
    expect(t.call("rmdir", t.str("/w/d"))).toBe(E.ENOTEMPTY);
    expect(t.call("unlink", t.str("/w/d/b.txt"))).toBe(0);
    expect(t.call("rmdir", t.str("/w/d"))).toBe(0);
    // names are bytes: a non-UTF-8 name reaches the host unchanged
    const raw = Buffer.from([0x2f, 0x77, 0x2f, 0xff, 0xfe, 0x41, 0]); // "/w/\xff\xfeA"
    const rawAddr = t.alloc(raw.length);
    t.mem.write(rawAddr, raw);
    const rfd = t.call("openat", -100, rawAddr, O.CREAT | O.WRONLY, 0o644);
    expect(rfd).toBeGreaterThan(0);
    t.call("close", rfd);
    expect(nfs.readdirSync(work, { encoding: "buffer" }).map((b) => b.toString("hex"))).toContain("fffe41");
    expect(t.list("/w")).toContain("\ufffd\ufffdA");
    expect(t.call("unlink", rawAddr)).toBe(0);
    expect(nfs.readdirSync(work).sort()).toEqual(["evil"]);
    t.dispose();
    expect(hashTree(join(base, "outside"))).toBe(outsideBefore);
  });
});

describe("hostfs directory fds", () => {
  it("stay bounded by maxDirFds; evicted directories reopen from their parents", () => {
    const tree = join(base, "deep");
    let p = tree;
    for (let i = 0; i < 30; i++) {
      p = join(p, `d${i}`);
      nfs.mkdirSync(p, { recursive: true });
      nfs.mkdirSync(join(tree, `wide${i}`), { recursive: true });
      nfs.writeFileSync(join(tree, `wide${i}`, "f"), `w${i}`);
    }
    nfs.writeFileSync(join(p, "leaf"), "leaf");
    const fs = new Hostfs(tree, { maxDirFds: 4 });
    const hostFds = () => nfs.readdirSync("/proc/self/fd").length;
    const before = hostFds();
    t = new FsHarness({ root: fs });
    const deep = `/${Array.from({ length: 30 }, (_, i) => `d${i}`).join("/")}`;
    expect(t.readFile(`${deep}/leaf`)).toBe("leaf");
    for (let i = 0; i < 30; i++) expect(t.readFile(`/wide${i}/f`)).toBe(`w${i}`);
    expect(fs.openDirFds).toBeLessThanOrEqual(4);
    expect(t.call("chdir", t.str(deep))).toBe(0);
    for (let i = 0; i < 30; i++) expect(t.list(`/wide${i}`)).toEqual([".", "..", "f"]);
    // the cwd's fd was evicted long ago: it comes back, and so does the path to it
    expect(t.readFile("leaf")).toBe("leaf");
    expect(t.getcwd()).toBe(deep);
    expect(t.readFile("../../../d27/d28/d29/leaf")).toBe("leaf");
    expect(fs.openDirFds).toBeLessThanOrEqual(4);
    expect(hostFds() - before).toBeLessThanOrEqual(8);
    // a directory replaced on the host is not silently followed to the new one
    nfs.renameSync(join(tree, "wide3"), join(tree, "gone3"));
    nfs.mkdirSync(join(tree, "wide3"));
    expect(t.readFile("/wide3/f")).toBe(E.ENOENT);
  });
});
