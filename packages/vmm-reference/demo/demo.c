/* The kindling demo: a static program that greets, reads a file from a
 * mounted host directory, and measures what running in the sandbox costs. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
  struct utsname u;
  uname(&u);
  printf("Hello from a static Linux program running under kindling!\n");
  printf("  kernel seen by the program: %s %s (%s)\n", u.sysname, u.release, u.machine);
  printf("  pid %d, ppid %d, uid %d\n", getpid(), getppid(), getuid());

  const char *path = argc > 1 ? argv[1] : "/data/message.txt";
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    perror(path);
    return 2;
  }
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n < 0) {
    perror("read");
    return 2;
  }
  buf[n] = 0;
  printf("  %s says: %s", path, buf);
  if (n > 0 && buf[n - 1] != '\n') printf("\n");

  const int calls = 20000;
  double t0 = now_ns();
  for (int i = 0; i < calls; i++) getppid();
  double t1 = now_ns();
  volatile unsigned long x = 0;
  const unsigned long iters = 200000000UL;
  for (unsigned long i = 0; i < iters; i++) x += i ^ (x >> 3);
  double t2 = now_ns();
  printf("  measured: getppid() %.0f ns per call (%d calls); compute loop %.2f ns per iteration\n",
         (t1 - t0) / calls, calls, (t2 - t1) / iters);
  return 0;
}
