// getaddrinfo/fopen/fopen64 defined in the fuzz executable take precedence over
// libc's (and over the sanitizers' weak interceptors); each forwards to the next
// definition (libc) through dlsym(RTLD_NEXT). BoringSSL opens files with fopen64.

// meson builds with _FILE_OFFSET_BITS=64, under which <stdio.h> renames fopen to
// fopen64; both names are defined here, so neither may be renamed.
#undef _FILE_OFFSET_BITS

#include "fuzz_sandbox.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int sandbox_active;

void ringway_fuzz_sandbox_enter(void) { sandbox_active = 1; }
void ringway_fuzz_sandbox_leave(void) { sandbox_active = 0; }

static void* next_symbol(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (f == NULL) abort();  // a fuzz build that cannot reach libc is useless
  return f;
}

int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                struct addrinfo** res) {
  typedef int (*fn)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static fn real;
  if (real == NULL) real = (fn)next_symbol("getaddrinfo");
  if (!sandbox_active) return real(node, service, hints, res);
  struct addrinfo numeric = {0};
  if (hints != NULL) numeric = *hints;
  numeric.ai_flags |= AI_NUMERICHOST;
  return real(node, service, &numeric, res);
}

// Only reads are restricted: a crash inside the target leaves the sandbox on, and
// libFuzzer then writes the crashing input with fopen(path, "wb").
static int may_open(const char* path, const char* mode) {
  if (strpbrk(mode, "wa+") != NULL) return 1;
  char resolved[PATH_MAX];
  if (realpath(path, resolved) == NULL) return 0;
  static const char* const kDenied[] = {"/dev/", "/proc/", "/sys/"};
  for (size_t i = 0; i < sizeof(kDenied) / sizeof(kDenied[0]); ++i) {
    if (strncmp(resolved, kDenied[i], strlen(kDenied[i])) == 0) return 0;
  }
  struct stat st;
  return stat(resolved, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= (1 << 20);
}

FILE* fopen(const char* path, const char* mode) {
  typedef FILE* (*fn)(const char*, const char*);
  static fn real;
  if (real == NULL) real = (fn)next_symbol("fopen");
  if (sandbox_active && !may_open(path, mode)) {
    errno = ENOENT;
    return NULL;
  }
  return real(path, mode);
}

FILE* fopen64(const char* path, const char* mode) {
  typedef FILE* (*fn)(const char*, const char*);
  static fn real;
  if (real == NULL) real = (fn)next_symbol("fopen64");
  if (sandbox_active && !may_open(path, mode)) {
    errno = ENOENT;
    return NULL;
  }
  return real(path, mode);
}
