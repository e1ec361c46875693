/* Time: clock_gettime, clock_getres, gettimeofday, time, nanosleep, clock_nanosleep. */
#include "check.h"
#include <sys/time.h>
#include <time.h>

static double now(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void) {
  struct timespec ts, res;
  CHECK_OK(clock_gettime(CLOCK_REALTIME, &ts));
  CHECK(ts.tv_sec > 1700000000 && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000);
  time_t t = time(NULL);
  CHECK(t >= ts.tv_sec && t - ts.tv_sec < 100);
  struct timeval tv;
  CHECK_OK(gettimeofday(&tv, NULL));
  CHECK(tv.tv_sec >= ts.tv_sec && tv.tv_usec >= 0 && tv.tv_usec < 1000000);
  clockid_t clocks[] = {CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_MONOTONIC_RAW, CLOCK_PROCESS_CPUTIME_ID,
                        CLOCK_THREAD_CPUTIME_ID, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE};
  for (unsigned i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
    CHECK_OK(clock_gettime(clocks[i], &ts));
    CHECK(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000);
    CHECK_OK(clock_getres(clocks[i], &res));
    CHECK(res.tv_sec == 0 && res.tv_nsec > 0 && res.tv_nsec <= 10000000);
  }
  CHECK_ERR(clock_gettime(12345, &ts), EINVAL);
  CHECK_ERR(clock_getres(12345, &res), EINVAL);
  /* Monotonic never goes back. */
  double prev = now(CLOCK_MONOTONIC);
  int mono = 1;
  for (int i = 0; i < 1000; i++) {
    double n = now(CLOCK_MONOTONIC);
    if (n < prev) mono = 0;
    prev = n;
  }
  CHECK(mono);
  /* nanosleep sleeps at least as long as asked. */
  double a = now(CLOCK_MONOTONIC);
  struct timespec req = {0, 30000000}, rem = {9, 9};
  CHECK_OK(nanosleep(&req, &rem));
  double b = now(CLOCK_MONOTONIC);
  CHECK(b - a >= 0.030);
  req.tv_nsec = 20000000;
  CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL), 0);
  double c = now(CLOCK_MONOTONIC);
  CHECK(c - b >= 0.020);
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_nsec += 15000000;
  if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
  CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL), 0);
  clock_gettime(CLOCK_MONOTONIC, &ts);
  CHECK(ts.tv_sec > until.tv_sec || (ts.tv_sec == until.tv_sec && ts.tv_nsec >= until.tv_nsec));
  struct timespec bad = {0, 1000000000};
  CHECK_ERR(nanosleep(&bad, NULL), EINVAL);
  bad.tv_sec = -1;
  bad.tv_nsec = 0;
  CHECK_ERR(nanosleep(&bad, NULL), EINVAL);
  struct timespec zero = {0, 0};
  CHECK_OK(nanosleep(&zero, NULL));
  /* Process CPU time moves with work. */
  double cpu0 = now(CLOCK_PROCESS_CPUTIME_ID);
  volatile unsigned long x = 0;
  for (unsigned long i = 0; i < 50000000; i++) x += i;
  double cpu1 = now(CLOCK_PROCESS_CPUTIME_ID);
  CHECK(cpu1 >= cpu0);
  /* localtime with TZ=UTC, gmtime of a fixed time. */
  time_t fixed = 1704164645;
  struct tm tm;
  CHECK(gmtime_r(&fixed, &tm) != NULL);
  char s[64];
  strftime(s, sizeof s, "%Y-%m-%d %H:%M:%S", &tm);
  CHECK(strcmp(s, "2024-01-02 03:04:05") == 0);
  DONE();
}
