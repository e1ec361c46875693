/* Finding 3: symlinks with 4 KiB targets in the root tmpfs until symlink() fails (up to argv[1]). */
#include "flood.h"
#include <unistd.h>

int main(int argc, char **argv) {
  long max = argc > 1 ? atol(argv[1]) : 1000000;
  static char target[4096];
  memset(target, 'T', sizeof target - 1);
  char name[64];
  long n = 0;
  for (; n < max; n++) {
    snprintf(name, sizeof name, "/s%ld", n);
    target[0] = 'a' + n % 26; /* every target its own string */
    if (symlink(target, name) != 0) break;
  }
  if (n == max) { printf("symlink no limit after %ld\n", n); return 1; }
  stopped("symlink", errno, n);
  /* Removing some gives room back: the next symlink works again. */
  for (long i = 0; i < 16 && i < n; i++) {
    snprintf(name, sizeof name, "/s%ld", i);
    unlink(name);
  }
  printf("after unlink: %s\n", symlink(target, "/again") == 0 ? "symlink ok" : strerror(errno));
  return 0;
}
