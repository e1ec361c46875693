/* Files: open/read/write/lseek/pread/pwrite/readv/writev/ftruncate/O_APPEND/O_TRUNC/O_EXCL. */
#include "check.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

int main(void) {
  char buf[256];
  int fd = open("data/hello.txt", O_RDONLY);
  CHECK(fd >= 3);
  CHECK_EQ(read(fd, buf, 5), 5);
  CHECK(memcmp(buf, "hello", 5) == 0);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 5);
  CHECK_EQ(lseek(fd, -4, SEEK_END), 28);
  CHECK_EQ(read(fd, buf, sizeof buf), 4);
  CHECK(memcmp(buf, "ine\n", 4) == 0);
  CHECK_EQ(read(fd, buf, sizeof buf), 0);
  CHECK_EQ(lseek(fd, 100, SEEK_SET), 100);
  CHECK_EQ(read(fd, buf, sizeof buf), 0);
  CHECK_EQ(pread(fd, buf, 4, 6), 4);
  CHECK(memcmp(buf, "from", 4) == 0);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 100);
  CHECK_ERR(lseek(fd, -1, SEEK_SET), EINVAL);
  CHECK_ERR(lseek(fd, 0, 42), EINVAL);
  CHECK_ERR(write(fd, "x", 1), EBADF);
  CHECK_OK(close(fd));
  CHECK_ERR(close(fd), EBADF);

  /* Create, write, read back. */
  fd = open("scratch/f", O_RDWR | O_CREAT | O_EXCL, 0644);
  CHECK(fd >= 0);
  CHECK_ERR(open("scratch/f", O_RDWR | O_CREAT | O_EXCL, 0644), EEXIST);
  CHECK_EQ(write(fd, "abcdef", 6), 6);
  CHECK_EQ(pwrite(fd, "XY", 2, 2), 2);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 6);
  CHECK_EQ(pread(fd, buf, 10, 0), 6);
  CHECK(memcmp(buf, "abXYef", 6) == 0);
  /* A write past the end leaves a hole of zeros. */
  CHECK_EQ(pwrite(fd, "Z", 1, 10), 1);
  struct stat st;
  CHECK_OK(fstat(fd, &st));
  CHECK_EQ(st.st_size, 11);
  CHECK_EQ(pread(fd, buf, 20, 0), 11);
  CHECK(memcmp(buf, "abXYef\0\0\0\0Z", 11) == 0);
  CHECK_OK(ftruncate(fd, 3));
  CHECK_OK(fstat(fd, &st));
  CHECK_EQ(st.st_size, 3);
  CHECK_OK(ftruncate(fd, 5));
  CHECK_EQ(pread(fd, buf, 20, 0), 5);
  CHECK(memcmp(buf, "abX\0\0", 5) == 0);
  CHECK_ERR(ftruncate(fd, -1), EINVAL);
  /* readv / writev */
  struct iovec iov[3] = {{"one ", 4}, {"", 0}, {"two\n", 4}};
  CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
  CHECK_EQ(writev(fd, iov, 3), 8);
  char a[3], b[10];
  struct iovec riov[2] = {{a, 3}, {b, 10}};
  CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
  CHECK_EQ(readv(fd, riov, 2), 8);
  CHECK(memcmp(a, "one", 3) == 0 && memcmp(b, " two\n", 5) == 0);
  CHECK_OK(close(fd));

  /* O_APPEND writes at the end whatever the offset. */
  fd = open("scratch/f", O_WRONLY | O_APPEND);
  CHECK(fd >= 0);
  CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
  CHECK_EQ(write(fd, "end", 3), 3);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 11);
  CHECK_ERR(read(fd, buf, 1), EBADF);
  CHECK_OK(close(fd));
  /* O_TRUNC */
  fd = open("scratch/f", O_RDWR | O_TRUNC);
  CHECK_OK(fstat(fd, &st));
  CHECK_EQ(st.st_size, 0);
  CHECK_OK(close(fd));
  /* O_DIRECTORY, O_CREAT on a directory, O_WRONLY on a directory */
  CHECK_ERR(open("data/hello.txt", O_RDONLY | O_DIRECTORY), ENOTDIR);
  CHECK_ERR(open("data", O_WRONLY), EISDIR);
  CHECK_ERR(open("data/hello.txt/x", O_RDONLY), ENOTDIR);
  CHECK_ERR(open("data/nothing", O_RDONLY), ENOENT);
  CHECK_ERR(open("nodir/nothing", O_RDWR | O_CREAT, 0644), ENOENT);
  fd = open("data", O_RDONLY | O_DIRECTORY);
  CHECK(fd >= 0);
  CHECK_ERR(read(fd, buf, 1), EISDIR);
  CHECK_OK(close(fd));
  /* Large reads in pieces. */
  fd = open("data/big.bin", O_RDONLY);
  static unsigned char big[100000];
  size_t got = 0;
  long n;
  while ((n = read(fd, big + got, 7777)) > 0) got += n;
  CHECK_EQ(got, 100000);
  int good = 1;
  for (int i = 0; i < 100000; i++)
    if (big[i] != (unsigned char)((i * 7 + (i >> 8)) & 0xff)) good = 0;
  CHECK(good);
  CHECK_OK(close(fd));
  CHECK_OK(unlink("scratch/f"));
  /* stdio on files */
  FILE *f = fopen("scratch/g", "w+");
  CHECK(f != NULL);
  for (int i = 0; i < 1000; i++) fprintf(f, "line %d\n", i);
  CHECK_OK(fflush(f));
  rewind(f);
  int lines = 0;
  while (fgets(buf, sizeof buf, f)) lines++;
  CHECK_EQ(lines, 1000);
  CHECK_EQ(ftell(f), 8890);
  CHECK_OK(fclose(f));
  CHECK_OK(unlink("scratch/g"));
  DONE();
}
