#include "freestanding.h"
/* Exercises the platform: arguments in all six registers, 64-bit values, a
 * negative return, the initial stack, and an exit status. */
void _start_c(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  puts1("hello from ring 3\n");
  for (long i = 0; i < argc; i++) { puts1(argv[i]); puts1("\n"); }
  long r = sys6(500, 1, 2, 3, 4, 5, 6);           /* the test server sums them: 21 */
  long big = sys6(501, 0x123456789abcLL, -100, 0, 0, 0, 0); /* echoes arg0 + 1 */
  long neg = sys3(502, 0, 0, 0);                  /* returns -ENOENT */
  int ok = r == 21 && big == 0x123456789abdLL && neg == -2;
  sys3(231, ok ? 42 : 1, 0, 0);                   /* exit_group */
}
__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call _start_c\n hlt\n");
