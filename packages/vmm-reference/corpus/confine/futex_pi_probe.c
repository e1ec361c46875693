/*
 * Confinement, finding 7 (host task enumeration): FUTEX_TRYLOCK_PI and
 * FUTEX_LOCK_PI on a futex word holding tid T make the kernel look T up in
 * the caller's pid namespace: ESRCH (no such task), EPERM (a kernel thread),
 * EAGAIN/EWOULDBLOCK or ETIMEDOUT (a live task) tell which tasks exist. The
 * program probes T = 1..argv[1] (default 4096) and prints, in tid order,
 * every tid other than its own whose result differs from that of a tid no
 * pid namespace has (0x3ffffff0 > PID_MAX_LIMIT), as "tid=T op=OP errno=E";
 * then "probed=N". In a pid namespace of its own that list is empty.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define FUTEX_LOCK_PI 6
#define FUTEX_TRYLOCK_PI 8
#define NOBODY 0x3ffffff0

static uint32_t word;

static int probe(int op, uint32_t tid) {
  word = tid;
  /* LOCK_PI's timeout is absolute on CLOCK_REALTIME: now, so a live owner gives ETIMEDOUT at once. */
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  long r = syscall(SYS_futex, &word, op, 0, op == FUTEX_LOCK_PI ? &now : NULL, NULL, 0);
  if (r == 0) {
    word = 0; /* acquired (tid 0 bits): nothing to give back for a probe */
    return 0;
  }
  return errno;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 4096;
  uint32_t self = (uint32_t)syscall(SYS_gettid);
  int ops[2] = {FUTEX_TRYLOCK_PI, FUTEX_LOCK_PI};
  const char *names[2] = {"TRYLOCK_PI", "LOCK_PI"};
  for (int o = 0; o < 2; o++) {
    int ref = probe(ops[o], NOBODY);
    int limit = ops[o] == FUTEX_LOCK_PI ? (n < 256 ? n : 256) : n;
    for (int t = 1; t <= limit; t++) {
      if ((uint32_t)t == self) continue;
      int e = probe(ops[o], t);
      if (e != ref) printf("tid=%d op=%s errno=%d\n", t, names[o], e);
    }
  }
  printf("probed=%d\n", n);
  return 0;
}
