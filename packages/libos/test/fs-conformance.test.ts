// A libc-level conformance program for the file side (stdio, dirent, stat,
// links, renames, pipes, poll/select, readv/writev, pread/pwrite, *at calls,
// mkstemp/tmpfile, unlinked-but-open files), built with cc and musl-gcc
// -static, run natively and in the sandbox on the kvm and seccomp platforms:
// the output must be identical and the program's own assertions must pass.
import { execFileSync, spawnSync } from "node:child_process";
import * as nfs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Libos, type LibosOptions, SandboxFs } from "@kindling/libos";
import { loadStaticProgram } from "@kindling/linux-loader";
import { AT, KvmPlatform, SeccompPlatform, writeInitialStack } from "@kindling/syscall-tap";
import { afterAll, describe, expect, it } from "vitest";

const SOURCE = String.raw`#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static int fails;
#define CHECK(c)                                                                      \
  do {                                                                                \
    if (!(c)) {                                                                       \
      printf("FAIL line %d: %s (errno %d %s)\n", __LINE__, #c, errno, strerror(errno)); \
      fails++;                                                                        \
    }                                                                                 \
  } while (0)
#define ERR(expr, e) CHECK((expr) == -1 && errno == (e))

static int cmp(const void* a, const void* b) { return strcmp(*(char* const*)a, *(char* const*)b); }

static void list(const char* path) {
  DIR* d = opendir(path);
  CHECK(d != NULL);
  if (!d) return;
  char* names[64];
  int n = 0;
  struct dirent* e;
  while ((e = readdir(d)) && n < 64) {
    char* s = malloc(300);
    snprintf(s, 300, "%s(%d)", e->d_name, e->d_type);
    names[n++] = s;
  }
  closedir(d);
  qsort(names, n, sizeof names[0], cmp);
  printf("ls %s:", path);
  for (int i = 0; i < n; i++) {
    printf(" %s", names[i]);
    free(names[i]);
  }
  printf("\n");
}

int main(int argc, char** argv) {
  if (argc < 2 || chdir(argv[1]) != 0) return 2;
  char base[PATH_MAX];
  CHECK(getcwd(base, sizeof base) != NULL);

  FILE* f = fopen("a.txt", "w");
  CHECK(f != NULL);
  fprintf(f, "line %d\n", 1);
  fputs("line 2\n", f);
  CHECK(fclose(f) == 0);
  f = fopen("a.txt", "r");
  char buf[256];
  while (fgets(buf, sizeof buf, f)) printf("read: %s", buf);
  fclose(f);
  f = fopen("a.txt", "a");
  fputs("line 3\n", f);
  fclose(f);

  struct stat st;
  CHECK(stat("a.txt", &st) == 0);
  printf("size=%lld mode=%o nlink=%ld blksize-ok=%d\n", (long long)st.st_size, st.st_mode, (long)st.st_nlink,
         st.st_blksize > 0);
  CHECK(mkdir("d", 0755) == 0);
  CHECK(mkdir("d/e", 0700) == 0);
  CHECK(symlink("../a.txt", "d/l") == 0);
  CHECK(link("a.txt", "d/h") == 0);
  CHECK(stat("a.txt", &st) == 0 && st.st_nlink == 2);
  list("d");
  ssize_t n = readlink("d/l", buf, sizeof buf);
  CHECK(n == 8 && memcmp(buf, "../a.txt", 8) == 0);
  char* rp = realpath("d/l", NULL);
  CHECK(rp != NULL);
  if (rp) {
    printf("realpath ok=%d\n", strlen(rp) == strlen(base) + 6 && strcmp(rp + strlen(base), "/a.txt") == 0);
    free(rp);
  }
  CHECK(lstat("d/l", &st) == 0 && S_ISLNK(st.st_mode) && st.st_size == 8);
  CHECK(fstatat(AT_FDCWD, "d/l", &st, 0) == 0 && S_ISREG(st.st_mode));

  CHECK(rename("d/h", "d/h2") == 0);
  ERR(access("d/h", F_OK), ENOENT);
  CHECK(access("d/h2", R_OK | W_OK) == 0);
  ERR(unlink("d/e"), EISDIR);
  ERR(rmdir("d"), ENOTEMPTY);
  ERR(open("a.txt", O_CREAT | O_EXCL | O_WRONLY, 0600), EEXIST);
  ERR(open("nope/x", O_RDONLY), ENOENT);
  ERR(open("a.txt/x", O_RDONLY), ENOTDIR);
  ERR(mkdir("d", 0755), EEXIST);
  ERR(chdir("a.txt"), ENOTDIR);

  // pipes, poll, select
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  CHECK(write(p[1], "xyz", 3) == 3);
  struct pollfd pf = {.fd = p[0], .events = POLLIN};
  CHECK(poll(&pf, 1, 1000) == 1 && (pf.revents & POLLIN));
  fd_set rs;
  FD_ZERO(&rs);
  FD_SET(p[0], &rs);
  struct timeval tv = {0, 0};
  CHECK(select(p[0] + 1, &rs, NULL, NULL, &tv) == 1 && FD_ISSET(p[0], &rs));
  CHECK(read(p[0], buf, sizeof buf) == 3 && memcmp(buf, "xyz", 3) == 0);
  CHECK(fcntl(p[0], F_GETFD) == FD_CLOEXEC);
  CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
  ERR(read(p[0], buf, 1), EAGAIN);
  close(p[1]);
  CHECK(read(p[0], buf, 1) == 0);
  close(p[0]);

  // fd-level I/O
  int fd = open("b.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  struct iovec iov[2] = {{"hello ", 6}, {"world", 5}};
  CHECK(writev(fd, iov, 2) == 11);
  CHECK(lseek(fd, 0, SEEK_END) == 11);
  CHECK(pwrite(fd, "W", 1, 6) == 1);
  char a[6], b[6];
  struct iovec riov[2] = {{a, 5}, {b, 6}};
  CHECK(lseek(fd, 0, SEEK_SET) == 0);
  CHECK(readv(fd, riov, 2) == 11);
  printf("readv: %.5s|%.6s\n", a, b);
  CHECK(pread(fd, buf, 5, 6) == 5);
  printf("pread: %.5s\n", buf);
  CHECK(ftruncate(fd, 3) == 0);
  CHECK(fstat(fd, &st) == 0 && st.st_size == 3);
  CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
  int d2 = dup(fd);
  CHECK(lseek(d2, 1, SEEK_SET) == 1 && lseek(fd, 0, SEEK_CUR) == 1);
  int d3 = fcntl(fd, F_DUPFD_CLOEXEC, 20);
  CHECK(d3 >= 20 && fcntl(d3, F_GETFD) == FD_CLOEXEC);
  close(d2);
  close(d3);
  close(fd);

  // times
  struct timespec ts[2] = {{1000000000, 5}, {1200000000, 7}};
  CHECK(utimensat(AT_FDCWD, "b.bin", ts, 0) == 0);
  CHECK(stat("b.bin", &st) == 0);
  printf("mtime=%lld.%09ld\n", (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  CHECK(chmod("b.bin", 0600) == 0 && stat("b.bin", &st) == 0 && (st.st_mode & 0777) == 0600);
  CHECK(truncate("b.bin", 0) == 0 && stat("b.bin", &st) == 0 && st.st_size == 0);

  // *at with a directory fd, fdopendir
  int dfd = open("d", O_RDONLY | O_DIRECTORY);
  CHECK(dfd >= 0);
  CHECK(mkdirat(dfd, "sub", 0755) == 0);
  CHECK(fstatat(dfd, "l", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode));
  CHECK(renameat(dfd, "sub", dfd, "sub2") == 0);
  CHECK(unlinkat(dfd, "sub2", AT_REMOVEDIR) == 0);
  CHECK(faccessat(dfd, "h2", R_OK, 0) == 0);
  CHECK(fchdir(dfd) == 0);
  CHECK(getcwd(buf, sizeof buf) && strcmp(buf + strlen(base), "/d") == 0);
  CHECK(chdir("..") == 0);
  DIR* dd = fdopendir(dfd);
  int count = 0;
  while (readdir(dd)) count++;
  printf("entries in d: %d\n", count);
  closedir(dd);

  // temporary files
  char tmpl[] = "tmpXXXXXX";
  int tfd = mkstemp(tmpl);
  CHECK(tfd >= 0);
  CHECK(write(tfd, "temp", 4) == 4);
  close(tfd);
  CHECK(unlink(tmpl) == 0);
  FILE* tf = tmpfile();
  CHECK(tf != NULL);
  if (tf) {
    fputs("in tmpfile", tf);
    rewind(tf);
    CHECK(fgets(buf, sizeof buf, tf) != NULL);
    printf("tmpfile: %s\n", buf);
    fclose(tf);
  }

  // unlinked but open
  fd = open("gone", O_RDWR | O_CREAT, 0644);
  CHECK(write(fd, "still here", 10) == 10);
  CHECK(unlink("gone") == 0);
  CHECK(pread(fd, buf, 10, 0) == 10);
  printf("after unlink: %.10s\n", buf);
  close(fd);

  // clean up
  CHECK(unlink("d/l") == 0 && unlink("d/h2") == 0 && rmdir("d/e") == 0 && rmdir("d") == 0);
  CHECK(unlink("a.txt") == 0 && unlink("b.bin") == 0);
  list(".");
  printf("fails=%d\n", fails);
  return fails != 0;
}
`;

function has(tool: string): boolean {
  try {
    execFileSync(tool, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const compilers = ["cc", "musl-gcc"].filter(has);
if (compilers.length < 2)
  console.warn(`fs-conformance: missing compilers: ${["cc", "musl-gcc"].filter((c) => !has(c))}`);
const kvmMissing = (() => {
  try {
    KvmPlatform.create({ memorySize: 8 << 20 }).close();
    return null;
  } catch (e) {
    return `/dev/kvm is not usable (${(e as Error).message})`;
  }
})();
if (kvmMissing) console.warn(`fs-conformance: kvm platform skipped: ${kvmMissing}`);

const dir = nfs.mkdtempSync(join(tmpdir(), "kindling-fsconf-"));
afterAll(() => nfs.rmSync(dir, { recursive: true, force: true }));

function build(cc: string): string {
  const c = join(dir, "files.c");
  if (!nfs.existsSync(c)) nfs.writeFileSync(c, SOURCE);
  const exe = join(dir, `files-${cc}`);
  execFileSync(cc, ["-static", "-O1", "-o", exe, c]);
  return exe;
}

interface Result {
  out: string;
  status: number;
}

function native(exe: string): Result {
  const work = nfs.mkdtempSync(join(dir, "native-"));
  const r = spawnSync(exe, [work], { encoding: "utf8", env: { TMPDIR: work } });
  return { out: r.stdout, status: r.status ?? -1 };
}

function libos(argv: string[], memory: LibosOptions["memory"], exe: string) {
  const fs = new SandboxFs({ mounts: [{ path: "/tmp", tmpfs: true }] });
  const ctx = fs.context();
  fs.ns.mkdir(ctx, ctx.root, "/work", 0o755);
  let out = "";
  const k = new Libos({
    memory,
    fs,
    exe,
    argv,
    env: ["TMPDIR=/work"],
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

function onKvm(exe: string): Result {
  const argv = ["files", "/work"];
  const vm = KvmPlatform.create({ memorySize: MEM });
  try {
    const prog = loadStaticProgram(nfs.readFileSync(exe), vm.programTarget);
    const sp = writeInitialStack(vm.memory, MEM - 4096, {
      argv,
      envp: ["TMPDIR=/work"],
      auxv: [
        [AT.PHDR, Number(prog.phdrAddr)],
        [AT.PHENT, prog.phentsize],
        [AT.PHNUM, prog.phnum],
        [AT.PAGESZ, 4096],
        [AT.ENTRY, Number(prog.entry)],
      ],
      random: crypto.getRandomValues(new Uint8Array(16)),
      execfn: "/files",
    });
    vm.start(Number(prog.entry), sp);
    const brk = Number(prog.brkStart);
    const s = libos(
      argv,
      {
        base: brk,
        size: MEM - STACK - brk,
        limit: MEM,
        regions: [
          {
            start: Number(prog.loadStart),
            length: brk - Number(prog.loadStart),
            kind: "image",
            prot: 5,
            name: "/files",
          },
          { start: MEM - STACK, length: STACK, kind: "stack", prot: 3, name: "[stack]" },
        ],
      },
      "/files",
    );
    try {
      const r = vm.run(s.k, { wallMs: 20_000 });
      expect(r).toEqual({ kind: "exited" });
      return { out: s.out(), status: s.k.shellStatus };
    } finally {
      s.fs.dispose();
    }
  } finally {
    vm.close();
  }
}

function onSeccomp(exe: string): Result {
  const argv = ["files", "/work"];
  const s = libos(argv, { base: 0x10000000, size: 0x10000000 }, "/files");
  const proc = SeccompPlatform.spawn({ file: exe, argv, env: ["TMPDIR=/work"], fds: [-1, -1, -1] });
  try {
    const exit = proc.run(s.k, { timeoutMs: 20_000 });
    return { out: s.out(), status: exit.exitCode ?? 128 + (exit.signal ?? 0) };
  } finally {
    s.fs.dispose();
  }
}

describe("the files conformance program: native vs sandbox", () => {
  for (const cc of compilers) {
    it(`${cc}: seccomp platform`, () => {
      const exe = build(cc);
      const want = native(exe);
      expect(want.out).toContain("fails=0");
      expect(onSeccomp(exe)).toEqual(want);
    });
    it.skipIf(kvmMissing !== null)(`${cc}: kvm platform`, () => {
      const exe = build(cc);
      const want = native(exe);
      expect(onKvm(exe)).toEqual(want);
    });
  }
});
