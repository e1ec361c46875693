#include "freestanding.h"
/* Faults on purpose: argv[1] picks which. */
void _start_c(long *sp) {
  char *which = ((char **)(sp + 1))[1];
  if (which[0] == 'n') { volatile int *p = (int *)0; *p = 1; }          /* #PF at 0 */
  if (which[0] == 's') { volatile int *p = (int *)0x13000; *p = 1; }    /* #PF: the shim is read-only */
  if (which[0] == 'u') { __asm__ volatile("ud2"); }                      /* #UD */
  if (which[0] == 'd') { __asm__ volatile("xor %%ecx, %%ecx\n div %%ecx" ::: "eax", "ecx", "edx"); } /* #DE */
  if (which[0] == 'h') { __asm__ volatile("hlt"); }                      /* #GP */
  if (which[0] == 'o') { __asm__ volatile("outb %al, $0x2e"); }          /* #GP: exception ports are closed to ring 3 */
  if (which[0] == 'l') { for (;;) {} }                                   /* never exits */
  sys3(231, 0, 0, 0);
}
__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call _start_c\n hlt\n");
