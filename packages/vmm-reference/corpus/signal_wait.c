/* A timer's signal interrupts waits on files: poll and read on an empty pipe return EINTR (no SA_RESTART). */
#include "check.h"
#include <poll.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

static volatile int alarms;
static void on_alarm(int sig) {
  (void)sig;
  alarms++;
}

static void arm_ms(int ms) {
  struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
  setitimer(ITIMER_REAL, &it, NULL);
}

int main(void) {
  struct sigaction sa = {0};
  sa.sa_handler = on_alarm;
  CHECK_OK(sigaction(SIGALRM, &sa, NULL));
  int p[2];
  CHECK_OK(pipe(p));
  struct pollfd pfd = {p[0], POLLIN, 0};
  arm_ms(20);
  CHECK_ERR(poll(&pfd, 1, 2000), EINTR);
  CHECK_EQ(alarms, 1);
  char c;
  arm_ms(20);
  CHECK_ERR(read(p[0], &c, 1), EINTR);
  CHECK_EQ(alarms, 2);
  DONE();
}
