/* Timers and waiting for signals: alarm, setitimer/getitimer, EINTR from nanosleep, pause, sigsuspend, sigtimedwait. */
#include "check.h"
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile int alarms;
static void on_alarm(int sig) {
  (void)sig;
  alarms++;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void arm_ms(int ms) {
  struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
  setitimer(ITIMER_REAL, &it, NULL);
}

int main(void) {
  struct sigaction sa = {0};
  sa.sa_handler = on_alarm;
  CHECK_OK(sigaction(SIGALRM, &sa, NULL));

  /* nanosleep is interrupted: EINTR, the handler ran, the remaining time is reported. */
  arm_ms(30);
  struct timespec req = {5, 0}, rem = {0, 0};
  double a = now();
  CHECK_ERR(nanosleep(&req, &rem), EINTR);
  CHECK_EQ(alarms, 1);
  CHECK(now() - a < 4.0);
  CHECK(rem.tv_sec >= 1 && rem.tv_sec <= 5);

  /* getitimer after expiry reads zero; a periodic timer reloads. */
  struct itimerval cur;
  CHECK_OK(getitimer(ITIMER_REAL, &cur));
  CHECK(cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0);
  struct itimerval periodic = {{0, 20000}, {0, 20000}};
  CHECK_OK(setitimer(ITIMER_REAL, &periodic, NULL));
  while (alarms < 4) pause();
  CHECK_EQ(alarms, 4);
  struct itimerval off = {{0, 0}, {0, 0}}, old;
  CHECK_OK(setitimer(ITIMER_REAL, &off, &old));
  CHECK(old.it_interval.tv_sec == 0 && old.it_interval.tv_usec == 20000);
  CHECK_ERR(setitimer(99, &off, NULL), EINVAL);

  /* nanosleep is not restarted after a handler, even with SA_RESTART. */
  sa.sa_flags = SA_RESTART;
  CHECK_OK(sigaction(SIGALRM, &sa, NULL));
  arm_ms(20);
  req.tv_sec = 5;
  CHECK_ERR(nanosleep(&req, NULL), EINTR);
  CHECK_EQ(alarms, 5);

  /* alarm(): seconds, and the previous value. */
  CHECK_EQ(alarm(100), 0);
  CHECK(alarm(0) >= 99);

  /* sigsuspend returns -1/EINTR after the handler ran; the mask is restored. */
  sigset_t block, none, cur_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGALRM);
  sigemptyset(&none);
  CHECK_OK(sigprocmask(SIG_BLOCK, &block, NULL));
  arm_ms(20);
  CHECK_ERR(sigsuspend(&none), EINTR);
  CHECK_EQ(alarms, 6);
  CHECK_OK(sigprocmask(SIG_SETMASK, NULL, &cur_mask));
  CHECK(sigismember(&cur_mask, SIGALRM));

  /* sigtimedwait takes a pending blocked signal without running the handler. */
  CHECK_OK(raise(SIGALRM));
  siginfo_t si;
  struct timespec zero = {0, 0};
  CHECK_EQ(sigtimedwait(&block, &si, &zero), SIGALRM);
  CHECK_EQ(si.si_signo, SIGALRM);
  CHECK_EQ(alarms, 6);
  CHECK_ERR(sigtimedwait(&block, &si, &zero), EAGAIN);
  struct timespec short_wait = {0, 10000000};
  CHECK_ERR(sigtimedwait(&block, &si, &short_wait), EAGAIN);
  DONE();
}
