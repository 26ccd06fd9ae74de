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

#include "echo_server.h"

#define BUF (256 * 1024)
#define MAXEV 1024

typedef struct {
  char *pending; /* bytes the kernel refused, sent on EPOLLOUT */
  size_t len, off, cap;
} conn_t;

static char buf[BUF];

static conn_t *conn_of(int fd) { return conn_slot(fd, sizeof(conn_t)); }

static void drop(int ep, int fd) {
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
  conn_t *c = conn_at(fd);
  if (c) {
    free(c->pending);
    free(c);
    conn_table[fd] = NULL;
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
  server_opts_t o = server_opts(argc, argv);
  int port, one = 1;
  int lfd = listen_loopback(o.port, o.backlog, SOCK_NONBLOCK | SOCK_CLOEXEC, &port);
  if (lfd < 0) return 1;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.fd = 0; /* stdin, when a pipe or socketpair from the driver: EOF when the driver goes away */
  int watch_stdin = stdin_is_pipe() && epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) == 0;
  announce_port(port);
  time_t deadline = time(NULL) + (time_t)o.ttl;
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
