/* The C floor of the seccomp platform: one seccomp user-notification round
 * trip. A child installs a filter that turns getppid into a
 * SECCOMP_RET_USER_NOTIF (every other call is allowed), hands the listener fd
 * to the parent over a socketpair (SCM_RIGHTS) and calls getppid in a loop;
 * the parent answers each notification with NOTIF_RECV + NOTIF_SEND, as the
 * libos's supervisor does, but with no JavaScript.
 *
 * usage: seccomp-floor [iterations] [sync] [poll]
 *   sync = 1 (default): SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP on the listener
 *   (Linux 6.6+, what the seccomp platform sets); 0: the ordinary wake-up.
 *   poll = 1: poll(2) the listener before each RECV, as the platform does
 *   (it waits on the listener and the child's pidfd together); 0 (default):
 *   a blocking RECV.
 * prints iterations=, ns_per_round_trip= (timed in the child, around its loop)
 * and sync_wake_up= (1 if the flag was accepted). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void send_fd(int sock, int fd) {
  char byte = 0;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
  memset(&u, 0, sizeof u);
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  if (sendmsg(sock, &m, 0) != 1) die("sendmsg");
}

static int recv_fd(int sock) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  if (recvmsg(sock, &m, 0) != 1) die("recvmsg");
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  if (!c || c->cmsg_type != SCM_RIGHTS) { fprintf(stderr, "no fd received\n"); exit(1); }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

int main(int argc, char **argv) {
  long n = arg_long(argc, argv, 1, 100000);
  int sync = (int)arg_long(argc, argv, 2, 1);
  int use_poll = (int)arg_long(argc, argv, 3, 0);
  long warm = n / 10 + 1;
  int sv[2], out[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) die("socketpair");
  if (pipe(out) < 0) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("prctl");
    int listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (listener < 0) die("seccomp");
    send_fd(sv[1], listener);
    close(listener);
    long sum = 0;
    for (long i = 0; i < warm; i++) sum += syscall(SYS_getppid);
    double t0 = now_ns();
    for (long i = 0; i < n; i++) sum += syscall(SYS_getppid);
    double t1 = now_ns();
    char line[128];
    int len = snprintf(line, sizeof line, "%.2f %ld\n", (t1 - t0) / n, sum);
    if (write(out[1], line, len) != len) die("write");
    _exit(0);
  }
  close(sv[1]);
  close(out[1]);
  int listener = recv_fd(sv[0]);
  int synced = 0;
  if (sync) synced = ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0;
  struct seccomp_notif req;
  struct seccomp_notif_resp resp;
  for (long i = 0; i < warm + n; i++) {
    if (use_poll) {
      struct pollfd p = {.fd = listener, .events = POLLIN};
      if (poll(&p, 1, -1) < 0) {
        if (errno == EINTR) { i--; continue; }
        die("poll");
      }
    }
    memset(&req, 0, sizeof req);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
      if (errno == EINTR) { i--; continue; }
      die("SECCOMP_IOCTL_NOTIF_RECV");
    }
    resp.id = req.id;
    resp.val = 4242;
    resp.error = 0;
    resp.flags = 0;
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT) die("SECCOMP_IOCTL_NOTIF_SEND");
  }
  char buf[128] = {0};
  ssize_t r = read(out[0], buf, sizeof buf - 1);
  int status;
  waitpid(pid, &status, 0);
  double ns;
  long sum;
  if (r <= 0 || sscanf(buf, "%lf %ld", &ns, &sum) != 2 || sum != 4242 * (warm + n)) {
    fprintf(stderr, "child did not report (status %d)\n", status);
    return 1;
  }
  printf("iterations=%ld\nns_per_round_trip=%.2f\nsync_wake_up=%d\npoll=%d\n", n, ns, synced, use_poll);
  return 0;
}
