/*
 * The load generator every echo server is measured with: one thread, epoll, non-blocking sockets.
 * It opens --conns connections to 127.0.0.1:--port and either keeps --depth messages of --size
 * bytes in flight on each (closed loop, the default), or sends --rate messages per second per
 * connection at evenly spread times (open loop). A message is done when its --size bytes have
 * come back; its latency (send call to last byte back) goes into a log-linear histogram (~1.6%
 * precision). After --warmup seconds it measures for --duration seconds, reading the server's
 * CPU time (utime+stime from /proc/<pid>/stat) and RSS (/proc/<pid>/statm) at both ends, and its
 * own CPU time (getrusage), so the report can show that the generator is not the bottleneck.
 *
 *   cc -O2 -o loadgen bench/loadgen.c
 *   ./loadgen --port=P --conns=100 --size=64 --depth=1 --warmup=0.3 --duration=1 --server-pid=PID
 * Prints one JSON object on stdout. Connections are set up at most --connect-batch at a time
 * (each counts as set up after one echoed message), so a listen backlog is never overrun.
 *
 * --busy=1 (the default in closed loop): the load phase polls with epoll_wait(timeout 0) and never
 * sleeps, so the generator reacts to each reply at once and is never the slower side (it burns its
 * own core, which the report shows as loadgenCpuPct near 100; the server's figures are what count).
 * Open loop (--rate) always sleeps between due sends.
 *
 * --proto=kv: a pipelined key-value load in the Redis protocol (RESP) instead of echo. Each
 * connection alternates SET k:NNNNN <16 bytes> (48 bytes on the wire) and GET k:NNNNN (25 bytes)
 * of its own key; a message is done when its reply is back (+OK, 5 bytes; the 16-byte bulk value,
 * 23 bytes). Every byte received is checked against the replies expected, so a server that
 * answers wrongly ends its connection and counts as an error. --size is ignored in this mode.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

#define RING 64 /* max messages in flight per connection */
#define BUF (256 * 1024)
#define HIST 4096

enum { IDLE, CONNECTING, SETUP, READY, DEAD };

typedef struct {
  int fd, state;
  unsigned long long queued_msgs; /* messages ever queued: the kind of message i is i % nkinds */
  unsigned long long sent_bytes;  /* bytes ever sent (position in the request cycle) */
  unsigned long long recv_bytes;  /* bytes ever received (position in the reply cycle) */
  unsigned long long done_index;  /* messages ever completed */
  uint64_t sent_at[RING];
  unsigned head, count; /* ring of send times of messages in flight */
  size_t out;           /* bytes queued for sending */
  size_t partial;       /* bytes of the current message received so far */
  int want_out;
} conn_t;

static char pattern[BUF], rbuf[BUF];
/* The request and reply byte cycles: message kind k has req_len[k] / rep_len[k] bytes; the cycles
   repeat every req_cycle / rep_cycle bytes. Per connection (KV mode: each has its own key). */
#define MAXKINDS 2
static int nkinds = 1, req_len[MAXKINDS], rep_len[MAXKINDS], req_cycle, rep_cycle, kv;
static char (*req_pat)[BUF], (*rep_pat)[BUF]; /* per connection in KV mode, else one shared */
static int busy = -1;
static uint64_t hist[HIST];
static conn_t *conns;
static int nconns, size = 64, depth = 1, ep, measuring;
static uint64_t done_msgs, errors;

/* Log-linear buckets: exact below 128 ns, then 64 sub-buckets per power of two. */
static unsigned bucket(uint64_t v) {
  if (v < 128) return (unsigned)v;
  unsigned shift = 63 - __builtin_clzll(v) - 6;
  unsigned b = 64 * shift + (unsigned)(v >> shift);
  return b < HIST ? b : HIST - 1;
}
static double bucket_value(unsigned b) {
  if (b < 128) return b;
  unsigned shift = b / 64 - 1;
  return (double)((uint64_t)(b - 64 * shift) << shift) * (1 + 1.0 / 128); /* bucket middle */
}
static double percentile(double p) {
  uint64_t total = 0, seen = 0;
  for (int i = 0; i < HIST; i++) total += hist[i];
  if (!total) return -1;
  uint64_t rank = (uint64_t)(p * (total - 1)) + 1;
  for (int i = 0; i < HIST; i++) {
    seen += hist[i];
    if (seen >= rank) return bucket_value(i);
  }
  return -1;
}

static void proc_stat(int pid, double *cpu_s, long *rss_kb) {
  *cpu_s = proc_cpu(pid);
  *rss_kb = proc_rss_kb(pid);
}

static void watch(conn_t *c, int out) { watch_out(ep, c->fd, c, &c->want_out, out); }

static void kill_conn(conn_t *c) {
  if (c->state == DEAD) return;
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->state = DEAD;
  errors++;
}

static char *req_of(conn_t *c) { return kv ? req_pat[c - conns] : pattern; }
static char *rep_of(conn_t *c) { return kv ? rep_pat[c - conns] : pattern; }

static void flush(conn_t *c) {
  /* The pattern holds whole cycles up to `span` bytes, so any cycle position can start a send. */
  size_t span = BUF / req_cycle * req_cycle;
  while (c->out > 0) {
    size_t pos = c->sent_bytes % req_cycle, len = span - pos;
    if (len > c->out) len = c->out;
    ssize_t n = send(c->fd, req_of(c) + pos, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) break;
      kill_conn(c);
      return;
    }
    c->out -= n;
    c->sent_bytes += n;
  }
  watch(c, c->out > 0);
}

/* Queues k messages (as many as fit in the ring) and sends what the kernel takes. */
static void send_msgs(conn_t *c, unsigned k, uint64_t t) {
  while (k-- > 0 && c->count < RING) {
    c->sent_at[(c->head + c->count++) % RING] = t;
    c->out += req_len[c->queued_msgs++ % nkinds];
  }
  flush(c);
}

/* Bytes arrived in rbuf: checks them against the expected replies (a mismatch ends the
   connection: returns 0 with the state DEAD) and returns the number of messages completed. */
static unsigned received(conn_t *c, size_t n, uint64_t t) {
  unsigned completed = 0;
  size_t span = BUF / rep_cycle * rep_cycle;
  for (size_t off = 0; off < n;) {
    size_t pos = c->recv_bytes % rep_cycle, len = span - pos;
    if (len > n - off) len = n - off;
    if (memcmp(rbuf + off, rep_of(c) + pos, len) != 0) {
      kill_conn(c);
      return 0;
    }
    off += len;
    c->recv_bytes += len;
  }
  c->partial += n;
  for (;;) {
    size_t want = rep_len[c->done_index % nkinds];
    if (c->partial < want || c->count == 0) break;
    c->partial -= want;
    c->done_index++;
    if (measuring) {
      hist[bucket(t - c->sent_at[c->head])]++;
      done_msgs++;
    }
    c->head = (c->head + 1) % RING;
    c->count--;
    completed++;
  }
  return completed;
}

static void start_connect(conn_t *c, struct sockaddr_in *addr) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->state = CONNECTING;
  c->want_out = 1;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  if (c->fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
    errors++;
    c->state = DEAD;
    return;
  }
  if (connect(c->fd, (struct sockaddr *)addr, sizeof *addr) < 0 && errno != EINPROGRESS) kill_conn(c);
}

int main(int argc, char **argv) {
  int port = 0, server_pid = 0, batch = 200;
  double warmup = 0.3, duration = 1, rate = 0, setup_timeout = 60;
  nconns = 1;
  for (int i = 1; i < argc; i++) {
    char *a = argv[i];
    if (0) {}
    ARG("port", atoi, port);
    ARG("conns", atoi, nconns);
    ARG("size", atoi, size);
    ARG("depth", atoi, depth);
    ARG("rate", atof, rate);
    ARG("warmup", atof, warmup);
    ARG("duration", atof, duration);
    ARG("server-pid", atoi, server_pid);
    ARG("connect-batch", atoi, batch);
    ARG("setup-timeout", atof, setup_timeout);
    ARG("busy", atoi, busy);
    else if (!strcmp(a, "--proto=kv")) kv = 1;
    else if (!strcmp(a, "--proto=echo")) kv = 0;
    else {
      fprintf(stderr, "unknown argument %s\n", a);
      return 2;
    }
  }
  if (depth < 1) depth = 1;
  if (depth > RING) depth = RING;
  if (busy < 0) busy = rate <= 0;
  if (size < 1 || size > BUF) {
    fprintf(stderr, "--size must be 1..%d\n", BUF);
    return 2;
  }
  memset(pattern, 'x', sizeof pattern);
  if (kv) {
    nkinds = 2;
    req_pat = malloc((size_t)nconns * BUF);
    rep_pat = malloc((size_t)nconns * BUF);
    if (!req_pat || !rep_pat) {
      fprintf(stderr, "out of memory for %d KV connections\n", nconns);
      return 2;
    }
    for (int i = 0; i < nconns; i++) {
      char set[64], get[64];
      const char *rep_set = "+OK\r\n", *rep_get = "$16\r\nvvvvvvvvvvvvvvvv\r\n";
      snprintf(set, sizeof set, "*3\r\n$3\r\nSET\r\n$7\r\nk:%05d\r\n$16\r\nvvvvvvvvvvvvvvvv\r\n", i % 100000);
      snprintf(get, sizeof get, "*2\r\n$3\r\nGET\r\n$7\r\nk:%05d\r\n", i % 100000);
      req_len[0] = strlen(set);
      req_len[1] = strlen(get);
      rep_len[0] = strlen(rep_set);
      rep_len[1] = strlen(rep_get);
      req_cycle = req_len[0] + req_len[1];
      rep_cycle = rep_len[0] + rep_len[1];
      for (int off = 0; off + req_cycle <= BUF; off += req_cycle) {
        memcpy(req_pat[i] + off, set, req_len[0]);
        memcpy(req_pat[i] + off + req_len[0], get, req_len[1]);
      }
      for (int off = 0; off + rep_cycle <= BUF; off += rep_cycle) {
        memcpy(rep_pat[i] + off, rep_set, rep_len[0]);
        memcpy(rep_pat[i] + off + rep_len[0], rep_get, rep_len[1]);
      }
    }
  } else {
    req_len[0] = rep_len[0] = req_cycle = rep_cycle = size;
  }
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ep = epoll_create1(EPOLL_CLOEXEC);
  conns = calloc(nconns, sizeof *conns);
  struct epoll_event *events = calloc(1024, sizeof *events);

  double srv_cpu0, srv_cpu1, cpu0 = 0, cpu1;
  long rss_idle, rss_ready, rss_end;
  proc_stat(server_pid, &srv_cpu0, &rss_idle);

  /* Phase 1: set up every connection (connect + one echoed message), `batch` at a time. */
  uint64_t t_setup = now_ns(), setup_deadline = t_setup + (uint64_t)(setup_timeout * 1e9);
  int next = 0, in_setup = 0, ready = 0, dead = 0;
  while (ready + dead < nconns && now_ns() < setup_deadline) {
    while (next < nconns && in_setup < batch) {
      start_connect(&conns[next++], &addr);
      in_setup++;
    }
    int n = epoll_wait(ep, events, 1024, 100);
    for (int i = 0; i < n; i++) {
      conn_t *c = events[i].data.ptr;
      uint64_t t = now_ns();
      if (c->state == CONNECTING && (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
          kill_conn(c);
          in_setup--;
          dead++;
          continue;
        }
        c->state = SETUP;
        send_msgs(c, 1, t);
        continue;
      }
      if (c->state == DEAD) continue;
      if (events[i].events & EPOLLOUT) flush(c);
      if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        ssize_t r = recv(c->fd, rbuf, sizeof rbuf, 0);
        if (r <= 0 && !(r < 0 && errno == EAGAIN)) {
          kill_conn(c);
          in_setup--;
          dead++;
          continue;
        }
        unsigned k = r > 0 ? received(c, r, t) : 0;
        if (c->state == DEAD) {
          in_setup--;
          dead++;
          continue;
        }
        if (k && c->state == SETUP && c->count == 0) {
          c->state = READY;
          in_setup--;
          ready++;
        }
      }
    }
  }
  double setup_s = (now_ns() - t_setup) / 1e9;

  /* Phase 2: load. Closed loop: `depth` in flight per connection. Open loop: message j of the
     global sequence goes to connection j % nconns at t0 + j / (rate * nconns). */
  uint64_t t0 = now_ns(), t_measure = t0 + (uint64_t)(warmup * 1e9);
  uint64_t t_end = t_measure + (uint64_t)(duration * 1e9);
  uint64_t seq = 0, skipped = 0;
  double interval_ns = rate > 0 ? 1e9 / (rate * nconns) : 0;
  if (rate <= 0)
    for (int i = 0; i < nconns; i++)
      if (conns[i].state == READY) send_msgs(&conns[i], depth, t0);
  for (;;) {
    uint64_t t = now_ns();
    if (!measuring && t >= t_measure) {
      measuring = 1;
      proc_stat(server_pid, &srv_cpu0, &rss_ready);
      cpu0 = self_cpu();
      t_measure = t;
    }
    if (t >= t_end) break;
    int timeout_ms = busy ? 0 : 10;
    if (rate > 0) {
      while (t0 + (uint64_t)(seq * interval_ns) <= t) {
        conn_t *c = &conns[seq % nconns];
        if (c->state == READY) {
          if (c->count < RING) send_msgs(c, 1, t);
          else skipped++;
        }
        seq++;
      }
      uint64_t due = t0 + (uint64_t)(seq * interval_ns);
      /* rounded up: a send may go out up to 1 ms late (its latency is timed from the actual send),
         but the generator never spins */
      timeout_ms = due > t ? (int)((due - t + 999999) / 1000000) : 0;
      if (timeout_ms > 10) timeout_ms = 10;
    }
    int n = epoll_wait(ep, events, 1024, timeout_ms);
    for (int i = 0; i < n; i++) {
      conn_t *c = events[i].data.ptr;
      if (c->state != READY) continue;
      if (events[i].events & EPOLLOUT) flush(c);
      if (c->state == READY && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
        ssize_t r = recv(c->fd, rbuf, sizeof rbuf, 0);
        if (r <= 0) {
          if (!(r < 0 && errno == EAGAIN)) kill_conn(c);
          continue;
        }
        uint64_t t_in = now_ns();
        unsigned k = received(c, r, t_in);
        if (k && rate <= 0 && c->state == READY) send_msgs(c, k, t_in);
      }
    }
  }
  double seconds = (now_ns() - t_measure) / 1e9;
  cpu1 = self_cpu();
  proc_stat(server_pid, &srv_cpu1, &rss_end);
  if (!measuring) seconds = 0;
  double srv_cpu = srv_cpu0 >= 0 && srv_cpu1 >= 0 ? srv_cpu1 - srv_cpu0 : -1;
  printf("{\"proto\":\"%s\",\"busy\":%d,\"conns\":%d,\"connsOk\":%d,\"size\":%d,\"depth\":%d,\"rate\":%g,\"setupSeconds\":%.3f,"
         "\"seconds\":%.4f,\"msgs\":%llu,\"msgsPerSec\":%.1f,"
         "\"p50Us\":%.2f,\"p90Us\":%.2f,\"p99Us\":%.2f,\"p999Us\":%.2f,\"maxUs\":%.2f,"
         "\"loadgenCpuSeconds\":%.4f,\"loadgenCpuPct\":%.1f,"
         "\"serverCpuSeconds\":%.3f,\"serverCpuPct\":%.1f,\"serverCpuSecondsPerMmsg\":%.4f,"
         "\"serverRssKbIdle\":%ld,\"serverRssKbReady\":%ld,\"serverRssKbEnd\":%ld,"
         "\"errors\":%llu,\"skippedSends\":%llu}\n",
         kv ? "kv" : "echo", busy, nconns, ready, size, depth, rate, setup_s, seconds, (unsigned long long)done_msgs,
         seconds > 0 ? done_msgs / seconds : 0, percentile(0.5) / 1e3, percentile(0.9) / 1e3,
         percentile(0.99) / 1e3, percentile(0.999) / 1e3, percentile(1.0) / 1e3, cpu1 - cpu0,
         seconds > 0 ? 100 * (cpu1 - cpu0) / seconds : 0, srv_cpu, seconds > 0 && srv_cpu >= 0 ? 100 * srv_cpu / seconds : -1,
         done_msgs && srv_cpu >= 0 ? srv_cpu / done_msgs * 1e6 : -1, rss_idle, rss_ready, rss_end,
         (unsigned long long)errors, (unsigned long long)skipped);
  return ready > 0 ? 0 : 1;
}
