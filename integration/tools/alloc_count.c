// LD_PRELOAD shim: counts heap allocations (malloc, calloc, realloc, memalign family) and
// direct anonymous mmap calls (the I/O block pool maps its blocks) in the whole process;
// SIGWINCH writes "allocs N" to stderr. For the allocation-per-request check. (Not SIGUSR2:
// switchyard upgrades its binary on that one.)
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
extern void __libc_free(void*);

static atomic_ulong gAllocs;

void* malloc(size_t n) { atomic_fetch_add_explicit(&gAllocs, 1, memory_order_relaxed); return __libc_malloc(n); }
void* calloc(size_t a, size_t b) { atomic_fetch_add_explicit(&gAllocs, 1, memory_order_relaxed); return __libc_calloc(a, b); }
void* realloc(void* p, size_t n) { atomic_fetch_add_explicit(&gAllocs, 1, memory_order_relaxed); return __libc_realloc(p, n); }
void* memalign(size_t a, size_t n) { atomic_fetch_add_explicit(&gAllocs, 1, memory_order_relaxed); return __libc_memalign(a, n); }
void* aligned_alloc(size_t a, size_t n) { return memalign(a, n); }
int posix_memalign(void** out, size_t a, size_t n) { *out = memalign(a, n); return *out ? 0 : 12; }
void free(void* p) { __libc_free(p); }
// glibc's own malloc maps memory through an internal entry point, so this sees only mmap calls
// made by the program and its libraries.
void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (flags & MAP_ANONYMOUS) atomic_fetch_add_explicit(&gAllocs, 1, memory_order_relaxed);
  return (void*)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static void report(int sig) {
  (void)sig;
  char buf[64];
  unsigned long v = atomic_load_explicit(&gAllocs, memory_order_relaxed);
  char digits[24];
  int i = 0;
  do { digits[i++] = (char)('0' + v % 10); v /= 10; } while (v);
  int n = 0;
  memcpy(buf, "allocs ", 7); n = 7;
  while (i) buf[n++] = digits[--i];
  buf[n++] = '\n';
  ssize_t ignored = write(2, buf, (size_t)n);
  (void)ignored;
}

__attribute__((constructor)) static void init(void) { signal(SIGWINCH, report); }
