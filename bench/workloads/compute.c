/* Compute-bound loop (no system calls inside the timed part): a xorshift
 * chain, each step depending on the previous one.
 * usage: compute [iterations]   prints ns_per_iteration=... */
#include "common.h"

int main(int argc, char **argv) {
  long n = arg_long(argc, argv, 1, 200000000);
  uint64_t x = 88172645463325252ull ^ (uint64_t)argc;
  double t0 = now_ns();
  for (long i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x = x * 0x2545F4914F6CDD1Dull + (uint64_t)i;
  }
  double t1 = now_ns();
  printf("iterations=%ld\nns_per_iteration=%.4f\nchecksum=%llu\n", n, (t1 - t0) / n, (unsigned long long)x);
  return 0;
}
