/*
 * Probes the seccomp child's jail from inside (finding 8, 6 host side, 9 host pid).
 *   ids            getpid, gettid, set_tid_address's result (native), getppid
 *   privs          what the host kernel lets this process do, when every call runs natively
 *   threads N      creates up to N threads (64 KiB stacks) that stay; prints how many and the errno
 *   daemon [hang]  a double-forked, setsid'd grandchild that sleeps forever; then exits (or hangs)
 *   maps           whether /proc/self/maps names this program's stack and its own file
 *   procpid        the Pid: line of /proc/self/status, where /proc/self points, getpid
 *   cwd            the working directory
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* <linux/capability.h> (musl-gcc has no kernel headers) */
#define CAP_V3 0x20080522
#define CAP_SYS_ADMIN_ 21
struct cap_hdr { unsigned version; int pid; };
struct cap_data { unsigned effective, permitted, inheritable; };

static const char *en(int e) {
  switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EAGAIN: return "EAGAIN";
    case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS";
    case ENOMEM: return "ENOMEM";
    default: return "other";
  }
}

static void *park(void *arg) {
  (void)arg;
  for (;;) pause();
  return 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "ids";
  if (strcmp(mode, "ids") == 0) {
    int x = 0;
    long settid = syscall(SYS_set_tid_address, &x);  /* native on seccomp: the kernel's own answer */
    printf("pid=%d tid=%ld settid=%ld ppid=%d\n", getpid(), syscall(SYS_gettid), settid, getppid());
    return 0;
  }
  if (strcmp(mode, "privs") == 0) {
    struct cap_hdr h = {CAP_V3, 0};
    struct cap_data d[2];
    memset(d, 0xff, sizeof d);
    long r = syscall(SYS_capget, &h, d);
    unsigned long long any = 0;
    for (int i = 0; i < 2; i++) any |= d[i].effective | d[i].permitted | d[i].inheritable;
    printf("capget=%ld caps=%llx\n", r, any);
    printf("nnp=%d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    printf("bset_sys_admin=%d\n", prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN_, 0, 0, 0));
    printf("securebits=%d\n", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
    errno = 0;
    printf("setuid1=%s\n", setuid(1) == 0 ? "ok" : en(errno));
    errno = 0;
    printf("sethostname=%s\n", sethostname("x", 1) == 0 ? "ok" : en(errno));
    errno = 0;
    printf("mount=%s\n", mount("none", "/", "tmpfs", 0, 0) == 0 ? "ok" : en(errno));
    errno = 0;
    printf("chroot=%s\n", chroot("/") == 0 ? "ok" : en(errno));
    errno = 0;
    printf("open_etc_passwd=%s\n", open("/etc/passwd", O_RDONLY) >= 0 ? "ok" : en(errno));
    errno = 0;
    printf("open_proc=%s\n", open("/proc/self/status", O_RDONLY) >= 0 ? "ok" : en(errno));
    errno = 0;
    printf("kill_init=%s\n", kill(1, SIGKILL) == 0 ? "sent" : en(errno));
    printf("pid=%d ppid=%d\n", getpid(), getppid());
    return 0;
  }
  if (strcmp(mode, "threads") == 0) {
    int want = argc > 2 ? atoi(argv[2]) : 5000;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 << 10);
    int made = 0, err = 0;
    for (; made < want; made++) {
      pthread_t t;
      err = pthread_create(&t, &a, park, 0);
      if (err != 0) break;
    }
    printf("threads=%d err=%s\n", made, en(err));
    fflush(stdout);
    return 0;
  }
  if (strcmp(mode, "daemon") == 0) {
    int p[2];
    if (pipe(p) < 0) { printf("pipe=%s\n", en(errno)); return 1; }
    pid_t c = fork();
    if (c < 0) { printf("fork=%s\n", en(errno)); return 1; }
    if (c == 0) {
      setsid();
      pid_t g = fork();
      if (g == 0) {
        char one = 'x';
        if (write(p[1], &one, 1) != 1) _exit(1);
        for (;;) pause();
      }
      _exit(g < 0 ? 1 : 0);
    }
    int st;
    waitpid(c, &st, 0);
    char b;
    if (read(p[0], &b, 1) != 1) { printf("daemon=none\n"); return 1; }
    printf("daemon=up\n");
    fflush(stdout);
    if (argc > 2 && strcmp(argv[2], "hang") == 0) for (;;) pause();
    return 0;
  }
  if (strcmp(mode, "procpid") == 0) {
    static char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0) { printf("status=%s\n", en(errno)); return 1; }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    char *p = strstr(buf, "\nPid:");
    char self[32] = "";
    ssize_t l = readlink("/proc/self", self, sizeof self - 1);
    self[l > 0 ? l : 0] = 0;
    printf("status_pid=%d self=%s getpid=%d\n", p ? atoi(p + 5) : -1, self, getpid());
    return 0;
  }
  if (strcmp(mode, "cwd") == 0) {
    char b[256];
    printf("cwd=%s\n", getcwd(b, sizeof b) ? b : en(errno));
    return 0;
  }
  if (strcmp(mode, "maps") == 0) {
    static char buf[1 << 16];
    int fd = open("/proc/self/maps", O_RDONLY);
    if (fd < 0) { printf("maps=%s\n", en(errno)); return 1; }
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)r;
    buf[n] = 0;
    printf("stack=%d heap_or_anon=%d\n", strstr(buf, "[stack]") != 0, strstr(buf, " rw-p ") != 0);
    return 0;
  }
  return 2;
}
