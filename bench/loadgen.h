/*
 * What the two C load generators (loadgen.c, tls_loadgen.c) share: the clock, the CPU time of
 * the server (/proc/<pid>/stat) and of the generator itself (getrusage), the server's RSS
 * (/proc/<pid>/statm), and switching a connection's epoll interest. Included by each generator
 * only; every function is static inline, so one that a generator does not use gives no warning
 * under -Wall. A generator is built alone (`cc -O2 -Wall -o x bench/x.c`, bench/lib/common.cjs
 * buildC) and finds this header beside it.
 */
#ifndef BENCH_LOADGEN_H
#define BENCH_LOADGEN_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* utime + stime of process `pid` in seconds, or -1 (no pid, or /proc unreadable). */
static inline double proc_cpu(int pid) {
  char path[64], line[4096];
  double cpu = -1;
  if (pid <= 0) return cpu;
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return cpu;
  if (fgets(line, sizeof line, f)) {
    char *p = strrchr(line, ')');
    unsigned long utime = 0, stime = 0;
    /* after ')': state is field 3, utime 14, stime 15 */
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) == 2)
      cpu = (double)(utime + stime) / sysconf(_SC_CLK_TCK);
  }
  fclose(f);
  return cpu;
}

/* Resident set size of process `pid` in KiB, or -1. */
static inline long proc_rss_kb(int pid) {
  char path[64];
  long rss_kb = -1;
  if (pid <= 0) return rss_kb;
  snprintf(path, sizeof path, "/proc/%d/statm", pid);
  FILE *f = fopen(path, "r");
  if (f) {
    long pages, resident;
    if (fscanf(f, "%ld %ld", &pages, &resident) == 2) rss_kb = resident * (sysconf(_SC_PAGESIZE) / 1024);
    fclose(f);
  }
  return rss_kb;
}

/* The generator's own CPU time (user + system), in seconds. */
static inline double self_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Sets the epoll interest of connection `conn` (fd, data.ptr = conn) to EPOLLIN, plus EPOLLOUT
   when `out`; *want_out holds the current one, so an unchanged interest costs no system call. */
static inline void watch_out(int ep, int fd, void *conn, int *want_out, int out) {
  if (*want_out == out) return;
  struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = conn};
  epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
  *want_out = out;
}

/* One option of the argument loop: `if (0) {} ARG("port", atoi, port); ... else { unknown }`, where
   `a` is the argument: --name=value sets var = conv(value). */
#define ARG(name, conv, var) else if (!strncmp(a, "--" name "=", strlen(name) + 3)) var = conv(a + strlen(name) + 3)

#endif
