/* File-backed mmap: private mappings of a host file (contents, private copies, zero fill, offsets, errors) and of /dev/zero. */
#include "check.h"
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
  long page = sysconf(_SC_PAGESIZE);
  /* file-backed private mapping: the file's bytes, a private copy, zero after EOF */
  int fd = open("data/hello.txt", O_RDONLY);
  char *fm = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  CHECK(fm != MAP_FAILED);
  if (fm == MAP_FAILED) DONE();
  CHECK(memcmp(fm, "hello from the host\nsecond line\n", 32) == 0);
  CHECK(fm[32] == 0 && fm[page - 1] == 0);
  fm[0] = 'J';
  char c;
  CHECK_EQ(pread(fd, &c, 1, 0), 1);
  CHECK(c == 'h');
  CHECK_OK(munmap(fm, 2 * page));
  int fd2 = open("data/big.bin", O_RDONLY);
  unsigned char *bm = mmap(NULL, 4 * page, PROT_READ, MAP_PRIVATE, fd2, 8192);
  CHECK(bm != MAP_FAILED);
  if (bm == MAP_FAILED) DONE();
  int good = 1;
  for (int i = 0; i < 4 * page; i++)
    if (bm[i] != (unsigned char)(((i + 8192) * 7 + ((i + 8192) >> 8)) & 0xff)) good = 0;
  CHECK(good);
  CHECK_OK(munmap(bm, 4 * page));
  CHECK_ERR(mmap(NULL, page, PROT_READ, MAP_PRIVATE, fd, 100) == MAP_FAILED ? -1 : 0, EINVAL);
  close(fd2);
  int wfd = open("data/hello.txt", O_WRONLY);
  CHECK_ERR(mmap(NULL, page, PROT_READ, MAP_PRIVATE, wfd, 0) == MAP_FAILED ? -1 : 0, EACCES);
  close(wfd);
  close(fd);

  int z = open("/dev/zero", O_RDWR);
  char *zm = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, z, 0);
  CHECK(zm != MAP_FAILED);
  if (zm != MAP_FAILED) {
    CHECK(zm[0] == 0 && zm[8191] == 0);
    zm[5] = 9;
    CHECK(zm[5] == 9);
    munmap(zm, 8192);
  }
  close(z);
  DONE();
}
