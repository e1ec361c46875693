/* Identity, time, limits, randomness and futex with deterministic output. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/utsname.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

/* <linux/futex.h> values (musl's headers do not ship it). */
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129
#define FUTEX_WAKE_OP_PRIVATE 133
#define FUTEX_OP_ADD 1
#define FUTEX_OP_CMP_EQ 0
#define FUTEX_OP(op, oparg, cmp, cmparg) \
  (((op & 0xf) << 28) | ((cmp & 0xf) << 24) | ((oparg & 0xfff) << 12) | (cmparg & 0xfff))

static void res(const char *what, long r) {
  if (r < 0)
    printf("%s = -1 errno=%d\n", what, errno);
  else
    printf("%s = %ld\n", what, r);
  errno = 0;
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  struct utsname u;
  uname(&u);
  printf("sysname=%s machine=%s\n", u.sysname, u.machine);
  printf("pid==tid %d\n", getpid() == (pid_t)syscall(SYS_gettid));
  printf("uid==euid %d gid==egid %d\n", getuid() == geteuid(), getgid() == getegid());
  uid_t r, e, s;
  getresuid(&r, &e, &s);
  printf("resuid consistent %d\n", r == getuid() && e == geteuid() && s == geteuid());
  printf("getpgrp==getpgid(0) %d\n", getpgrp() == getpgid(0));
  res("getpgid(bogus)", getpgid(999999));

  umask(022);
  printf("umask old=%o\n", umask(077));
  printf("umask now=%o\n", umask(022));

  struct timespec t1, t2, res_ts;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  struct timespec d = {0, 5 * 1000 * 1000};
  res("nanosleep", nanosleep(&d, NULL));
  clock_gettime(CLOCK_MONOTONIC, &t2);
  long ns = (t2.tv_sec - t1.tv_sec) * 1000000000L + (t2.tv_nsec - t1.tv_nsec);
  printf("monotonic advanced>=5ms %d\n", ns >= 5000000);
  struct timespec bad = {0, 1000000000L};
  res("nanosleep bad nsec", nanosleep(&bad, NULL));
  struct timespec neg = {-1, 0};
  res("nanosleep negative", nanosleep(&neg, NULL));
  res("clock_gettime bad clock", syscall(SYS_clock_gettime, 99, &t1));
  res("clock_getres realtime", clock_getres(CLOCK_REALTIME, &res_ts));
  printf("res=%ld.%09ld\n", (long)res_ts.tv_sec, res_ts.tv_nsec);
  time_t now = time(NULL);
  struct timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  printf("time~realtime %d\n", rt.tv_sec - now <= 1 && rt.tv_sec >= now);
  struct timespec abs;
  clock_gettime(CLOCK_MONOTONIC, &abs);
  abs.tv_nsec += 2000000;
  if (abs.tv_nsec >= 1000000000L) {
    abs.tv_sec++;
    abs.tv_nsec -= 1000000000L;
  }
  printf("clock_nanosleep abs=%d\n", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL));
  printf("clock_nanosleep thread cputime=%d\n", clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &d, NULL));

  struct rlimit rl;
  res("getrlimit bad", syscall(SYS_getrlimit, 99, &rl));
  res("prlimit bad", syscall(SYS_prlimit64, 0, 99, NULL, &rl));
  getrlimit(RLIMIT_NOFILE, &rl);
  struct rlimit up = {rl.rlim_max, rl.rlim_max == RLIM_INFINITY ? RLIM_INFINITY : rl.rlim_max + 1};
  res("raise hard nofile", setrlimit(RLIMIT_NOFILE, &up));
  struct rlimit inv = {10, 5};
  res("soft>hard", setrlimit(RLIMIT_NOFILE, &inv));
  struct rlimit low = {64, rl.rlim_max};
  res("lower soft", setrlimit(RLIMIT_NOFILE, &low));
  getrlimit(RLIMIT_NOFILE, &rl);
  printf("nofile soft=%ld\n", (long)rl.rlim_cur);

  unsigned char buf[64];
  memset(buf, 0, sizeof buf);
  res("getrandom", syscall(SYS_getrandom, buf, 64, 0));
  int nz = 0;
  for (int i = 0; i < 64; i++) nz += buf[i] != 0;
  printf("random nonzero>32 %d\n", nz > 32);
  res("getrandom bad flags", syscall(SYS_getrandom, buf, 8, 0x100));
  res("getrandom efault", syscall(SYS_getrandom, (void *)8, 8, 0));

  struct rusage ru;
  res("getrusage self", getrusage(RUSAGE_SELF, &ru));
  res("getrusage bad", getrusage(42, &ru));
  struct sysinfo si;
  res("sysinfo", sysinfo(&si));
  printf("mem_unit>0 %d totalram>0 %d\n", si.mem_unit > 0, si.totalram > 0);
  struct tms tm;
  printf("times>=0 %d\n", times(&tm) != (clock_t)-1);
  res("sched_yield", sched_yield());
  unsigned long fs = 0;
  res("arch_prctl get fs", syscall(SYS_arch_prctl, 0x1003, &fs));
  printf("fs set %d\n", fs != 0);
  res("arch_prctl bad", syscall(SYS_arch_prctl, 0x9999, 0));

  uint32_t f = 7;
  res("futex wait mismatch", syscall(SYS_futex, &f, FUTEX_WAIT_PRIVATE, 8, NULL, NULL, 0));
  struct timespec ft = {0, 2000000};
  res("futex wait timeout", syscall(SYS_futex, &f, FUTEX_WAIT_PRIVATE, 7, &ft, NULL, 0));
  res("futex wake", syscall(SYS_futex, &f, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
  res("futex unaligned", syscall(SYS_futex, (char *)&f + 1, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
  res("futex efault", syscall(SYS_futex, (void *)8, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0));
  uint32_t g = 5;
  res("futex wake_op", syscall(SYS_futex, &f, FUTEX_WAKE_OP_PRIVATE, 1, 1, &g, FUTEX_OP(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_EQ, 5)));
  printf("wake_op result %u\n", g);
  res("unknown syscall", syscall(333333));
  return 7;
}
