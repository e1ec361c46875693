/* Death by a signal with no handler: SIGSEGV from a null write; output flushed before is kept. */
#include <stdio.h>
#include <unistd.h>
int main(void) {
  printf("before the fault\n");
  fflush(stdout);
  write(2, "to stderr\n", 10);
  *(volatile int *)0 = 1;
  printf("not reached\n");
  return 0;
}
