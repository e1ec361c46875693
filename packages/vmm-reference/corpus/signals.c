/* Signals: handlers with siginfo for SIGSEGV (null deref), SIGFPE (division), SIGILL (ud2);
 * raise/kill to self, sigprocmask and pending signals, sigaltstack, SA_RESETHAND, a handler that returns. */
#include "check.h"
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* A SIGILL handler that returns: it skips the 2-byte ud2 and sets rax in the saved context. */
static volatile int skipped;
static void skip_ud2(int sig, siginfo_t *si, void *ucv) {
  (void)sig, (void)si;
  ucontext_t *uc = ucv;
  uc->uc_mcontext.gregs[REG_RIP] += 2;
  uc->uc_mcontext.gregs[REG_RAX] = 0x1234;
  skipped++;
}

static sigjmp_buf jb;
static volatile int got_sig, got_code, hits;
static volatile void *got_addr;
static volatile uintptr_t handler_sp;

static void catcher(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  got_sig = sig;
  got_code = si->si_code;
  got_addr = si->si_addr;
  handler_sp = (uintptr_t)&sig;
  siglongjmp(jb, 1);
}

static void counter(int sig) {
  (void)sig;
  hits++;
}

static volatile int usr_seen, usr_pid_ok, usr_code;
static void usr_handler(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  usr_seen = sig;
  usr_pid_ok = si->si_pid == getpid();
  usr_code = si->si_code;
}

static int install(int sig, void (*fn)(int, siginfo_t *, void *), int flags) {
  struct sigaction sa = {0};
  sa.sa_sigaction = fn;
  sa.sa_flags = SA_SIGINFO | flags;
  sigemptyset(&sa.sa_mask);
  return sigaction(sig, &sa, NULL);
}

int main(void) {
  /* SIGSEGV from a null dereference: si_addr is the faulting address. */
  CHECK_OK(install(SIGSEGV, catcher, 0));
  if (sigsetjmp(jb, 1) == 0) {
    volatile int *p = (int *)0x10;
    (void)*p;
    CHECK(!"not reached");
  }
  CHECK_EQ(got_sig, SIGSEGV);
  CHECK_EQ(got_code, SEGV_MAPERR);
  CHECK(got_addr == (void *)0x10);
  /* A write far away from anything mapped. */
  if (sigsetjmp(jb, 1) == 0) {
    *(volatile char *)0x7ff000000000ULL = 1;
  }
  CHECK_EQ(got_sig, SIGSEGV);
  CHECK(got_addr == (void *)0x7ff000000000ULL);
  /* The signal mask inside the handler was restored by siglongjmp(…, 1). */
  sigset_t cur;
  sigprocmask(SIG_BLOCK, NULL, &cur);
  CHECK(!sigismember(&cur, SIGSEGV));

  /* SIGFPE from integer division by zero. */
  CHECK_OK(install(SIGFPE, catcher, 0));
  got_sig = 0;
  if (sigsetjmp(jb, 1) == 0) {
    volatile int a = 1, b = 0;
    volatile int c = a / b;
    (void)c;
  }
  CHECK_EQ(got_sig, SIGFPE);
  CHECK_EQ(got_code, FPE_INTDIV);
  /* INT_MIN / -1 is also SIGFPE on x86. */
  got_sig = 0;
  if (sigsetjmp(jb, 1) == 0) {
    volatile long a = INT64_MIN, b = -1;
    volatile long c = a / b;
    (void)c;
  }
  CHECK_EQ(got_sig, SIGFPE);

  /* SIGILL from ud2: si_addr is the instruction. */
  CHECK_OK(install(SIGILL, catcher, 0));
  got_sig = 0;
  static void *volatile ud2_at;
  void *at;
  __asm__ volatile("lea kindling_ud2(%%rip), %0" : "=r"(at));
  ud2_at = at;
  if (sigsetjmp(jb, 1) == 0) {
    __asm__ volatile("kindling_ud2: ud2");
  }
  CHECK_EQ(got_sig, SIGILL);
  CHECK_EQ(got_code, ILL_ILLOPN);
  CHECK(got_addr == ud2_at);

  /* A fault handler that returns to a changed context (rt_sigreturn restores it). */
  CHECK_OK(install(SIGILL, skip_ud2, 0));
  long rax = 0;
  __asm__ volatile("mov $7, %%rax\n ud2\n mov %%rax, %0" : "=r"(rax) : : "rax");
  CHECK_EQ(skipped, 1);
  CHECK_EQ(rax, 0x1234);
  /* The signal was not left blocked after the handler returned. */
  __asm__ volatile("ud2" : : : "rax");
  CHECK_EQ(skipped, 2);

  /* raise and kill to self; the handler returns. */
  CHECK(signal(SIGUSR2, counter) != SIG_ERR);
  CHECK_OK(raise(SIGUSR2));
  CHECK_EQ(hits, 1);
  CHECK_OK(kill(getpid(), SIGUSR2));
  CHECK_EQ(hits, 2);
  CHECK_OK(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2));
  CHECK_EQ(hits, 3);
  CHECK_OK(install(SIGUSR1, usr_handler, 0));
  CHECK_OK(kill(getpid(), SIGUSR1));
  CHECK_EQ(usr_seen, SIGUSR1);
  CHECK(usr_pid_ok);
  CHECK_EQ(usr_code, SI_USER);
  CHECK_OK(kill(getpid(), 0));
  CHECK_ERR(kill(getpid(), 99), EINVAL);
  CHECK_ERR(sigaction(SIGKILL, &(struct sigaction){0}, NULL), EINVAL);
  CHECK_ERR(sigaction(0, &(struct sigaction){0}, NULL), EINVAL);

  /* A blocked signal stays pending and is delivered on unblock. */
  sigset_t set, old, pend;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  CHECK_OK(sigprocmask(SIG_BLOCK, &set, &old));
  CHECK(!sigismember(&old, SIGUSR2));
  CHECK_OK(raise(SIGUSR2));
  CHECK_EQ(hits, 3);
  CHECK_OK(sigpending(&pend));
  CHECK(sigismember(&pend, SIGUSR2));
  CHECK_OK(raise(SIGUSR2)); /* standard signals do not queue */
  CHECK_OK(sigprocmask(SIG_SETMASK, &old, NULL));
  CHECK_EQ(hits, 4);
  CHECK_OK(sigpending(&pend));
  CHECK(!sigismember(&pend, SIGUSR2));
  /* SIGKILL and SIGSTOP cannot be blocked. */
  sigfillset(&set);
  CHECK_OK(sigprocmask(SIG_SETMASK, &set, NULL));
  CHECK_OK(sigprocmask(SIG_SETMASK, NULL, &cur));
  CHECK(!sigismember(&cur, SIGKILL) && !sigismember(&cur, SIGSTOP));
  CHECK_OK(sigprocmask(SIG_SETMASK, &old, NULL));
  CHECK_ERR(sigprocmask(99, &set, NULL), EINVAL);

  /* An ignored signal is discarded. */
  CHECK(signal(SIGUSR2, SIG_IGN) == counter);
  CHECK_OK(raise(SIGUSR2));
  CHECK_EQ(hits, 4);

  /* sigaltstack: the handler runs on the alternate stack. */
  static char alt[65536];
  stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0}, oss;
  CHECK_OK(sigaltstack(&ss, &oss));
  CHECK_EQ(oss.ss_flags, SS_DISABLE);
  CHECK_OK(install(SIGSEGV, catcher, SA_ONSTACK));
  if (sigsetjmp(jb, 1) == 0) {
    (void)*(volatile int *)0;
  }
  CHECK_EQ(got_sig, SIGSEGV);
  CHECK(handler_sp > (uintptr_t)alt && handler_sp < (uintptr_t)alt + sizeof alt);
  CHECK_OK(sigaltstack(NULL, &oss));
  CHECK_EQ(oss.ss_flags, 0);
  stack_t small = {.ss_sp = alt, .ss_size = 100, .ss_flags = 0};
  CHECK_ERR(sigaltstack(&small, NULL), ENOMEM);

  /* SA_RESETHAND: the second raise uses the default action (here: ignore for SIGCHLD/SIGWINCH). */
  hits = 0;
  struct sigaction once = {0};
  once.sa_handler = counter;
  once.sa_flags = SA_RESETHAND;
  CHECK_OK(sigaction(SIGWINCH, &once, NULL));
  CHECK_OK(raise(SIGWINCH));
  CHECK_OK(raise(SIGWINCH));
  CHECK_EQ(hits, 1);
  struct sigaction q;
  CHECK_OK(sigaction(SIGWINCH, NULL, &q));
  CHECK(q.sa_handler == SIG_DFL);
  /* The old action is returned. */
  struct sigaction prev;
  CHECK_OK(sigaction(SIGUSR1, &once, &prev));
  CHECK((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction == usr_handler);
  DONE();
}
