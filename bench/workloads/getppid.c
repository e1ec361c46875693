/* getppid loop: the cost of one system call that does no work.
 * usage: getppid [iterations]   prints ns_per_call=... */
#include <sys/syscall.h>
#include <unistd.h>
#include "common.h"

int main(int argc, char **argv) {
  long n = arg_long(argc, argv, 1, 200000);
  long warm = n / 10 + 1, sum = 0;
  for (long i = 0; i < warm; i++) sum += syscall(SYS_getppid);
  double t0 = now_ns();
  for (long i = 0; i < n; i++) sum += syscall(SYS_getppid);
  double t1 = now_ns();
  printf("iterations=%ld\nns_per_call=%.2f\nchecksum=%ld\n", n, (t1 - t0) / n, sum);
  return 0;
}
