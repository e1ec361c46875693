// Confinement at the program level: a static C program tries to escape a
// read-only host directory mounted as / (.. walks, absolute and relative
// symlinks out, /proc/self/root, bad pointers, writes to the read-only
// mount). On both platforms every attempt fails with Linux's errno and the
// host tree is byte-for-byte untouched (hashed before and after).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as nfs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Libos, type LibosOptions, SandboxFs } from "@kindling/libos";
import { loadStaticProgram } from "@kindling/linux-loader";
import { AT, KvmPlatform, SeccompPlatform, writeInitialStack } from "@kindling/syscall-tap";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const SOURCE = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char* what, long r) {
  if (r >= 0) printf("%s ok %ld\n", what, r);
  else printf("%s %s\n", what, strerrorname_np(errno));
}
#define TRY(what, call) do { errno = 0; long r_ = (long)(call); report(what, r_); } while (0)

int main(void) {
  char buf[256];
  TRY("dotdot", syscall(SYS_openat, AT_FDCWD, "../../../../outside/secret", O_RDONLY));
  TRY("abs-dotdot", syscall(SYS_openat, AT_FDCWD, "/../outside/secret", O_RDONLY));
  TRY("abs-link-out", syscall(SYS_openat, AT_FDCWD, "/abs-out", O_RDONLY));
  TRY("rel-link-out", syscall(SYS_openat, AT_FDCWD, "/rel-out", O_RDONLY));
  TRY("dir-link-out", syscall(SYS_openat, AT_FDCWD, "/data/up2/secret", O_RDONLY));
  TRY("proc-root", syscall(SYS_openat, AT_FDCWD, "/proc/self/root/../outside/secret", O_RDONLY));
  TRY("proc-cwd", syscall(SYS_openat, AT_FDCWD, "/proc/self/cwd/../../outside/secret", O_RDONLY));
  TRY("host-path", syscall(SYS_openat, AT_FDCWD, HOST_SECRET, O_RDONLY));
  int dfd = open("/data", O_RDONLY | O_DIRECTORY);
  TRY("at-dotdot", syscall(SYS_openat, dfd, "../../outside/secret", O_RDONLY));
  TRY("write-ro", syscall(SYS_openat, AT_FDCWD, "/data/f", O_WRONLY));
  TRY("trunc-ro", syscall(SYS_openat, AT_FDCWD, "/data/f", O_RDONLY | O_TRUNC));
  TRY("creat-ro", syscall(SYS_openat, AT_FDCWD, "/data/new", O_CREAT | O_WRONLY, 0644));
  TRY("mkdir-ro", syscall(SYS_mkdirat, AT_FDCWD, "/data/d", 0755));
  TRY("unlink-ro", syscall(SYS_unlinkat, AT_FDCWD, "/data/f", 0));
  TRY("rename-ro", syscall(SYS_renameat2, AT_FDCWD, "/data/f", AT_FDCWD, "/data/g", 0));
  TRY("symlink-ro", syscall(SYS_symlinkat, "/", AT_FDCWD, "/data/s"));
  TRY("link-ro", syscall(SYS_linkat, AT_FDCWD, "/data/f", AT_FDCWD, "/data/h", 0));
  TRY("chmod-ro", syscall(SYS_fchmodat, AT_FDCWD, "/data/f", 0777));
  TRY("utimes-ro", syscall(SYS_utimensat, AT_FDCWD, "/data/f", NULL, 0));
  TRY("truncate-ro", syscall(SYS_truncate, "/data/f", 0));
  TRY("rmdir-ro", syscall(SYS_unlinkat, AT_FDCWD, "/data/sub", AT_REMOVEDIR));
  int fd = open("/data/f", O_RDONLY);
  TRY("read-badptr", syscall(SYS_read, fd, (void*)16, 10));
  TRY("read-kernelptr", syscall(SYS_read, fd, (void*)0xffff800000000000UL, 10));
  TRY("write-badptr", syscall(SYS_write, 1, (void*)16, 10));
  TRY("open-badptr", syscall(SYS_openat, AT_FDCWD, (void*)1, O_RDONLY));
  TRY("stat-badbuf", syscall(SYS_newfstatat, AT_FDCWD, "/data/f", (void*)8, 0));
  TRY("readv-badiov", syscall(SYS_readv, fd, (void*)24, 1));
  TRY("pipe-badptr", syscall(SYS_pipe2, (void*)8, 0));
  TRY("getcwd-badptr", syscall(SYS_getcwd, (void*)8, 100));
  // The tmpfs is writable; a link to / made there still resolves inside the sandbox.
  TRY("tmp-symlink", syscall(SYS_symlinkat, "/", AT_FDCWD, "/tmp/up"));
  TRY("tmp-link-out", syscall(SYS_openat, AT_FDCWD, "/tmp/up/../../outside/secret", O_RDONLY));
  long n = syscall(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", buf, sizeof buf - 1);
  if (n >= 0) { buf[n] = 0; printf("exe %s\n", buf); }
  n = syscall(SYS_read, fd, buf, sizeof buf - 1);
  if (n >= 0) { buf[n] = 0; printf("data %s", buf); }
  return 0;
}
`;

const EXPECTED = [
  "dotdot ENOENT",
  "abs-dotdot ENOENT",
  "abs-link-out ENOENT",
  "rel-link-out ENOENT",
  "dir-link-out ENOENT",
  "proc-root ENOENT",
  "proc-cwd ENOENT",
  "host-path ENOENT",
  "at-dotdot ENOENT",
  "write-ro EROFS",
  "trunc-ro EROFS",
  "creat-ro EROFS",
  "mkdir-ro EROFS",
  "unlink-ro EROFS",
  "rename-ro EROFS",
  "symlink-ro EROFS",
  "link-ro EROFS",
  "chmod-ro EROFS",
  "utimes-ro EROFS",
  "truncate-ro EROFS",
  "rmdir-ro EROFS",
  "read-badptr EFAULT",
  "read-kernelptr EFAULT",
  "write-badptr EFAULT",
  "open-badptr EFAULT",
  "stat-badbuf EFAULT",
  "readv-badiov EFAULT",
  "pipe-badptr EFAULT",
  "getcwd-badptr EFAULT",
  "tmp-symlink ok 0",
  "tmp-link-out ENOENT",
  "exe /bin/prog",
  "data inside\n",
].join("\n");

const hasCc = (() => {
  try {
    execFileSync("cc", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
if (!hasCc) console.warn("fs-confine: skipped, no C compiler");
const kvmMissing = (() => {
  try {
    KvmPlatform.create({ memorySize: 8 << 20 }).close();
    return null;
  } catch (e) {
    return `/dev/kvm is not usable (${(e as Error).message})`;
  }
})();
if (kvmMissing) console.warn(`fs-confine: kvm platform skipped: ${kvmMissing}`);

function hashTree(p: string, h = createHash("sha256")): string {
  const st = nfs.lstatSync(p, { bigint: true });
  h.update(`${p}\0${st.mode}\0${st.size}\0${st.mtimeNs}\0${st.ctimeNs}\0${st.nlink}\0`);
  if (st.isSymbolicLink()) h.update(nfs.readlinkSync(p));
  else if (st.isFile()) h.update(nfs.readFileSync(p));
  else if (st.isDirectory()) for (const n of nfs.readdirSync(p).sort()) hashTree(join(p, n), h);
  return h.copy().digest("hex");
}

let base: string;
let root: string;
let exe: string;
beforeAll(() => {
  if (!hasCc) return;
  base = nfs.mkdtempSync(join(tmpdir(), "kindling-fsconfine-"));
  root = join(base, "root");
  nfs.mkdirSync(join(root, "data/sub"), { recursive: true });
  nfs.mkdirSync(join(base, "outside"));
  nfs.writeFileSync(join(base, "outside/secret"), "SECRET");
  nfs.writeFileSync(join(root, "data/f"), "inside\n");
  nfs.symlinkSync(join(base, "outside/secret"), join(root, "abs-out"));
  nfs.symlinkSync("../outside/secret", join(root, "rel-out"));
  nfs.symlinkSync("../../outside", join(root, "data/up2"));
  const c = join(base, "escape.c");
  nfs.writeFileSync(c, SOURCE.replace("HOST_SECRET", JSON.stringify(join(base, "outside/secret"))));
  exe = join(base, "escape");
  execFileSync("cc", ["-static", "-O1", "-o", exe, c]);
});
afterAll(() => {
  if (base) nfs.rmSync(base, { recursive: true, force: true });
});

function sandbox(memory: LibosOptions["memory"]) {
  const fs = new SandboxFs({ root, mounts: [{ path: "/tmp", tmpfs: true }] });
  let out = "";
  const k = new Libos({
    memory,
    fs,
    exe: "/bin/prog",
    argv: ["escape"],
    env: [],
    stdio: [
      "null",
      {
        write: (b) => {
          out += Buffer.from(b).toString();
          return b.length;
        },
      },
      "null",
    ],
  });
  return { k, fs, out: () => out };
}

const MEM = 64 << 20;
const STACK = 8 << 20;

describe.skipIf(!hasCc)("escape attempts from a static program", () => {
  it("seccomp platform: every attempt fails, the host is untouched", () => {
    const before = hashTree(base);
    const s = sandbox({ base: 0x10000000, size: 0x10000000 });
    const proc = SeccompPlatform.spawn({ file: exe, argv: ["escape"], env: [], fds: [-1, -1, -1] });
    try {
      const exit = proc.run(s.k, { timeoutMs: 20_000 });
      expect(exit.exitCode).toBe(0);
    } finally {
      s.fs.dispose();
    }
    expect(s.out()).toBe(EXPECTED);
    expect(hashTree(base)).toBe(before);
  });

  it.skipIf(kvmMissing !== null)("kvm platform: every attempt fails, the host is untouched", () => {
    const before = hashTree(base);
    const vm = KvmPlatform.create({ memorySize: MEM });
    try {
      const prog = loadStaticProgram(nfs.readFileSync(exe), vm.programTarget);
      const sp = writeInitialStack(vm.memory, MEM - 4096, {
        argv: ["escape"],
        envp: [],
        auxv: [
          [AT.PHDR, Number(prog.phdrAddr)],
          [AT.PHENT, prog.phentsize],
          [AT.PHNUM, prog.phnum],
          [AT.PAGESZ, 4096],
          [AT.ENTRY, Number(prog.entry)],
        ],
        random: crypto.getRandomValues(new Uint8Array(16)),
        execfn: "/bin/prog",
      });
      vm.start(Number(prog.entry), sp);
      const brk = Number(prog.brkStart);
      const s = sandbox({
        base: brk,
        size: MEM - STACK - brk,
        limit: MEM,
        regions: [
          {
            start: Number(prog.loadStart),
            length: brk - Number(prog.loadStart),
            kind: "image",
            prot: 5,
            name: "/bin/prog",
          },
          { start: MEM - STACK, length: STACK, kind: "stack", prot: 3, name: "[stack]" },
        ],
      });
      try {
        expect(vm.run(s.k, { wallMs: 20_000 })).toEqual({ kind: "exited" });
        expect(s.k.shellStatus).toBe(0);
      } finally {
        s.fs.dispose();
      }
      expect(s.out()).toBe(EXPECTED);
    } finally {
      vm.close();
    }
    expect(hashTree(base)).toBe(before);
  });
});
