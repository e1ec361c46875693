/*
 * Finding 5: a file unlinked while open keeps growing (its bytes used to be
 * returned to the quota at unlink, and its growth was not counted). Three
 * such files grow by 1 MiB writes until a write fails; argv[1] caps each (MiB).
 * After closing them the space is back: a new file takes a few MiB.
 */
#include "flood.h"
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv) {
  long max = argc > 1 ? atol(argv[1]) : 1000;
  static char buf[1 << 20];
  memset(buf, 'x', sizeof buf);
  int fds[3];
  long total = 0;
  int err = 0;
  for (int i = 0; i < 3; i++) {
    char name[32];
    snprintf(name, sizeof name, "/grow%d", i);
    fds[i] = open(name, O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (fds[i] < 0) { perror("open"); return 1; }
    if (unlink(name) != 0) { perror("unlink"); return 1; }
  }
  for (int i = 0; i < 3 && !err; i++) {
    for (long m = 0; m < max; m++) {
      long w = write(fds[i], buf, sizeof buf);
      if (w < 0) { err = errno; break; }
      total += w >> 20;
      if (w < (long)sizeof buf) { err = ENOSPC; break; } /* a short write: full */
    }
  }
  if (!err) { printf("write no limit after %ld MiB\n", total); return 1; }
  stopped("write", err, total);
  for (int i = 0; i < 3; i++) close(fds[i]);
  int fd = open("/after", O_CREAT | O_RDWR, 0600);
  long ok = 0;
  for (int m = 0; m < 4; m++) if (write(fd, buf, sizeof buf) == (long)sizeof buf) ok++;
  printf("after close: %ld MiB written\n", ok);
  return 0;
}
