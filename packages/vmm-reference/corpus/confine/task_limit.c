/*
 * Confinement, finding 6 (a task limit): creates up to argv[1] threads
 * (default 5000, 64 KiB stacks) that all wait on one futex, until
 * pthread_create fails. Prints "created=N error=E" (E: the errno name), holds
 * the threads for argv[2] ms (default 1000, so the host side can count them),
 * then wakes and joins them all and prints "joined=N".
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int go;

static void *worker(void *unused) {
  (void)unused;
  while (!__atomic_load_n(&go, __ATOMIC_SEQ_CST)) syscall(SYS_futex, &go, 0 /* FUTEX_WAIT */, 0, NULL, NULL, 0);
  return NULL;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 5000;
  int hold = argc > 2 ? atoi(argv[2]) : 1000;
  pthread_t *t = calloc(n, sizeof *t);
  if (!t) return 2;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setstacksize(&a, 64 << 10);
  int created = 0, err = 0;
  while (created < n) {
    err = pthread_create(&t[created], &a, worker, NULL);
    if (err != 0) break;
    created++;
  }
  printf("created=%d error=%s\n", created, err == 0 ? "none" : err == EAGAIN ? "EAGAIN" : strerror(err));
  fflush(stdout);
  struct timespec ts = {hold / 1000, (hold % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  __atomic_store_n(&go, 1, __ATOMIC_SEQ_CST);
  syscall(SYS_futex, &go, 1 /* FUTEX_WAKE */, INT_MAX, NULL, NULL, 0);
  int joined = 0;
  for (int i = 0; i < created; i++) joined += pthread_join(t[i], NULL) == 0;
  printf("joined=%d\n", joined);
  return 0;
}
