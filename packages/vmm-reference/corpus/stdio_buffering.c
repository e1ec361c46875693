/* stdio: full buffering on a pipe, line/unbuffered modes, stderr unbuffered, reading stdin, big output. */
#include "check.h"
#include <unistd.h>

int main(void) {
  /* stdout is a pipe (not a tty): printf output is buffered and comes after a direct write. */
  printf("buffered-1 ");
  CHECK_EQ(write(1, "direct-1\n", 9), 9);
  fflush(stdout);
  printf("\n");
  fprintf(stderr, "stderr is unbuffered ");
  CHECK_EQ(write(2, "then-direct\n", 12), 12);
  /* Line buffering by request. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("line-buffered\n");
  CHECK_EQ(write(1, "after-line\n", 11), 11);
  setvbuf(stdout, NULL, _IONBF, 0);
  printf("unbuffered ");
  CHECK_EQ(write(1, "direct-2\n", 9), 9);
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  /* stdin */
  char line[64];
  CHECK(fgets(line, sizeof line, stdin) != NULL);
  CHECK(strcmp(line, "line one\n") == 0);
  CHECK(fgets(line, sizeof line, stdin) != NULL);
  CHECK(strcmp(line, "line two\n") == 0);
  CHECK(fgets(line, sizeof line, stdin) != NULL);
  CHECK(strcmp(line, "no newline") == 0);
  CHECK(fgets(line, sizeof line, stdin) == NULL);
  CHECK(feof(stdin));
  CHECK_EQ(read(0, line, 10), 0);
  /* Big formatted output through the buffer. */
  unsigned long sum = 0;
  for (int i = 0; i < 4000; i++) {
    int n = printf("%05d %s %x %.3f\n", i, i % 3 ? "abc" : "xyzzy", i * 2654435761u, i / 7.0);
    sum += n;
  }
  unsigned long want = 0;
  for (int i = 0; i < 4000; i++)
    want += snprintf(NULL, 0, "%05d %s %x %.3f\n", i, i % 3 ? "abc" : "xyzzy", i * 2654435761u, i / 7.0);
  CHECK_EQ(sum, want);
  for (int i = 0; i < 300; i++) fputs("err line\n", stderr);
  fputc('Z', stdout);
  puts("");
  DONE();
}
