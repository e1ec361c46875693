/* A timer's signal interrupts waits on files: poll and read on an empty pipe return EINTR (no SA_RESTART); with SA_RESTART read restarts, poll does not. */
#include "check.h"
#include <poll.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

static volatile int alarms;
static int feed = -1; /* a pipe's write end the handler writes a byte to, or -1 */
static void on_alarm(int sig) {
  (void)sig;
  alarms++;
  if (feed >= 0) write(feed, "x", 1);
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
  /* With SA_RESTART the interrupted read starts again and gets the byte the handler wrote. */
  sa.sa_flags = SA_RESTART;
  CHECK_OK(sigaction(SIGALRM, &sa, NULL));
  feed = p[1];
  arm_ms(20);
  CHECK_EQ(read(p[0], &c, 1), 1);
  CHECK_EQ(alarms, 3);
  /* poll is not restarted, even with SA_RESTART. */
  feed = -1;
  arm_ms(20);
  CHECK_ERR(poll(&pfd, 1, 2000), EINTR);
  CHECK_EQ(alarms, 4);
  DONE();
}
