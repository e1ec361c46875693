/* futex on one thread: WAIT with a stale value, WAIT with a timeout, WAKE with no waiter, bad ops and pointers. */
#include "check.h"
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* From <linux/futex.h> (musl-gcc has no kernel headers). */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_REQUEUE 3
#define FUTEX_WAIT_BITSET 9
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)
#define FUTEX_BITSET_MATCH_ANY 0xffffffffu

static long futex(void *uaddr, int op, uint32_t val, const struct timespec *ts, void *uaddr2, uint32_t val3) {
  return syscall(SYS_futex, uaddr, op, val, ts, uaddr2, val3);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void) {
  static uint32_t word = 7;
  CHECK_ERR(futex(&word, FUTEX_WAIT, 8, NULL, NULL, 0), EAGAIN);
  CHECK_ERR(futex(&word, FUTEX_WAIT_PRIVATE, 8, NULL, NULL, 0), EAGAIN);
  struct timespec ts = {0, 20000000};
  double a = now();
  CHECK_ERR(futex(&word, FUTEX_WAIT, 7, &ts, NULL, 0), ETIMEDOUT);
  CHECK(now() - a >= 0.020);
  CHECK_EQ(futex(&word, FUTEX_WAKE, 1, NULL, NULL, 0), 0);
  CHECK_EQ(futex(&word, FUTEX_WAKE_PRIVATE, 100, NULL, NULL, 0), 0);
  /* An absolute deadline already past (FUTEX_WAIT_BITSET uses CLOCK_MONOTONIC absolute time). */
  struct timespec past = {0, 0};
  CHECK_ERR(futex(&word, FUTEX_WAIT_BITSET, 7, &past, NULL, FUTEX_BITSET_MATCH_ANY), ETIMEDOUT);
  CHECK_ERR(futex(&word, FUTEX_WAIT_BITSET, 7, &past, NULL, 0), EINVAL);
  struct timespec bad = {0, 1000000000};
  CHECK_ERR(futex(&word, FUTEX_WAIT, 7, &bad, NULL, 0), EINVAL);
  CHECK_ERR(futex((char *)&word + 1, FUTEX_WAIT, 7, &ts, NULL, 0), EINVAL);
  CHECK_ERR(futex((void *)0x10, FUTEX_WAIT, 7, &ts, NULL, 0), EFAULT);
  CHECK_ERR(futex(&word, 99, 0, NULL, NULL, 0), ENOSYS);
  CHECK_EQ(futex(&word, FUTEX_REQUEUE, 1, (void *)1, &word + 1, 0), 0);
  DONE();
}
