/* Resource limits the program sets on itself: RLIMIT_NOFILE (EMFILE), RLIMIT_AS (mmap and brk fail with ENOMEM). */
#include "check.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
  struct rlimit nofile = {32, 32};
  int lowest = dup(0);
  close(lowest);
  int inherited = 0;
  for (int i = 0; i < 32; i++)
    if (fcntl(i, F_GETFD) >= 0) inherited++;
  CHECK_OK(setrlimit(RLIMIT_NOFILE, &nofile));
  int opened = 0, fd, fds[32];
  while ((fd = open("data/hello.txt", O_RDONLY)) >= 0) fds[opened++ & 31] = fd;
  CHECK_EQ(errno, EMFILE);
  CHECK_EQ(opened, 32 - inherited);
  CHECK_ERR(dup(0), EMFILE);
  CHECK_ERR(fcntl(0, F_DUPFD, 0), EMFILE);
  int p[2];
  CHECK_ERR(pipe(p), EMFILE);
  for (int i = 0; i < opened && i < 32; i++) close(fds[i]);
  CHECK_EQ(open("data/hello.txt", O_RDONLY), lowest);
  close(lowest);
  /* (Raising a hard limit differs on purpose: native root may, a sandboxed program may not.) */

  /* RLIMIT_AS: 64 MiB more than the current usage is not enough for 128 MiB. */
  struct rlimit as;
  CHECK_OK(getrlimit(RLIMIT_AS, &as));
  struct rlimit lim = {96ul << 20, 96ul << 20};
  CHECK_OK(setrlimit(RLIMIT_AS, &lim));
  void *big = mmap(NULL, 128ul << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(big == MAP_FAILED && errno == ENOMEM);
  long total = 0;
  for (;;) {
    void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) break;
    total += 1 << 20;
  }
  CHECK_EQ(errno, ENOMEM);
  CHECK(total > (32l << 20) && total <= (96l << 20));
  char *b0 = (char *)syscall(SYS_brk, 0);
  CHECK((char *)syscall(SYS_brk, b0 + (64 << 20)) == b0);
  CHECK(malloc(64 << 20) == NULL);
  DONE();
}
