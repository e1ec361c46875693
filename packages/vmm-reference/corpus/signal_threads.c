/*
 * Process-directed signals with several threads: the signal goes to a thread
 * that does not block it and wakes it from its wait while another thread runs
 * (pause beside a spinning thread, rt_sigsuspend in a second thread, futex
 * waits ended by a handler's wake). Every check is the same whichever thread
 * Linux is free to choose.
 */
#include "check.h"
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

/* From <linux/futex.h> (musl-gcc has no kernel headers). */
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129

static long futex(volatile uint32_t *uaddr, int op, uint32_t val) {
  return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0);
}

static void on(int sig, void (*h)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = h;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

static void mask(int how, int sig) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, sig);
  pthread_sigmask(how, &s, NULL);
}

static int blocked(int sig) {
  sigset_t s;
  pthread_sigmask(SIG_BLOCK, NULL, &s);
  return sigismember(&s, sig);
}

/* ---- pause in main while another thread spins ---- */

static pthread_t main_thread;
static volatile sig_atomic_t alrm_count, alrm_in_main, nudged;
static volatile int stop;

static void on_alrm(int sig) {
  (void)sig;
  alrm_count++;
  if (pthread_equal(pthread_self(), main_thread)) alrm_in_main = 1;
}
static void on_nudge(int sig) { (void)sig; }

static void *spinner(void *arg) {
  int block_all = *(int *)arg;
  if (block_all) {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
  }
  unsigned long n = 0;
  while (!stop) {
    if ((++n & 4095) == 0) sched_yield();
    /* Where the spinner does not block SIGALRM Linux may run its handler here;
       then main's pause still waits, and the spinner ends it with SIGUSR2. */
    if (alrm_count != 0 && !alrm_in_main && !nudged) {
      nudged = 1;
      pthread_kill(main_thread, SIGUSR2);
    }
  }
  return NULL;
}

static void pause_beside_spinner(int block_all) {
  alrm_count = alrm_in_main = nudged = 0;
  stop = 0;
  on(SIGALRM, on_alrm);
  on(SIGUSR2, on_nudge);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, spinner, &block_all), 0);
  struct itimerval it = {{0, 0}, {0, 50000}};
  CHECK_OK(setitimer(ITIMER_REAL, &it, NULL));
  errno = 0;
  int r = pause();
  int e = errno;
  CHECK_EQ(r, -1);
  CHECK_EQ(e, EINTR);
  CHECK_EQ(alrm_count, 1);
  if (block_all) CHECK(alrm_in_main); /* the only thread that takes it */
  stop = 1;
  CHECK_EQ(pthread_join(th, NULL), 0);
  on(SIGALRM, SIG_DFL);
  on(SIGUSR2, SIG_DFL);
}

/* ---- kill(getpid()) while another thread waits in rt_sigsuspend ---- */

static volatile sig_atomic_t usr1_count, usr1_in_sleeper;
static int sleeper_ret, sleeper_errno, sleeper_masked_after;

static void on_usr1(int sig) {
  (void)sig;
  usr1_count++;
  if (!pthread_equal(pthread_self(), main_thread)) usr1_in_sleeper = 1;
}

static void *sleeper(void *arg) {
  (void)arg;
  sigset_t none;
  sigemptyset(&none);
  errno = 0;
  sleeper_ret = sigsuspend(&none); /* SIGUSR1 is unblocked only here */
  sleeper_errno = errno;
  sleeper_masked_after = blocked(SIGUSR1);
  return NULL;
}

static void kill_while_sigsuspend(void) {
  on(SIGUSR1, on_usr1);
  mask(SIG_BLOCK, SIGUSR1); /* the sleeper inherits it */
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, sleeper, NULL), 0);
  CHECK_OK(kill(getpid(), SIGUSR1));
  CHECK_EQ(pthread_join(th, NULL), 0);
  CHECK_EQ(sleeper_ret, -1);
  CHECK_EQ(sleeper_errno, EINTR);
  CHECK_EQ(usr1_count, 1);
  CHECK(usr1_in_sleeper);
  CHECK(sleeper_masked_after); /* sigsuspend's mask ended with the handler */
  CHECK(blocked(SIGUSR1));
  sigset_t p;
  sigpending(&p);
  CHECK(!sigismember(&p, SIGUSR1));
  mask(SIG_UNBLOCK, SIGUSR1);
  on(SIGUSR1, SIG_DFL);
}

/* ---- a futex wait ended by a process signal's handler ---- */

static volatile uint32_t word;
static volatile sig_atomic_t wake_count, wake_in_waiter, wake_in_main;
static int waiter_saw;

static void on_wake(int sig) {
  (void)sig;
  wake_count++;
  /* Not "== waiter_self": the handler may run before the thread's start routine does. */
  if (pthread_equal(pthread_self(), main_thread)) wake_in_main = 1;
  else wake_in_waiter = 1;
  word = 1;
  futex(&word, FUTEX_WAKE_PRIVATE, 1);
}

static void *waiter(void *arg) {
  int block_sig = *(int *)arg;
  if (block_sig) mask(SIG_BLOCK, block_sig);
  while (word == 0) futex(&word, FUTEX_WAIT_PRIVATE, 0); /* EINTR or a wake: look again */
  waiter_saw = (int)word;
  return NULL;
}

/* The waiter alone takes SIGUSR2 (main blocks it): the handler runs in the waiter and ends its wait. */
static void futex_waiter_takes_kill(void) {
  word = 0;
  wake_count = wake_in_waiter = wake_in_main = 0;
  waiter_saw = 0;
  on(SIGUSR2, on_wake);
  int none = 0;
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, waiter, &none), 0);
  mask(SIG_BLOCK, SIGUSR2);
  CHECK_OK(kill(getpid(), SIGUSR2));
  CHECK_EQ(pthread_join(th, NULL), 0);
  CHECK_EQ(waiter_saw, 1);
  CHECK_EQ(wake_count, 1);
  CHECK(wake_in_waiter);
  mask(SIG_UNBLOCK, SIGUSR2);
  on(SIGUSR2, SIG_DFL);
}

/* The waiter blocks SIGALRM: the timer's signal interrupts main's pthread_join, whose handler wakes the waiter. */
static void futex_woken_by_main_handler(void) {
  word = 0;
  wake_count = wake_in_waiter = wake_in_main = 0;
  waiter_saw = 0;
  on(SIGALRM, on_wake);
  int alrm = SIGALRM;
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, waiter, &alrm), 0);
  struct itimerval it = {{0, 0}, {0, 20000}};
  CHECK_OK(setitimer(ITIMER_REAL, &it, NULL));
  CHECK_EQ(pthread_join(th, NULL), 0);
  CHECK_EQ(waiter_saw, 1);
  CHECK_EQ(wake_count, 1);
  CHECK(wake_in_main);
  on(SIGALRM, SIG_DFL);
}

int main(void) {
  main_thread = pthread_self();
  pause_beside_spinner(1);
  pause_beside_spinner(0);
  kill_while_sigsuspend();
  futex_waiter_takes_kill();
  futex_woken_by_main_handler();
  DONE();
}
