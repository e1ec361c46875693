/*
 * Finding 9: what the program learns of memory. sysinfo and /proc/meminfo must
 * show the sandbox's --memory (and what the libos holds for it: a 4 MiB tmpfs
 * file written first shows as shared memory), never the host's RAM.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

int main(void) {
  static char buf[1 << 20];
  int fd = open("/probe", O_CREAT | O_RDWR, 0600);
  for (int i = 0; i < 4; i++)
    if (write(fd, buf, sizeof buf) != (long)sizeof buf) { perror("write"); return 1; }
  struct sysinfo si;
  if (sysinfo(&si) != 0) { perror("sysinfo"); return 1; }
  printf("sysinfo totalram %lu\n", si.totalram * si.mem_unit);
  printf("sysinfo freeram %lu\n", si.freeram * si.mem_unit);
  printf("sysinfo sharedram %lu\n", si.sharedram * si.mem_unit);
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) { perror("/proc/meminfo"); return 1; }
  char line[256];
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "MemTotal:", 9) == 0) printf("meminfo %s", line);
  fclose(f);
  return 0;
}
