/*
 * Confinement (finding 6's counterpart): creates and joins argv[1] threads
 * (default 20000) one after the other. Live tasks never exceed two, so the
 * task limit never applies; what the host holds for the threads that ended
 * must not grow with their number. Prints "done N".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *worker(void *a) { return a; }

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20000;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setstacksize(&a, 64 << 10);
  for (int i = 0; i < n; i++) {
    pthread_t t;
    int e = pthread_create(&t, &a, worker, NULL);
    if (e != 0) {
      printf("pthread_create failed at %d: %d\n", i, e);
      return 1;
    }
    pthread_join(t, NULL);
  }
  printf("done %d\n", n);
  return 0;
}
