/* Identity and process: uname, pids, uids/gids, umask, rlimits, sysinfo, getrusage, affinity. */
#include "check.h"
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(void) {
  struct utsname u;
  CHECK_OK(uname(&u));
  CHECK(strcmp(u.sysname, "Linux") == 0);
  CHECK(strcmp(u.machine, "x86_64") == 0);
  CHECK(u.release[0] >= '1' && u.release[0] <= '9' && strchr(u.release, '.') != NULL);
  CHECK(strlen(u.nodename) > 0);
  pid_t pid = getpid();
  CHECK(pid > 0);
  CHECK_EQ(syscall(SYS_gettid), pid);
  CHECK(getppid() >= 0 && getppid() != pid);
  CHECK_EQ(getuid(), geteuid());
  CHECK_EQ(getgid(), getegid());
  uid_t r, e, s;
  CHECK_OK(getresuid(&r, &e, &s));
  CHECK(r == getuid() && e == geteuid() && s == geteuid());
  gid_t gr, ge, gs;
  CHECK_OK(getresgid(&gr, &ge, &gs));
  CHECK(gr == getgid() && ge == getegid() && gs == getegid());
  int n = getgroups(0, NULL);
  CHECK(n >= 0);
  gid_t groups[64];
  CHECK_EQ(getgroups(64, groups), n);
  if (n > 1) CHECK_ERR(getgroups(1, groups), EINVAL);
  CHECK_OK(setuid(getuid()));
  CHECK_EQ(syscall(SYS_set_tid_address, NULL), pid);
  mode_t old = umask(077);
  CHECK_EQ(umask(old), 077);
  struct rlimit rl;
  CHECK_OK(getrlimit(RLIMIT_STACK, &rl));
  CHECK(rl.rlim_cur > 0);
  CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
  CHECK(rl.rlim_cur >= 64 && rl.rlim_cur <= rl.rlim_max);
  struct rlimit lower = {64, rl.rlim_max};
  CHECK_OK(setrlimit(RLIMIT_NOFILE, &lower));
  CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
  CHECK_EQ(rl.rlim_cur, 64);
  CHECK_ERR(dup2(0, 64), EBADF);
  CHECK_EQ(dup2(1, 63), 63);
  struct rlimit inverted = {100, 10};
  CHECK_ERR(setrlimit(RLIMIT_NOFILE, &inverted), EINVAL);
  CHECK_ERR(getrlimit(99, &rl), EINVAL);
  struct sysinfo si;
  CHECK_OK(sysinfo(&si));
  CHECK(si.totalram > 0 && si.mem_unit >= 1 && si.freeram <= si.totalram);
  struct rusage ru;
  CHECK_OK(getrusage(RUSAGE_SELF, &ru));
  CHECK(ru.ru_utime.tv_usec >= 0 && ru.ru_utime.tv_usec < 1000000);
  CHECK_ERR(getrusage(99, &ru), EINVAL);
  cpu_set_t cs;
  CHECK_OK(sched_getaffinity(0, sizeof cs, &cs));
  CHECK(CPU_COUNT(&cs) >= 1);
  CHECK(sysconf(_SC_NPROCESSORS_ONLN) >= 1);
  CHECK_OK(sched_yield());
  char host[256];
  CHECK_OK(gethostname(host, sizeof host));
  CHECK(strcmp(host, u.nodename) == 0);
  DONE();
}
