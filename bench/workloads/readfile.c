/* Reads a file to its end with read(2) into one buffer.
 * usage: readfile PATH [buffer_bytes]   prints bytes=... ns=... mib_per_s=... */
#include <fcntl.h>
#include <unistd.h>
#include "common.h"

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: readfile PATH [buffer_bytes]\n"); return 2; }
  long size = arg_long(argc, argv, 2, 1 << 20);
  char *buf = malloc(size);
  if (!buf) { perror("malloc"); return 1; }
  double t0 = now_ns();
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) { perror("open"); return 1; }
  long total = 0, calls = 0;
  unsigned sum = 0;
  for (;;) {
    ssize_t r = read(fd, buf, size);
    calls++;
    if (r < 0) { perror("read"); return 1; }
    if (r == 0) break;
    sum += (unsigned char)buf[r - 1];
    total += r;
  }
  close(fd);
  double t1 = now_ns();
  printf("bytes=%ld\nreads=%ld\nns=%.0f\nmib_per_s=%.1f\nchecksum=%u\n", total, calls, t1 - t0,
         total / 1048576.0 / ((t1 - t0) / 1e9), sum);
  return 0;
}
