/*
 * The io_uring echo server, the "physical limit" beside echo_epoll.c: one thread, one ring set up
 * with SINGLE_ISSUER + DEFER_TASKRUN where the kernel has them, multishot accept, multishot recv
 * into a provided-buffer ring (IORING_REGISTER_PBUF_RING), and the echo sent straight from the
 * provided buffer (no copy): the buffer goes back to the ring when its send completed. One send
 * (or one sendmsg gathering what arrived meanwhile) in flight per connection, so the bytes keep
 * their order; a short send continues from where it stopped. One io_uring_enter per iteration
 * (submit and wait together). Raw system calls, no liburing, as in native/uring/.
 *
 *   cc -O2 -o echo_uring bench/servers/echo_uring.c && ./echo_uring [--port=0] [--backlog=1024]
 * Prints "PORT <n>" once listening on 127.0.0.1, or "SKIP <reason>" when io_uring is refused.
 * Exits on SIGTERM, at EOF of stdin when it is a pipe (the driver is gone), or after --ttl seconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "echo_server.h"

#define NBUF 4096 /* provided buffers (a power of two) */
#define BUFSZ (16 * 1024)
#define MAXIOV 64
#define BGID 1

enum { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_STDIN };

typedef struct {
  int fd, open, sending, recv_armed;
  /* FIFO of received (bid, len) not yet sent; sent as one sendmsg of up to MAXIOV. */
  unsigned short qbid[NBUF];
  unsigned qlen[NBUF];
  unsigned qhead, qtail;
  /* In flight: which bids, and how far the send got. */
  unsigned short fbid[MAXIOV];
  unsigned nflight, first; /* iov[first..nflight) is what is left to send */
  struct iovec iov[MAXIOV];
  struct msghdr msg;
} conn_t;

static int ring_fd;
static unsigned *sq_tail, *sq_head, *sq_mask, *sq_array, sq_entries, local_tail;
static unsigned *cq_head, *cq_tail, *cq_mask;
static struct io_uring_sqe *sqes;
static struct io_uring_cqe *cqes;
static struct io_uring_buf_ring *br;
static unsigned short br_tail;
static char *bufs;

static uint64_t tag(int op, int fd) { return ((uint64_t)op << 32) | (uint32_t)fd; }

static int enter(unsigned submit, unsigned wait, unsigned flags) {
  return (int)syscall(__NR_io_uring_enter, ring_fd, submit, wait, flags, NULL, 0);
}

static struct io_uring_sqe *sqe(void) {
  if (local_tail - __atomic_load_n(sq_head, __ATOMIC_ACQUIRE) >= sq_entries) {
    __atomic_store_n(sq_tail, local_tail, __ATOMIC_RELEASE);
    enter(local_tail - *sq_head, 0, 0);
  }
  unsigned i = local_tail & *sq_mask;
  struct io_uring_sqe *s = &sqes[i];
  memset(s, 0, sizeof *s);
  sq_array[i] = i;
  local_tail++;
  return s;
}

static void give_buffer(unsigned bid) {
  struct io_uring_buf *b = &br->bufs[br_tail & (NBUF - 1)];
  b->addr = (uint64_t)(uintptr_t)(bufs + (size_t)bid * BUFSZ);
  b->len = BUFSZ;
  b->bid = (unsigned short)bid;
  br_tail++;
  __atomic_store_n(&br->tail, br_tail, __ATOMIC_RELEASE);
}

static conn_t *conn_of(int fd) { return conn_slot(fd, sizeof(conn_t)); }

static void arm_recv(conn_t *c) {
  struct io_uring_sqe *s = sqe();
  s->opcode = IORING_OP_RECV;
  s->fd = c->fd;
  s->ioprio = IORING_RECV_MULTISHOT;
  s->flags = IOSQE_BUFFER_SELECT;
  s->buf_group = BGID;
  s->user_data = tag(OP_RECV, c->fd);
  c->recv_armed = 1;
}

/* Sends what is queued (or the rest of a short send) as one send/sendmsg. */
static void send_next(conn_t *c) {
  if (c->nflight == 0) {
    c->first = 0;
    while (c->qhead != c->qtail && c->nflight < MAXIOV) {
      unsigned slot = c->qhead++ & (NBUF - 1);
      c->fbid[c->nflight] = c->qbid[slot];
      c->iov[c->nflight].iov_base = bufs + (size_t)c->qbid[slot] * BUFSZ;
      c->iov[c->nflight].iov_len = c->qlen[slot];
      c->nflight++;
    }
    if (c->nflight == 0) return;
  }
  struct io_uring_sqe *s = sqe();
  s->fd = c->fd;
  s->user_data = tag(OP_SEND, c->fd);
  s->msg_flags = MSG_NOSIGNAL;
  if (c->nflight - c->first == 1) {
    s->opcode = IORING_OP_SEND;
    s->addr = (uint64_t)(uintptr_t)c->iov[c->first].iov_base;
    s->len = (unsigned)c->iov[c->first].iov_len;
  } else {
    memset(&c->msg, 0, sizeof c->msg);
    c->msg.msg_iov = c->iov + c->first;
    c->msg.msg_iovlen = c->nflight - c->first;
    s->opcode = IORING_OP_SENDMSG;
    s->addr = (uint64_t)(uintptr_t)&c->msg;
    s->len = 1;
  }
  c->sending = 1;
}

/* Consumes `n` sent bytes from the iovecs in flight; 1 when all of them are sent. */
static int sent(conn_t *c, size_t n) {
  while (c->first < c->nflight && n >= c->iov[c->first].iov_len) n -= c->iov[c->first++].iov_len;
  if (c->first == c->nflight) return 1;
  c->iov[c->first].iov_base = (char *)c->iov[c->first].iov_base + n;
  c->iov[c->first].iov_len -= n;
  return 0;
}

static void drop(conn_t *c) {
  if (!c->open) return;
  c->open = 0;
  close(c->fd); /* ends its requests' hold on the fd table; in-flight ones complete with errors */
}

static void release(conn_t *c) {
  for (unsigned i = 0; i < c->nflight; i++) give_buffer(c->fbid[i]);
  c->nflight = 0;
  while (c->qhead != c->qtail) give_buffer(c->qbid[c->qhead++ & (NBUF - 1)]);
  if (!c->open && !c->sending && !c->recv_armed) {
    conn_table[c->fd] = NULL;
    free(c);
  }
}

int main(int argc, char **argv) {
  server_opts_t o = server_opts(argc, argv);
  struct io_uring_params p;
  const unsigned steps[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE,
                            IORING_SETUP_CQSIZE, 0};
  ring_fd = -1;
  for (unsigned i = 0; i < 3 && ring_fd < 0; i++) {
    memset(&p, 0, sizeof p);
    p.flags = steps[i];
    p.cq_entries = 16384;
    ring_fd = (int)syscall(__NR_io_uring_setup, 4096, &p);
    if (ring_fd < 0 && errno != EINVAL) break;
  }
  if (ring_fd < 0) {
    printf("SKIP io_uring_setup: %s\n", strerror(errno));
    return 0;
  }
  size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if (cq_size > sq_size) sq_size = cq_size;
  char *sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQ_RING);
  sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd,
              IORING_OFF_SQES);
  if (sq == MAP_FAILED || sqes == MAP_FAILED || !(p.features & IORING_FEAT_SINGLE_MMAP)) {
    printf("SKIP io_uring mmap failed or no FEAT_SINGLE_MMAP\n");
    return 0;
  }
  sq_head = (unsigned *)(sq + p.sq_off.head);
  sq_tail = (unsigned *)(sq + p.sq_off.tail);
  sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
  sq_array = (unsigned *)(sq + p.sq_off.array);
  sq_entries = p.sq_entries;
  local_tail = *sq_tail;
  cq_head = (unsigned *)(sq + p.cq_off.head);
  cq_tail = (unsigned *)(sq + p.cq_off.tail);
  cq_mask = (unsigned *)(sq + p.cq_off.ring_mask);
  cqes = (struct io_uring_cqe *)(sq + p.cq_off.cqes);

  bufs = mmap(NULL, (size_t)NBUF * BUFSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  br = mmap(NULL, NBUF * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = NBUF, .bgid = BGID};
  if (bufs == MAP_FAILED || br == MAP_FAILED || syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
    printf("SKIP IORING_REGISTER_PBUF_RING: %s\n", strerror(errno));
    return 0;
  }
  for (unsigned b = 0; b < NBUF; b++) give_buffer(b);

  int port, one = 1;
  int lfd = listen_loopback(o.port, o.backlog, SOCK_CLOEXEC, &port);
  if (lfd < 0) return 1;

  struct io_uring_sqe *s = sqe();
  s->opcode = IORING_OP_ACCEPT;
  s->fd = lfd;
  s->ioprio = IORING_ACCEPT_MULTISHOT;
  s->accept_flags = SOCK_CLOEXEC;
  s->user_data = tag(OP_ACCEPT, lfd);
  if (stdin_is_pipe()) {
    s = sqe();
    s->opcode = IORING_OP_POLL_ADD;
    s->fd = 0;
    s->poll32_events = 0x001 | 0x010; /* POLLIN | POLLHUP */
    s->user_data = tag(OP_STDIN, 0);
  }
  announce_port(port);
  time_t deadline = time(NULL) + (time_t)o.ttl;
  unsigned long iterations = 0;
  for (;;) {
    __atomic_store_n(sq_tail, local_tail, __ATOMIC_RELEASE);
    int r = enter(local_tail - __atomic_load_n(sq_head, __ATOMIC_ACQUIRE), 1, IORING_ENTER_GETEVENTS);
    if (r < 0 && errno != EINTR && errno != EAGAIN && errno != EBUSY) return 1;
    if ((++iterations & 1023) == 0 && time(NULL) > deadline) return 0;
    unsigned head = *cq_head;
    unsigned tail = __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE);
    for (; head != tail; head++) {
      struct io_uring_cqe *cqe = &cqes[head & *cq_mask];
      int op = (int)(cqe->user_data >> 32);
      int fd = (int)(uint32_t)cqe->user_data;
      int res = cqe->res;
      unsigned flags = cqe->flags;
      if (op == OP_STDIN) {
        char b[256];
        if (read(0, b, sizeof b) <= 0) return 0;
        s = sqe();
        s->opcode = IORING_OP_POLL_ADD;
        s->fd = 0;
        s->poll32_events = 0x001 | 0x010;
        s->user_data = tag(OP_STDIN, 0);
        continue;
      }
      if (op == OP_ACCEPT) {
        if (res >= 0) {
          setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conn_t *c = conn_of(res);
          memset(c, 0, sizeof *c);
          c->fd = res;
          c->open = 1;
          arm_recv(c);
        }
        if (!(flags & IORING_CQE_F_MORE)) {
          s = sqe();
          s->opcode = IORING_OP_ACCEPT;
          s->fd = lfd;
          s->ioprio = IORING_ACCEPT_MULTISHOT;
          s->accept_flags = SOCK_CLOEXEC;
          s->user_data = tag(OP_ACCEPT, lfd);
        }
        continue;
      }
      conn_t *c = conn_at(fd);
      if (!c) {
        if (flags & IORING_CQE_F_BUFFER) give_buffer(flags >> IORING_CQE_BUFFER_SHIFT);
        continue;
      }
      if (op == OP_RECV) {
        if (!(flags & IORING_CQE_F_MORE)) c->recv_armed = 0;
        if (res > 0) {
          unsigned slot = c->qtail++ & (NBUF - 1);
          c->qbid[slot] = (unsigned short)(flags >> IORING_CQE_BUFFER_SHIFT);
          c->qlen[slot] = (unsigned)res;
          if (c->open && !c->sending) send_next(c);
          if (c->open && !c->recv_armed) arm_recv(c);
        } else if (res == -ENOBUFS && c->open) {
          arm_recv(c); /* buffers come back as sends complete */
        } else if (res <= 0) {
          drop(c);
          if (!c->sending) release(c);
        }
      } else if (op == OP_SEND) {
        c->sending = 0;
        if (res > 0 && c->open) {
          if (!sent(c, (size_t)res)) {
            send_next(c); /* short send: the rest */
            continue;
          }
          for (unsigned i = 0; i < c->nflight; i++) give_buffer(c->fbid[i]);
          c->nflight = 0;
          send_next(c);
        } else {
          drop(c);
          release(c);
        }
      }
    }
    __atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
  }
}
