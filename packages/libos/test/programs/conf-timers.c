/* Interval timers: alarm, setitimer/getitimer (ITIMER_REAL), SIGALRM ending
 * pause, interrupting nanosleep, sigtimedwait, and death by SIGALRM (142). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t ticks;
static void on_alrm(int s) {
  (void)s;
  ticks++;
}

static void arm(long usec, long interval) {
  struct itimerval it = {{0, interval}, {0, usec}};
  setitimer(ITIMER_REAL, &it, NULL);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alrm;
  sigaction(SIGALRM, &sa, NULL);

  printf("alarm first=%u\n", alarm(0));
  alarm(5);
  printf("alarm left=%u\n", alarm(0));

  arm(20000, 20000);
  while (ticks < 3) pause();
  struct itimerval old, off;
  memset(&off, 0, sizeof off);
  setitimer(ITIMER_REAL, &off, &old);
  printf("ticks>=3 %d interval_usec=%ld\n", ticks >= 3, (long)old.it_interval.tv_usec);
  getitimer(ITIMER_REAL, &old);
  printf("disarmed value=%ld.%06ld\n", (long)old.it_value.tv_sec, (long)old.it_value.tv_usec);

  arm(30000, 0);
  struct timespec req = {2, 0}, rem = {0, 0};
  int r = nanosleep(&req, &rem);
  printf("nanosleep r=%d errno=%d rem_ok=%d\n", r, errno, rem.tv_sec <= 1 && (rem.tv_sec > 0 || rem.tv_nsec > 0));

  struct itimerval bad = {{0, 0}, {0, 1000000}};
  errno = 0;
  printf("bad usec=%d errno=%d\n", setitimer(ITIMER_REAL, &bad, NULL), errno);
  errno = 0;
  printf("bad which=%d errno=%d\n", setitimer(99, &off, NULL), errno);

  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGALRM);
  sigprocmask(SIG_BLOCK, &s, NULL);
  arm(20000, 0);
  siginfo_t si;
  struct timespec wait = {5, 0};
  int got = sigtimedwait(&s, &si, &wait);
  printf("sigtimedwait=%d si_code=%d\n", got, si.si_code);
  struct timespec zero = {0, 0};
  errno = 0;
  printf("sigtimedwait poll=%d errno=%d\n", sigtimedwait(&s, &si, &zero), errno);
  sigprocmask(SIG_UNBLOCK, &s, NULL);

  signal(SIGALRM, SIG_DFL);
  arm(10000, 0);
  for (;;) pause();
}
