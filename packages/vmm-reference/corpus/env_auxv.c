/* The initial process state: argv, envp, auxv (AT_RANDOM, AT_PAGESZ, AT_PHDR, AT_ENTRY, AT_EXECFN ...). */
#include "check.h"
#include <elf.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
  CHECK_EQ(argc, 5);
  printf("     argv[1..]:");
  for (int i = 1; i < argc; i++) printf(" [%s]", argv[i]);
  printf("\n");
  CHECK(argv[argc] == NULL);
  CHECK(argv[0][0] == '/');
  int n = 0;
  for (char **e = environ; *e; e++) n++;
  CHECK_EQ(n, 3);
  CHECK(getenv("A") && strcmp(getenv("A"), "1") == 0);
  CHECK(getenv("EMPTY") && getenv("EMPTY")[0] == 0);
  CHECK(getenv("LONG") && strlen(getenv("LONG")) == 3000);
  CHECK(getenv("PATH") == NULL);
  CHECK_OK(setenv("NEW", "v", 1));
  CHECK(strcmp(getenv("NEW"), "v") == 0);
  CHECK_EQ(getauxval(AT_PAGESZ), 4096);
  unsigned char *rnd = (unsigned char *)getauxval(AT_RANDOM);
  CHECK(rnd != NULL);
  int nonzero = 0;
  for (int i = 0; i < 16; i++) nonzero |= rnd[i];
  CHECK(nonzero);
  Elf64_Phdr *ph = (Elf64_Phdr *)getauxval(AT_PHDR);
  CHECK(ph != NULL);
  CHECK_EQ(getauxval(AT_PHENT), sizeof(Elf64_Phdr));
  unsigned long phnum = getauxval(AT_PHNUM);
  CHECK(phnum > 0);
  int load = 0;
  for (unsigned long i = 0; i < phnum; i++)
    if (ph[i].p_type == PT_LOAD) load++;
  CHECK(load >= 1);
  CHECK(getauxval(AT_ENTRY) != 0);
  CHECK_EQ(getauxval(AT_UID), getuid());
  CHECK_EQ(getauxval(AT_EUID), geteuid());
  CHECK_EQ(getauxval(AT_GID), getgid());
  CHECK_EQ(getauxval(AT_SECURE), 0);
  CHECK_EQ(getauxval(AT_CLKTCK), 100);
  CHECK(sysconf(_SC_CLK_TCK) == 100);
  const char *execfn = (const char *)getauxval(AT_EXECFN);
  CHECK(execfn && strcmp(execfn, argv[0]) == 0);
  /* The stack: argv strings sit above argv, which is above the current frame. */
  int local;
  CHECK((uintptr_t)&local < (uintptr_t)argv);
  CHECK((uintptr_t)argv < (uintptr_t)argv[0]);
  CHECK(((uintptr_t)argv & 7) == 0);
  DONE();
}
