// Hosting a muxloop event loop on Node's libuv (DESIGN.md section 3, node-ecosystem.md section 1).
// No N-API here: loop_host_binding.cc turns the wakeups into JS calls.
//
// Hosted mode (LoopHost): the loop never blocks the thread. libuv tells us when to run an
// iteration, and each wakeup collects the ready events with a zero-timeout wait on the JS thread
// and hands them over in one batch (one JS call per wakeup):
//  * epoll/kqueue ("poll" mode): one uv_poll_t on the selector's own fd, which is readable exactly
//    when a wait would report something (measured design B2).
//  * poll/select ("thread" mode): those have no kernel fd to watch, so a helper thread blocks in
//    the selector's wait (Trio's guest mode, design B3) and wakes libuv with a uv_async_t. It only
//    waits while the loop is idle with fds to watch, and it never touches the selector while the
//    JS thread does: every JS use of the selector first interrupts it through a self-pipe that is
//    registered in the selector, and waits until it is out (SelectorGuard). Before handing the wait
//    to the helper, the JS thread looks once with a zero timeout, so a busy loop never pays for a
//    thread handoff (Trio: the thread is used "only when it would actually sleep"). The helper is
//    only a doorbell: the events themselves are always collected again on the JS thread. Its
//    waits are sliced (1 s), so that even with its self-pipe closed from outside an interrupt takes
//    at most a slice; a broken self-pipe is then replaced (reliability.md C13): never a hang, and
//    never a spin on a pipe at EOF.
//  * deadlines: one uv_timer_t; "at once" is a uv_idle_t, so that libuv polls for I/O (with a zero
//    timeout) between two iterations and a loop that always has work cannot starve Node.
// The handles are ref'd only while the loop has work of its own (keep_alive), so a hosted loop
// never keeps the process alive by accident.
//
// Owning mode (LoopOwner): blocks the thread in the selector with libuv's backend fd added to it,
// bounded by uv_backend_timeout() while uv_loop_alive(), then runs libuv once with
// UV_RUN_NOWAIT. Sound only before Node's own uv_run has started (CommonJS top level); the JS side
// checks that (lib/loop.ts). A never-sent uv_async_t is ref'd around those two libuv calls: uv_run
// does nothing on a loop that is not alive, and then never applies pending watcher changes, such as
// the signal pipe behind a fresh process.on('SIGUSR2') (signal handles are unref'd).
// With a CompletionWaiter (an io_uring loop's engine, backends/selector.h) and an epoll selector,
// the owner sleeps in the ring instead: the ring polls the epoll set (libuv's fd in it), so that
// one io_uring_enter submits the iteration's work and waits, and epoll_wait runs only when the
// set has something. The proactor (lib/net/proactor.ts) reaps the ring when Wait says so.
#ifndef MUXLOOP_LOOP_HOST_H_
#define MUXLOOP_LOOP_HOST_H_

#include <uv.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "backends/selector.h"
#include "backends/selector_guard.h"

namespace muxloop {

class LoopHost final : public SelectorGuard {
 public:
  // Called on the JS thread with the number of events written to events().
  using WakeFn = std::function<void(int count)>;

  // Creates the libuv handles on `loop`. Returns nullptr with *err = -errno on failure.
  static LoopHost* Create(uv_loop_t* loop, std::shared_ptr<Selector> selector, int capacity, WakeFn wake,
                          SysResult* err);

  // Next wakeup after at most timeout_ns (< 0: only on I/O); keep_alive refs the handles;
  // watch_io waits for readiness of the selector's fds.
  void Arm(int64_t timeout_ns, bool keep_alive, bool watch_io);
  // Stops the helper thread and closes the handles. `done` runs once they are all closed, then
  // the host deletes itself. Idempotent (a second call's `done` is dropped).
  void Close(std::function<void()> done);

  const ReadyEvent* events() const { return events_.data(); }
  bool threaded() const { return threaded_; }
  bool closing() const { return closing_; }
  // Called once if the host is closed from outside its owner (environment teardown), so that the
  // owner forgets it; the owner clears it before closing the host itself.
  void set_on_detach(std::function<void()> on_detach) { on_detach_ = std::move(on_detach); }
  void Detach() {
    std::function<void()> on_detach = std::move(on_detach_);
    on_detach_ = nullptr;
    if (on_detach) on_detach();
  }

  // SelectorGuard
  void BeforeSelectorUse() override;
  void AfterSelectorUse() override;
  void BeforeSelectorClose() override;

 private:
  LoopHost(uv_loop_t* loop, std::shared_ptr<Selector> selector, int capacity, WakeFn wake);
  ~LoopHost() override;

  static void OnTimer(uv_timer_t* handle);
  static void OnIdle(uv_idle_t* handle);
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnAsync(uv_async_t* handle);
  static void OnClosed(uv_handle_t* handle);

  // One wakeup: collect the ready events (timeout 0, unless `known_idle`) and call wake_.
  void Dispatch(bool known_idle = false);
  uint64_t LibuvPolls();
  // Zero-timeout wait into events_, without the self-pipe; returns the count.
  int Collect();
  void SetRef(bool keep_alive);

  // Helper thread (thread mode).
  void HelperMain();
  void RequestWait();   // start waiting (JS thread)
  bool HelperBusy();    // waiting, or asked to
  bool Interrupt();     // stop waiting; true if it was waiting (JS thread)
  // Empties the self-pipe; notes it broken on EOF or EBADF (closed from outside, C13).
  void DrainWakePipe();
  // Replaces a broken self-pipe (JS thread, helper not waiting).
  void RepairWakePipe();

  uv_loop_t* loop_;
  std::shared_ptr<Selector> selector_;
  WakeFn wake_;
  std::vector<ReadyEvent> events_;
  bool threaded_;
  bool closing_ = false;
  bool poll_dead_ = false;  // the selector was closed: its fd must not be watched any more
  bool polling_ = false;
  int prefetched_ = -1;  // events already in events_ for the next Dispatch, -1 if none
  // Poll mode: libuv's loop_count (its polls so far) at the last Dispatch, and whether libuv's
  // poll reported the selector's fd since. See OnIdle.
  uint64_t polls_at_dispatch_ = 0;
  bool poll_fired_ = false;
  bool watch_io_ = false;  // the last Arm asked to watch the selector's fds
  uint64_t rebuilds_seen_ = 0;  // selector_->rebuilds() when uv_poll was last (re)started
  int open_handles_ = 0;
  std::function<void()> on_closed_;
  std::function<void()> on_detach_;

  uv_timer_t timer_;
  uv_idle_t idle_;
  uv_poll_t poll_;    // poll mode
  uv_async_t async_;  // thread mode

  std::thread helper_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool want_wait_ = false;    // guarded by mutex_
  bool in_wait_ = false;      // guarded by mutex_
  bool interrupted_ = false;  // guarded by mutex_
  bool quit_ = false;         // guarded by mutex_
  bool resume_after_use_ = false;  // JS thread only
  int wake_pipe_[2] = {-1, -1};
  // Which end of the self-pipe was found closed from outside (0 read, 1 write), -1 if none: that
  // number may belong to someone else by now and must not be closed again.
  int wake_broken_end_ = -1;
};

// Owning mode: see the file comment.
class LoopOwner {
 public:
  // Adds libuv's backend fd to the selector. `waiter` may be null; it is used only with an epoll
  // selector (waits_in_ring()). Returns nullptr with *err on failure.
  static std::unique_ptr<LoopOwner> Create(uv_loop_t* loop, std::shared_ptr<Selector> selector,
                                           std::shared_ptr<CompletionWaiter> waiter, SysResult* err);
  ~LoopOwner();

  // Waits (timeout_ns < 0: no bound of ours), then runs libuv once without blocking. Writes at
  // most `capacity` events of the caller's selector (never libuv's fd) to `out`; *completions:
  // the waiter has completions to reap.
  SysResult Wait(int64_t timeout_ns, ReadyEvent* out, int capacity, bool* completions);
  bool waits_in_ring() const { return waiter_ != nullptr; }
  bool LibuvAlive() const { return uv_loop_alive(loop_) != 0; }
  // Takes libuv's fd out of the selector; idempotent.
  void Close();

 private:
  LoopOwner(uv_loop_t* loop, std::shared_ptr<Selector> selector, std::shared_ptr<CompletionWaiter> waiter, int uv_fd,
            uv_async_t* keeper)
      : loop_(loop), selector_(std::move(selector)), waiter_(std::move(waiter)), uv_fd_(uv_fd), keeper_(keeper) {}

  uv_loop_t* loop_;
  std::shared_ptr<Selector> selector_;
  std::shared_ptr<CompletionWaiter> waiter_;
  int uv_fd_;
  // Never sent; ref'd only while we ask libuv for its timeout and run it, so that uv_run does run
  // (it returns at once when the loop is not alive) and applies pending watcher changes, such as
  // the signal pipe of a process.on('SIGUSR2') added just before: signal handles are unref'd.
  uv_async_t* keeper_;
  std::vector<ReadyEvent> buffer_;
};

}  // namespace muxloop

#endif  // MUXLOOP_LOOP_HOST_H_
