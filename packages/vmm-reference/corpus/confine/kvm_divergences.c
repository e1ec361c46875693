/*
 * Port I/O and `int n` from ring 3, each under a SA_SIGINFO handler that
 * prints what arrived and siglongjmps out (no fork). Run natively and in the
 * sandbox on both platforms; the output must be the same. On kvm the port
 * 0x10 is the shim's syscall port (open to ring 3 by the TSS I/O bitmap): only
 * the shim's own `out` may be a system call; program code touching any port
 * gets Linux's #GP (SIGSEGV, SI_KERNEL, si_addr 0, rip at the instruction).
 * Addresses are printed relative to the faulting instruction, never raw.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

/* Each case is an asm function; its label at_<name> is the instruction under test. */
#define CASE(name, setup, insn)                     \
  extern void name(void);                           \
  extern char at_##name[];                          \
  __asm__(".text\n.globl " #name "\n" #name ":\n"   \
          "push %rbx\n"                             \
          setup "\n"                                \
          ".globl at_" #name "\nat_" #name ":\n"    \
          insn "\n"                                 \
          "pop %rbx\n"                              \
          "ret\n");

static unsigned char iobuf[64];

CASE(in_imm_10, "xor %eax,%eax", "inb $0x10,%al")
CASE(in_dx_10, "mov $0x10,%edx; xor %eax,%eax", "inb %dx,%al")
CASE(inw_dx_10, "mov $0x10,%edx; xor %eax,%eax", "inw %dx,%ax")
CASE(inl_imm_10, "xor %eax,%eax", "inl $0x10,%eax")
CASE(out_imm_10, "mov $39,%eax", "outb %al,$0x10") /* 39 = getpid as a system call */
CASE(out_dx_10, "mov $39,%eax; mov $0x10,%edx", "outb %al,%dx")
CASE(outw_imm_10, "mov $39,%eax", "outw %ax,$0x10")
CASE(outl_dx_10, "mov $39,%eax; mov $0x10,%edx", "outl %eax,%dx")
CASE(out_imm_20, "xor %eax,%eax", "outb %al,$0x20")
CASE(out_imm_40, "xor %eax,%eax", "outb %al,$0x40")
CASE(in_imm_21, "xor %eax,%eax", "inb $0x21,%al")
CASE(out_imm_80, "xor %eax,%eax", "outb %al,$0x80")
CASE(in_dx_3f8, "mov $0x3f8,%edx; xor %eax,%eax", "inb %dx,%al")
CASE(insb_10, "push %rdi; lea iobuf(%rip),%rdi; mov $0x10,%edx; cld", "insb; pop %rdi")
CASE(rep_insb_10, "push %rdi; push %rcx; lea iobuf(%rip),%rdi; mov $0x10,%edx; mov $4,%ecx; cld",
     "rep insb; pop %rcx; pop %rdi")
CASE(insl_10, "push %rdi; lea iobuf(%rip),%rdi; mov $0x10,%edx; cld", "insl; pop %rdi")
CASE(outsb_10, "push %rsi; lea iobuf(%rip),%rsi; mov $0x10,%edx; cld", "outsb; pop %rsi")
CASE(rep_outsb_10, "push %rsi; push %rcx; lea iobuf(%rip),%rsi; mov $0x10,%edx; mov $8,%ecx; cld",
     "rep outsb; pop %rcx; pop %rsi")
/* Bad memory operands: the port check comes first natively (#GP, not a page fault). */
CASE(insb_null, "push %rdi; xor %edi,%edi; mov $0x10,%edx; cld", "insb; pop %rdi")
CASE(insb_low, "push %rdi; mov $0x14000,%edi; mov $0x10,%edx; cld", "insb; pop %rdi")
CASE(outsb_null, "push %rsi; xor %esi,%esi; mov $0x10,%edx; cld", "outsb; pop %rsi")
CASE(rep_insb_huge, "push %rdi; push %rcx; lea iobuf(%rip),%rdi; mov $0x10,%edx; mov $-1,%rcx; cld",
     "rep insb; pop %rcx; pop %rdi")
CASE(std_rep_insb, "push %rdi; push %rcx; lea iobuf+32(%rip),%rdi; mov $0x10,%edx; mov $4,%ecx; std",
     "rep insb; cld; pop %rcx; pop %rdi")
CASE(outsw_20, "push %rsi; lea iobuf(%rip),%rsi; mov $0x20,%edx; cld", "outsw; pop %rsi")
CASE(int3, "", "int3")
CASE(int_3, "", "int $3")
CASE(int_4, "", "int $4")
CASE(int_0, "", "int $0")
CASE(int_1, "", "int $1")
CASE(int_2, "", "int $2")
CASE(int_5, "", "int $5")
CASE(int_6, "", "int $6")
CASE(int_8, "", "int $8")
CASE(int_13, "", "int $13")
CASE(int_14, "", "int $14")
CASE(int_16, "", "int $16")
CASE(int_31, "", "int $31")
CASE(int_32, "", "int $32")
CASE(int_48, "", "int $48")
CASE(int_64, "", "int $64")
CASE(int_129, "", "int $0x81")
CASE(int_255, "", "int $0xff")
CASE(ud2, "", "ud2")
/* Privileged instructions from ring 3: #GP (the kvm shim runs the program in ring 3 too). */
CASE(p_hlt, "", "hlt")
CASE(p_cli, "", "cli")
CASE(p_rdmsr, "xor %ecx,%ecx", "rdmsr")
CASE(p_wrmsr, "xor %ecx,%ecx", "wrmsr")
CASE(p_movcr3, "", "mov %cr3,%rax")
CASE(p_movtocr0, "xor %eax,%eax", "mov %rax,%cr0")
CASE(p_invlpg, "", "invlpg (%rsp)")
CASE(p_lgdt, "", "lgdt (%rsp)")
CASE(p_wbinvd, "", "wbinvd")
CASE(p_swapgs, "", "swapgs")
CASE(p_sysret, "", "sysretq")
CASE(p_ltr, "xor %eax,%eax", "ltr %ax")
CASE(p_movdr7, "", "mov %dr7,%rax")
CASE(into, "", ".byte 0xce") /* into: invalid in 64-bit mode */
CASE(icebp, "", ".byte 0xf1") /* int1 */
/* TF set by popf: the single-step trap comes after the next instruction (the nop at the label). */
CASE(single_step, "pushf; orl $0x100,(%rsp); popf", "nop; pushf; andl $~0x100,(%rsp); popf")

/* int 0x80 with a number no i386 table has: -ENOSYS where the 32-bit entry exists. */
static long int80(long nr) {
  long r = nr;
  __asm__ volatile("int $0x80" : "+a"(r) : : "memory", "rcx", "r11");
  return r;
}

static sigjmp_buf env;
static volatile sig_atomic_t got;
static siginfo_t info;
static uintptr_t rip;
static long err, trapno, eflags;

static void handler(int sig, siginfo_t *si, void *uc) {
  ucontext_t *u = uc;
  got = sig;
  info = *si;
  rip = (uintptr_t)u->uc_mcontext.gregs[REG_RIP];
  err = u->uc_mcontext.gregs[REG_ERR];
  trapno = u->uc_mcontext.gregs[REG_TRAPNO];
  eflags = u->uc_mcontext.gregs[REG_EFL];
  siglongjmp(env, 1);
}

static const char *signame(int s) {
  switch (s) {
    case SIGSEGV: return "SIGSEGV";
    case SIGILL: return "SIGILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGSYS: return "SIGSYS";
    default: return "?";
  }
}

static void run(const char *name, void (*fn)(void), const char *at) {
  got = 0;
  if (sigsetjmp(env, 1) == 0) {
    fn();
    printf("%-14s no signal\n", name);
    return;
  }
  long addr = (long)((uintptr_t)info.si_addr - (uintptr_t)at);
  /* RF (set in a fault's frame), DF and TF of the interrupted context. */
  printf("%-14s %s code %d addr %s%ld rip at%+ld err 0x%lx trapno %ld flags 0x%lx\n", name, signame(got),
         info.si_code, info.si_addr == NULL ? "0 " : "at", info.si_addr == NULL ? 0L : addr,
         (long)(rip - (uintptr_t)at), err, trapno, eflags & 0x10500);
}

#define RUN(name) run(#name, name, at_##name)

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = handler;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGSEGV, SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSYS};
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
  setvbuf(stdout, NULL, _IONBF, 0);

  RUN(in_imm_10);
  RUN(in_dx_10);
  RUN(inw_dx_10);
  RUN(inl_imm_10);
  RUN(out_imm_10);
  RUN(out_dx_10);
  RUN(outw_imm_10);
  RUN(outl_dx_10);
  RUN(out_imm_20);
  RUN(out_imm_40);
  RUN(in_imm_21);
  RUN(out_imm_80);
  RUN(in_dx_3f8);
  memset(iobuf, 0xa5, sizeof iobuf);
  RUN(insb_10);
  RUN(rep_insb_10);
  RUN(insl_10);
  RUN(rep_insb_huge);
  __asm__ volatile("cld");
  RUN(std_rep_insb);
  __asm__ volatile("cld");
  int untouched = 1;
  for (unsigned i = 0; i < sizeof iobuf; i++) untouched &= iobuf[i] == 0xa5;
  printf("ins left memory untouched: %s\n", untouched ? "yes" : "no");
  RUN(insb_null);
  RUN(insb_low);
  RUN(outsb_null);
  RUN(outsb_10);
  RUN(rep_outsb_10);
  RUN(outsw_20);
  RUN(int3);
  RUN(int_3);
  RUN(int_4);
  RUN(int_0);
  RUN(int_1);
  RUN(int_2);
  RUN(int_5);
  RUN(int_6);
  RUN(int_8);
  RUN(int_13);
  RUN(int_14);
  RUN(int_16);
  RUN(int_31);
  RUN(int_32);
  RUN(int_48);
  RUN(int_64);
  RUN(int_129);
  RUN(int_255);
  RUN(ud2);
  RUN(p_hlt);
  RUN(p_cli);
  RUN(p_rdmsr);
  RUN(p_wrmsr);
  RUN(p_movcr3);
  RUN(p_movtocr0);
  RUN(p_invlpg);
  RUN(p_lgdt);
  RUN(p_wbinvd);
  RUN(p_swapgs);
  RUN(p_sysret);
  RUN(p_ltr);
  RUN(p_movdr7);
  RUN(into);
  RUN(icebp);
  RUN(single_step);
  /* No signal here: the process is still alive and its system calls still work. */
  printf("int 0x80 nr 0x7fff -> %ld\n", int80(0x7fff));
  printf("still served: getppid %s\n", getppid() >= 0 ? "ok" : "FAIL");
  return 0;
}
