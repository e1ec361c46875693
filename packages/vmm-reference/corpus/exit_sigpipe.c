/* Writing to a pipe without readers and no SIGPIPE handler: death by SIGPIPE (status 141). */
#include <stdio.h>
#include <unistd.h>
int main(void) {
  int p[2];
  if (pipe(p) != 0) return 1;
  close(p[0]);
  fprintf(stderr, "writing to a closed pipe\n");
  write(p[1], "x", 1);
  fprintf(stderr, "not reached\n");
  return 2;
}
