// TEST ONLY: checks that kqueue_emulation.cc behaves as FreeBSD's kevent(2) says, for what
// selector_kqueue.cc and a careful caller rely on. Built with ASan+UBSan and run by
// test/kqueue-emulation.test.ts; prints "ok" and exits 0, or prints each failed check and exits 1.
#include <fcntl.h>
#include <sys/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

static int failures = 0;
#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::printf("FAILED line %d: %s (errno %d)\n", __LINE__, #cond, errno); \
      failures++;                                                     \
    }                                                                 \
  } while (0)

static int Change(int kq, int fd, short filter, unsigned short flags, void* udata = nullptr) {
  struct kevent ev;
  EV_SET(&ev, static_cast<uintptr_t>(fd), filter, flags, 0, 0, udata);
  return kevent(kq, &ev, 1, nullptr, 0, nullptr) == 0 ? 0 : errno;
}

static int Wait(int kq, struct kevent* out, int n) {
  struct timespec zero = {0, 0};
  return kevent(kq, nullptr, 0, out, n, &zero);
}

int main() {
  const int kq = kqueue();
  CHECK(kq >= 0);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  struct kevent out[8];

  // Bad changes with no eventlist: -1 and errno.
  CHECK(Change(kq, 9999, EVFILT_READ, EV_ADD) == EBADF);
  CHECK(Change(kq, sv[0], EVFILT_READ, EV_DELETE) == ENOENT);
  CHECK(Change(kq, sv[0], EVFILT_READ, EV_ENABLE) == ENOENT);
  CHECK(Change(kq, sv[0], 42, EV_ADD) == EINVAL);
  CHECK(Change(kq, kq, EVFILT_READ, EV_ADD) == EINVAL);  // a kqueue in itself
  CHECK(kevent(12345, nullptr, 0, out, 1, nullptr) == -1 && errno == EBADF);
  struct timespec bad = {0, 1000000000L};
  CHECK(kevent(kq, nullptr, 0, out, 1, &bad) == -1 && errno == EINVAL);

  // With room: every failed change is an EV_ERROR entry, the good ones are applied, and no event
  // is collected in that call.
  struct kevent changes[3];
  EV_SET(&changes[0], static_cast<uintptr_t>(sv[0]), EVFILT_WRITE, EV_ADD, 0, 0, nullptr);
  EV_SET(&changes[1], 9999u, EVFILT_READ, EV_ADD, 0, 0, nullptr);
  EV_SET(&changes[2], static_cast<uintptr_t>(sv[0]), EVFILT_READ, EV_DELETE, 0, 0, nullptr);
  int n = kevent(kq, changes, 3, out, 8, nullptr);
  CHECK(n == 2);
  CHECK(out[0].flags == EV_ERROR && out[0].data == EBADF && out[0].ident == 9999u);
  CHECK(out[1].flags == EV_ERROR && out[1].data == ENOENT);
  n = Wait(kq, out, 8);  // the write filter was added
  CHECK(n == 1 && out[0].filter == EVFILT_WRITE && static_cast<int>(out[0].ident) == sv[0]);

  // EV_RECEIPT: an entry for a change that worked too, data 0.
  EV_SET(&changes[0], static_cast<uintptr_t>(sv[0]), EVFILT_WRITE, EV_DELETE | EV_RECEIPT, 0, 0, nullptr);
  n = kevent(kq, changes, 1, out, 8, nullptr);
  CHECK(n == 1 && out[0].flags == EV_ERROR && out[0].data == 0);
  CHECK(Wait(kq, out, 8) == 0);

  // Read and write are separate knotes, each with its own udata; data is FIONREAD.
  int tag_r = 0, tag_w = 0;
  CHECK(Change(kq, sv[0], EVFILT_READ, EV_ADD, &tag_r) == 0);
  CHECK(Change(kq, sv[0], EVFILT_WRITE, EV_ADD, &tag_w) == 0);
  CHECK(write(sv[1], "hello", 5) == 5);
  n = Wait(kq, out, 8);
  CHECK(n == 2);
  bool saw_read = false, saw_write = false;
  for (int i = 0; i < n; i++) {
    if (out[i].filter == EVFILT_READ) saw_read = out[i].data == 5 && out[i].udata == &tag_r;
    if (out[i].filter == EVFILT_WRITE) saw_write = out[i].udata == &tag_w;
  }
  CHECK(saw_read && saw_write);
  // Room for one: the other is returned by the next call, not lost.
  CHECK(Wait(kq, out, 1) == 1);
  const short first = out[0].filter;
  CHECK(Wait(kq, out, 1) == 1 && out[0].filter != first);

  // EV_DISABLE keeps the knote but silences it; EV_ENABLE brings it back.
  CHECK(Change(kq, sv[0], EVFILT_WRITE, EV_DISABLE) == 0);
  n = Wait(kq, out, 8);
  CHECK(n == 1 && out[0].filter == EVFILT_READ);
  CHECK(Change(kq, sv[0], EVFILT_WRITE, EV_ADD) == 0);  // re-adding keeps it disabled
  CHECK(Wait(kq, out, 8) == 1);
  CHECK(Change(kq, sv[0], EVFILT_WRITE, EV_ENABLE) == 0);
  CHECK(Wait(kq, out, 8) == 2);
  CHECK(Change(kq, sv[0], EVFILT_WRITE, EV_DELETE) == 0);
  CHECK(Change(kq, sv[0], EVFILT_WRITE, EV_DELETE) == ENOENT);

  // EV_ONESHOT: reported once, then the knote is gone.
  CHECK(Change(kq, sv[0], EVFILT_READ, EV_ADD | EV_ONESHOT) == 0);
  CHECK(Wait(kq, out, 8) == 1);
  CHECK(Wait(kq, out, 8) == 0);
  CHECK(Change(kq, sv[0], EVFILT_READ, EV_DELETE) == ENOENT);

  // EV_CLEAR: reported when new data arrives, not again for the same data.
  CHECK(Change(kq, sv[0], EVFILT_READ, EV_ADD | EV_CLEAR) == 0);
  CHECK(write(sv[1], "!", 1) == 1);
  CHECK(Wait(kq, out, 8) == 1 && out[0].data == 6);
  CHECK(Wait(kq, out, 8) == 0);
  CHECK(Change(kq, sv[0], EVFILT_READ, EV_ADD) == 0);  // back to level-triggered
  CHECK(Wait(kq, out, 8) == 1);

  // Hang-up: EV_EOF on the read filter, data the bytes still unread.
  close(sv[1]);
  n = Wait(kq, out, 8);
  CHECK(n == 1 && out[0].filter == EVFILT_READ && (out[0].flags & EV_EOF) && out[0].data == 6);

  // A closed fd drops its knotes; its reused number starts clean.
  close(sv[0]);
  CHECK(Wait(kq, out, 8) == 0);
  CHECK(Change(kq, sv[0], EVFILT_READ, EV_DELETE) == EBADF);
  int p[2];
  CHECK(pipe(p) == 0);
  CHECK(Change(kq, p[0], EVFILT_READ, EV_DELETE) == ENOENT);

  // Regular files: readable while the offset is before the end (data = bytes left).
  char path[] = "/tmp/muxloop-kevent-XXXXXX";
  const int file = mkstemp(path);
  CHECK(file >= 0);
  unlink(path);
  CHECK(write(file, "abc", 3) == 3);
  CHECK(Change(kq, file, EVFILT_READ, EV_ADD) == 0);
  CHECK(Wait(kq, out, 8) == 0);  // at the end
  CHECK(lseek(file, 1, SEEK_SET) == 1);
  n = Wait(kq, out, 8);
  CHECK(n == 1 && out[0].data == 2);

  // A timeout is waited for (never returns early with nothing ready).
  struct timespec ten_ms = {0, 10000000L};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  CHECK(kevent(kq, nullptr, 0, out, 0, &ten_ms) == 0);  // nevents 0: returns at once
  CHECK(Change(kq, file, EVFILT_READ, EV_DELETE) == 0);
  CHECK(kevent(kq, nullptr, 0, out, 8, &ten_ms) == 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  const long long waited = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
  CHECK(waited >= 10000000LL);

  close(file);
  close(p[0]);
  close(p[1]);
  close(kq);
  CHECK(kevent(kq, nullptr, 0, out, 1, nullptr) == -1 && errno == EBADF);
  if (failures == 0) std::printf("ok\n");
  return failures == 0 ? 0 : 1;
}
