/*
 * Finding 5: threads that only wait, each with a tiny stack of its own, until
 * clone fails (up to argv[1]). On kvm each is a cooperative context held by the
 * libos in the host process (it used to take ~5.5 KiB of host memory each,
 * uncharged: 400k of them took 2.2 GB); Linux answers EAGAIN when it cannot.
 */
#include "flood.h"
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define STACK 1024

static int never;

static int waiter(void *arg) {
  (void)arg;
  for (;;) syscall(SYS_futex, &never, FUTEX_WAIT, 0, NULL, NULL, 0);
  return 0;
}

int main(int argc, char **argv) {
  long max = argc > 1 ? atol(argv[1]) : 4096;
  char *pool = mmap(NULL, (size_t)max * STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (pool == MAP_FAILED) { perror("mmap"); return 1; }
  const int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
  long n = 0;
  int err = 0;
  for (; n < max; n++) {
    if (clone(waiter, pool + (n + 1) * STACK - 64, flags, NULL) < 0) { err = errno; break; }
  }
  if (!err) { printf("clone no limit after %ld\n", n); fflush(stdout); _exit(1); }
  stopped("clone", err, n);
  _exit(0); /* exit_group: every waiting thread goes with it */
}
