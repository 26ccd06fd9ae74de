/*
 * The TLS load generator (bench/cases/tls.cjs): bench/loadgen.c's closed loop over TLS, in C so
 * that the generator, not the server, has CPU to spare (a Node tls client costs about what a Node
 * tls server does, so it would measure itself). One thread, epoll, non-blocking sockets, OpenSSL
 * with SSL_set_fd (TLS 1.3 by default, no certificate check: the servers are the bench's own).
 *
 *   echo:       --conns=N connections, each keeps one --size message in flight; after --warmup s
 *               it counts echoed messages for --duration s.
 *   handshakes: --handshakes=1: --conns=N connections at a time, each connect, full handshake,
 *               close_notify, wait for the server's close, reconnect; counts completed cycles.
 * Server CPU is read from /proc/<--server-pid>/stat at both ends of the measurement, its own with
 * getrusage. Prints one JSON object.
 *
 *   cc -O2 -o tls_loadgen bench/tls_loadgen.c -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

#define BUF (64 * 1024)

enum { CONNECTING, HANDSHAKE, SETUP, READY, CLOSING, DEAD };

typedef struct {
  int fd, state;
  SSL *ssl;
  size_t got;     /* bytes of the message in flight received so far */
  int unsent;     /* an SSL_write to retry (WANT_WRITE/WANT_READ) */
  int want_out;
} conn_t;

static char pattern[BUF], rbuf[BUF];
static conn_t *conns;
static int nconns, size = 1024, ep, measuring, handshake_mode;
static uint64_t done_msgs, done_handshakes, errors;
static SSL_CTX *ctx;
static struct sockaddr_in addr;

static void watch(conn_t *c, int out) { watch_out(ep, c->fd, c, &c->want_out, out); }

static void drop(conn_t *c, int failed) {
  if (c->state == DEAD) return;
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  SSL_free(c->ssl);
  c->ssl = NULL;
  close(c->fd);
  c->state = DEAD;
  if (failed) errors++;
}

static void start(conn_t *c) {
  memset(c, 0, sizeof *c);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->ssl = SSL_new(ctx);
  SSL_set_fd(c->ssl, c->fd);
  SSL_set_tlsext_host_name(c->ssl, "localhost");
  SSL_set_connect_state(c->ssl);
  c->state = CONNECTING;
  c->want_out = 1;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  if (c->fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0 ||
      (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS)) {
    drop(c, 1);
  }
}

/* 1 on progress, 0 to wait for the socket, -1 on failure; sets the wanted direction. */
static int ssl_status(conn_t *c, int r) {
  switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ: watch(c, 0); return 0;
    case SSL_ERROR_WANT_WRITE: watch(c, 1); return 0;
    default: return -1;
  }
}

static void send_msg(conn_t *c) {
  int r = SSL_write(c->ssl, pattern, size);
  if (r > 0) {
    c->unsent = 0;
    watch(c, 0);
    return;
  }
  c->unsent = 1;
  if (ssl_status(c, r) < 0) drop(c, 1);
}

static void on_event(conn_t *c) {
  if (c->state == CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) return drop(c, 1);
    c->state = HANDSHAKE;
  }
  if (c->state == HANDSHAKE) {
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
      if (ssl_status(c, r) < 0) drop(c, 1);
      return;
    }
    if (handshake_mode) {
      if (measuring) done_handshakes++;
      SSL_shutdown(c->ssl); /* close_notify; the server answers by closing */
      shutdown(c->fd, SHUT_WR);
      c->state = CLOSING;
      watch(c, 0);
      return;
    }
    c->state = SETUP;
    send_msg(c);
    return;
  }
  if (c->state == CLOSING) {
    for (;;) {
      int r = SSL_read(c->ssl, rbuf, sizeof rbuf);
      if (r > 0) continue;
      int e = SSL_get_error(c->ssl, r);
      if (e == SSL_ERROR_WANT_READ) return;
      drop(c, 0); /* the server closed (close_notify or EOF): next cycle */
      start(c);
      return;
    }
  }
  if (c->unsent) {
    send_msg(c);
    if (c->state == DEAD || c->unsent) return;
  }
  for (;;) {
    int r = SSL_read(c->ssl, rbuf, sizeof rbuf);
    if (r <= 0) {
      if (ssl_status(c, r) < 0) drop(c, 1);
      return;
    }
    c->got += (size_t)r;
    while (c->got >= (size_t)size) {
      c->got -= size;
      if (c->state == SETUP) c->state = READY;
      else if (measuring) done_msgs++;
      send_msg(c);
      if (c->state == DEAD) return;
    }
  }
}

int main(int argc, char **argv) {
  int port = 0, server_pid = 0;
  double warmup = 0.3, duration = 1, setup_timeout = 30;
  const char *max_version = "1.3";
  nconns = 1;
  for (int i = 1; i < argc; i++) {
    char *a = argv[i];
    if (0) {}
    ARG("port", atoi, port);
    ARG("conns", atoi, nconns);
    ARG("size", atoi, size);
    ARG("warmup", atof, warmup);
    ARG("duration", atof, duration);
    ARG("server-pid", atoi, server_pid);
    ARG("handshakes", atoi, handshake_mode);
    ARG("setup-timeout", atof, setup_timeout);
    ARG("tls", (const char *), max_version);
    else {
      fprintf(stderr, "unknown argument %s\n", a);
      return 2;
    }
  }
  if (size < 1 || size > BUF) size = 1024;
  memset(pattern, 'x', sizeof pattern);
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ctx = SSL_CTX_new(TLS_client_method());
  int v = strcmp(max_version, "1.2") == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
  SSL_CTX_set_min_proto_version(ctx, v);
  SSL_CTX_set_max_proto_version(ctx, v);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* every handshake a full one */
  ep = epoll_create1(EPOLL_CLOEXEC);
  conns = calloc(nconns, sizeof *conns);
  struct epoll_event *events = calloc(1024, sizeof *events);
  for (int i = 0; i < nconns; i++) start(&conns[i]);
  /* Echo: every connection set up (handshake + one echoed message) before the clock starts. */
  uint64_t setup_deadline = now_ns() + (uint64_t)(setup_timeout * 1e9);
  int ready = 0;
  while (!handshake_mode && now_ns() < setup_deadline) {
    ready = 0;
    for (int i = 0; i < nconns; i++) ready += conns[i].state == READY || conns[i].state == DEAD;
    if (ready == nconns) break;
    int n = epoll_wait(ep, events, 1024, 10);
    for (int i = 0; i < n; i++) {
      conn_t *c = events[i].data.ptr;
      if (c->state != DEAD) on_event(c);
    }
  }

  uint64_t t0 = now_ns(), t_measure = t0 + (uint64_t)(warmup * 1e9), t_end = t_measure + (uint64_t)(duration * 1e9);
  double srv0 = -1, cpu0 = 0;
  int ready_at_measure = 0;
  for (;;) {
    uint64_t t = now_ns();
    if (!measuring && t >= t_measure) {
      measuring = 1;
      srv0 = proc_cpu(server_pid);
      cpu0 = self_cpu();
      t_measure = t;
      for (int i = 0; i < nconns; i++) ready_at_measure += conns[i].state == READY;
    }
    if (t >= t_end) break;
    int n = epoll_wait(ep, events, 1024, 10);
    for (int i = 0; i < n; i++) {
      conn_t *c = events[i].data.ptr;
      if (c->state != DEAD) on_event(c);
    }
  }
  double seconds = (now_ns() - t_measure) / 1e9;
  double cpu = self_cpu() - cpu0, srv1 = proc_cpu(server_pid);
  double srv = srv0 >= 0 && srv1 >= 0 ? srv1 - srv0 : -1;
  uint64_t count = handshake_mode ? done_handshakes : done_msgs;
  printf("{\"mode\":\"%s\",\"conns\":%d,\"connsOk\":%d,\"size\":%d,\"seconds\":%.4f,\"count\":%llu,\"perSec\":%.1f,"
         "\"loadgenCpuPct\":%.1f,\"serverCpuSeconds\":%.3f,\"serverCpuPct\":%.1f,\"serverCpuUsPerOp\":%.4f,\"errors\":%llu}\n",
         handshake_mode ? "handshakes" : "echo", nconns, handshake_mode ? nconns : ready_at_measure, size, seconds,
         (unsigned long long)count, seconds > 0 ? count / seconds : 0, seconds > 0 ? 100 * cpu / seconds : 0, srv,
         seconds > 0 && srv >= 0 ? 100 * srv / seconds : -1, count && srv >= 0 ? srv / count * 1e6 : -1,
         (unsigned long long)errors);
  return count > 0 ? 0 : 1;
}
