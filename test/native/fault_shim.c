// Test-only fault injection for the addon (issue 17, reliability.md 3.1 "fault injection").
// An LD_PRELOAD shim, built by test/fault.ts with the system cc into a temp dir and preloaded into
// a child node process. It interposes the syscall wrappers the addon calls and makes chosen calls
// fail with a chosen errno, or transfer fewer bytes (a short write or read), or be interrupted.
//
// Why a shim and not a compile-time hook in native/syscalls/: the addon under test is the very
// binary that ships (no test build, no #ifdef in the product), and the backends' own kernel calls
// (epoll_ctl, epoll_create1 in native/backends/) are reached as well as the syscall wrappers.
//
// Scoping, because node itself calls the same functions (libuv's epoll_ctl, read on its wakeup
// fds, write to stdout):
//  * only calls whose caller is the addon count (its file name is muxloop*.node; found with
//    backtrace + dladdr, so it also works under ASan, whose interceptors sit in between);
//  * only after the test armed the rules, and until it disarms them. Arming goes through a marker
//    path that no real file can have, so the test needs nothing but node's own fs:
//      fs.existsSync('/dev/null/muxloop-fault/arm/epoll_ctl:2:ENOSPC,send:1-3:EINTR')
//      fs.existsSync('/dev/null/muxloop-fault/fired')   true when every rule has fired
//      fs.existsSync('/dev/null/muxloop-fault/off')
//    A rule is NAME:WHEN:ACTION[:FD] (FD: only calls on that fd count), WHEN is N (the Nth call from the addon since arming), N-M, or N+
//    (from the Nth on), and ACTION is an errno name (the call is not made and fails with it) or
//    "short" (the call is made with half the length, at least 1 byte: a real, shorter transfer).
//    EINTR is an errno like the others: the call is not made, as when a signal arrives first.
//  * MUXLOOP_FAULT in the environment arms rules at start-up (for a whole child process).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_RULES 16
#define MARK "/dev/null/muxloop-fault/"

struct rule {
  char name[32];
  long from, to;  // 1-based call numbers, to < 0: no end
  int err;        // errno to fail with, 0 for a short transfer
  long calls;     // matching calls from the addon since arming
  long fired;
  int fd;         // only calls on this fd count, -1: any
};

static struct rule rules[MAX_RULES];
static int nrules;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const struct { const char* name; int value; } errnos[] = {
    {"EINTR", EINTR},   {"EAGAIN", EAGAIN},       {"ENOMEM", ENOMEM},       {"ENOSPC", ENOSPC},
    {"EMFILE", EMFILE}, {"ENFILE", ENFILE},       {"ENOBUFS", ENOBUFS},     {"ECONNRESET", ECONNRESET},
    {"EPIPE", EPIPE},   {"EIO", EIO},             {"EBADF", EBADF},         {"EINVAL", EINVAL},
    {"EPERM", EPERM},   {"ECONNABORTED", ECONNABORTED}, {"ETIMEDOUT", ETIMEDOUT}, {"ENOTCONN", ENOTCONN},
    {"EHOSTUNREACH", EHOSTUNREACH}, {"ECONNREFUSED", ECONNREFUSED},
};

static int parse_errno(const char* s) {
  for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
    if (strcmp(errnos[i].name, s) == 0) return errnos[i].value;
  if (strcmp(s, "short") == 0) return 0;
  return -1;
}

// Replaces the rules with those in spec; returns 0, or -1 (and no rules) for a malformed spec.
static int arm(const char* spec) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", spec);
  nrules = 0;
  char* save = NULL;
  for (char* item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
    if (nrules == MAX_RULES) goto bad;
    char* c1 = strchr(item, ':');
    char* c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c1 == NULL || c2 == NULL || (size_t)(c1 - item) >= sizeof rules[0].name) goto bad;
    struct rule* r = &rules[nrules];
    memset(r, 0, sizeof *r);
    memcpy(r->name, item, (size_t)(c1 - item));
    *c2 = '\0';
    char* end = NULL;
    r->from = strtol(c1 + 1, &end, 10);
    if (r->from < 1) goto bad;
    if (*end == '\0') r->to = r->from;
    else if (*end == '+' && end[1] == '\0') r->to = -1;
    else if (*end == '-') r->to = strtol(end + 1, NULL, 10);
    else goto bad;
    char* c3 = strchr(c2 + 1, ':');
    r->fd = -1;
    if (c3 != NULL) {
      *c3 = '\0';
      r->fd = (int)strtol(c3 + 1, NULL, 10);
    }
    r->err = parse_errno(c2 + 1);
    if (r->err < 0) goto bad;
    nrules++;
  }
  return 0;
bad:
  nrules = 0;
  return -1;
}

__attribute__((constructor)) static void init(void) {
  void* frames[4];
  backtrace(frames, 4);  // loads the unwinder now, not inside an interposed call
  const char* spec = getenv("MUXLOOP_FAULT");
  if (spec != NULL && arm(spec) != 0) fprintf(stderr, "fault_shim: bad MUXLOOP_FAULT '%s'\n", spec);
}

static int called_from_addon(void) {
  void* frames[8];
  const int n = backtrace(frames, 8);
  for (int i = 1; i < n; i++) {
    Dl_info info;
    if (dladdr(frames[i], &info) == 0 || info.dli_fname == NULL) continue;
    // The addon is build/Release/muxloop.node or a prebuild (prebuilds/<platform>/muxloop.glibc.node):
    // a file name that starts with "muxloop" and ends in ".node".
    const char* slash = strrchr(info.dli_fname, '/');
    const char* base = slash == NULL ? info.dli_fname : slash + 1;
    const size_t len = strlen(base);
    if (strncmp(base, "muxloop", 7) == 0 && len >= 5 && strcmp(base + len - 5, ".node") == 0) return 1;
    if (strstr(info.dli_fname, "fault_shim") == NULL && strstr(info.dli_fname, "libasan") == NULL &&
        strstr(info.dli_fname, "libubsan") == NULL && strstr(info.dli_fname, "libc.so") == NULL &&
        strstr(info.dli_fname, "libstdc++") == NULL)
      return 0;  // a caller that is neither us, a sanitizer nor libc: not the addon
  }
  return 0;
}

// What to do with this call: 0 = run it, > 0 = fail with that errno, -1 = run it shorter.
static int decide(const char* name, int fd) {
  if (nrules == 0) return 0;  // unlocked fast path: nothing armed
  int action = 0;
  int matched = -1;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < nrules; i++)
    if (strcmp(rules[i].name, name) == 0 && (rules[i].fd < 0 || rules[i].fd == fd)) matched = i;
  pthread_mutex_unlock(&lock);
  if (matched < 0 || !called_from_addon()) return 0;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < nrules; i++) {
    struct rule* r = &rules[i];
    if (strcmp(r->name, name) != 0 || (r->fd >= 0 && r->fd != fd)) continue;
    const long n = ++r->calls;
    if (n >= r->from && (r->to < 0 || n <= r->to) && action == 0) {
      r->fired++;
      action = r->err > 0 ? r->err : -1;
    }
  }
  pthread_mutex_unlock(&lock);
  return action;
}

static size_t shorter(size_t len) { return len > 1 ? len / 2 : len; }

// An iovec list cut down to about half its bytes (at least 1), in `out`.
static int shorter_iov(const struct iovec* iov, int count, struct iovec* out, int max) {
  size_t total = 0;
  for (int i = 0; i < count; i++) total += iov[i].iov_len;
  size_t keep = shorter(total);
  int n = 0;
  for (int i = 0; i < count && keep > 0 && n < max; i++) {
    out[n] = iov[i];
    if (out[n].iov_len > keep) out[n].iov_len = keep;
    keep -= out[n].iov_len;
    n++;
  }
  return n;
}

#define REAL(ret, name, ...)                                  \
  static ret (*real_##name)(__VA_ARGS__);                    \
  if (real_##name == NULL) real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

#define FAIL_IF(name, fd, failure)      \
  const int action = decide(name, fd); \
  if (action > 0) {                    \
    errno = action;                    \
    return failure;                    \
  }

// Marker paths: node's fs.existsSync calls access(2) on the main thread.
static int marker(const char* path, int* result) {
  if (strncmp(path, MARK, sizeof MARK - 1) != 0) return 0;
  const char* cmd = path + sizeof MARK - 1;
  pthread_mutex_lock(&lock);
  if (strncmp(cmd, "arm/", 4) == 0) *result = arm(cmd + 4) == 0 ? 0 : -1;
  else if (strcmp(cmd, "off") == 0) { nrules = 0; *result = 0; }
  else if (strcmp(cmd, "fired") == 0) {
    *result = nrules > 0 ? 0 : -1;
    for (int i = 0; i < nrules; i++) if (rules[i].fired == 0) *result = -1;
  } else *result = -1;
  pthread_mutex_unlock(&lock);
  if (*result != 0) errno = ENOENT;
  return 1;
}

int access(const char* path, int mode) {
  int result;
  if (marker(path, &result)) return result;
  REAL(int, access, const char*, int);
  return real_access(path, mode);
}

int faccessat(int dirfd, const char* path, int mode, int flags) {
  int result;
  if (marker(path, &result)) return result;
  REAL(int, faccessat, int, const char*, int, int);
  return real_faccessat(dirfd, path, mode, flags);
}

int socket(int domain, int type, int protocol) {
  FAIL_IF("socket", -1, -1);
  REAL(int, socket, int, int, int);
  return real_socket(domain, type, protocol);
}

int socketpair(int domain, int type, int protocol, int sv[2]) {
  FAIL_IF("socketpair", -1, -1);
  REAL(int, socketpair, int, int, int, int*);
  return real_socketpair(domain, type, protocol, sv);
}

int accept4(int fd, struct sockaddr* addr, socklen_t* len, int flags) {
  FAIL_IF("accept4", fd, -1);
  REAL(int, accept4, int, struct sockaddr*, socklen_t*, int);
  return real_accept4(fd, addr, len, flags);
}

int pipe2(int fds[2], int flags) {
  FAIL_IF("pipe2", -1, -1);
  REAL(int, pipe2, int*, int);
  return real_pipe2(fds, flags);
}

int epoll_create1(int flags) {
  FAIL_IF("epoll_create1", -1, -1);
  REAL(int, epoll_create1, int);
  return real_epoll_create1(flags);
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event* ev) {
  // Rules may name one operation: epoll_ctl_add, epoll_ctl_mod, epoll_ctl_del, or all of them.
  const char* which = op == EPOLL_CTL_ADD ? "epoll_ctl_add" : op == EPOLL_CTL_MOD ? "epoll_ctl_mod" : "epoll_ctl_del";
  int action = decide(which, fd);
  if (action == 0) action = decide("epoll_ctl", fd);
  if (action > 0) {
    errno = action;
    return -1;
  }
  REAL(int, epoll_ctl, int, int, int, struct epoll_event*);
  return real_epoll_ctl(epfd, op, fd, ev);
}

int epoll_wait(int epfd, struct epoll_event* events, int max, int timeout) {
  FAIL_IF("epoll_wait", epfd, -1);
  REAL(int, epoll_wait, int, struct epoll_event*, int, int);
  return real_epoll_wait(epfd, events, max, timeout);
}

int poll(struct pollfd* fds, nfds_t n, int timeout) {
  FAIL_IF("poll", -1, -1);
  REAL(int, poll, struct pollfd*, nfds_t, int);
  return real_poll(fds, n, timeout);
}

ssize_t send(int fd, const void* buf, size_t len, int flags) {
  FAIL_IF("send", fd, -1);
  REAL(ssize_t, send, int, const void*, size_t, int);
  return real_send(fd, buf, action < 0 ? shorter(len) : len, flags);
}

ssize_t sendto(int fd, const void* buf, size_t len, int flags, const struct sockaddr* to, socklen_t tolen) {
  FAIL_IF("sendto", fd, -1);
  REAL(ssize_t, sendto, int, const void*, size_t, int, const struct sockaddr*, socklen_t);
  return real_sendto(fd, buf, action < 0 ? shorter(len) : len, flags, to, tolen);
}

ssize_t sendmsg(int fd, const struct msghdr* msg, int flags) {
  FAIL_IF("sendmsg", fd, -1);
  REAL(ssize_t, sendmsg, int, const struct msghdr*, int);
  if (action < 0 && msg->msg_iovlen > 0) {
    struct iovec iov[64];
    struct msghdr copy = *msg;
    copy.msg_iov = iov;
    copy.msg_iovlen = (size_t)shorter_iov(msg->msg_iov, (int)msg->msg_iovlen, iov, 64);
    return real_sendmsg(fd, &copy, flags);
  }
  return real_sendmsg(fd, msg, flags);
}

ssize_t write(int fd, const void* buf, size_t len) {
  FAIL_IF("write", fd, -1);
  REAL(ssize_t, write, int, const void*, size_t);
  return real_write(fd, buf, action < 0 ? shorter(len) : len);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  FAIL_IF("writev", fd, -1);
  REAL(ssize_t, writev, int, const struct iovec*, int);
  if (action < 0 && count > 0) {
    struct iovec cut[64];
    return real_writev(fd, cut, shorter_iov(iov, count, cut, 64));
  }
  return real_writev(fd, iov, count);
}

ssize_t recv(int fd, void* buf, size_t len, int flags) {
  FAIL_IF("recv", fd, -1);
  REAL(ssize_t, recv, int, void*, size_t, int);
  return real_recv(fd, buf, action < 0 ? shorter(len) : len, flags);
}

ssize_t recvfrom(int fd, void* buf, size_t len, int flags, struct sockaddr* from, socklen_t* fromlen) {
  FAIL_IF("recvfrom", fd, -1);
  REAL(ssize_t, recvfrom, int, void*, size_t, int, struct sockaddr*, socklen_t*);
  return real_recvfrom(fd, buf, action < 0 ? shorter(len) : len, flags, from, fromlen);
}

ssize_t recvmsg(int fd, struct msghdr* msg, int flags) {
  FAIL_IF("recvmsg", fd, -1);
  REAL(ssize_t, recvmsg, int, struct msghdr*, int);
  return real_recvmsg(fd, msg, flags);
}

ssize_t read(int fd, void* buf, size_t len) {
  FAIL_IF("read", fd, -1);
  REAL(ssize_t, read, int, void*, size_t);
  return real_read(fd, buf, action < 0 ? shorter(len) : len);
}

// _FORTIFY_SOURCE builds call these instead of read/recv.
ssize_t __read_chk(int fd, void* buf, size_t len, size_t buflen) {
  (void)buflen;
  return read(fd, buf, len);
}

ssize_t __recv_chk(int fd, void* buf, size_t len, size_t buflen, int flags) {
  (void)buflen;
  return recv(fd, buf, len, flags);
}

// Allocation failure (F10): "malloc" rules fail allocations that the addon makes, directly or
// through operator new (libstdc++ turns a NULL into std::bad_alloc). __libc_malloc avoids dlsym,
// which may itself allocate. Under ASan, whose allocator replaces malloc and new, this has no
// effect: the F10 test runs on the plain build.
extern void* __libc_malloc(size_t size);
static __thread int in_malloc;  // backtrace() may allocate: no rule applies to its allocations
void* malloc(size_t size) {
  if (nrules > 0 && !in_malloc) {
    in_malloc = 1;
    const int action = decide("malloc", -1);
    in_malloc = 0;
    if (action > 0) {
      errno = ENOMEM;
      return NULL;
    }
  }
  return __libc_malloc(size);
}

