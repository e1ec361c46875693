/* Directories and names: getdents64, mkdir/rmdir, unlink, rename(at2), link, symlink, readlink, chdir/getcwd. */
#include "check.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Lists a directory with getdents64, sorted, with d_type letters. */
static void list(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY);
  char buf[512];
  char *names[64];
  int n = 0;
  long r;
  while ((r = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
    for (long off = 0; off < r;) {
      struct linux_dirent64 *d = (void *)(buf + off);
      char *s = malloc(300);
      snprintf(s, 300, "%s:%c", d->d_name,
               d->d_type == DT_DIR ? 'd' : d->d_type == DT_REG ? 'f' : d->d_type == DT_LNK ? 'l' : '?');
      if (n < 64) names[n++] = s;
      off += d->d_reclen;
    }
  }
  CHECK_EQ(r, 0);
  qsort(names, n, sizeof names[0], cmp);
  printf("     %s:", path);
  for (int i = 0; i < n; i++) printf(" %s", names[i]), free(names[i]);
  printf("\n");
  close(fd);
}

int main(void) {
  list("data");
  list("data/sub");
  /* A tiny buffer: EINVAL when not even one entry fits. */
  int fd = open("data", O_RDONLY | O_DIRECTORY);
  char tiny[8];
  CHECK_ERR(syscall(SYS_getdents64, fd, tiny, sizeof tiny), EINVAL);
  close(fd);
  fd = open("data/hello.txt", O_RDONLY);
  char buf[512];
  CHECK_ERR(syscall(SYS_getdents64, fd, buf, sizeof buf), ENOTDIR);
  close(fd);
  /* readdir with many entries */
  CHECK_OK(mkdir("scratch/many", 0755));
  for (int i = 0; i < 200; i++) {
    snprintf(buf, sizeof buf, "scratch/many/file-with-a-longish-name-%03d", i);
    int f = open(buf, O_CREAT | O_WRONLY, 0644);
    close(f);
  }
  DIR *d = opendir("scratch/many");
  int count = 0;
  struct dirent *e;
  while ((e = readdir(d))) count++;
  CHECK_EQ(count, 202);
  /* rewinddir sees them again */
  rewinddir(d);
  count = 0;
  while ((e = readdir(d))) count++;
  CHECK_EQ(count, 202);
  closedir(d);
  CHECK_ERR(rmdir("scratch/many"), ENOTEMPTY);
  for (int i = 0; i < 200; i++) {
    snprintf(buf, sizeof buf, "scratch/many/file-with-a-longish-name-%03d", i);
    unlink(buf);
  }
  CHECK_OK(rmdir("scratch/many"));

  /* mkdir / rmdir */
  CHECK_OK(mkdir("scratch/a", 0755));
  CHECK_ERR(mkdir("scratch/a", 0755), EEXIST);
  CHECK_ERR(mkdir("scratch/x/y", 0755), ENOENT);
  CHECK_ERR(mkdir("data/hello.txt/y", 0755), ENOTDIR);
  CHECK_OK(mkdir("scratch/a/b", 0755));
  CHECK_ERR(rmdir("scratch/a"), ENOTEMPTY);
  CHECK_ERR(rmdir("scratch/a/b/."), EINVAL);
  CHECK_ERR(rmdir("data/hello.txt"), ENOTDIR);
  CHECK_ERR(unlink("scratch/a"), EISDIR);
  CHECK_OK(rmdir("scratch/a/b"));

  /* rename */
  int f = open("scratch/a/one", O_CREAT | O_WRONLY, 0644);
  CHECK_EQ(write(f, "1", 1), 1);
  close(f);
  f = open("scratch/two", O_CREAT | O_WRONLY, 0644);
  CHECK_EQ(write(f, "22", 2), 2);
  close(f);
  CHECK_OK(rename("scratch/a/one", "scratch/two"));
  struct stat st;
  CHECK_OK(stat("scratch/two", &st));
  CHECK_EQ(st.st_size, 1);
  CHECK_ERR(stat("scratch/a/one", &st), ENOENT);
  CHECK_ERR(rename("scratch/nothing", "scratch/x"), ENOENT);
  CHECK_ERR(rename("scratch/a", "scratch/two"), ENOTDIR);
  CHECK_ERR(rename("scratch/two", "scratch/a"), EISDIR);
  CHECK_ERR(rename("scratch", "scratch/a/inside"), EINVAL);
  CHECK_OK(rename("scratch/a", "scratch/b"));
  CHECK_OK(stat("scratch/b", &st));
  CHECK(S_ISDIR(st.st_mode));
  CHECK_OK(mkdir("scratch/c", 0755));
  CHECK_OK(rename("scratch/b", "scratch/c"));
  f = open("scratch/c/z", O_CREAT | O_WRONLY, 0644);
  close(f);
  CHECK_OK(mkdir("scratch/e", 0755));
  CHECK_ERR(rename("scratch/e", "scratch/c"), ENOTEMPTY);
  CHECK_OK(syscall(SYS_renameat2, AT_FDCWD, "scratch/two", AT_FDCWD, "scratch/c/z", 1 /* RENAME_NOREPLACE */) == -1 &&
           errno == EEXIST
               ? 0
               : -1);
  CHECK_OK(syscall(SYS_renameat2, AT_FDCWD, "scratch/two", AT_FDCWD, "scratch/c/z", 2 /* RENAME_EXCHANGE */));
  CHECK_OK(stat("scratch/two", &st));
  CHECK_EQ(st.st_size, 0);
  CHECK_OK(stat("scratch/c/z", &st));
  CHECK_EQ(st.st_size, 1);

  /* link */
  CHECK_OK(link("scratch/two", "scratch/hard"));
  CHECK_OK(stat("scratch/two", &st));
  CHECK_EQ(st.st_nlink, 2);
  struct stat st2;
  CHECK_OK(stat("scratch/hard", &st2));
  CHECK(st.st_ino == st2.st_ino);
  CHECK_ERR(link("scratch/two", "scratch/hard"), EEXIST);
  CHECK_ERR(link("scratch/c", "scratch/dirlink"), EPERM);
  CHECK_ERR(link("scratch/none", "scratch/x"), ENOENT);
  CHECK_OK(unlink("scratch/two"));
  CHECK_OK(stat("scratch/hard", &st2));
  CHECK_EQ(st2.st_nlink, 1);

  /* An unlinked open file stays readable. */
  f = open("scratch/hard", O_RDWR);
  CHECK_EQ(write(f, "still", 5), 5);
  CHECK_OK(unlink("scratch/hard"));
  CHECK_EQ(pread(f, buf, 10, 0), 5);
  CHECK_OK(fstat(f, &st));
  CHECK_EQ(st.st_nlink, 0);
  close(f);

  /* symlink / readlink */
  CHECK_OK(symlink("c/z", "scratch/sl"));
  CHECK_ERR(symlink("c/z", "scratch/sl"), EEXIST);
  char lb[64];
  memset(lb, 'x', sizeof lb);
  CHECK_EQ(readlink("scratch/sl", lb, sizeof lb), 3);
  CHECK(memcmp(lb, "c/zx", 4) == 0);
  CHECK_EQ(readlink("scratch/sl", lb, 2), 2);
  CHECK_ERR(readlink("scratch/c", lb, sizeof lb), EINVAL);
  CHECK_ERR(readlink("scratch/none", lb, sizeof lb), ENOENT);
  CHECK_OK(stat("scratch/sl", &st));
  CHECK(S_ISREG(st.st_mode));
  CHECK_OK(symlink("loop2", "scratch/loop1"));
  CHECK_OK(symlink("loop1", "scratch/loop2"));
  CHECK_ERR(open("scratch/loop1", O_RDONLY), ELOOP);
  CHECK_ERR(open("scratch/sl", O_RDONLY | O_NOFOLLOW), ELOOP);
  int dfd = open("scratch", O_RDONLY | O_DIRECTORY);
  CHECK_EQ(readlinkat(dfd, "sl", lb, sizeof lb), 3);
  CHECK_OK(symlinkat("../data/hello.txt", dfd, "up"));
  f = openat(dfd, "up", O_RDONLY);
  CHECK_EQ(read(f, buf, 5), 5);
  CHECK(memcmp(buf, "hello", 5) == 0);
  close(f);
  /* mkdirat / unlinkat with AT_REMOVEDIR */
  CHECK_OK(mkdirat(dfd, "md", 0700));
  CHECK_ERR(unlinkat(dfd, "md", 0), EISDIR);
  CHECK_OK(unlinkat(dfd, "md", AT_REMOVEDIR));
  CHECK_ERR(unlinkat(dfd, "sl", AT_REMOVEDIR), ENOTDIR);

  /* getcwd / chdir / fchdir */
  char cwd[PATH_MAX], cwd2[PATH_MAX];
  CHECK(getcwd(cwd, sizeof cwd) != NULL);
  CHECK_OK(chdir("scratch/c"));
  CHECK(getcwd(cwd2, sizeof cwd2) != NULL);
  size_t base = strcmp(cwd, "/") == 0 ? 0 : strlen(cwd); /* the tree's path natively, "/" in the sandbox */
  CHECK(strlen(cwd2) == base + 10 && strcmp(cwd2 + base, "/scratch/c") == 0);
  CHECK_OK(chdir(".."));
  CHECK(getcwd(cwd2, sizeof cwd2) != NULL && strcmp(cwd2 + base, "/scratch") == 0);
  CHECK_ERR(chdir("sl"), ENOTDIR);
  CHECK_ERR(chdir("none"), ENOENT);
  CHECK_ERR(getcwd(cwd2, 2) == NULL ? -1 : 0, ERANGE);
  int here = open(".", O_RDONLY | O_DIRECTORY);
  CHECK_OK(chdir("/"));
  CHECK(getcwd(cwd2, sizeof cwd2) != NULL && strcmp(cwd2, "/") == 0);
  CHECK_OK(chdir(".."));
  CHECK(getcwd(cwd2, sizeof cwd2) != NULL && strcmp(cwd2, "/") == 0);
  CHECK_OK(fchdir(here));
  CHECK(getcwd(cwd2, sizeof cwd2) != NULL && strcmp(cwd2 + base, "/scratch") == 0);
  CHECK_OK(chdir(cwd));

  /* clean up */
  unlink("scratch/sl");
  unlink("scratch/up");
  unlink("scratch/loop1");
  unlink("scratch/loop2");
  unlink("scratch/c/z");
  CHECK_OK(rmdir("scratch/c"));
  CHECK_OK(rmdir("scratch/e"));
  list("scratch");
  DONE();
}
