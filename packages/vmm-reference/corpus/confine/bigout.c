/* Finding 4: writes to stdout forever (the test gives it a pipe nobody reads and a --timeout). */
#include <string.h>
#include <unistd.h>

int main(void) {
  static char buf[65536];
  memset(buf, 'o', sizeof buf);
  for (;;) {
    if (write(1, buf, sizeof buf) < 0) return 1;
  }
}
