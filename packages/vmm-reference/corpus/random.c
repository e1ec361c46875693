/* getrandom and /dev/urandom: bytes arrive, differ between calls, flags are checked. */
#include "check.h"
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

static int differ(const unsigned char *a, const unsigned char *b, int n) { return memcmp(a, b, n) != 0; }

int main(void) {
  unsigned char a[64], b[64];
  memset(a, 0, sizeof a);
  memset(b, 0, sizeof b);
  CHECK_EQ(getrandom(a, sizeof a, 0), 64);
  CHECK_EQ(getrandom(b, sizeof b, GRND_NONBLOCK), 64);
  CHECK(differ(a, b, 64));
  CHECK_EQ(getrandom(a, 0, 0), 0);
  CHECK_ERR(getrandom(a, 8, 0x40), EINVAL);
  static unsigned char big[1 << 20];
  CHECK_EQ(getrandom(big, sizeof big, 0), sizeof big);
  /* A rough check that the bytes look random: every value appears. */
  int seen[256] = {0}, all = 1;
  for (unsigned i = 0; i < sizeof big; i++) seen[big[i]]++;
  for (int i = 0; i < 256; i++)
    if (seen[i] < 3000 || seen[i] > 5300) all = 0;
  CHECK(all);
  int fd = open("/dev/urandom", O_RDONLY);
  CHECK(fd >= 0);
  CHECK_EQ(read(fd, a, 64), 64);
  CHECK_EQ(read(fd, b, 64), 64);
  CHECK(differ(a, b, 64));
  close(fd);
  fd = open("/dev/random", O_RDONLY);
  CHECK(fd >= 0);
  CHECK_EQ(read(fd, a, 16), 16);
  close(fd);
  DONE();
}
