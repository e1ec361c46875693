/* Signal semantics with deterministic output: handlers, masks, SA_* flags,
 * pending signals, sigsuspend, the alternate stack, nested delivery, FPU state
 * across handlers, synchronous faults, and death by SIGABRT at the end (134). */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile int order[32];
static volatile int norder;
static char *alt;
static size_t altsize = 1 << 16;
static sigjmp_buf jb;

static void note(int v) { order[norder++] = v; }

static int blocked(int sig) {
  sigset_t cur;
  sigprocmask(SIG_BLOCK, NULL, &cur);
  return sigismember(&cur, sig);
}

static void h_info(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  printf("handler sig=%d si_signo=%d si_code=%d self_blocked=%d usr2_blocked=%d\n", sig, si->si_signo, si->si_code,
         blocked(sig), blocked(SIGUSR2));
}

static void h_plain(int sig) { note(sig); }

static void h_nested(int sig) {
  note(100 + sig);
  raise(SIGUSR2);
  note(200 + sig);
}

static void h_deferred(int sig) {
  note(sig);
  raise(SIGUSR2); /* blocked by sa_mask: delivered right after this handler returns */
  note(sig + 1);
}

static void h_alt(int sig) {
  int local;
  stack_t cur;
  sigaltstack(NULL, &cur);
  uintptr_t p = (uintptr_t)&local;
  printf("alt sig=%d on_alt=%d ss_flags=%d\n", sig, p >= (uintptr_t)alt && p < (uintptr_t)alt + altsize,
         cur.ss_flags);
}

static void h_fp(int sig) {
  (void)sig;
  volatile double x = 3.0;
  for (int i = 0; i < 10; i++) x = x * 1.5 + 0.25;
  note((int)x);
}

static void h_fault(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  printf("fault sig=%d si_signo=%d", sig, si->si_signo);
  if (sig == SIGILL || sig == SIGFPE) printf(" si_code=%d", si->si_code);
  if (sig == SIGSEGV) printf(" si_addr=%p si_code=%d", si->si_addr, si->si_code);
  printf("\n");
  siglongjmp(jb, 1);
}

static void set(int sig, void (*h)(int), int flags, int masked) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = h;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  if (masked) sigaddset(&sa.sa_mask, masked);
  if (sigaction(sig, &sa, NULL) != 0) printf("sigaction %d failed errno=%d\n", sig, errno);
}

static void set_info(int sig, void (*h)(int, siginfo_t *, void *), int flags, int masked) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = h;
  sa.sa_flags = flags | SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (masked) sigaddset(&sa.sa_mask, masked);
  sigaction(sig, &sa, NULL);
}

static void print_order(const char *what) {
  printf("%s:", what);
  for (int i = 0; i < norder; i++) printf(" %d", order[i]);
  printf("\n");
  norder = 0;
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);

  /* a handler with siginfo; sa_mask and the signal itself are blocked inside */
  set_info(SIGUSR1, h_info, 0, SIGUSR2);
  raise(SIGUSR1);
  printf("after: usr1_blocked=%d usr2_blocked=%d\n", blocked(SIGUSR1), blocked(SIGUSR2));
  set_info(SIGUSR1, h_info, SA_NODEFER, 0);
  syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
  kill(getpid(), SIGUSR1);

  /* SA_RESETHAND */
  set(SIGUSR1, h_plain, SA_RESETHAND, 0);
  raise(SIGUSR1);
  struct sigaction q;
  sigaction(SIGUSR1, NULL, &q);
  printf("resethand: now_default=%d\n", q.sa_handler == SIG_DFL);
  print_order("resethand order");

  /* pending while blocked, delivered when unblocked */
  set(SIGUSR2, h_plain, 0, 0);
  sigset_t s2, old;
  sigemptyset(&s2);
  sigaddset(&s2, SIGUSR2);
  sigprocmask(SIG_BLOCK, &s2, &old);
  raise(SIGUSR2);
  note(1);
  sigset_t pend;
  sigpending(&pend);
  printf("pending usr2=%d\n", sigismember(&pend, SIGUSR2));
  sigprocmask(SIG_SETMASK, &old, NULL);
  note(2);
  print_order("unblock order");

  /* sigsuspend */
  set(SIGUSR1, h_plain, 0, 0);
  sigset_t s1, empty;
  sigemptyset(&s1);
  sigaddset(&s1, SIGUSR1);
  sigemptyset(&empty);
  sigprocmask(SIG_BLOCK, &s1, NULL);
  raise(SIGUSR1);
  int r = sigsuspend(&empty);
  printf("sigsuspend r=%d errno=%d usr1_blocked_after=%d\n", r, errno, blocked(SIGUSR1));
  sigprocmask(SIG_UNBLOCK, &s1, NULL);
  print_order("sigsuspend order");

  /* ignored signals vanish; a blocked ignored one is not pending once ignored */
  signal(SIGUSR2, SIG_IGN);
  raise(SIGUSR2);
  printf("ignored: still alive\n");

  /* nested delivery */
  set(SIGUSR1, h_nested, 0, 0);
  set(SIGUSR2, h_plain, 0, 0);
  raise(SIGUSR1);
  print_order("nested order");

  /* a signal blocked by sa_mask arrives as soon as the handler returns */
  set(SIGUSR1, h_deferred, 0, SIGUSR2);
  set(SIGUSR2, h_plain, 0, 0);
  raise(SIGUSR1);
  note(4);
  print_order("deferred order");

  /* the alternate stack */
  alt = malloc(altsize);
  stack_t ss = {.ss_sp = alt, .ss_size = altsize, .ss_flags = 0};
  printf("sigaltstack=%d\n", sigaltstack(&ss, NULL));
  stack_t bad = {.ss_sp = alt, .ss_size = 100, .ss_flags = 0};
  printf("small sigaltstack=%d errno=%d\n", sigaltstack(&bad, NULL), errno);
  set(SIGUSR1, h_alt, SA_ONSTACK, 0);
  raise(SIGUSR1);
  set(SIGUSR1, h_alt, 0, 0);
  raise(SIGUSR1);

  /* FPU state survives a handler that computes */
  set(SIGUSR1, h_fp, 0, 0);
  volatile double a = 1.0 / 3.0;
  raise(SIGUSR1);
  volatile double b = a * 3.0;
  printf("fp: %.17g\n", b);
  print_order("fp handler");

  /* errors */
  printf("kill sig0=%d\n", kill(getpid(), 0));
  errno = 0;
  printf("kill sig65=%d errno=%d\n", kill(getpid(), 65), errno);
  struct sigaction sk;
  memset(&sk, 0, sizeof sk);
  sk.sa_handler = h_plain;
  errno = 0;
  printf("sigaction SIGKILL=%d errno=%d\n", sigaction(SIGKILL, &sk, NULL), errno);
  errno = 0;
  printf("sigprocmask bad how=%d errno=%d\n", sigprocmask(99, &s1, NULL), errno);

  /* synchronous faults to handlers */
  set_info(SIGSEGV, h_fault, 0, 0);
  set_info(SIGILL, h_fault, 0, 0);
  set_info(SIGFPE, h_fault, 0, 0);
  if (!sigsetjmp(jb, 1)) *(volatile int *)32 = 1;
  if (!sigsetjmp(jb, 1)) __asm__ volatile("ud2");
  if (!sigsetjmp(jb, 1)) {
    volatile int z = 0;
    printf("%d\n", 1 / z);
  }
  printf("masks after faults: segv=%d ill=%d fpe=%d\n", blocked(SIGSEGV), blocked(SIGILL), blocked(SIGFPE));

  abort();
}
