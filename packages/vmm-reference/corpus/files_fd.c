/* File descriptors: dup, dup2, dup3, fcntl (F_GETFD/F_SETFD/F_GETFL/F_SETFL/F_DUPFD/F_DUPFD_CLOEXEC), shared offsets. */
#include "check.h"
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <termios.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
  char buf[16];
  int fd = open("data/hello.txt", O_RDONLY);
  CHECK_EQ(fd, 3);
  int d = dup(fd);
  CHECK_EQ(d, 4);
  CHECK_EQ(read(fd, buf, 6), 6);
  CHECK_EQ(lseek(d, 0, SEEK_CUR), 6);
  CHECK_EQ(dup2(fd, 10), 10);
  CHECK_EQ(lseek(10, 0, SEEK_CUR), 6);
  CHECK_EQ(dup2(fd, fd), fd);
  CHECK_ERR(dup2(99, 11), EBADF);
  CHECK_ERR(dup2(fd, -1), EBADF);
  CHECK_ERR(dup3(fd, fd, 0), EINVAL);
  CHECK_ERR(syscall(SYS_dup3, fd, 12, 0x1234), EINVAL);
  CHECK_EQ(dup3(fd, 12, O_CLOEXEC), 12);
  CHECK_EQ(fcntl(12, F_GETFD), FD_CLOEXEC);
  CHECK_EQ(fcntl(10, F_GETFD), 0);
  CHECK_OK(fcntl(10, F_SETFD, FD_CLOEXEC));
  CHECK_EQ(fcntl(10, F_GETFD), FD_CLOEXEC);
  CHECK_EQ(fcntl(fd, F_GETFD), 0);
  CHECK_EQ(fcntl(fd, F_DUPFD, 7), 7);
  CHECK_EQ(fcntl(fd, F_DUPFD, 7), 8);
  CHECK_EQ(fcntl(fd, F_DUPFD_CLOEXEC, 0), 5);
  CHECK_EQ(fcntl(5, F_GETFD), FD_CLOEXEC);
  CHECK_ERR(fcntl(fd, F_DUPFD, -1), EINVAL);
  CHECK_ERR(fcntl(fd, F_DUPFD, 1 << 30), EINVAL);
  CHECK_EQ(fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND | O_NONBLOCK), O_RDONLY);
  CHECK_OK(fcntl(fd, F_SETFL, O_NONBLOCK | O_APPEND));
  CHECK_EQ(fcntl(d, F_GETFL) & (O_ACCMODE | O_APPEND | O_NONBLOCK), O_RDONLY | O_NONBLOCK | O_APPEND);
  CHECK_ERR(fcntl(99, F_GETFL), EBADF);
  CHECK_ERR(fcntl(fd, 9999), EINVAL);
  /* The lowest free descriptor is reused. */
  CHECK_OK(close(4));
  CHECK_EQ(dup(fd), 4);
  /* RLIMIT_NOFILE bounds descriptors. */
  struct rlimit rl;
  CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
  CHECK_ERR(dup2(fd, (int)rl.rlim_cur), EBADF);
  CHECK_ERR(fcntl(fd, F_DUPFD, (int)rl.rlim_cur), EINVAL);
  /* ioctl: not a terminal */
  struct termios t;
  CHECK_ERR(ioctl(fd, TCGETS, &t), ENOTTY);
  CHECK_EQ(isatty(fd), 0);
  CHECK_EQ(isatty(1), 0);
  CHECK_ERR(ioctl(99, TCGETS, &t), EBADF);
  struct winsize ws;
  CHECK_ERR(ioctl(fd, TIOCGWINSZ, &ws), ENOTTY);
  for (int i = 3; i < 13; i++) close(i);
  CHECK_EQ(open("data/hello.txt", O_RDONLY), 3);
  DONE();
}
