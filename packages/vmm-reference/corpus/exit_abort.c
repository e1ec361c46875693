/* abort(): SIGABRT even when the program tries to block it; unflushed stdio is lost. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
int main(void) {
  sigset_t s;
  sigfillset(&s);
  sigprocmask(SIG_BLOCK, &s, NULL);
  fprintf(stderr, "aborting\n");
  printf("buffered and lost");
  abort();
}
