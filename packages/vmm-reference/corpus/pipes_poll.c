/* Pipes, poll, ppoll, select, pselect: readiness, EOF, EAGAIN, EPIPE, capacity. */
#include "check.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
  int p[2];
  char buf[128];
  CHECK_OK(pipe(p));
  struct stat st;
  CHECK_OK(fstat(p[0], &st));
  CHECK(S_ISFIFO(st.st_mode));
  CHECK_ERR(lseek(p[0], 0, SEEK_CUR), ESPIPE);
  CHECK_ERR(write(p[0], "x", 1), EBADF);
  CHECK_ERR(read(p[1], buf, 1), EBADF);
  CHECK_ERR(pread(p[0], buf, 1, 0), ESPIPE);

  /* poll: the write end is writable, the read end not readable yet. */
  struct pollfd fds[2] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}};
  CHECK_EQ(poll(fds, 2, 0), 1);
  CHECK_EQ(fds[0].revents, 0);
  CHECK_EQ(fds[1].revents, POLLOUT);
  CHECK_EQ(write(p[1], "hello", 5), 5);
  CHECK_EQ(poll(fds, 2, 0), 2);
  CHECK_EQ(fds[0].revents, POLLIN);
  CHECK_EQ(read(p[0], buf, 3), 3);
  CHECK_EQ(read(p[0], buf, 100), 2);
  CHECK(memcmp(buf, "lo", 2) == 0);
  /* A negative fd is ignored; a closed fd gives POLLNVAL. */
  struct pollfd odd[2] = {{-1, POLLIN, 0}, {77, POLLIN, 0}};
  CHECK_EQ(poll(odd, 2, 0), 1);
  CHECK_EQ(odd[0].revents, 0);
  CHECK_EQ(odd[1].revents, POLLNVAL);
  /* A timeout with nothing ready returns 0. */
  fds[0].revents = 0;
  CHECK_EQ(poll(fds, 1, 20), 0);
  struct timespec ts = {0, 10000000};
  CHECK_EQ(ppoll(fds, 1, &ts, NULL), 0);

  /* select */
  fd_set r, w;
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_SET(p[0], &r);
  FD_SET(p[1], &w);
  struct timeval tv = {0, 0};
  CHECK_EQ(select(p[1] + 1, &r, &w, NULL, &tv), 1);
  CHECK(!FD_ISSET(p[0], &r) && FD_ISSET(p[1], &w));
  CHECK_EQ(write(p[1], "x", 1), 1);
  FD_ZERO(&r);
  FD_SET(p[0], &r);
  tv.tv_sec = 1;
  CHECK_EQ(select(p[0] + 1, &r, NULL, NULL, &tv), 1);
  CHECK(FD_ISSET(p[0], &r));
  CHECK_EQ(read(p[0], buf, 10), 1);
  FD_ZERO(&r);
  FD_SET(p[0], &r);
  struct timespec pts = {0, 5000000};
  CHECK_EQ(pselect(p[0] + 1, &r, NULL, NULL, &pts, NULL), 0);
  CHECK(!FD_ISSET(p[0], &r));
  FD_ZERO(&r);
  FD_SET(50, &r);
  tv.tv_sec = 0;
  CHECK_ERR(select(51, &r, NULL, NULL, &tv), EBADF);
  CHECK_ERR(select(-1, NULL, NULL, NULL, &tv), EINVAL);

  /* Non-blocking: EAGAIN on empty and on full, capacity 64 KiB. */
  CHECK_OK(fcntl(p[0], F_SETFL, O_NONBLOCK));
  CHECK_ERR(read(p[0], buf, 10), EAGAIN);
  CHECK_OK(fcntl(p[1], F_SETFL, O_NONBLOCK));
  static char big[70000];
  memset(big, 'z', sizeof big);
  long total = 0, n;
  while ((n = write(p[1], big, sizeof big)) > 0) total += n;
  CHECK_EQ(total, 65536);
  CHECK_ERR(write(p[1], big, 1), EAGAIN);
  struct pollfd wfd = {p[1], POLLOUT, 0};
  CHECK_EQ(poll(&wfd, 1, 0), 0);
  long drained = 0;
  while ((n = read(p[0], big, sizeof big)) > 0) drained += n;
  CHECK_EQ(drained, 65536);
  CHECK_ERR(read(p[0], buf, 1), EAGAIN);

  /* The writer closes: POLLHUP and EOF. */
  CHECK_EQ(write(p[1], "bye", 3), 3);
  CHECK_OK(close(p[1]));
  fds[0].revents = 0;
  CHECK_EQ(poll(fds, 1, 0), 1);
  CHECK((fds[0].revents & (POLLIN | POLLHUP)) == (POLLIN | POLLHUP));
  CHECK_EQ(read(p[0], buf, 10), 3);
  CHECK_EQ(read(p[0], buf, 10), 0);
  fds[0].revents = 0;
  CHECK_EQ(poll(fds, 1, 0), 1);
  CHECK_EQ(fds[0].revents, POLLHUP);
  CHECK_OK(close(p[0]));

  /* The reader closes: EPIPE (SIGPIPE ignored), POLLERR for the writer. */
  signal(SIGPIPE, SIG_IGN);
  CHECK_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
  CHECK_EQ(fcntl(p[0], F_GETFD), FD_CLOEXEC);
  CHECK_EQ(fcntl(p[1], F_GETFL) & O_NONBLOCK, O_NONBLOCK);
  CHECK_OK(close(p[0]));
  CHECK_ERR(write(p[1], "x", 1), EPIPE);
  wfd.fd = p[1];
  wfd.revents = 0;
  CHECK_EQ(poll(&wfd, 1, 0), 1);
  CHECK((wfd.revents & POLLERR) == POLLERR);
  CHECK_OK(close(p[1]));
  CHECK_ERR(pipe2(p, 0x4000000), EINVAL);

  /* Stdio through a pipe to ourselves. */
  CHECK_OK(pipe(p));
  FILE *w2 = fdopen(p[1], "w");
  FILE *r2 = fdopen(p[0], "r");
  fprintf(w2, "%d %s\n", 42, "words");
  fclose(w2);
  int v = 0;
  char word[16];
  CHECK_EQ(fscanf(r2, "%d %15s", &v, word), 2);
  CHECK(v == 42 && strcmp(word, "words") == 0);
  CHECK_EQ(fgetc(r2), '\n');
  CHECK_EQ(fgetc(r2), EOF);
  fclose(r2);
  DONE();
}
