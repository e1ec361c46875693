/* Threads (pthread_create/join, mutexes, condition variables, semaphores,
 * thread-local storage, sleeping threads) with deterministic output. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter;
static int turn, rounds;
static __thread long tls = 7;
static sem_t sem;

static void *worker(void *arg) {
  long id = (long)arg;
  tls = id;
  for (int i = 0; i < 2000; i++) {
    pthread_mutex_lock(&mu);
    counter++;
    pthread_mutex_unlock(&mu);
    if (i % 256 == 0) sched_yield();
  }
  int own_tid = syscall(SYS_gettid) != getpid();
  return (void *)(tls * 100 + own_tid);
}

static void *ponger(void *arg) {
  (void)arg;
  for (int i = 0; i < 100; i++) {
    pthread_mutex_lock(&mu);
    while (turn != 1) pthread_cond_wait(&cv, &mu);
    turn = 0;
    rounds++;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
  }
  return NULL;
}

static void *sleeper(void *arg) {
  (void)arg;
  struct timespec d = {0, 20 * 1000 * 1000};
  nanosleep(&d, NULL);
  sem_post(&sem);
  return NULL;
}

/* A bounded queue: 4 producers, 4 consumers, condition variables both ways. */
enum { QCAP = 8, ITEMS = 500 };
static int queue[QCAP], qhead, qlen;
static long consumed_sum;
static int consumed;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t barrier;

static void *producer(void *arg) {
  long base = (long)arg * ITEMS;
  pthread_barrier_wait(&barrier);
  for (int i = 0; i < ITEMS; i++) {
    pthread_mutex_lock(&mu);
    while (qlen == QCAP) pthread_cond_wait(&not_full, &mu);
    queue[(qhead + qlen++) % QCAP] = (int)(base + i);
    pthread_cond_signal(&not_empty);
    pthread_mutex_unlock(&mu);
  }
  return NULL;
}

static void *consumer(void *arg) {
  (void)arg;
  pthread_barrier_wait(&barrier);
  for (;;) {
    pthread_mutex_lock(&mu);
    while (qlen == 0 && consumed < 4 * ITEMS) pthread_cond_wait(&not_empty, &mu);
    if (consumed == 4 * ITEMS) {
      pthread_cond_broadcast(&not_empty);
      pthread_mutex_unlock(&mu);
      return NULL;
    }
    int v = queue[qhead];
    qhead = (qhead + 1) % QCAP;
    qlen--;
    consumed++;
    consumed_sum += v;
    if (consumed == 4 * ITEMS) pthread_cond_broadcast(&not_empty);
    pthread_cond_signal(&not_full);
    pthread_mutex_unlock(&mu);
  }
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  pthread_t t[4];
  for (long i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, (void *)(i + 1));
  long sum = 0;
  for (int i = 0; i < 4; i++) {
    void *r;
    pthread_join(t[i], &r);
    sum += (long)r;
  }
  printf("counter=%ld joined_sum=%ld main_tls=%ld\n", counter, sum, tls);

  pthread_t p;
  pthread_create(&p, NULL, ponger, NULL);
  for (int i = 0; i < 100; i++) {
    pthread_mutex_lock(&mu);
    turn = 1;
    pthread_cond_signal(&cv);
    while (turn != 0) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
  }
  pthread_join(p, NULL);
  printf("pingpong rounds=%d\n", rounds);

  sem_init(&sem, 0, 0);
  pthread_t s;
  pthread_create(&s, NULL, sleeper, NULL);
  sem_wait(&sem);
  pthread_join(s, NULL);
  printf("semaphore ok\n");

  pthread_t pc[8];
  pthread_barrier_init(&barrier, NULL, 8);
  for (long i = 0; i < 8; i++) {
    if (pthread_create(&pc[i], NULL, i < 4 ? producer : consumer, (void *)i) != 0) {
      printf("pthread_create failed\n");
      return 2;
    }
  }
  for (int i = 0; i < 8; i++) pthread_join(pc[i], NULL);
  printf("queue consumed=%d sum=%ld\n", consumed, consumed_sum);

  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += 10 * 1000 * 1000;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&mu);
  int r = pthread_cond_timedwait(&cv, &mu, &ts);
  pthread_mutex_unlock(&mu);
  printf("timedwait timedout=%d\n", r != 0);
  return 0;
}
