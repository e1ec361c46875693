/*
 * Shared by the memory-flood attack programs in corpus/confine (the _flood.c files): each
 * takes host memory through the libos until a call fails, then prints
 * "<what> stopped by <ERRNO> after <n>" and exits 0, so the test can check that
 * the sandbox's budget (not the host's memory, not a crash) ended it with
 * Linux's errno.
 */
#ifndef KINDLING_FLOOD_H
#define KINDLING_FLOOD_H
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *errname(int e) {
  switch (e) {
    case ENOSPC: return "ENOSPC";
    case ENOMEM: return "ENOMEM";
    case EAGAIN: return "EAGAIN";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case EPERM: return "EPERM";
    case EFBIG: return "EFBIG";
    default: return "other";
  }
}

static void stopped(const char *what, int e, long n) {
  printf("%s stopped by %s after %ld\n", what, errname(e), n);
  if (strcmp(errname(e), "other") == 0) printf("errno %d (%s)\n", e, strerror(e));
  fflush(stdout);
}
#endif
