/* Memory: brk, anonymous mmap (fixed, hints, errors), munmap, mprotect, mremap, madvise, malloc. */
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
__attribute__((unused)) static int faults(volatile char *p, int write) {
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
  CHECK_EQ(page, 4096);
  struct sigaction sa = {0};
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  CHECK_OK(sigaction(SIGSEGV, &sa, NULL));

  /* brk */
  char *b0 = (char *)syscall(SYS_brk, 0);
  CHECK(b0 != NULL);
  char *b1 = (char *)syscall(SYS_brk, b0 + 100000);
  CHECK(b1 == b0 + 100000);
  memset(b0, 0x5a, 100000);
  CHECK(b0[99999] == 0x5a);
  CHECK((char *)syscall(SYS_brk, b0) == b0);
  CHECK((char *)syscall(SYS_brk, b0 + 8192) == b0 + 8192);
  CHECK(b0[0] == 0 || b0[0] == 0x5a);
  CHECK((char *)syscall(SYS_brk, (char *)16) == b0 + 8192);
  CHECK((char *)syscall(SYS_brk, b0) == b0);

  /* anonymous mmap is zeroed, page aligned */
  char *m = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(m != MAP_FAILED);
  CHECK(((uintptr_t)m & (page - 1)) == 0);
  int zero = 1;
  for (long i = 0; i < 3 * page; i++)
    if (m[i]) zero = 0;
  CHECK(zero);
  memset(m, 7, 3 * page);
  CHECK_OK(munmap(m + page, page));
  CHECK(m[0] == 7 && m[2 * page] == 7);
  /* MAP_FIXED over the hole */
  char *f = mmap(m + page, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  CHECK(f == m + page);
  CHECK(f[0] == 0);
  CHECK_OK(mprotect(m, page, PROT_READ));
  CHECK(m[0] == 7);
  CHECK_ERR(syscall(SYS_mprotect, m + 1, page, PROT_READ), EINVAL);
  CHECK_OK(mprotect(m, page, PROT_READ | PROT_WRITE));
  CHECK_OK(munmap(m, 3 * page));
  CHECK_ERR(munmap(m + 1, page), EINVAL);
  CHECK_ERR(mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 0, EINVAL);
  CHECK_ERR(mmap(NULL, page, PROT_READ, MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 0, EINVAL);
  CHECK_ERR(mmap(NULL, page, PROT_READ, MAP_PRIVATE, 99, 0) == MAP_FAILED ? -1 : 0, EBADF);
  CHECK_ERR(mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 1) == MAP_FAILED ? -1 : 0, EINVAL);

  /* a huge request fails with ENOMEM */
  CHECK_ERR(mmap(NULL, (size_t)1 << 48, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 0,
            ENOMEM);

  /* mremap grows (moving when allowed) and keeps the contents */
  char *r = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  strcpy(r, "kept");
  char *r2 = mremap(r, page, 16 * page, MREMAP_MAYMOVE);
  CHECK(r2 != MAP_FAILED);
  CHECK(strcmp(r2, "kept") == 0);
  r2[16 * page - 1] = 1;
  char *r3 = mremap(r2, 16 * page, page, 0);
  CHECK(r3 == r2);
  CHECK(strcmp(r3, "kept") == 0);
  CHECK_ERR(mremap(r3 + 1, page, 2 * page, MREMAP_MAYMOVE) == MAP_FAILED ? -1 : 0, EINVAL);
  CHECK_OK(madvise(r3, page, MADV_DONTNEED));
  CHECK(r3[0] == 0);
  CHECK_OK(munmap(r3, page));

  /* malloc of small and large blocks */
  char *small = malloc(100);
  char *large = malloc(10 << 20);
  CHECK(small && large);
  memset(large, 1, 10 << 20);
  CHECK(large[(10 << 20) - 1] == 1);
  free(large);
  free(small);
  void *many[1000];
  for (int i = 0; i < 1000; i++) many[i] = calloc(1, i * 37 + 1);
  int allzero = 1;
  for (int i = 0; i < 1000; i++)
    if (((char *)many[i])[i * 37]) allzero = 0;
  CHECK(allzero);
  for (int i = 0; i < 1000; i++) free(many[i]);
  DONE();
}
