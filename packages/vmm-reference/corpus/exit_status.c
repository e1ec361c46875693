/* exit(): atexit handlers run in reverse order, stdio is flushed, the status is kept. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static void first(void) { printf("atexit first-registered runs last\n"); }
static void second(void) { printf("atexit second-registered runs first\n"); }
int main(void) {
  atexit(first);
  atexit(second);
  printf("buffered output is flushed at exit");
  fprintf(stderr, "status 42\n");
  exit(42);
}
