/* Finding 5: empty files (and directories) in the root tmpfs until creation fails (up to argv[1]). */
#include "flood.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
  long max = argc > 1 ? atol(argv[1]) : 1000000;
  char name[64];
  long n = 0;
  for (; n < max; n++) {
    snprintf(name, sizeof name, "/f%ld-with-a-longer-name-for-its-entry", n);
    int fd = n % 8 == 7 ? mkdir(name, 0755) : open(name, O_CREAT | O_WRONLY | O_EXCL, 0644);
    if (fd < 0) break;
    if (n % 8 != 7) close(fd);
  }
  if (n == max) { printf("create no limit after %ld\n", n); return 1; }
  stopped("create", errno, n);
  return 0;
}
