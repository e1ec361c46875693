/* Real allocators against the libos memory model: malloc/calloc/realloc/free
 * cycles (small and mmap-sized blocks, glibc's mremap-based realloc), calloc
 * memory must read as zeros even when reused, and contents survive moves. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng = 12345;
static uint32_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

int main(void) {
  enum { SLOTS = 64 };
  unsigned char *p[SLOTS] = {0};
  size_t n[SLOTS] = {0};
  unsigned char tag[SLOTS] = {0};
  unsigned long bad_zero = 0, bad_keep = 0, ops = 0;
  for (int round = 0; round < 4000; round++) {
    int i = next() % SLOTS;
    uint32_t r = next();
    size_t want = (r & 3) == 0 ? (next() % (3 << 20)) + 1 : (next() % 4096) + 1;
    if (p[i] == NULL) {
      p[i] = (r & 4) ? calloc(1, want) : malloc(want);
      if (!p[i]) return 3;
      if (r & 4)
        for (size_t j = 0; j < want; j++) bad_zero += p[i][j] != 0;
      n[i] = want;
      tag[i] = (unsigned char)(r >> 8);
      memset(p[i], tag[i], want);
    } else if (r & 8) {
      for (size_t j = 0; j < n[i]; j++) bad_keep += p[i][j] != tag[i];
      free(p[i]);
      p[i] = NULL;
    } else {
      unsigned char *q = realloc(p[i], want);
      if (!q) return 4;
      size_t keep = want < n[i] ? want : n[i];
      for (size_t j = 0; j < keep; j++) bad_keep += q[j] != tag[i];
      p[i] = q;
      n[i] = want;
      memset(p[i], tag[i], want);
    }
    ops++;
  }
  for (int i = 0; i < SLOTS; i++) free(p[i]);
  /* A big calloc after frees of big blocks: fresh zeros even where old data was. */
  for (int k = 0; k < 8; k++) {
    unsigned char *big = malloc(8 << 20);
    memset(big, 0xab, 8 << 20);
    free(big);
    unsigned char *z = calloc(8 << 20, 1);
    for (size_t j = 0; j < (8u << 20); j += 4096) bad_zero += z[j] != 0;
    free(z);
  }
  printf("ops=%lu bad_zero=%lu bad_keep=%lu\n", ops, bad_zero, bad_keep);
  return 0;
}
