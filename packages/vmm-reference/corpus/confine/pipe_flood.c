/*
 * Finding 5: pipes grown to 1 MiB with F_SETPIPE_SZ (up to argv[1] of them,
 * RLIMIT_NOFILE raised to its hard limit first). Linux refuses a growth it
 * cannot take (ENOMEM, or EPERM past the per-user limit) and a pipe it cannot
 * make (ENFILE); the count of 1 MiB pipes is what the budget allowed. Each
 * pipe is filled, so its buffer is resident host memory.
 */
#include "flood.h"
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv) {
  long max = argc > 1 ? atol(argv[1]) : 2046;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  static char fill[65536];
  memset(fill, 'p', sizeof fill);
  long big = 0, made = 0;
  int setsz_err = 0, pipe_err = 0;
  for (long i = 0; i < max; i++) {
    int p[2];
    if (pipe2(p, O_NONBLOCK) != 0) { pipe_err = errno; break; }
    made++;
    if (fcntl(p[1], F_SETPIPE_SZ, 1 << 20) >= 0) big++;
    else if (!setsz_err) setsz_err = errno;
    /* Fill it: the buffer is host memory now, not just a size. */
    while (write(p[1], fill, sizeof fill) > 0) {}
  }
  printf("pipes made %ld, grown to 1 MiB %ld\n", made, big);
  if (setsz_err) stopped("F_SETPIPE_SZ", setsz_err, big);
  else printf("F_SETPIPE_SZ never refused\n");
  if (pipe_err) stopped("pipe", pipe_err, made);
  else printf("pipe never refused\n");
  return 0;
}
