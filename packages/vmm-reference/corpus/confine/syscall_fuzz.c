/*
 * A random system call fuzzer, run only inside the sandbox
 * (test/confinement/syscall-fuzz.test.ts): N calls with random numbers
 * (0..460 and beyond) and arguments biased to interesting values (0, -1,
 * small ints, fds 0..10, page-aligned addresses in and outside its memory,
 * pointers into its stack, heap, code and a scratch area of random bytes,
 * valid iovecs, huge lengths, paths that try to leave the root, flags with
 * random bits).
 *
 *   syscall_fuzz SEED [CALLS]
 *
 * Seeded (xorshift64*) and reproducible: the same seed on the same platform
 * makes the same calls (the choices never depend on results, only on where a
 * fault jumped back to). Each call is logged to stdout before it is made
 * ("<i> <nr> <a0> .. <a5>" in hex) and its result after it ("= <ret>"), so the
 * last line names the call that ended or stuck the program. At the end it
 * prints "done <calls> <faults>".
 *
 * Nothing is skipped but exit/exit_group (they would only end the run), most
 * draws of rt_sigreturn (kept 1 in 8: a forged frame almost always ends it) and
 * madvise MADV_HWPOISON/MADV_SOFT_OFFLINE (madvise runs natively on the
 * seccomp platform: as root they offline host RAM; issue 9 finding 7 has its
 * own test). A blocking call (pause, rt_sigsuspend, a read of an empty pipe)
 * is ended by SIGALRM from a 50 ms timer armed before each call; a fault
 * (SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGTRAP/SIGSYS) jumps back to the loop from an
 * alternate signal stack and counts (20 in a row end the run: something the
 * loop needs is gone); a call that disarms all this just ends the run, and
 * the test starts the next seed.
 *
 * Never run it natively: as root it would reboot, kill(-1), mount and unlink
 * at random. The sandbox is its only reference.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOGFD 500     /* the log: a dup of stdout no random call may close */
#define SCRATCH 65536 /* bytes of random data the pointer arguments point into */
#define MAX_NR 470

static uint64_t state;
static uint64_t rnd(void) {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1DULL;
}

static long raw(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

/* The log, without libc (stdio buffers could be what a call broke). */
static char line[256];
static int len;
static void put(const char *s) {
  while (*s && len < (int)sizeof line - 1) line[len++] = *s++;
}
static void hex(uint64_t v) {
  char b[19];
  int i = sizeof b;
  b[--i] = 0;
  do b[--i] = "0123456789abcdef"[v & 15]; while ((v >>= 4) && i > 2);
  b[--i] = 'x';
  b[--i] = '0';
  put(b + i);
}
static void dec(long v) {
  char b[24];
  int i = sizeof b;
  unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
  b[--i] = 0;
  do b[--i] = '0' + u % 10; while ((u /= 10));
  if (v < 0) b[--i] = '-';
  put(b + i);
}
static void flush(void) {
  line[len++] = '\n';
  raw(SYS_write, LOGFD, (long)line, len, 0, 0, 0);
  len = 0;
}

static unsigned char *scratch, *heap_buf;
static struct iovec *iov;
static unsigned char *stack_buf;
static char *paths[32];
static int npaths;
static char longpath[5000];

static const char *const PATHS[] = {
    "/", "..", ".", "", "/..", "../../../../..", "/proc/self/exe", "/proc/self/root", "/proc/self/root/..",
    "/proc/self/fd/0", "/proc/self/fd/3", "/proc/self/maps", "/proc/self/mem", "/proc/self/cwd/..",
    "/proc/1/root", "/data/hello.txt", "/data/link", "/data/abs", "/data/dangling", "/data/sub/",
    "/scratch/f", "/scratch/../../..", "/scratch/d/e", "/ro/hello.txt", "/ro/..", "/tmp/x", "/dev/null",
    "/dev/zero", "/dev/tty", "/etc/passwd", "../etc/passwd", "/nonexistent/x",
};

static uint64_t page_inside(void) {
  switch (rnd() % 4) {
  case 0: return ((uint64_t)scratch & ~4095ULL) + (rnd() % (SCRATCH / 4096)) * 4096;
  case 1: return ((uint64_t)heap_buf & ~4095ULL);
  case 2: return ((uint64_t)stack_buf & ~4095ULL);
  default: return ((uint64_t)&raw & ~4095ULL);
  }
}

static uint64_t arg(void) {
  static const uint64_t huge[] = {1ULL << 31, (1ULL << 32) - 1, 1ULL << 32, 1ULL << 47, 1ULL << 63,
                                  0x7fffffffffffffffULL, 0xfffffffffffff000ULL, 0xffff800000000000ULL,
                                  0x0000800000000000ULL, 0x7ffffffff000ULL};
  switch (rnd() % 18) {
  case 0: return 0;
  case 1: return (uint64_t)-1;
  case 2: return rnd() % 16;
  case 3: return rnd() % 11; /* fds */
  case 4: return (uint64_t)(scratch + rnd() % SCRATCH);
  case 5: return (uint64_t)(scratch + (rnd() % (SCRATCH / 64)) * 64);
  case 6: return (uint64_t)paths[rnd() % npaths];
  case 7: return page_inside();
  case 8: return (rnd() % 0x7ffffffffULL) * 4096; /* page-aligned, mostly outside */
  case 9: return (uint64_t)(stack_buf + rnd() % 4096);
  case 10: return (uint64_t)(heap_buf + rnd() % 4096);
  case 11: return rnd() % 2 ? (uint64_t)&raw : (uint64_t)&arg; /* its own code */
  case 12: return huge[rnd() % (sizeof huge / sizeof huge[0])];
  case 13: return rnd() & rnd() & rnd(); /* flags: a few random bits */
  case 14: return rnd();
  case 15: return 4096ULL << (rnd() % 12);
  case 16: return (uint64_t)&iov[rnd() % 8];
  default: return (uint64_t)(-(int64_t)(rnd() % 200)) - (rnd() % 2 ? 100 : 0); /* -errno-ish, AT_FDCWD */
  }
}

static sigjmp_buf back;
static volatile int faults, streak; /* all faults; faults since the last call that returned */
static void on_fault(int sig) {
  (void)sig;
  /*
   * Another thread (the mutator, or one a random clone made) ends and the loop goes on.
   * Asked of the kernel, not kept in memory, which the calls overwrite at random.
   */
  if (raw(SYS_gettid, 0, 0, 0, 0, 0, 0) != raw(SYS_getpid, 0, 0, 0, 0, 0, 0)) raw(SYS_exit, 0, 0, 0, 0, 0, 0);
  faults++;
  /*
   * A call that broke what the loop needs (unmapped its stack or scratch, made its data
   * read-only) faults forever: end here, on the alternate stack, not after the jump.
   */
  if (++streak > 20) {
    len = 0;
    put("stuck in faults");
    flush();
    raw(SYS_exit_group, 0, 0, 0, 0, 0, 0);
  }
  siglongjmp(back, 1);
}
static void on_alarm(int sig) { (void)sig; }

static void setup_signals(void) {
  static unsigned char altstack[65536];
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  sigaltstack(&ss, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fault;
  sa.sa_flags = SA_ONSTACK | SA_NODEFER;
  int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS};
  for (unsigned i = 0; i < sizeof fatal / sizeof fatal[0]; i++) sigaction(fatal[i], &sa, 0);
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_ONSTACK; /* no SA_RESTART: a blocked call returns EINTR */
  sigaction(SIGALRM, &sa, 0);
  /* Signals a random kill() sends to itself would otherwise end most runs early. */
  int ignore[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGTERM, SIGCHLD, SIGTSTP,
                  SIGTTIN, SIGTTOU, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSTKFLT};
  for (unsigned i = 0; i < sizeof ignore / sizeof ignore[0]; i++) signal(ignore[i], SIG_IGN);
}

static void refill(void) {
  for (int i = 0; i < SCRATCH; i += 8) {
    uint64_t v = rnd();
    memcpy(scratch + i, &v, 8);
  }
  /* Some structured content: small ints and pointers back into scratch. */
  for (int i = 0; i < 64; i++) {
    uint64_t v = rnd() % 3 == 0 ? rnd() % 64 : (uint64_t)(scratch + rnd() % SCRATCH);
    memcpy(scratch + (rnd() % (SCRATCH / 8)) * 8, &v, 8);
  }
  npaths = 0;
  for (unsigned i = 0; i < sizeof PATHS / sizeof PATHS[0] && npaths < 31; i++) {
    char *p = (char *)scratch + SCRATCH - 4096 + i * 64; /* copies: a call may overwrite them */
    strncpy(p, PATHS[i], 63);
    p[63] = 0;
    paths[npaths++] = p;
  }
  paths[npaths++] = longpath;
  /* After the paths: arg() picks among them. */
  for (int i = 0; i < 8; i++) {
    iov[i].iov_base = rnd() % 4 ? scratch + rnd() % SCRATCH : (void *)arg();
    iov[i].iov_len = rnd() % 4 ? rnd() % 4096 : arg();
  }
}

/* Globals, not locals: calls write into its stack at random and would end the loop early. */
static long calls = 2000;
static volatile long ncall;

/*
 * The mutator (SEED % 3 == 2): a second thread that keeps rewriting the scratch
 * area and the iovecs the calls point into, so a check of program memory and the
 * use that follows it see different bytes (the clone3 TOCTOU of issue 9 is one
 * such race). It yields now and then: on kvm threads run one at a time.
 * Scheduling makes these seeds less reproducible.
 */
static void *mutator(void *arg) {
  /* Process signals (the SIGALRM that ends a blocked call) must go to the calling thread. */
  sigset_t all;
  sigfillset(&all);
  sigdelset(&all, SIGSEGV);
  sigdelset(&all, SIGBUS);
  pthread_sigmask(SIG_BLOCK, &all, 0);
  uint64_t st = (uint64_t)arg | 1;
  long seen = -1;
  struct timespec ts, since = {0, 0};
  for (unsigned long k = 0;; k++) {
    st ^= st >> 12;
    st ^= st << 25;
    st ^= st >> 27;
    uint64_t v = st * 0x2545F4914F6CDD1DULL;
    /* Not the last 4 KiB of scratch: the paths live there. */
    unsigned char *p = k & 7 ? scratch + (v >> 16) % (SCRATCH - 4096) : (unsigned char *)&iov[(v >> 8) % 8];
    memcpy(p, &v, 8);
    if (k % 4096 == 0) {
      raw(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
      /* The calling thread is gone (a random call ended it) or stuck for 2 s: end the run. */
      raw(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0, 0, 0, 0);
      if (ncall != seen) {
        seen = ncall;
        since = ts;
      } else if (ts.tv_sec - since.tv_sec > 2) {
        raw(SYS_exit_group, 0, 0, 0, 0, 0, 0);
      }
    }
  }
  return 0;
}


int main(int argc, char **argv) {
  if (argc < 2) return 99;
  uint64_t seed = 0;
  for (const char *s = argv[1]; *s >= '0' && *s <= '9'; s++) seed = seed * 10 + (*s - '0');
  if (argc > 2) {
    calls = 0;
    for (const char *s = argv[2]; *s >= '0' && *s <= '9'; s++) calls = calls * 10 + (*s - '0');
  }
  state = seed * 0x9E3779B97F4A7C15ULL + 0x1234567;
  if (dup2(1, LOGFD) != LOGFD) return 98;

  unsigned char stack_area[8192];
  stack_buf = stack_area;
  scratch = mmap(0, SCRATCH, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  heap_buf = malloc(8192);
  static struct iovec iovs[8];
  iov = iovs;
  if (scratch == MAP_FAILED || !heap_buf) return 97;
  memset(longpath, 'a', sizeof longpath - 1);
  for (int k = 0; k < (int)sizeof longpath - 1; k += 200) longpath[k] = '/';
  refill();
  setup_signals();
  if (seed % 3 == 2) {
    pthread_t t;
    if (pthread_create(&t, 0, mutator, (void *)(seed * 0x9E3779B97F4A7C15ULL)) != 0) return 96;
  }

  struct itimerval tick = {.it_interval = {0, 0}, .it_value = {0, 50000}};
  if (sigsetjmp(back, 1)) {
    len = 0; /* the fault may have come in the middle of a log line */
    put("fault");
    flush();
    ncall++;
  }
  for (; ncall < calls; ncall++) {
    if (ncall % 64 == 0) refill();
    long nr;
    switch (rnd() % 8) {
    case 0: nr = rnd() % 1024; break; /* beyond the table, and the x32 bit below */
    case 1: nr = (long)(rnd() % MAX_NR) | (rnd() % 4 == 0 ? 0x40000000L : 0); break;
    default: nr = rnd() % MAX_NR;
    }
    uint64_t a[6];
    for (int j = 0; j < 6; j++) a[j] = arg();
    if (nr == SYS_exit || nr == SYS_exit_group) continue;
    /* A forged signal frame ends most runs (a long run's commonest end): one draw in 8 is kept. */
    if (nr == SYS_rt_sigreturn && rnd() % 8 != 0) continue;
    if (nr == SYS_madvise && (a[2] == 100 || a[2] == 101)) a[2] = MADV_DONTNEED;
    /* Keep the log fd: as an argument it becomes fd 3; close_range stops below it. */
    for (int j = 0; j < 6; j++)
      if (a[j] == LOGFD) a[j] = 3;
    if (nr == SYS_close_range && a[0] <= LOGFD && a[1] >= LOGFD) a[1] = LOGFD - 1;
    dec(ncall);
    put(" ");
    dec(nr);
    for (int j = 0; j < 6; j++) {
      put(" ");
      hex(a[j]);
    }
    flush();
    raw(SYS_setitimer, ITIMER_REAL, (long)&tick, 0, 0, 0, 0);
    long r = raw(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    streak = 0;
    put("= ");
    dec(r);
    flush();
  }
  put("done ");
  dec(ncall);
  put(" ");
  dec(faults);
  flush();
  return 0;
}
