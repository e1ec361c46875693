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
