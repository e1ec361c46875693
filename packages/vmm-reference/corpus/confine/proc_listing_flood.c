/*
 * Open listings of /proc/self/fd (up to argv[1] of them, RLIMIT_NOFILE raised
 * to its hard limit first): the first getdents of each description takes a
 * snapshot of the listing, which has one entry per open fd, so n descriptions
 * hold n*n entries of host memory. Before, procfs's snapshots (and its file
 * texts) were charged to nothing: 2000 of them took 300 MB with --memory 16M.
 * Now the snapshot that does not fit fails with ENOMEM, as Linux's getdents
 * does when it cannot allocate.
 */
#include "flood.h"
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
  long max = argc > 1 ? atol(argv[1]) : 4000;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  static int fds[1 << 16];
  long held = 0;
  if (max > (long)(sizeof fds / sizeof fds[0])) max = sizeof fds / sizeof fds[0];
  for (; held < max; held++) {
    int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
    if (fd < 0) break;
    fds[held] = fd;
  }
  printf("open listings %ld\n", held);
  char buf[64];
  for (long i = 0; i < held; i++) {
    if (syscall(SYS_getdents64, fds[i], buf, sizeof buf) < 0) {
      stopped("getdents", errno, i);
      /* What was refused is still usable once snapshots go. */
      for (long j = 0; j < i; j++) close(fds[j]);
      printf("after close: getdents %s\n", syscall(SYS_getdents64, fds[i], buf, sizeof buf) > 0 ? "ok" : "failed");
      return 0;
    }
  }
  printf("getdents never refused\n");
  return 0;
}
