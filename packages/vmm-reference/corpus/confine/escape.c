/*
 * Confinement (run only in the sandbox, with the prepared tree as a read-only
 * root, work/ mounted writable): every attempt to leave the root or write to
 * a read-only mount fails with Linux's errno. argv[1] is the host path of a
 * secret file outside the root. The test hashes the host tree before and after.
 */
#include "../check.h"
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

static const char decoy[] = "root:x:0:0:root:/root:/bin/sh\n";

/* Reads path and compares with the decoy /etc/passwd of the tree. */
static int is_decoy(const char *path) {
  char buf[256];
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  long n = read(fd, buf, sizeof buf);
  close(fd);
  return n == (long)strlen(decoy) && memcmp(buf, decoy, n) == 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return 99;
  const char *secret = argv[1]; /* a host path: it must not exist in here */
  struct stat st, root;
  char buf[PATH_MAX];
  CHECK_OK(stat("/", &root));

  /* ../ escapes: ".." of the root is the root. */
  CHECK_ERR(open("../SECRET", O_RDONLY), ENOENT);
  CHECK_ERR(open("/../SECRET", O_RDONLY), ENOENT);
  CHECK_ERR(open("../../../../../../../../SECRET", O_RDONLY), ENOENT);
  CHECK_ERR(open("data/../../SECRET", O_RDONLY), ENOENT);
  CHECK_ERR(open("data/sub/../../../../SECRET", O_RDONLY), ENOENT);
  CHECK_ERR(open(secret, O_RDONLY), ENOENT);
  CHECK_OK(stat("/..", &st));
  CHECK(st.st_ino == root.st_ino && st.st_dev == root.st_dev);
  CHECK_OK(stat("../../..", &st));
  CHECK(st.st_ino == root.st_ino);
  CHECK(is_decoy("../../etc/passwd"));
  CHECK_OK(chdir("../../.."));
  CHECK(getcwd(buf, sizeof buf) && strcmp(buf, "/") == 0);
  int rfd = open("/", O_RDONLY | O_DIRECTORY);
  CHECK_ERR(openat(rfd, "../SECRET", O_RDONLY), ENOENT);
  CHECK_OK(fstatat(rfd, "..", &st, 0));
  CHECK(st.st_ino == root.st_ino);
  CHECK_OK(fchdir(rfd));
  CHECK_OK(chdir(".."));
  CHECK(getcwd(buf, sizeof buf) && strcmp(buf, "/") == 0);

  /* Symbolic links prepared on the host that point out of the tree. */
  CHECK_ERR(open("data/abs-secret", O_RDONLY), ENOENT); /* -> the secret's host path */
  CHECK_ERR(open("data/rel-secret", O_RDONLY), ENOENT); /* -> ../../SECRET (the secret, seen from the host) */
  CHECK(is_decoy("data/abs-passwd"));                   /* -> /etc/passwd: the tree's */
  CHECK_ERR(open("data/hostetc/hostname", O_RDONLY), ENOENT); /* -> /etc (the tree's has no hostname) */
  CHECK_OK(stat("data/rel-root", &st));                 /* -> ../../../../.. : the root */
  CHECK(st.st_ino == root.st_ino);
  CHECK_ERR(open("data/rel-root/SECRET", O_RDONLY), ENOENT);
  CHECK(is_decoy("data/rel-root/etc/passwd"));
  long n = readlink("data/abs-secret", buf, sizeof buf - 1);
  CHECK(n > 0 && (buf[n] = 0, strcmp(buf, secret) == 0)); /* the link reads as written */
  /* Links made by the program in the writable mount. */
  CHECK_OK(symlink(secret, "work/esc-abs"));
  CHECK_OK(symlink("../../../../../../../SECRET", "work/esc-rel"));
  CHECK_OK(symlink("../../../../../../..", "work/up"));
  CHECK_ERR(open("work/esc-abs", O_RDONLY), ENOENT);
  CHECK_ERR(open("work/esc-rel", O_RDONLY), ENOENT);
  CHECK_ERR(open("work/esc-rel", O_RDWR | O_CREAT, 0644), EROFS); /* creating through it lands in the ro root */
  CHECK_ERR(open("work/up/SECRET", O_RDONLY), ENOENT);
  CHECK_OK(stat("work/up", &st));
  CHECK(st.st_ino == root.st_ino);
  CHECK_ERR(mkdir("work/up/made", 0755), EROFS);
  /* Hard links cannot cross mounts. */
  CHECK_ERR(link("data/hello.txt", "work/hard"), EXDEV);
  CHECK_ERR(rename("work/esc-abs", "data/esc"), EXDEV);

  /* /proc/self/root and other magic links stay inside. */
  n = readlink("/proc/self/root", buf, sizeof buf - 1);
  CHECK(n == 1 && buf[0] == '/');
  CHECK_ERR(open("/proc/self/root/../SECRET", O_RDONLY), ENOENT);
  CHECK(is_decoy("/proc/self/root/etc/passwd"));
  CHECK(is_decoy("/proc/self/root/../../etc/passwd"));
  CHECK_ERR(open("/proc/self/cwd/../../SECRET", O_RDONLY), ENOENT);
  CHECK_OK(stat("/proc/self/root/..", &st));
  CHECK(st.st_ino == root.st_ino);
  int dfd = open("data", O_RDONLY | O_DIRECTORY);
  snprintf(buf, sizeof buf, "/proc/self/fd/%d/../../SECRET", dfd);
  CHECK_ERR(open(buf, O_RDONLY), ENOENT);
  snprintf(buf, sizeof buf, "/proc/self/fd/%d/../etc/passwd", dfd);
  CHECK(is_decoy(buf));
  CHECK_ERR(open(secret + 1, O_RDONLY), ENOENT); /* the secret's path, relative */

  /* Pointers outside the program's memory. */
  CHECK_ERR(write(1, (void *)0x10, 8), EFAULT);
  CHECK_ERR(write(1, (void *)0x7ffffffff000ULL, 8), EFAULT);
  CHECK_ERR(write(1, (void *)0xffffffffff600000ULL, 8), EFAULT);
  CHECK_ERR(write(1, (void *)-1L, 8), EFAULT);
  int fd = open("data/big.bin", O_RDONLY);
  CHECK_ERR(read(fd, (void *)0x1000, 4096), EFAULT);
  CHECK_ERR(read(fd, (void *)0xffff800000000000ULL, 4096), EFAULT);
  struct iovec iov = {(void *)0x20000, 4096};
  CHECK_ERR(readv(fd, &iov, 1), EFAULT);
  CHECK_ERR(syscall(SYS_openat, AT_FDCWD, (void *)0xdead00000000ULL, O_RDONLY), EFAULT);
  CHECK_ERR(syscall(SYS_stat, "data/hello.txt", (void *)0x7fffffff0000ULL), EFAULT);
  CHECK_ERR(syscall(SYS_getcwd, (void *)0x30, 4096), EFAULT);
  CHECK_ERR(syscall(SYS_rt_sigaction, SIGUSR1, (void *)0x40, NULL, 8), EFAULT);
  close(fd);

  /* Writes to the read-only root. */
  CHECK_ERR(open("data/new", O_WRONLY | O_CREAT, 0644), EROFS);
  CHECK_ERR(open("data/hello.txt", O_WRONLY), EROFS);
  CHECK_ERR(open("data/hello.txt", O_RDWR), EROFS);
  CHECK_ERR(open("data/hello.txt", O_RDONLY | O_TRUNC), EROFS);
  CHECK_ERR(open("data/hello.txt", O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
  CHECK_ERR(mkdir("data/newdir", 0755), EROFS);
  CHECK_ERR(mkdir("data", 0755), EEXIST);
  CHECK_ERR(unlink("data/hello.txt"), EROFS);
  CHECK_ERR(rmdir("data/sub"), EROFS);
  CHECK_ERR(rename("data/hello.txt", "data/renamed"), EROFS);
  CHECK_ERR(link("data/hello.txt", "data/hard"), EROFS);
  CHECK_ERR(symlink("x", "data/sym"), EROFS);
  CHECK_ERR(chmod("data/hello.txt", 0777), EROFS);
  CHECK_ERR(truncate("data/hello.txt", 0), EROFS);
  CHECK_ERR(utimes("data/hello.txt", NULL), EROFS);
  CHECK_ERR(access("data/hello.txt", W_OK), EROFS);
  CHECK_OK(access("data/hello.txt", R_OK));
  fd = open("data/hello.txt", O_RDONLY);
  CHECK_ERR(write(fd, "x", 1), EBADF);
  CHECK_ERR(ftruncate(fd, 0), EINVAL);
  CHECK_ERR(fchmod(fd, 0777), EROFS);
  close(fd);
  /* The writable mount accepts writes. */
  fd = open("work/ok", O_WRONLY | O_CREAT, 0644);
  CHECK(fd >= 0);
  CHECK_EQ(write(fd, "written\n", 8), 8);
  close(fd);
  /* The writable mount's ".." is the read-only root. */
  CHECK_ERR(open("work/../made-from-work", O_WRONLY | O_CREAT, 0644), EROFS);
  DONE();
}
