/*
 * What the C echo servers (echo_epoll.c, echo_uring.c) share: their options, the listening
 * socket on 127.0.0.1, the "PORT <n>" line the driver waits for, whether stdin is the driver's
 * pipe, and the per-fd table of connection records. Included by each server file only; every
 * function is static inline, so one that a server does not use gives no warning under -Wall. A
 * server is built alone (`cc -O2 -Wall -o x bench/servers/x.c`, bench/lib/common.cjs buildC) and
 * finds this header beside it.
 */
#ifndef BENCH_SERVERS_ECHO_SERVER_H
#define BENCH_SERVERS_ECHO_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

typedef struct {
  int port, backlog;
  double ttl; /* seconds until the server exits on its own */
} server_opts_t;

/* --port=0 --backlog=1024 --ttl=1800; other arguments are ignored. */
static inline server_opts_t server_opts(int argc, char **argv) {
  server_opts_t o = {.port = 0, .backlog = 1024, .ttl = 1800};
  for (int i = 1; i < argc; i++) {
    if (!strncmp(argv[i], "--port=", 7)) o.port = atoi(argv[i] + 7);
    else if (!strncmp(argv[i], "--backlog=", 10)) o.backlog = atoi(argv[i] + 10);
    else if (!strncmp(argv[i], "--ttl=", 6)) o.ttl = atof(argv[i] + 6);
  }
  return o;
}

/* A listening TCP socket on 127.0.0.1:port (socket `flags` such as SOCK_NONBLOCK | SOCK_CLOEXEC,
   SO_REUSEADDR); sets *bound to the port it got. -1 after perror when bind or listen failed. */
static inline int listen_loopback(int port, int backlog, int flags, int *bound) {
  int lfd = socket(AF_INET, SOCK_STREAM | flags, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) || listen(lfd, backlog)) {
    perror("bind/listen");
    return -1;
  }
  socklen_t alen = sizeof addr;
  getsockname(lfd, (struct sockaddr *)&addr, &alen);
  *bound = ntohs(addr.sin_port);
  return lfd;
}

/* The readiness line bench/lib/echo.cjs waits for. */
static inline void announce_port(int port) {
  printf("PORT %d\n", port);
  fflush(stdout);
}

/* Stdin is a pipe or socketpair from the driver: its EOF means the driver is gone. */
static inline int stdin_is_pipe(void) {
  struct stat st;
  return fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

/* Connection records by fd (fds are small and dense): grown by doubling from 1024 slots. */
static void **conn_table;
static int conn_table_len;

/* The record of fd, made zeroed (`size` bytes) if there is none yet. */
static inline void *conn_slot(int fd, size_t size) {
  if (fd >= conn_table_len) {
    int n = conn_table_len ? conn_table_len : 1024;
    while (n <= fd) n *= 2;
    conn_table = realloc(conn_table, n * sizeof *conn_table);
    memset(conn_table + conn_table_len, 0, (n - conn_table_len) * sizeof *conn_table);
    conn_table_len = n;
  }
  if (!conn_table[fd]) conn_table[fd] = calloc(1, size);
  return conn_table[fd];
}

/* The record of fd, or NULL. */
static inline void *conn_at(int fd) { return fd < conn_table_len ? conn_table[fd] : NULL; }

#endif
