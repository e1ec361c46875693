/* open/read/close loop on a small file: three system calls that reach the
 * file system. usage: openread PATH [iterations]   prints ns_per_iteration=... */
#include <fcntl.h>
#include <unistd.h>
#include "common.h"

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: openread PATH [iterations]\n"); return 2; }
  long n = arg_long(argc, argv, 2, 20000);
  static char buf[4096];
  long total = 0;
  long warm = n / 10 + 1;
  double t0 = 0;
  for (long i = 0; i < warm + n; i++) {
    if (i == warm) t0 = now_ns();
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) { perror("open"); return 1; }
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0) { perror("read"); return 1; }
    total += r;
    close(fd);
  }
  double t1 = now_ns();
  printf("iterations=%ld\nns_per_iteration=%.2f\nsyscalls_per_iteration=3\nbytes_per_iteration=%ld\n", n,
         (t1 - t0) / n, total / (warm + n));
  return 0;
}
