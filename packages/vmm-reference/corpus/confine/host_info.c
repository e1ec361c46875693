// What a program can learn of the host it runs on (finding 9 of the containment
// issue): its environment, its own path (argv[0], /proc/self/exe, AT_EXECFN),
// its pid, the machine's RAM (sysinfo, /proc/meminfo) and its memory map.
// Writes a report to the file named by argv[1]; the test reads it on the host.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/sysinfo.h>
#include <unistd.h>

extern char** environ;

static void copy_file(FILE* out, const char* tag, const char* path) {
  FILE* f = fopen(path, "r");
  if (!f) {
    fprintf(out, "%s unreadable\n", tag);
    return;
  }
  char line[512];
  while (fgets(line, sizeof line, f)) fprintf(out, "%s %s", tag, line);
  fclose(f);
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  FILE* out = fopen(argv[1], "w");
  if (!out) return 3;
  int n = 0;
  for (char** e = environ; *e; e++, n++) fprintf(out, "env %s\n", *e);
  fprintf(out, "envcount %d\n", n);
  fprintf(out, "argv0 %s\n", argv[0]);
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[len < 0 ? 0 : len] = 0;
  fprintf(out, "exe %s\n", exe);
  const char* execfn = (const char*)getauxval(AT_EXECFN);
  fprintf(out, "execfn %s\n", execfn ? execfn : "(none)");
  fprintf(out, "pid %d\n", (int)getpid());
  struct sysinfo si;
  if (sysinfo(&si) == 0) fprintf(out, "totalram %llu\n", (unsigned long long)si.totalram * si.mem_unit);
  copy_file(out, "meminfo", "/proc/meminfo");
  copy_file(out, "maps", "/proc/self/maps");
  fclose(out);
  return 0;
}
