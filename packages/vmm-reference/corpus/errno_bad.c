/* errno values for bad calls: EBADF, ENOENT, EFAULT (bad pointers), EINVAL, ENAMETOOLONG, ENOSYS, ENOTTY ... */
#include "check.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BAD ((void *)0x10)
#define HIGH ((void *)0x7ffffffff000ULL)
#define KERNEL ((void *)0xffff800000000000ULL)

int main(void) {
  char buf[64];
  struct stat st;
  /* EBADF */
  CHECK_ERR(read(-1, buf, 1), EBADF);
  CHECK_ERR(read(1000, buf, 1), EBADF);
  CHECK_ERR(write(77, buf, 1), EBADF);
  CHECK_ERR(close(-5), EBADF);
  CHECK_ERR(syscall(SYS_fstat, 55, &st), EBADF);
  CHECK_ERR(lseek(55, 0, SEEK_SET), EBADF);
  CHECK_ERR(dup(55), EBADF);
  CHECK_ERR(fchdir(55), EBADF);
  CHECK_ERR(openat(55, "x", O_RDONLY), EBADF);
  /* ENOENT / ENOTDIR */
  CHECK_ERR(open("", O_RDONLY), ENOENT);
  CHECK_ERR(open("no/such/file", O_RDONLY), ENOENT);
  CHECK_ERR(stat("data/hello.txt/x", &st), ENOTDIR);
  CHECK_ERR(unlink("data/nothing"), ENOENT);
  /* EFAULT: pointers outside the address space */
  int fd = open("data/hello.txt", O_RDONLY);
  CHECK_ERR(read(fd, BAD, 10), EFAULT);
  CHECK_ERR(read(fd, HIGH, 10), EFAULT);
  CHECK_ERR(read(fd, KERNEL, 10), EFAULT);
  CHECK_ERR(pread(fd, BAD, 10, 0), EFAULT);
  CHECK_ERR(write(1, BAD, 10), EFAULT);
  CHECK_ERR(write(1, KERNEL, 1), EFAULT);
  CHECK_ERR(syscall(SYS_openat, AT_FDCWD, BAD, O_RDONLY), EFAULT);
  CHECK_ERR(syscall(SYS_open, KERNEL, O_RDONLY), EFAULT);
  CHECK_ERR(syscall(SYS_stat, BAD, &st), EFAULT);
  CHECK_ERR(syscall(SYS_stat, "data/hello.txt", BAD), EFAULT);
  CHECK_ERR(syscall(SYS_newfstatat, AT_FDCWD, "data/hello.txt", BAD, 0), EFAULT);
  CHECK_ERR(syscall(SYS_fstat, fd, KERNEL), EFAULT);
  CHECK_ERR(syscall(SYS_clock_gettime, CLOCK_REALTIME, BAD), EFAULT);
  CHECK_ERR(syscall(SYS_uname, BAD), EFAULT);
  CHECK_ERR(syscall(SYS_pipe2, BAD, 0), EFAULT);
  CHECK_ERR(syscall(SYS_getcwd, BAD, 100), EFAULT);
  CHECK_ERR(syscall(SYS_readlink, "data/link", BAD, 10), EFAULT);
  CHECK_ERR(syscall(SYS_getrandom, BAD, 16, 0), EFAULT);
  CHECK_ERR(syscall(SYS_poll, BAD, 1, 0), EFAULT);
  CHECK_ERR(syscall(SYS_nanosleep, BAD, NULL), EFAULT);
  struct iovec iov[2] = {{buf, 4}, {BAD, 4}};
  CHECK_ERR(writev(1, (struct iovec *)BAD, 1), EFAULT);
  CHECK_EQ(readv(fd, iov, 2), 4); /* a partial read stops at the bad buffer */
  /* A buffer that runs off the end of the address space. */
  CHECK_ERR(read(fd, (char *)0x7fffffffffffULL - 2, 10), EFAULT);
  /* EINVAL */
  CHECK_ERR(lseek(fd, 0, 7), EINVAL);
  CHECK_ERR(syscall(SYS_openat, AT_FDCWD, "data/hello.txt", O_RDONLY | O_CREAT | O_DIRECTORY, 0), EINVAL);
  CHECK_ERR(syscall(SYS_mmap, NULL, 0, 3, 0x22, -1, 0), EINVAL);
  CHECK_ERR(syscall(SYS_munmap, 1, 4096), EINVAL);
  CHECK_ERR(syscall(SYS_rt_sigprocmask, 0, NULL, NULL, 4), EINVAL);
  CHECK_ERR(syscall(SYS_fcntl, fd, 12345, 0), EINVAL);
  CHECK_ERR(syscall(SYS_getrandom, buf, 8, 0x1000), EINVAL);
  CHECK_ERR(syscall(SYS_poll, NULL, 1 << 30, 0), EINVAL);
  /* ENAMETOOLONG */
  static char longname[5000];
  memset(longname, 'a', 300);
  CHECK_ERR(open(longname, O_RDONLY), ENAMETOOLONG);
  memset(longname, 'a', 4999);
  CHECK_ERR(open(longname, O_RDONLY), ENAMETOOLONG);
  /* ENOTTY, ESPIPE, EISDIR */
  CHECK_ERR(syscall(SYS_ioctl, fd, 0x5401, buf), ENOTTY);
  CHECK_ERR(read(open("data", O_RDONLY), buf, 1), EISDIR);
  /* ENOSYS for a number beyond the table; the caller continues. */
  CHECK_ERR(syscall(100000), ENOSYS);
  CHECK_ERR(syscall(-1), ENOSYS);
  /* EEXIST, ENOTEMPTY, EXDEV-free rename, EMFILE */
  CHECK_ERR(mkdir("data", 0755), EEXIST);
  CHECK_ERR(rmdir("data"), ENOTEMPTY);
  CHECK_ERR(symlink("x", "data/link"), EEXIST);
  close(fd);
  DONE();
}
