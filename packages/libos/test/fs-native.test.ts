// The same system calls, run natively by a C program and through the libos
// (on tmpfs and on a read-write hostfs mount): every return value and errno
// must match Linux's. Also checks our struct layouts against the C headers.
import { execFileSync } from "node:child_process";
import * as nfs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeStat, encodeStatx, packDirents } from "../src/fs/index.js";
import { SYS, type SyscallName } from "../src/sysno.js";
import { FsHarness, MEM_BASE } from "./fs-harness.js";

const hasCc = (() => {
  try {
    execFileSync("cc", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
if (!hasCc) console.warn("fs-native: skipped, no C compiler (cc) on this machine");

type Arg = number | string | "BUF";
/** [syscall, args, dump the buffer's first `ret` bytes?] */
/**
 * [syscall, args, dump]: dump true prints the buffer's first `ret` bytes, a
 * number prints that many bytes. The pseudo-call "SETBUF" with a hex string
 * fills the buffer first (for struct arguments such as pollfd arrays).
 */
type Op = [SyscallName | "SETBUF", Arg[], (boolean | number)?];

const F = -100; // AT_FDCWD
const O_WRONLY = 1;
const O_RDWR = 2;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;
const O_DIRECTORY = 0o200000;
const O_NOFOLLOW = 0o400000;
const O_PATH = 0o10000000;

const OPS: Op[] = [
  ["mkdirat", [F, "d", 0o755]],
  ["mkdirat", [F, "d", 0o755]],
  ["mkdirat", [F, "d/", 0o755]],
  ["mkdirat", [F, "x/y", 0o755]],
  ["mkdirat", [F, ".", 0o755]],
  ["mkdirat", [F, "..", 0o755]],
  ["openat", [F, "d/f", O_CREAT | O_WRONLY, 0o644]],
  ["write", [3, "hello", 5]],
  ["close", [3]],
  ["close", [3]],
  ["openat", [F, "d/f/", 0]],
  ["openat", [F, "d/f/x", 0]],
  ["openat", [F, "d", O_WRONLY]],
  ["openat", [F, "d", O_RDWR]],
  ["openat", [F, "d", O_CREAT]],
  ["openat", [F, "d", O_TRUNC]],
  ["openat", [F, "d/new/", O_CREAT | O_WRONLY, 0o644]],
  ["openat", [F, "d/f", O_CREAT | O_EXCL, 0o644]],
  ["openat", [F, "", 0]],
  ["openat", [F, ".", O_CREAT | O_WRONLY, 0o644]],
  ["openat", [F, "d/f", O_DIRECTORY]],
  ["openat", [F, "d/f", O_CREAT | O_DIRECTORY]],
  ["openat", [77, "d/f", 0]],
  ["symlinkat", ["f", F, "d/l"]],
  ["symlinkat", ["nowhere", F, "d/dang"]],
  ["symlinkat", ["x", F, "d/l"]],
  ["symlinkat", ["", F, "d/e1"]],
  ["symlinkat", ["d", F, "dl"]],
  ["openat", [F, "d/l", O_NOFOLLOW]],
  ["openat", [F, "d/dang", 0]],
  ["openat", [F, "d/dang", O_CREAT | O_EXCL | O_WRONLY, 0o644]],
  ["openat", [F, "d/l", 0]],
  ["read", [3, "BUF", 100], true],
  ["read", [3, "BUF", 100], true],
  ["close", [3]],
  ["openat", [F, "dl/f", O_RDWR | O_APPEND]],
  ["write", [3, "++", 2]],
  ["lseek", [3, 0, 1]],
  ["pread64", [3, "BUF", 3, 2], true],
  ["lseek", [3, 0, 1]],
  ["lseek", [3, -1, 0]],
  ["lseek", [3, 0, 9]],
  ["lseek", [3, -3, 2]],
  ["read", [3, "BUF", 100], true],
  ["ftruncate", [3, -1]],
  ["getdents64", [3, "BUF", 4096]],
  ["close", [3]],
  ["readlinkat", [F, "d/l", "BUF", 100], true],
  ["readlinkat", [F, "d/l", "BUF", 0]],
  ["readlinkat", [F, "d/f", "BUF", 100]],
  ["readlinkat", [F, "dl/", "BUF", 100]],
  ["linkat", [F, "d/f", F, "d/h", 0]],
  ["linkat", [F, "d", F, "d2", 0]],
  ["linkat", [F, "d/f", F, "d/h", 0]],
  ["linkat", [F, "d/f", F, "d/nodir/h", 0]],
  ["linkat", [F, "d/f", F, "d/h2/", 0]],
  ["linkat", [F, "d/f", F, "d/h2", 0x8]],
  ["linkat", [F, "dl", F, "d/lnk", 0]],
  ["unlinkat", [F, "d", 0]],
  ["unlinkat", [F, "d/f/", 0]],
  ["unlinkat", [F, "d/f", 0x200]],
  ["unlinkat", [F, "d", 0x200]],
  ["unlinkat", [F, ".", 0x200]],
  ["unlinkat", [F, "d/..", 0x200]],
  ["unlinkat", [F, "d/nope", 0]],
  ["unlinkat", [F, "d/f", 1]],
  ["unlinkat", [F, "dl/", 0]],
  ["unlinkat", [F, "d/lnk", 0]],
  ["mkdirat", [F, "e", 0o755]],
  ["mkdirat", [F, "e/sub", 0o755]],
  ["mkdirat", [F, "empty", 0o755]],
  ["renameat2", [F, "d/f", F, "d/h", 1]],
  ["renameat2", [F, "d/f", F, "d/dang", 2]],
  ["renameat2", [F, "d/f", F, "d/none", 2]],
  ["renameat2", [F, "d/f", F, "d/h", 3]],
  ["renameat2", [F, "d/f", F, "d/h", 8]],
  ["renameat2", [F, "e", F, "e/sub/x", 0]],
  ["renameat2", [F, "e/sub", F, "e", 0]],
  ["renameat2", [F, "d", F, "e", 0]],
  ["renameat2", [F, "d/h", F, "e", 0]],
  ["renameat2", [F, "e", F, "d/h", 0]],
  ["renameat2", [F, "d/h/", F, "d/h3", 0]],
  ["renameat2", [F, "d/h", F, "d/h3/", 0]],
  ["renameat2", [F, ".", F, "zz", 0]],
  ["renameat2", [F, "d/h", F, "..", 0]],
  ["renameat2", [F, "d/h", F, ".", 1]],
  ["renameat2", [F, "d/h", F, "d/h", 0]],
  ["renameat2", [F, "d/h", F, "d/l", 0]],
  ["renameat2", [F, "e/sub", F, "empty", 0]],
  ["renameat2", [F, "empty", F, "e/new", 1]],
  ["renameat2", [F, "nothing", F, "e/x", 0]],
  ["faccessat", [F, "d/l", 1]],
  ["faccessat", [F, "d/l", 6]],
  ["faccessat", [F, "d/l", 8]],
  ["faccessat", [F, "d/zz", 0]],
  ["faccessat2", [F, "d/l", 0, 0x8]],
  ["fchmodat", [F, "d/l", 0o755]],
  ["faccessat", [F, "d/l", 1]],
  ["truncate", [F === -100 ? "d/l" : "", 2]],
  ["truncate", ["d", 0]],
  ["truncate", ["d/l", -1]],
  ["newfstatat", [F, "d/l", "BUF", 0x4]],
  ["newfstatat", [F, "", "BUF", 0]],
  ["newfstatat", [F, "d/zz", "BUF", 0]],
  ["newfstatat", [F, "d/dang/", "BUF", 0]],
  ["openat", [F, "d", O_DIRECTORY]],
  ["read", [3, "BUF", 10]],
  ["write", [3, "BUF", 10]],
  ["getdents64", [3, "BUF", 10]],
  ["lseek", [3, 0, 0]],
  ["close", [3]],
  ["dup3", [0, 0, 0]],
  ["dup2", [99, 5]],
  ["dup3", [0, 7, 1]],
  ["dup2", [1, 1]],
  ["dup", [1]],
  ["dup2", [1, 9]],
  ["fcntl", [9, 1]],
  ["fcntl", [9, 1030, 5]],
  ["fcntl", [5, 1]],
  ["fcntl", [0, 999]],
  ["close", [9]],
  ["close", [3]],
  ["close", [5]],
  ["utimensat", [F, "d/l", 0, 0]],
  ["utimensat", [F, "d/l", 0, 0x1]],
  ["openat", [F, "d/l", O_RDWR]],
  ["flock", [3, 2]],
  ["flock", [3, 99]],
  ["flock", [3, 3]],
  ["flock", [55, 3]],
  ["flock", [55, 1]],
  ["fadvise64", [3, 0, 0, 9]],
  ["fadvise64", [3, 0, 0, 1]],
  ["fallocate", [3, 0, 0, 100]],
  ["fallocate", [3, 0, -1, 1]],
  ["fallocate", [3, 0, 0, 0]],
  ["lseek", [3, 0, 2]],
  ["fallocate", [3, 0, 0, 10]],
  ["lseek", [3, 0, 2]],
  ["close", [3]],
  ["statfs", ["d", "BUF"]],
  ["statfs", ["zz", "BUF"]],
  ["fstatfs", [55, "BUF"]],
  ["openat", [F, "d", O_DIRECTORY]],
  ["getdents", [3, "BUF", 10]],
  ["fallocate", [3, 0, 0, 10]],
  ["close", [3]],
  ["sync", []],
  ["syncfs", [55]],
  ["mkdirat", [F, "d/l/x", 0o755]],
  ["chdir", ["d/l"]],
  ["chdir", ["nonexist"]],
  ["rmdir", ["e/sub/"]],
  ["rmdir", ["empty"]],
  ["rmdir", ["e/sub"]],
  ["rmdir", ["e"]],
  ["rmdir", ["e"]],
  ["getdents64", [0, "BUF", 100]],
  ["openat", [F, "d/l", 3]],
  ["read", [3, "BUF", 1]],
  ["write", [3, "BUF", 1]],
  ["ioctl", [3, 0x541b, "BUF"]],
  ["close", [3]],
  ["openat", [F, "d/l", 0]],
  ["ioctl", [3, 0x541b, "BUF"], true],
  ["close", [3]],
  ["pipe2", ["BUF", 0]],
  ["close", [3]],
  ["write", [4, "BUF", 0]],
  ["close", [4]],
  // name and path limits
  ["mkdirat", [F, "n".repeat(255), 0o755]],
  ["mkdirat", [F, "n".repeat(256), 0o755]],
  ["openat", [F, "n".repeat(256), 0]],
  ["unlinkat", [F, "n".repeat(255), 0x200]],
  ["openat", [F, "x/".repeat(2048), 0]],
  ["openat", [F, `${"x/".repeat(2047)}y`, 0]],
  ["openat", [F, `${"./".repeat(2047)}d`, O_DIRECTORY]],
  ["close", [3]],
  // symlink loops
  ["symlinkat", ["loop1", F, "loop2"]],
  ["symlinkat", ["loop2", F, "loop1"]],
  ["openat", [F, "loop1", 0]],
  ["openat", [F, "loop1", O_CREAT | O_WRONLY, 0o644]],
  ["mkdirat", [F, "loop1/x", 0o755]],
  ["faccessat", [F, "loop1", 0]],
  ["unlinkat", [F, "loop1", 0]],
  ["unlinkat", [F, "loop2", 0]],
  // directories with trailing slashes
  ["mkdirat", [F, "r1", 0o755]],
  ["renameat2", [F, "r1/", F, "r2/", 0]],
  ["renameat2", [F, "r2", F, "r2/sub", 0]],
  ["renameat2", [F, "r2/.", F, "r3", 0]],
  ["symlinkat", ["r2", F, "r2l"]],
  ["unlinkat", [F, "r2l/", 0x200]],
  ["unlinkat", [F, "r2l", 0x200]],
  ["unlinkat", [F, "r2l", 0]],
  ["unlinkat", [F, "r2/", 0x200]],
  // O_PATH descriptors
  ["openat", [F, "dl", O_PATH | O_NOFOLLOW]],
  ["readlinkat", [3, "", "BUF", 100], true],
  ["read", [3, "BUF", 1]],
  ["fchdir", [3]],
  ["fcntl", [3, 1]],
  ["close", [3]],
  ["openat", [F, "d", O_PATH]],
  ["fchdir", [3]],
  ["openat", [F, "l", 0]],
  ["close", [4]],
  ["chdir", [".."]],
  ["newfstatat", [3, "", "BUF", 0x1000]],
  ["getdents64", [3, "BUF", 4096]],
  ["openat", [3, "l", 0]],
  ["close", [4]],
  ["close", [3]],
  // poll/select readiness: pipes, a regular file, /dev/null, a bad fd
  ["pipe2", ["BUF", 0]],
  ["openat", [F, "d/l", O_RDWR]],
  ["openat", [F, "/dev/null", O_RDWR]],
  // pollfd {3, POLLIN|POLLOUT|POLLRDNORM|POLLWRNORM|POLLPRI} {4, same} {5, same} {6, same} {99, POLLIN} {-1, POLLIN}
  [
    "SETBUF",
    [
      "0300000047010000" +
        "0400000047010000" +
        "0500000047010000" +
        "0600000047010000" +
        "6300000001000000" +
        "ffffffff01000000",
    ],
  ],
  ["poll", ["BUF", 6, 0], 48],
  ["write", [4, "d/l", 3]],
  ["SETBUF", ["0300000047010000" + "0400000047010000"]],
  ["poll", ["BUF", 2, 0], 16],
  ["close", [4]],
  ["SETBUF", ["0300000047010000"]],
  ["poll", ["BUF", 1, 0], 8],
  // select on the read end (readable: data), the file and /dev/null (always ready)
  ["SETBUF", ["68000000000000006800000000000000"]],
  ["select", [7, "BUF", 0, 0, 0], 8],
  ["close", [3]],
  ["close", [5]],
  ["close", [6]],
  // O_TMPFILE: an unnamed file, named later through /proc/self/fd
  ["openat", [F, "d", 0o20200000 | O_RDWR, 0o600]],
  ["write", [3, "tmp", 3]],
  ["openat", [F, "d", 0o20200000, 0o600]],
  ["openat", [F, "d/l", 0o20200000 | O_RDWR, 0o600]],
  ["linkat", [F, "/proc/self/fd/3", F, "d/named", 0x400]],
  ["openat", [F, "d/named", 0]],
  ["read", [4, "BUF", 10], true],
  ["close", [4]],
  ["close", [3]],
  ["unlinkat", [F, "d/named", 0]],
  ["pipe2", ["BUF", 0o1]],
  ["lseek", [55, 0, 0]],
  ["fsync", [55]],
  ["ftruncate", [55, 0]],
];

/** Permission rules: set up as root, then switch to uid/gid 1000 (groups stay [0]). */
const USER_OPS: Op[] = [
  ["mkdirat", [F, "own", 0o755]],
  ["openat", [F, "own/rootfile", O_CREAT | O_WRONLY, 0o644]],
  ["close", [3]],
  ["mkdirat", [F, "sticky", 0o777]],
  ["fchmodat", [F, "sticky", 0o1777]],
  ["openat", [F, "sticky/rf", O_CREAT | O_WRONLY, 0o666]],
  ["close", [3]],
  ["mkdirat", [F, "pub", 0o777]],
  ["fchmodat", [F, "pub", 0o777]],
  ["mkdirat", [F, "noexec", 0o766]],
  ["openat", [F, "noexec/f", O_CREAT | O_WRONLY, 0o644]],
  ["close", [3]],
  ["setresgid", [1000, 1000, 1000]],
  ["setresuid", [1000, 1000, 1000]],
  ["openat", [F, "own/rootfile", 0]],
  ["close", [3]],
  ["openat", [F, "own/rootfile", O_WRONLY]],
  ["openat", [F, "own/rootfile", O_RDWR | O_TRUNC]],
  ["openat", [F, "own/new", O_CREAT | O_WRONLY, 0o644]],
  ["openat", [F, "own/rootfile", O_CREAT | O_WRONLY, 0o644]],
  ["mkdirat", [F, "own/d", 0o755]],
  ["mkdirat", [F, "own/rootfile", 0o755]],
  ["unlinkat", [F, "own/rootfile", 0]],
  ["unlinkat", [F, "own/none", 0]],
  ["renameat2", [F, "own/rootfile", F, "pub/x", 0]],
  ["fchmodat", [F, "own/rootfile", 0o777]],
  ["utimensat", [F, "own/rootfile", 0, 0]],
  ["utimensat", [F, "own/rootfile", "BUF", 0]],
  ["faccessat", [F, "own/rootfile", 2]],
  ["faccessat", [F, "own/rootfile", 4]],
  ["faccessat", [F, "own", 3]],
  ["linkat", [F, "own/rootfile", F, "pub/hl", 0]],
  ["openat", [F, "noexec/f", 0]],
  ["faccessat", [F, "noexec", 0]],
  ["faccessat", [F, "noexec/f", 0]],
  ["chdir", ["noexec"]],
  ["openat", [F, "noexec", O_DIRECTORY]],
  ["getdents64", [3, "BUF", 4096]],
  ["close", [3]],
  ["openat", [F, "pub/mine", O_CREAT | O_WRONLY, 0o600]],
  ["close", [3]],
  ["fchmodat", [F, "pub/mine", 0]],
  ["openat", [F, "pub/mine", 0]],
  ["faccessat", [F, "pub/mine", 4]],
  ["fchmodat", [F, "pub/mine", 0o600]],
  ["openat", [F, "pub/mine", 0]],
  ["close", [3]],
  ["linkat", [F, "pub/mine", F, "pub/mine2", 0]],
  ["fchownat", [F, "pub/mine", 1000, 1000, 0]],
  ["fchownat", [F, "pub/mine", 0, -1, 0]],
  ["fchownat", [F, "pub/mine", -1, 0, 0]],
  ["fchownat", [F, "pub/mine", -1, 5, 0]],
  ["unlinkat", [F, "sticky/rf", 0]],
  ["renameat2", [F, "sticky/rf", F, "sticky/rf2", 0]],
  ["openat", [F, "sticky/mine", O_CREAT | O_WRONLY, 0o644]],
  ["close", [3]],
  ["unlinkat", [F, "sticky/mine", 0]],
  ["mkdirat", [F, "pub/d2", 0o700]],
  ["openat", [F, "pub/d2/x", O_CREAT | O_WRONLY, 0o644]],
  ["close", [3]],
  ["fchmodat", [F, "pub/d2", 0o600]],
  ["openat", [F, "pub/d2/x", 0]],
  ["faccessat", [F, "pub/d2/x", 0]],
  ["newfstatat", [F, "pub/d2/x", "BUF", 0]],
  ["unlinkat", [F, "pub/d2/x", 0]],
  ["fchmodat", [F, "pub/d2", 0o500]],
  ["unlinkat", [F, "pub/d2/x", 0]],
  ["openat", [F, "pub/d2/y", O_CREAT | O_WRONLY, 0o644]],
  ["fchmodat", [F, "pub/d2", 0o700]],
  ["unlinkat", [F, "pub/d2/x", 0]],
  ["unlinkat", [F, "pub/d2", 0x200]],
  ["renameat2", [F, "pub/mine", F, "own/stolen", 0]],
  ["unlinkat", [F, "pub/mine2", 0]],
  ["truncate", ["own/rootfile", 0]],
  ["truncate", ["pub/mine", 0]],
];

/** C source that runs OPS in the current directory and prints one line per op. */
function cSource(ops: Op[] = OPS): string {
  const lines = ops.map(([name, args, dump]) => {
    if (name === "SETBUF") {
      const bytes = Buffer.from(String(args[0]), "hex");
      return `  { static const unsigned char d[] = {${[...bytes].join(",")}}; memcpy(buf, d, sizeof d); }`;
    }
    const cargs = args.map((a) =>
      a === "BUF" ? "(long)buf" : typeof a === "string" ? JSON.stringify(a) : `(long)${a}`,
    );
    const d = dump === true ? -1 : typeof dump === "number" ? dump : 0;
    return `  r = syscall(${SYS[name]}${cargs.map((c) => `, ${c}`).join("")}); out("${name}", r < 0 ? -errno : r, ${d});`;
  });
  return `#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/stat.h>
static unsigned char buf[8192];
static void out(const char* n, long r, long dump) {
  printf("%s %ld", n, r);
  long len = dump < 0 ? r : dump;
  if (len > 0 && (dump > 0 || r > 0)) { printf(" "); for (long i = 0; i < len; i++) printf("%02x", buf[i]); }
  printf("\\n");
}
int main(int argc, char** argv) {
  long r;
  umask(022);
  if (argc < 2 || chdir(argv[1]) != 0) return 2;
${lines.join("\n")}
  return 0;
}
`;
}

function runOps(t: FsHarness, ops: Op[] = OPS): string {
  const buf = t.alloc(8192);
  let out = "";
  for (const [name, args, dump] of ops) {
    if (name === "SETBUF") {
      t.mem.write(buf, Buffer.from(String(args[0]), "hex"));
      continue;
    }
    const a = args.map((x) => (x === "BUF" ? buf : typeof x === "string" ? t.str(x) : x));
    const r = t.call(name, ...a);
    out += `${name} ${r}`;
    const len = dump === true ? r : typeof dump === "number" ? dump : 0;
    if (len > 0 && (typeof dump === "number" || r > 0)) out += ` ${Buffer.from(t.mem.read(buf, len)).toString("hex")}`;
    out += "\n";
  }
  return out;
}

let dir: string;
let native = "";
let nativeUser = "";

beforeAll(() => {
  if (!hasCc) return;
  dir = nfs.mkdtempSync(join(tmpdir(), "kindling-fsnative-"));
  nfs.writeFileSync(join(dir, "ops.c"), cSource());
  execFileSync("cc", ["-O0", "-o", join(dir, "ops"), join(dir, "ops.c")]);
  nfs.mkdirSync(join(dir, "run"));
  native = execFileSync(join(dir, "ops"), [join(dir, "run")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (process.env.FS_NATIVE_DUMP) nfs.writeFileSync(process.env.FS_NATIVE_DUMP, native);
  nfs.writeFileSync(join(dir, "user.c"), cSource(USER_OPS));
  execFileSync("cc", ["-O0", "-o", join(dir, "user"), join(dir, "user.c")]);
  nfs.mkdirSync(join(dir, "urun"));
  nfs.chmodSync(join(dir, "urun"), 0o777);
  if (process.getuid?.() === 0) {
    nativeUser = execFileSync(join(dir, "user"), [join(dir, "urun")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    if (process.env.FS_NATIVE_DUMP) nfs.writeFileSync(`${process.env.FS_NATIVE_DUMP}.user`, nativeUser);
  }
});
afterAll(() => {
  if (dir) nfs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasCc)("native Linux vs the libos, call by call", () => {
  it("the native run covers every op", () => {
    expect(native.trim().split("\n")).toHaveLength(OPS.filter(([n]) => n !== "SETBUF").length);
  });

  it("tmpfs gives the same results as the host kernel", () => {
    const t = new FsHarness({}, { identity: { pid: 7, uid: 0, gid: 0, groups: [0] } });
    try {
      t.call("mkdir", t.str("/t"), 0o755);
      t.call("chdir", t.str("/t"));
      expect(runOps(t)).toBe(native);
    } finally {
      t.dispose();
    }
  });

  it("a read-write hostfs mount gives the same results", () => {
    const host = join(dir, "hostfs");
    nfs.mkdirSync(host);
    const t = new FsHarness({ mounts: [{ path: "/h", host, writable: true }] });
    try {
      t.call("chdir", t.str("/h"));
      expect(runOps(t)).toBe(native);
    } finally {
      t.dispose();
    }
  });
});

const asRoot = process.getuid?.() === 0;
if (!asRoot) console.warn("fs-native: permission comparison skipped (needs root to switch to uid 1000 natively)");

describe.skipIf(!hasCc || !asRoot)("native Linux vs the libos: permissions as uid 1000", () => {
  it("tmpfs", () => {
    const t = new FsHarness({}, { identity: { pid: 7, uid: 0, gid: 0, groups: [0] } });
    try {
      t.call("mkdir", t.str("/u"), 0o777);
      t.call("chmod", t.str("/u"), 0o777);
      t.call("chdir", t.str("/u"));
      expect(runOps(t, USER_OPS)).toBe(nativeUser);
    } finally {
      t.dispose();
    }
  });
});

describe.skipIf(!hasCc)("struct layouts match the C headers", () => {
  it("struct stat, struct statx, linux_dirent64, struct pollfd", () => {
    const src = `#define _GNU_SOURCE
#include <stdio.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <linux/stat.h>
struct linux_dirent64 { unsigned long long d_ino; long long d_off; unsigned short d_reclen; unsigned char d_type; char d_name[256]; };
#define P(s, f) printf(#s "." #f " %zu %zu\\n", offsetof(struct s, f), sizeof(((struct s*)0)->f))
int main(void) {
  printf("stat %zu\\nstatx %zu\\n", sizeof(struct stat), sizeof(struct statx));
  P(stat, st_dev); P(stat, st_ino); P(stat, st_nlink); P(stat, st_mode); P(stat, st_uid); P(stat, st_gid);
  P(stat, st_rdev); P(stat, st_size); P(stat, st_blksize); P(stat, st_blocks); P(stat, st_atim); P(stat, st_mtim); P(stat, st_ctim);
  P(statx, stx_mask); P(statx, stx_blksize); P(statx, stx_nlink); P(statx, stx_uid); P(statx, stx_gid); P(statx, stx_mode);
  P(statx, stx_ino); P(statx, stx_size); P(statx, stx_blocks); P(statx, stx_atime); P(statx, stx_btime); P(statx, stx_ctime);
  P(statx, stx_mtime); P(statx, stx_rdev_major); P(statx, stx_rdev_minor); P(statx, stx_dev_major); P(statx, stx_dev_minor); P(statx, stx_mnt_id);
  P(linux_dirent64, d_ino); P(linux_dirent64, d_off); P(linux_dirent64, d_reclen); P(linux_dirent64, d_type); P(linux_dirent64, d_name);
  P(pollfd, fd); P(pollfd, events); P(pollfd, revents); printf("pollfd %zu\\n", sizeof(struct pollfd));
  return 0;
}
`;
    nfs.writeFileSync(join(dir, "layout.c"), src);
    execFileSync("cc", ["-o", join(dir, "layout"), join(dir, "layout.c")]);
    const lines = execFileSync(join(dir, "layout"), { encoding: "utf8" }).trim().split("\n");
    const c = new Map(
      lines.map((l) => {
        const [k, off, size] = l.split(" ");
        return [k, size === undefined ? [Number(off)] : [Number(off), Number(size)]] as const;
      }),
    );
    // Encode distinct values and read them back at the C offsets.
    const st = {
      dev: 0x0102,
      ino: 0x0304,
      nlink: 5,
      mode: 0o100644,
      uid: 1001,
      gid: 1002,
      rdev: 0x0506,
      size: 0x0708,
      blksize: 4096,
      blocks: 9,
      atimeSec: 11,
      atimeNsec: 12,
      mtimeSec: 13,
      mtimeNsec: 14,
      ctimeSec: 15,
      ctimeNsec: 16,
      btimeSec: 17,
      btimeNsec: 18,
    };
    expect(c.get("stat")?.[0]).toBe(144);
    const b = new Uint8Array(144);
    const dv = new DataView(b.buffer);
    encodeStat(st, dv);
    const at = (k: string) => c.get(k)?.[0] ?? -1;
    const u = (k: string) => {
      const [off, size] = c.get(k) ?? [-1, 0];
      return size === 8
        ? Number(dv.getBigUint64(off, true))
        : size === 4
          ? dv.getUint32(off, true)
          : dv.getUint16(off, true);
    };
    expect([
      u("stat.st_dev"),
      u("stat.st_ino"),
      u("stat.st_nlink"),
      u("stat.st_mode"),
      u("stat.st_uid"),
      u("stat.st_gid"),
    ]).toEqual([0x0102, 0x0304, 5, 0o100644, 1001, 1002]);
    expect([u("stat.st_rdev"), u("stat.st_size"), u("stat.st_blksize"), u("stat.st_blocks")]).toEqual([
      0x0506, 0x0708, 4096, 9,
    ]);
    expect(Number(dv.getBigInt64(at("stat.st_atim"), true))).toBe(11);
    expect(Number(dv.getBigInt64(at("stat.st_atim") + 8, true))).toBe(12);
    expect(Number(dv.getBigInt64(at("stat.st_mtim"), true))).toBe(13);
    expect(Number(dv.getBigInt64(at("stat.st_ctim") + 8, true))).toBe(16);

    expect(c.get("statx")?.[0]).toBe(256);
    const x = new Uint8Array(256);
    const xv = new DataView(x.buffer);
    encodeStatx(st, xv, 0, 3);
    const ux = (k: string) => {
      const [off, size] = c.get(k) ?? [-1, 0];
      return size === 8
        ? Number(xv.getBigUint64(off, true))
        : size === 4
          ? xv.getUint32(off, true)
          : xv.getUint16(off, true);
    };
    expect([
      ux("statx.stx_blksize"),
      ux("statx.stx_nlink"),
      ux("statx.stx_uid"),
      ux("statx.stx_gid"),
      ux("statx.stx_mode"),
    ]).toEqual([4096, 5, 1001, 1002, 0o100644]);
    expect([ux("statx.stx_ino"), ux("statx.stx_size"), ux("statx.stx_blocks"), ux("statx.stx_mnt_id")]).toEqual([
      0x0304, 0x0708, 9, 3,
    ]);
    expect([
      ux("statx.stx_dev_major"),
      ux("statx.stx_dev_minor"),
      ux("statx.stx_rdev_major"),
      ux("statx.stx_rdev_minor"),
    ]).toEqual([1, 2, 5, 6]);
    expect(Number(xv.getBigInt64(at("statx.stx_btime"), true))).toBe(17);
    expect(xv.getUint32(at("statx.stx_mtime") + 8, true)).toBe(14);
    expect(xv.getUint32(at("statx.stx_atime") + 8, true)).toBe(12);
    expect(ux("statx.stx_mask") & 0xfff).toBe(0x7ff | 0x800);

    const d = new Uint8Array(64);
    const [n] = packDirents([{ name: "abc", ino: 77, type: 0o040000 }], 0, d);
    const dd = new DataView(d.buffer);
    expect(n).toBe(24);
    expect(Number(dd.getBigUint64(at("linux_dirent64.d_ino"), true))).toBe(77);
    expect(Number(dd.getBigInt64(at("linux_dirent64.d_off"), true))).toBe(1);
    expect(dd.getUint16(at("linux_dirent64.d_reclen"), true)).toBe(24);
    expect(d[at("linux_dirent64.d_type")]).toBe(4);
    expect(
      Buffer.from(d.subarray(at("linux_dirent64.d_name"), at("linux_dirent64.d_name") + 4)).toString("latin1"),
    ).toBe("abc\0");
    expect([at("pollfd.fd"), at("pollfd.events"), at("pollfd.revents"), c.get("pollfd")?.[0]]).toEqual([0, 4, 6, 8]);
    void MEM_BASE;
  });
});
