/*
 * Confinement, finding 7 (madvise reaching the host): MADV_HWPOISON and
 * MADV_SOFT_OFFLINE take the physical page behind an address out of service
 * (the first also kills whoever touches it). Without CAP_SYS_ADMIN Linux
 * answers EPERM; the sandbox must too, on every platform, and the page must
 * stay usable. Other advice keeps its Linux answers. Prints one line per call.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE 101
#endif

static void show(const char *what, int r) { printf("%-22s %d %s\n", what, r, r < 0 ? strerror(errno) : "ok"); }

int main(void) {
  char *p = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 2;
  p[0] = 1;
  show("MADV_HWPOISON", madvise(p, 4096, MADV_HWPOISON));
  show("MADV_SOFT_OFFLINE", madvise(p, 4096, MADV_SOFT_OFFLINE));
  show("MADV_HWPOISON unaligned", madvise(p + 1, 4096, MADV_HWPOISON));
  show("advice 77", madvise(p, 4096, 77));
  show("advice -1", madvise(p, 4096, -1));
  show("MADV_MERGEABLE", madvise(p, 4096, MADV_MERGEABLE));
  show("MADV_UNMERGEABLE", madvise(p, 4096, MADV_UNMERGEABLE));
  show("MADV_WILLNEED", madvise(p, 4096, MADV_WILLNEED));
  show("MADV_DONTNEED", madvise(p, 4096, MADV_DONTNEED));
  printf("after DONTNEED %d\n", p[0]);
  p[0] = 5;
  p[4096] = 6;
  printf("page still usable %d %d\n", p[0], p[4096]);
  return 0;
}
