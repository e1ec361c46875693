/* Shared by the benchmark workloads: a monotonic clock in nanoseconds and a
 * result line the benchmark parses (key=value, one per line, on stdout). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static inline long arg_long(int argc, char **argv, int i, long dflt) {
  return argc > i ? strtol(argv[i], 0, 0) : dflt;
}
