/* /dev/null, /dev/zero, /dev/urandom and /dev/full: reads, writes, stat, seeking, (mmap of /dev/zero: mmap_file.c). */
#include "check.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int main(void) {
  char buf[4096];
  struct stat st;
  int fd = open("/dev/null", O_RDWR);
  CHECK(fd >= 0);
  CHECK_EQ(read(fd, buf, sizeof buf), 0);
  CHECK_EQ(write(fd, buf, sizeof buf), 4096);
  CHECK_EQ(lseek(fd, 100, SEEK_SET), 0);
  CHECK_OK(fstat(fd, &st));
  CHECK(S_ISCHR(st.st_mode));
  CHECK(major(st.st_rdev) == 1 && minor(st.st_rdev) == 3);
  CHECK_EQ(st.st_mode & 0777, 0666);
  close(fd);
  fd = open("/dev/zero", O_RDWR);
  memset(buf, 1, sizeof buf);
  CHECK_EQ(read(fd, buf, sizeof buf), 4096);
  int zero = 1;
  for (int i = 0; i < 4096; i++)
    if (buf[i]) zero = 0;
  CHECK(zero);
  CHECK_EQ(write(fd, buf, 10), 10);
  CHECK_OK(stat("/dev/zero", &st));
  CHECK(major(st.st_rdev) == 1 && minor(st.st_rdev) == 5);
  close(fd);
  CHECK_OK(stat("/dev/urandom", &st));
  CHECK(S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 9);
  fd = open("/dev/full", O_WRONLY);
  if (fd >= 0) {
    CHECK_ERR(write(fd, "x", 1), ENOSPC);
    close(fd);
  } else {
    CHECK(!"/dev/full is missing");
  }
  /* stdio to /dev/null */
  FILE *f = fopen("/dev/null", "w");
  CHECK(f != NULL);
  for (int i = 0; i < 10000; i++) fprintf(f, "%d\n", i);
  CHECK_EQ(fclose(f), 0);
  CHECK_ERR(open("/dev/nonexistent", O_RDONLY), ENOENT);
  CHECK_OK(access("/dev/null", R_OK | W_OK));
  DONE();
}
