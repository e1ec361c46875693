/* /proc: /proc/self/exe, fd/, cmdline, maps, stat, status, /proc/meminfo, /proc/cpuinfo. */
#include "check.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <unistd.h>

static long slurp(const char *path, char *buf, long size) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  long got = 0, n;
  while (got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) > 0) got += n;
  buf[got] = 0;
  close(fd);
  return got;
}

int main(int argc, char **argv) {
  (void)argc;
  static char buf[1 << 16];
  char link[PATH_MAX];
  long n = readlink("/proc/self/exe", link, sizeof link - 1);
  CHECK(n > 0);
  link[n > 0 ? n : 0] = 0;
  CHECK(strcmp(link, argv[0]) == 0);
  /* /proc/self/fd lists the open descriptors, each a link. */
  int fd = open("data/hello.txt", O_RDONLY);
  CHECK_EQ(fd, 3);
  n = readlink("/proc/self/fd/3", link, sizeof link - 1);
  CHECK(n > 0);
  link[n > 0 ? n : 0] = 0;
  CHECK(n >= 15 && strcmp(link + n - 15, "/data/hello.txt") == 0);
  int via = open("/proc/self/fd/3", O_RDONLY);
  CHECK(via >= 0);
  CHECK_EQ(read(via, buf, 5), 5);
  CHECK(memcmp(buf, "hello", 5) == 0);
  close(via);
  DIR *d = opendir("/proc/self/fd");
  CHECK(d != NULL);
  int seen3 = 0, count = 0;
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    count++;
    if (strcmp(e->d_name, "3") == 0) seen3 = 1;
  }
  CHECK(seen3);
  CHECK(count >= 4); /* 0, 1, 2, 3 and the directory itself */
  if (d) closedir(d);
  CHECK_ERR(readlink("/proc/self/fd/99", link, sizeof link), ENOENT);
  /* cmdline: NUL-separated argv */
  n = slurp("/proc/self/cmdline", buf, sizeof buf);
  CHECK_EQ(n, (long)strlen(argv[0]) + 1);
  CHECK(strcmp(buf, argv[0]) == 0);
  /* maps: the stack and a mapping of the program */
  n = slurp("/proc/self/maps", buf, sizeof buf);
  CHECK(n > 0);
  CHECK(strstr(buf, "[stack]") != NULL);
  CHECK(strstr(buf, argv[0]) != NULL);
  unsigned long lo, hi;
  char perms[8];
  CHECK_EQ(sscanf(buf, "%lx-%lx %4s", &lo, &hi, perms), 3);
  CHECK(lo < hi && (lo & 4095) == 0 && (hi & 4095) == 0);
  /* The mapping that contains main's code is executable. */
  int found = 0;
  for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && (uintptr_t)main >= lo && (uintptr_t)main < hi)
      found = perms[2] == 'x';
  }
  CHECK(found);
  /* stat: "pid (comm) S ppid ..." */
  n = slurp("/proc/self/stat", buf, sizeof buf);
  int spid = 0;
  char state = 0;
  CHECK(n > 0);
  char *close_paren = strrchr(buf, ')');
  CHECK(close_paren != NULL);
  CHECK_EQ(sscanf(buf, "%d", &spid), 1);
  CHECK_EQ(spid, getpid());
  if (close_paren) CHECK(sscanf(close_paren + 2, "%c", &state) == 1 && state == 'R');
  const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  char comm[32];
  snprintf(comm, sizeof comm, "(%.15s)", base);
  CHECK(strstr(buf, comm) == buf + strcspn(buf, "("));
  n = slurp("/proc/self/status", buf, sizeof buf);
  char want[64];
  snprintf(want, sizeof want, "\nPid:\t%d\n", getpid());
  CHECK(strstr(buf, want) != NULL);
  CHECK(strncmp(buf, "Name:\t", 6) == 0);
  n = slurp("/proc/meminfo", buf, sizeof buf);
  CHECK(strncmp(buf, "MemTotal:", 9) == 0);
  n = slurp("/proc/cpuinfo", buf, sizeof buf);
  CHECK(strstr(buf, "processor") != NULL);
  CHECK_ERR(open("/proc/self/nothing", O_RDONLY), ENOENT);
  /* /proc/self is a link to the pid */
  n = readlink("/proc/self", link, sizeof link - 1);
  CHECK(n > 0);
  link[n > 0 ? n : 0] = 0;
  CHECK_EQ(atoi(link), getpid());
  close(fd);
  DONE();
}
