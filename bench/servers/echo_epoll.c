/*
 * The reference echo server: one thread, level-triggered epoll, non-blocking sockets, TCP_NODELAY,
 * one shared 256 KiB receive buffer; what the kernel does not take is kept per connection and
 * sent on EPOLLOUT (reading that connection pauses until it drains). This is about the practical
 * limit of one core for an echo server; muxloop's servers are compared with it.
 *
 *   cc -O2 -o echo_epoll bench/servers/echo_epoll.c && ./echo_epoll [--port=0] [--backlog=1024]
 * Prints "PORT <n>" once listening on 127.0.0.1. Exits on SIGTERM, at EOF of stdin when it is a
 * pipe (the driver is gone), or after --ttl seconds (default 1800).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUF (256 * 1024)
#define MAXEV 1024

typedef struct {
  char *pending; /* bytes the kernel refused, sent on EPOLLOUT */
  size_t len, off, cap;
} conn_t;

static conn_t **conns;
static int nconns;
static char buf[BUF];

static conn_t *conn_of(int fd) {
  if (fd >= nconns) {
    int n = nconns ? nconns : 1024;
    while (n <= fd) n *= 2;
    conns = realloc(conns, n * sizeof *conns);
    memset(conns + nconns, 0, (n - nconns) * sizeof *conns);
    nconns = n;
  }
  if (!conns[fd]) conns[fd] = calloc(1, sizeof(conn_t));
  return conns[fd];
}

static void drop(int ep, int fd) {
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
  if (fd < nconns && conns[fd]) {
    free(conns[fd]->pending);
    free(conns[fd]);
    conns[fd] = NULL;
  }
}

static void set_events(int ep, int fd, unsigned events) {
  struct epoll_event ev = {.events = events, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* Sends c's pending bytes; returns -1 on a fatal error. */
static int flush(int fd, conn_t *c) {
  while (c->off < c->len) {
    ssize_t n = send(fd, c->pending + c->off, c->len - c->off, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    c->off += n;
  }
  c->off = c->len = 0;
  return 0;
}

int main(int argc, char **argv) {
  int port = 0, backlog = 1024;
  double ttl = 1800;
  for (int i = 1; i < argc; i++) {
    if (!strncmp(argv[i], "--port=", 7)) port = atoi(argv[i] + 7);
    else if (!strncmp(argv[i], "--backlog=", 10)) backlog = atoi(argv[i] + 10);
    else if (!strncmp(argv[i], "--ttl=", 6)) ttl = atof(argv[i] + 6);
  }
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) || listen(lfd, backlog)) {
    perror("bind/listen");
    return 1;
  }
  socklen_t alen = sizeof addr;
  getsockname(lfd, (struct sockaddr *)&addr, &alen);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.fd = 0; /* stdin, when a pipe or socketpair from the driver: EOF when the driver goes away */
  struct stat st;
  int watch_stdin = fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) && epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) == 0;
  printf("PORT %d\n", ntohs(addr.sin_port));
  fflush(stdout);
  time_t deadline = time(NULL) + (time_t)ttl;
  struct epoll_event events[MAXEV];
  for (;;) {
    int n = epoll_wait(ep, events, MAXEV, 1000);
    if (n < 0 && errno != EINTR) return 1;
    if (time(NULL) > deadline) return 0;
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == 0 && watch_stdin) {
        if (read(0, buf, sizeof buf) <= 0) return 0;
        continue;
      }
      if (fd == lfd) {
        for (;;) {
          int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conn_of(c);
          struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      conn_t *c = conn_of(fd);
      if (events[i].events & EPOLLOUT) {
        if (flush(fd, c) < 0) {
          drop(ep, fd);
          continue;
        }
        if (c->len == 0) set_events(ep, fd, EPOLLIN);
        continue;
      }
      ssize_t r = recv(fd, buf, sizeof buf, 0);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        drop(ep, fd);
        continue;
      }
      if (r < 0) continue;
      ssize_t w = send(fd, buf, r, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno != EAGAIN) {
          drop(ep, fd);
          continue;
        }
        w = 0;
      }
      if (w < r) { /* keep the rest; stop reading until it is sent */
        size_t rest = r - w;
        if (c->cap < rest) {
          c->pending = realloc(c->pending, rest);
          c->cap = rest;
        }
        memcpy(c->pending, buf + w, rest);
        c->len = rest;
        c->off = 0;
        set_events(ep, fd, EPOLLOUT);
      }
    }
  }
}
