/*
 * Finding 2 (planted symlinks): run 1, with /w a writable host mount, plants
 * symbolic links to host paths outside it (`plant OUTSIDE_DIR OUTSIDE_FILE`):
 *   /w/sub   -> OUTSIDE_DIR   (a directory a later run mounts or uses as its root)
 *   /w/trace -> OUTSIDE_FILE  (a later run's --strace file)
 * Run 2 (`write`), if kindling let it start on /w/sub, writes /data/pwned:
 * that would land in OUTSIDE_DIR.
 */
#include "../check.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "plant") == 0) {
    CHECK_EQ(rmdir("/w/sub"), 0);
    CHECK_EQ(symlink(argv[2], "/w/sub"), 0);
    CHECK_EQ(symlink(argv[3], "/w/trace"), 0);
    struct stat st;
    CHECK_EQ(lstat("/w/sub", &st), 0);
    CHECK(S_ISLNK(st.st_mode));
    DONE();
  }
  if (argc == 2 && strcmp(argv[1], "write") == 0) {
    int fd = open("/data/pwned", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, "pwned\n", 6), 6);
    close(fd);
    DONE();
  }
  fprintf(stderr, "usage: planted_symlink plant DIR FILE | write\n");
  return 2;
}
