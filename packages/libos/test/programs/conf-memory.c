/* Memory syscalls with deterministic output: errors, zero-fill on reuse,
 * mremap in place and moved, MAP_FIXED(_NOREPLACE), mprotect, madvise, brk. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define P 4096
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

static void res(const char *what, long r) {
  if (r == -1)
    printf("%s = -1 errno=%d\n", what, errno);
  else
    printf("%s = ok\n", what);
  errno = 0;
}

static long all(const char *p, size_t n, char v) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != v) return 0;
  return 1;
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  res("mmap len 0", (long)mmap(NULL, 0, PROT_READ, ANON, -1, 0) == (long)MAP_FAILED ? -1 : 0);
  res("mmap no type", (long)mmap(NULL, P, PROT_READ, MAP_ANONYMOUS, -1, 0) == (long)MAP_FAILED ? -1 : 0);
  res("mmap bad offset", (long)mmap(NULL, P, PROT_READ, ANON, -1, 5) == (long)MAP_FAILED ? -1 : 0);
  res("mmap fixed unaligned", (long)mmap((void *)0x12345, P, PROT_READ, ANON | MAP_FIXED, -1, 0) == (long)MAP_FAILED ? -1 : 0);
  res("mmap bad fd", (long)mmap(NULL, P, PROT_READ, MAP_PRIVATE, 99, 0) == (long)MAP_FAILED ? -1 : 0);

  char *a = mmap(NULL, 4 * P, PROT_READ | PROT_WRITE, ANON, -1, 0);
  printf("aligned=%d zero=%ld\n", ((uintptr_t)a % P) == 0, all(a, 4 * P, 0));
  memset(a, 'x', 4 * P);
  res("munmap unaligned", munmap(a + 1, P));
  res("munmap len 0", munmap(a, 0));
  res("munmap middle", munmap(a + P, P));
  char *b = mmap(a + P, P, PROT_READ | PROT_WRITE, ANON | MAP_FIXED_NOREPLACE, -1, 0);
  printf("refill at hole: same=%d zero=%ld neighbours=%ld\n", b == a + P, all(b, P, 0), all(a, P, 'x') && all(a + 2 * P, 2 * P, 'x'));
  res("noreplace over mapping", (long)mmap(a, P, PROT_READ, ANON | MAP_FIXED_NOREPLACE, -1, 0) == (long)MAP_FAILED ? -1 : 0);
  char *c = mmap(a + 2 * P, P, PROT_READ | PROT_WRITE, ANON | MAP_FIXED, -1, 0);
  printf("fixed replace: same=%d zero=%ld\n", c == a + 2 * P, all(c, P, 0));

  res("mprotect unaligned", mprotect(a + 1, P, PROT_READ));
  res("mprotect bad prot", mprotect(a, P, 0x1000));
  res("mprotect ok", mprotect(a, 4 * P, PROT_READ | PROT_WRITE));
  munmap(a + 3 * P, P);
  res("mprotect over hole", mprotect(a, 4 * P, PROT_READ | PROT_WRITE));
  res("madvise bad advice", madvise(a, P, 12345));
  res("madvise unaligned", madvise(a + 1, P, MADV_DONTNEED));
  memset(a, 'y', P);
  res("madvise dontneed", madvise(a, P, MADV_DONTNEED));
  printf("dontneed zero=%ld\n", all(a, P, 0));
  res("madvise over hole", madvise(a, 4 * P, MADV_NORMAL));

  /* mremap: shrink, grow in place into a hole, blocked growth, move */
  char *m = mmap(NULL, 3 * P, PROT_READ | PROT_WRITE, ANON, -1, 0);
  memset(m, 'm', 3 * P);
  munmap(m + P, P);
  res("mremap grow into hole", (long)mremap(m, P, 2 * P, 0) == (long)m ? 0 : -1);
  printf("grown part zero=%ld\n", all(m + P, P, 0));
  res("mremap grow blocked", (long)mremap(m, 2 * P, 3 * P, 0) == (long)MAP_FAILED ? -1 : 0);
  char *n = mremap(m, 2 * P, 3 * P, MREMAP_MAYMOVE);
  printf("moved: kept=%ld\n", all(n, P, 'm'));
  res("mremap shrink", (long)mremap(n, 3 * P, P, 0) == (long)n ? 0 : -1);
  res("mremap unaligned", (long)mremap(n + 1, P, 2 * P, MREMAP_MAYMOVE) == (long)MAP_FAILED ? -1 : 0);
  res("mremap bad flags", (long)mremap(n, P, 2 * P, 99) == (long)MAP_FAILED ? -1 : 0);
  res("mremap fixed without maymove", (long)mremap(n, P, 2 * P, MREMAP_FIXED, a) == (long)MAP_FAILED ? -1 : 0);
  munmap(n, P);
  res("mremap unmapped", (long)mremap(n, P, 2 * P, MREMAP_MAYMOVE) == (long)MAP_FAILED ? -1 : 0);

  /* shared anonymous memory works like private memory in one process */
  int *sh = mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  sh[10] = 42;
  printf("shared anon=%d\n", sh[10]);
  unsigned char vec[4];
  res("mincore", mincore(sh, P, vec));
  res("msync", msync(sh, P, MS_SYNC));
  res("msync bad flags", msync(sh, P, MS_SYNC | MS_ASYNC));

  /* brk */
  char *b0 = (char *)syscall(SYS_brk, 0);
  char *b1 = (char *)syscall(SYS_brk, b0 + 3 * P + 5);
  printf("brk grows=%d\n", b1 == b0 + 3 * P + 5);
  memset(b0, 'b', 3 * P + 5);
  char *b2 = (char *)syscall(SYS_brk, b0);
  char *b3 = (char *)syscall(SYS_brk, b0 + 2 * P);
  printf("brk shrink=%d regrow=%d zero=%ld\n", b2 == b0, b3 == b0 + 2 * P, all(b0 + P, P, 0));
  printf("brk below start unchanged=%d\n", (char *)syscall(SYS_brk, b0 - 100 * P) == b3);
  return 0;
}
