/* Files: stat/lstat/fstat/fstatat/statx, chmod/fchmod, utimensat, umask, access/faccessat. */
#include "check.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* struct statx from <linux/stat.h> (musl's headers may lack it). */
struct kstatx_ts {
  int64_t tv_sec;
  uint32_t tv_nsec;
  int32_t pad;
};
struct kstatx {
  uint32_t stx_mask, stx_blksize;
  uint64_t stx_attributes;
  uint32_t stx_nlink, stx_uid, stx_gid;
  uint16_t stx_mode, pad1;
  uint64_t stx_ino, stx_size, stx_blocks, stx_attributes_mask;
  struct kstatx_ts stx_atime, stx_btime, stx_ctime, stx_mtime;
  uint32_t stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor;
  uint64_t spare[14];
};
#define KSTATX_TYPE 1u
#define KSTATX_BASIC_STATS 0x7ffu
#define statx(d, p, f, m, b) syscall(SYS_statx, d, p, f, m, b)

int main(void) {
  struct stat st, st2;
  CHECK_OK(stat("data/hello.txt", &st));
  CHECK(S_ISREG(st.st_mode));
  CHECK_EQ(st.st_size, 32);
  CHECK_EQ(st.st_nlink, 1);
  CHECK_EQ(st.st_mtim.tv_sec, 1704164645);
  CHECK(st.st_blksize > 0);
  CHECK(st.st_ino != 0);
  CHECK_OK(lstat("data/link", &st2));
  CHECK(S_ISLNK(st2.st_mode));
  CHECK_EQ(st2.st_size, 9);
  CHECK_OK(stat("data/link", &st2));
  CHECK(S_ISREG(st2.st_mode));
  CHECK(st2.st_ino == st.st_ino && st2.st_dev == st.st_dev);
  CHECK_OK(stat("data/sub", &st));
  CHECK(S_ISDIR(st.st_mode));
  CHECK_OK(stat("data/sub/", &st));
  CHECK_ERR(stat("data/hello.txt/", &st), ENOTDIR);
  CHECK_ERR(stat("data/dangling", &st), ENOENT);
  CHECK_OK(lstat("data/dangling", &st));
  CHECK_ERR(stat("", &st), ENOENT);
  int dfd = open("data", O_RDONLY | O_DIRECTORY);
  CHECK_OK(fstatat(dfd, "link", &st, AT_SYMLINK_NOFOLLOW));
  CHECK(S_ISLNK(st.st_mode));
  CHECK_OK(fstatat(dfd, "", &st, AT_EMPTY_PATH));
  CHECK(S_ISDIR(st.st_mode));
  CHECK_ERR(fstatat(dfd, "", &st, 0), ENOENT);
  CHECK_ERR(fstatat(99, "x", &st, 0), EBADF);
  CHECK_OK(fstatat(99, "/", &st, 0));
  int fd = open("data/hello.txt", O_RDONLY);
  CHECK_ERR(fstatat(fd, "x", &st, 0), ENOTDIR);
  CHECK_OK(fstat(fd, &st));
  CHECK_EQ(st.st_size, 32);
  close(fd);

  struct kstatx sx;
  CHECK_OK(statx(dfd, "hello.txt", 0, KSTATX_BASIC_STATS, &sx));
  CHECK((sx.stx_mask & KSTATX_BASIC_STATS) == KSTATX_BASIC_STATS);
  CHECK_EQ(sx.stx_size, 32);
  CHECK(S_ISREG(sx.stx_mode));
  CHECK_EQ(sx.stx_mtime.tv_sec, 1704164645);
  CHECK_OK(statx(dfd, "link", AT_SYMLINK_NOFOLLOW, KSTATX_TYPE, &sx));
  CHECK(S_ISLNK(sx.stx_mode));
  CHECK_ERR(statx(dfd, "hello.txt", 0x80000000, KSTATX_BASIC_STATS, &sx), EINVAL);
  CHECK_ERR(statx(dfd, "nothing", 0, KSTATX_BASIC_STATS, &sx), ENOENT);

  /* umask and modes */
  mode_t old = umask(022);
  (void)old;
  CHECK_EQ(umask(027), 022);
  fd = open("scratch/m", O_CREAT | O_WRONLY, 0777);
  CHECK_OK(fstat(fd, &st));
  CHECK_EQ(st.st_mode & 07777, 0750);
  CHECK_OK(fchmod(fd, 0604));
  CHECK_OK(fstat(fd, &st));
  CHECK_EQ(st.st_mode & 07777, 0604);
  CHECK_OK(chmod("scratch/m", 0640));
  CHECK_OK(stat("scratch/m", &st));
  CHECK_EQ(st.st_mode & 07777, 0640);
  CHECK_OK(fchmodat(AT_FDCWD, "scratch/m", 0600, 0));
  CHECK_OK(stat("scratch/m", &st));
  CHECK_EQ(st.st_mode & 07777, 0600);
  CHECK_ERR(chmod("scratch/none", 0600), ENOENT);
  umask(022);
  CHECK_OK(mkdir("scratch/d", 0777));
  CHECK_OK(stat("scratch/d", &st));
  CHECK_EQ(st.st_mode & 07777, 0755);

  /* utimensat: explicit times, UTIME_OMIT, UTIME_NOW */
  struct timespec ts[2] = {{1000000000, 5}, {1100000000, 123456789}};
  CHECK_OK(utimensat(AT_FDCWD, "scratch/m", ts, 0));
  CHECK_OK(stat("scratch/m", &st));
  CHECK_EQ(st.st_atim.tv_sec, 1000000000);
  CHECK_EQ(st.st_mtim.tv_sec, 1100000000);
  CHECK_EQ(st.st_mtim.tv_nsec, 123456789);
  struct timespec omit[2] = {{0, UTIME_OMIT}, {7, 0}};
  CHECK_OK(utimensat(AT_FDCWD, "scratch/m", omit, 0));
  CHECK_OK(stat("scratch/m", &st));
  CHECK_EQ(st.st_atim.tv_sec, 1000000000);
  CHECK_EQ(st.st_mtim.tv_sec, 7);
  CHECK_OK(utimensat(AT_FDCWD, "scratch/m", NULL, 0));
  CHECK_OK(stat("scratch/m", &st));
  CHECK(st.st_mtim.tv_sec > 1600000000);
  CHECK_OK(futimens(fd, ts));
  CHECK_OK(fstat(fd, &st));
  CHECK_EQ(st.st_mtim.tv_sec, 1100000000);
  struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
  CHECK_ERR(utimensat(AT_FDCWD, "scratch/m", bad, 0), EINVAL);
  close(fd);

  /* access / faccessat */
  CHECK_OK(access("data/hello.txt", R_OK));
  CHECK_OK(access("data", X_OK));
  CHECK_OK(access("data/hello.txt", F_OK));
  CHECK_ERR(access("data/nothing", F_OK), ENOENT);
  CHECK_ERR(access("data/hello.txt", X_OK), EACCES);
  CHECK_ERR(access("data/hello.txt", 0100), EINVAL);
  CHECK_OK(faccessat(dfd, "sub/n.txt", R_OK, 0));
  CHECK_OK(faccessat(dfd, "dangling", F_OK, AT_SYMLINK_NOFOLLOW));
  CHECK_ERR(faccessat(dfd, "dangling", F_OK, 0), ENOENT);

  CHECK_OK(unlink("scratch/m"));
  CHECK_OK(rmdir("scratch/d"));
  close(dfd);
  DONE();
}
