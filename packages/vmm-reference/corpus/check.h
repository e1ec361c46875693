/*
 * Shared by the conformance corpus. Each program checks one area of the Linux
 * ABI with its own assertions and prints one line per check: the check, never
 * a raw value that may differ between runs (pids, times, addresses). It exits
 * with the number of failed checks (0 natively). The conformance test runs it
 * natively and in the sandbox and requires the same stdout, stderr and status.
 */
#ifndef KINDLING_CHECK_H
#define KINDLING_CHECK_H
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                                   \
  do {                                                                                \
    int e_ = errno;                                                                   \
    if (cond) {                                                                       \
      printf("ok   %s\n", #cond);                                                     \
    } else {                                                                          \
      printf("FAIL %s (line %d, errno %d %s)\n", #cond, __LINE__, e_, strerror(e_)); \
      failures++;                                                                     \
    }                                                                                 \
  } while (0)

/* `call` must fail with -1 and errno `err`. */
#define CHECK_ERR(call, err)                                                                          \
  do {                                                                                                \
    errno = 0;                                                                                        \
    long r_ = (long)(call);                                                                           \
    int e_ = errno;                                                                                   \
    if (r_ == -1 && e_ == (err)) {                                                                    \
      printf("ok   %s -> %s\n", #call, #err);                                                         \
    } else {                                                                                          \
      printf("FAIL %s -> %ld errno %d (%s), want %s (line %d)\n", #call, r_, e_, strerror(e_), #err, \
             __LINE__);                                                                               \
      failures++;                                                                                     \
    }                                                                                                 \
  } while (0)

/* `call` must succeed (not -1). */
#define CHECK_OK(call)                                                                            \
  do {                                                                                            \
    errno = 0;                                                                                    \
    long r_ = (long)(call);                                                                       \
    int e_ = errno;                                                                               \
    if (r_ != -1) {                                                                               \
      printf("ok   %s\n", #call);                                                             \
    } else {                                                                                      \
      printf("FAIL %s -> -1 errno %d (%s) (line %d)\n", #call, e_, strerror(e_), __LINE__); \
      failures++;                                                                                 \
    }                                                                                             \
  } while (0)

/* `a == b` for integers, printing both only when they differ. */
#define CHECK_EQ(a, b)                                                                          \
  do {                                                                                          \
    long long a_ = (long long)(a), b_ = (long long)(b);                                         \
    if (a_ == b_) {                                                                             \
      printf("ok   %s == %s\n", #a, #b);                                                        \
    } else {                                                                                    \
      printf("FAIL %s == %s: %lld != %lld (line %d)\n", #a, #b, a_, b_, __LINE__);              \
      failures++;                                                                               \
    }                                                                                           \
  } while (0)

#define DONE()                                             \
  do {                                                     \
    printf("%s: %d failed\n", __FILE__, failures);         \
    fflush(stdout);                                        \
    return failures > 125 ? 125 : failures;                \
  } while (0)

#endif
