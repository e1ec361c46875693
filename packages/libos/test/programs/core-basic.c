/* Exercises the libos core from a real static program: identity, memory, time,
 * signals (a handler for raise(), fault handlers left with siglongjmp), and a
 * fatal SIGFPE at the end (exit status 136). */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile sig_atomic_t got;
static void *volatile fault_addr;

static void on_usr1(int s) { got = s; }

static void on_fault(int s, siginfo_t *si, void *uc) {
  (void)uc;
  got = s;
  fault_addr = si->si_addr;
  siglongjmp(jb, 1);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  printf("argc=%d argv1=%s\n", argc, argc > 1 ? argv[1] : "");
  printf("pid=%d ppid=%d uid=%d\n", (int)getpid(), (int)getppid(), (int)getuid());
  struct utsname u;
  uname(&u);
  printf("sys=%s machine=%s\n", u.sysname, u.machine);

  char *big = malloc(5 << 20);
  memset(big, 0x5a, 5 << 20);
  free(big);
  char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 2;
  m[12345] = 7;
  m = mremap(m, 1 << 20, 2 << 20, MREMAP_MAYMOVE);
  if (m == MAP_FAILED) return 3;
  printf("mremap kept=%d tail=%d\n", m[12345], m[(2 << 20) - 1]);
  munmap(m, 2 << 20);
  void *huge = mmap(NULL, 1UL << 40, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  printf("huge=%s errno=%d\n", huge == MAP_FAILED ? "failed" : "ok", errno);

  struct timespec a, b, d = {0, 20 * 1000 * 1000};
  clock_gettime(CLOCK_MONOTONIC, &a);
  nanosleep(&d, NULL);
  clock_gettime(CLOCK_MONOTONIC, &b);
  long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
  printf("slept>=20ms %d\n", ms >= 20);

  signal(SIGUSR1, on_usr1);
  raise(SIGUSR1);
  printf("usr1 got=%d\n", (int)got);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGILL, &sa, NULL);
  if (!sigsetjmp(jb, 1)) *(volatile int *)16 = 1;
  printf("segv got=%d addr=%p\n", (int)got, fault_addr);
  if (!sigsetjmp(jb, 1)) __asm__ volatile("ud2");
  printf("ill got=%d\n", (int)got);
  volatile double x = 1.25;
  x *= argc;
  printf("fp=%.2f\n", x);

  volatile int zero = 0;
  return 10 / zero;
}
