/* Finding 4: reads stdin (the test gives it a pipe that never gets data and a --timeout). */
#include <stdio.h>
#include <unistd.h>

int main(void) {
  char buf[256];
  long n = read(0, buf, sizeof buf);
  printf("read returned %ld\n", n);
  return 0;
}
