// TEST ONLY. A Linux stand-in for <sys/event.h> so that native/backends/selector_kqueue.cc compiles
// and runs on Linux in `npm test` (test/native/kqueue/build.cjs). Never part of the package's build.
// The names, types and values follow FreeBSD's <sys/event.h> and kevent(2); only what the two read
// and write filters need is declared. kqueue_emulation.cc implements it over epoll.
#ifndef MUXLOOP_TEST_SYS_EVENT_H_
#define MUXLOOP_TEST_SYS_EVENT_H_

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)

// Actions.
#define EV_ADD 0x0001     // add the event, or modify it when it exists
#define EV_DELETE 0x0002  // delete the event
#define EV_ENABLE 0x0004  // enable the event (EV_ADD implies it)
#define EV_DISABLE 0x0008 // keep the event, but do not report it
// Flags.
#define EV_ONESHOT 0x0010 // report once, then delete
#define EV_CLEAR 0x0020   // reset the state after it is retrieved (edge-triggered)
#define EV_RECEIPT 0x0040 // always return an EV_ERROR entry for this change (data 0 on success)
// Returned values.
#define EV_EOF 0x8000     // hang-up: the peer closed, or the write side is gone
#define EV_ERROR 0x4000   // the change failed: data holds the errno

struct kevent {
  uintptr_t ident;  // the fd
  short filter;     // EVFILT_READ or EVFILT_WRITE
  unsigned short flags;
  unsigned int fflags;
  int64_t data;     // read: bytes available (FIONREAD); EV_ERROR: the errno
  void* udata;      // returned as given
};

#define EV_SET(kevp, a, b, c, d, e, f) \
  do {                                 \
    struct kevent* kev_ = (kevp);      \
    kev_->ident = (a);                 \
    kev_->filter = (b);                \
    kev_->flags = (c);                 \
    kev_->fflags = (d);                \
    kev_->data = (e);                  \
    kev_->udata = (f);                 \
  } while (0)

int kqueue(void);
int kevent(int kq, const struct kevent* changelist, int nchanges, struct kevent* eventlist, int nevents,
           const struct timespec* timeout);

#ifdef __cplusplus
}
#endif

#endif  // MUXLOOP_TEST_SYS_EVENT_H_
