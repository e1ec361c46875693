/* Memory protection: unmapped pages and PROT_NONE/PROT_READ pages fault (SIGSEGV at the address). */
#include "check.h"
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile void *fault_addr;
static void on_segv(int sig, siginfo_t *si, void *uc) {
  (void)sig, (void)uc;
  fault_addr = si->si_addr;
  siglongjmp(jb, 1);
}

/* 1 when touching p (read, or write when `write`) raises SIGSEGV at p. */
static int faults(volatile char *p, int write) {
  fault_addr = 0;
  if (sigsetjmp(jb, 1) == 0) {
    if (write) *p = 1;
    else (void)*p;
    return 0;
  }
  return fault_addr == p;
}

int main(void) {
  long page = sysconf(_SC_PAGESIZE);
  struct sigaction sa = {0};
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  CHECK_OK(sigaction(SIGSEGV, &sa, NULL));
  char *m = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(m != MAP_FAILED);
  memset(m, 7, 3 * page);
  /* munmap the middle page: it faults, its neighbours stay. */
  CHECK_OK(munmap(m + page, page));
  CHECK(m[0] == 7 && m[2 * page] == 7);
  CHECK(faults(m + page, 0));
  /* MAP_FIXED over the hole */
  char *f = mmap(m + page, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  CHECK(f == m + page);
  CHECK(f[0] == 0);
  /* mprotect read-only: writes fault, reads work */
  CHECK_OK(mprotect(m, page, PROT_READ));
  CHECK(m[0] == 7);
  CHECK(faults(m + 10, 1));
  CHECK_OK(mprotect(m, page, PROT_READ | PROT_WRITE));
  m[10] = 3;
  CHECK(m[10] == 3);
  CHECK_OK(mprotect(m, page, PROT_NONE));
  CHECK(faults(m + 5, 0));
  CHECK_OK(mprotect(m, page, PROT_READ));
  CHECK_ERR(syscall(SYS_mprotect, m + 1, page, PROT_READ), EINVAL);
  CHECK_OK(munmap(m, 3 * page));
  CHECK(faults(m + 2 * page, 0));
  CHECK_OK(munmap(m, 3 * page));
  CHECK(faults(m + 2 * page, 0));
  DONE();
}
