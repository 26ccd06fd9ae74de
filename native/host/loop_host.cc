// Hosting the loop on Node's libuv; the design is in loop_host.h.
#include "host/loop_host.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <system_error>

#include "syscalls/fd.h"

namespace muxloop {

namespace {

template <typename Handle>
LoopHost* HostOf(Handle* handle) {
  return static_cast<LoopHost*>(handle->data);
}

// ns -> libuv's ms, rounded up, plus one: libuv's clock is floored to the millisecond, so a timer
// of exactly ceil(ms) can fire up to 1 ms before the deadline, and the loop would only re-arm.
// Longest single wait of the helper thread; see loop_host.h (C13).
constexpr int64_t kHelperSliceNs = 1000LL * 1000 * 1000;

uint64_t TimerMs(int64_t timeout_ns) {
  if (timeout_ns > kMaxTimeoutNs) timeout_ns = kMaxTimeoutNs;
  return static_cast<uint64_t>(CeilTimeout(timeout_ns, 1000000)) + 1;
}

}  // namespace

LoopHost::LoopHost(uv_loop_t* loop, std::shared_ptr<Selector> selector, int capacity, WakeFn wake)
    : loop_(loop),
      selector_(std::move(selector)),
      wake_(std::move(wake)),
      events_(static_cast<size_t>(capacity < 1 ? 1 : capacity)),
      threaded_(selector_->fileno() < 0) {}

LoopHost::~LoopHost() = default;

LoopHost* LoopHost::Create(uv_loop_t* loop, std::shared_ptr<Selector> selector, int capacity, WakeFn wake,
                           SysResult* err) {
  LoopHost* host = new LoopHost(loop, std::move(selector), capacity, std::move(wake));
  *err = {0, nullptr};
  int r = uv_timer_init(loop, &host->timer_);
  if (r != 0) {
    delete host;
    *err = {r, "uv_timer_init"};
    return nullptr;
  }
  host->timer_.data = host;
  host->open_handles_++;
  r = uv_idle_init(loop, &host->idle_);
  if (r == 0) {
    host->idle_.data = host;
    host->open_handles_++;
    if (!host->threaded_) {
      r = uv_poll_init(loop, &host->poll_, host->selector_->fileno());
      if (r == 0) {
        host->poll_.data = host;
        host->open_handles_++;
      } else {
        *err = {r, "uv_poll_init"};
      }
    } else {
      r = fd::Pipe(host->wake_pipe_, true);
      if (r != 0) {
        *err = {r, "pipe2"};
      } else {
        // A failed allocation (F10) goes the way of any other failure: the handles opened so far
        // are closed below. Thrown out of here, it left them open, and the async handle kept the
        // process alive for ever (the F10 sweep's child hung at exit).
        SysResult added{0, nullptr};
        try {
          added = host->selector_->add(host->wake_pipe_[0], kRead);
        } catch (const std::bad_alloc&) {
          added = {-ENOMEM, "malloc"};
        }
        if (!added.ok()) {
          r = added.value;
          *err = added;
          fd::Close(host->wake_pipe_[0]);
          fd::Close(host->wake_pipe_[1]);
          host->wake_pipe_[0] = host->wake_pipe_[1] = -1;
        }
      }
      if (r == 0) {
        r = uv_async_init(loop, &host->async_, OnAsync);
        if (r == 0) {
          host->async_.data = host;
          host->open_handles_++;
          try {
            host->helper_ = std::thread(&LoopHost::HelperMain, host);
          } catch (const std::system_error& e) {
            r = -e.code().value();
            *err = {r, "pthread_create"};
          } catch (const std::bad_alloc&) {
            r = -ENOMEM;
            *err = {r, "malloc"};
          }
        } else {
          *err = {r, "uv_async_init"};
        }
      }
    }
  } else {
    *err = {r, "uv_idle_init"};
  }
  host->SetRef(false);
  if (r != 0) {
    host->Close(nullptr);  // deletes the host once the handles opened so far are closed
    return nullptr;
  }
  return host;
}

void LoopHost::SetRef(bool keep_alive) {
  auto set = [keep_alive](uv_handle_t* handle) {
    if (keep_alive) uv_ref(handle);
    else uv_unref(handle);
  };
  set(reinterpret_cast<uv_handle_t*>(&timer_));
  if (open_handles_ >= 2) set(reinterpret_cast<uv_handle_t*>(&idle_));
  if (!threaded_ && open_handles_ >= 3) set(reinterpret_cast<uv_handle_t*>(&poll_));
  if (threaded_ && open_handles_ >= 3) set(reinterpret_cast<uv_handle_t*>(&async_));
}

void LoopHost::Arm(int64_t timeout_ns, bool keep_alive, bool watch_io) {
  if (closing_) return;
  if (timeout_ns == 0) {
    // "At once" waits for the next libuv iteration, after its (zero-timeout) poll for I/O.
    uv_timer_stop(&timer_);
    uv_idle_start(&idle_, OnIdle);
  } else {
    uv_idle_stop(&idle_);
    if (timeout_ns > 0) {
      // The cached loop time may be stale by however long JS has run since libuv last updated it.
      uv_update_time(loop_);
      uv_timer_start(&timer_, OnTimer, TimerMs(timeout_ns), 0);
    } else {
      uv_timer_stop(&timer_);
    }
  }
  const bool io = watch_io && !selector_->closed();
  watch_io_ = io;
  if (!threaded_) {
    const bool want = io && !poll_dead_;
    if (polling_ && selector_->rebuilds() != rebuilds_seen_) {
      // The epoll set was rebuilt at the same number (selector.h, ghosts): libuv still watches
      // the old one, which is gone. A stop and start makes libuv add the new one.
      uv_poll_stop(&poll_);
      polling_ = false;
    }
    rebuilds_seen_ = selector_->rebuilds();
    if (want && !polling_) uv_poll_start(&poll_, UV_READABLE, OnPoll);
    if (!want && polling_) uv_poll_stop(&poll_);
    polling_ = want;
  } else if (io && timeout_ns != 0) {
    // About to sleep: look first (Trio's guest mode does the same). When something is ready
    // already, the next libuv iteration dispatches it and the helper thread is not involved; a
    // busy loop then costs no thread handoffs (measured: 100 -> 12 us per socketpair round trip).
    // (Only while the helper is idle: the selector is never used by both threads at once.)
    if (!HelperBusy()) {
      prefetched_ = Collect();
      if (prefetched_ > 0) {
        uv_timer_stop(&timer_);
        uv_idle_start(&idle_, OnIdle);
      } else {
        prefetched_ = -1;
        RequestWait();
      }
    }
  } else {
    Interrupt();
  }
  SetRef(keep_alive);
}

void LoopHost::OnTimer(uv_timer_t* handle) { HostOf(handle)->Dispatch(); }
void LoopHost::OnIdle(uv_idle_t* handle) {
  // libuv's poll watches the selector's fd, level-triggered. If libuv has polled since our last
  // iteration (its idle phase comes before its poll) and that poll did not report the fd, then
  // nothing was ready then, and our own zero-timeout wait can be skipped: what became ready
  // since is found on the next iteration, as if it had come just after the wait. A busy loop then
  // costs libuv's epoll_wait only, not two per iteration.
  LoopHost* host = HostOf(handle);
  // With no fds to watch (watch_io false), the loop has nothing to collect at all.
  const bool known_idle =
      !host->threaded_ && host->prefetched_ < 0 &&
      (!host->watch_io_ || (host->polling_ && !host->poll_fired_ && host->LibuvPolls() > host->polls_at_dispatch_));
  host->Dispatch(known_idle);
}

uint64_t LoopHost::LibuvPolls() {
  uv_metrics_t metrics;
  if (uv_metrics_info(loop_, &metrics) != 0) return 0;
  return metrics.loop_count;
}
void LoopHost::OnAsync(uv_async_t* handle) { HostOf(handle)->Dispatch(); }

void LoopHost::OnPoll(uv_poll_t* handle, int status, int) {
  // An error on the selector's own fd (it was closed behind our back): stop watching it rather
  // than be called again and again; the loop still runs on its timers.
  LoopHost* host = HostOf(handle);
  if (status < 0) {
    uv_poll_stop(handle);
    host->polling_ = false;
    host->poll_dead_ = true;
  }
  host->poll_fired_ = true;
  host->Dispatch();
}

void LoopHost::Dispatch(bool known_idle) {
  if (closing_) return;
  uv_idle_stop(&idle_);
  uv_timer_stop(&timer_);
  if (threaded_) Interrupt();
  int count = prefetched_;
  prefetched_ = -1;
  if (count < 0) count = known_idle ? 0 : Collect();
  if (!threaded_) {
    polls_at_dispatch_ = LibuvPolls();
    poll_fired_ = false;
  }
  wake_(count);
}

int LoopHost::Collect() {
  if (selector_->closed()) return 0;
  SysResult r = selector_->wait(0, events_.data(), static_cast<int>(events_.size()));
  if (!r.ok()) return 0;
  int count = 0;
  bool wake_seen = false;
  for (int i = 0; i < r.value; i++) {
    if (threaded_ && events_[static_cast<size_t>(i)].fd == wake_pipe_[0]) {
      wake_seen = true;
      continue;
    }
    events_[static_cast<size_t>(count++)] = events_[static_cast<size_t>(i)];
  }
  // Readable without an interrupt: a stray byte, or EOF because it was closed from outside.
  if (wake_seen) DrainWakePipe();
  return count;
}

void LoopHost::BeforeSelectorUse() {
  // Events collected before the JS thread changed the selector may be stale: collect afresh.
  prefetched_ = -1;
  if (threaded_ && !closing_) resume_after_use_ = Interrupt();
}

void LoopHost::AfterSelectorUse() {
  if (resume_after_use_ && !closing_ && !selector_->closed()) RequestWait();
  resume_after_use_ = false;
}

void LoopHost::BeforeSelectorClose() {
  if (threaded_) {
    Interrupt();
    resume_after_use_ = false;
    return;
  }
  // libuv must never watch an fd number that is about to be closed (and maybe reused by a socket
  // Node watches too: two watchers on one fd abort Node, nodejs/node#3604).
  if (polling_) uv_poll_stop(&poll_);
  polling_ = false;
  poll_dead_ = true;
}

void LoopHost::HelperMain() {
  // Only a doorbell: one event is enough to know that the JS thread has something to collect.
  ReadyEvent scratch[1];
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return want_wait_ || quit_; });
    if (quit_) return;
    want_wait_ = false;
    in_wait_ = true;
    SysResult r{0, nullptr};
    do {
      lock.unlock();
      r = selector_->wait(kHelperSliceNs, scratch, 1);
      lock.lock();
    } while (r.ok() && r.value == 0 && !interrupted_ && !quit_);
    in_wait_ = false;
    const bool interrupted = interrupted_;
    changed_.notify_all();
    // Interrupted by the JS thread: it is using the selector right now and will collect (or
    // re-arm) itself, so ringing would only cause an empty iteration.
    if (!interrupted) uv_async_send(&async_);
  }
}

bool LoopHost::HelperBusy() {
  std::lock_guard<std::mutex> lock(mutex_);
  return in_wait_ || want_wait_;
}

void LoopHost::RequestWait() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (in_wait_ || want_wait_ || quit_) return;
  want_wait_ = true;
  changed_.notify_all();
}

bool LoopHost::Interrupt() {
  if (!threaded_) return false;
  std::unique_lock<std::mutex> lock(mutex_);
  want_wait_ = false;
  if (!in_wait_) return false;
  interrupted_ = true;
  if (wake_pipe_[1] >= 0) {
    const char byte = 1;
    ssize_t n;
    do {
      n = write(wake_pipe_[1], &byte, 1);
    } while (n < 0 && errno == EINTR);
    // EAGAIN: the pipe is full of wakeups already. EPIPE: the read end was closed from outside;
    // EBADF: the write end was. Either way the helper still comes out within one slice.
    if (n < 0 && errno == EPIPE) wake_broken_end_ = 0;
    if (n < 0 && errno == EBADF) wake_broken_end_ = 1;
  }
  changed_.wait(lock, [this] { return !in_wait_; });
  interrupted_ = false;
  lock.unlock();
  DrainWakePipe();
  return true;
}

void LoopHost::DrainWakePipe() {
  // Known broken: do not read, the number may name someone else's file by now.
  if (wake_broken_end_ < 0 && wake_pipe_[0] >= 0) {
    char buffer[64];
    for (;;) {
      const ssize_t n = fd::Read(wake_pipe_[0], buffer, sizeof buffer);
      if (n > 0) continue;
      if (n == 0) wake_broken_end_ = 1;           // EOF: the write end is gone
      else if (n == -EBADF) wake_broken_end_ = 0;  // the read end is gone
      break;
    }
  }
  if (wake_broken_end_ >= 0) RepairWakePipe();
}

void LoopHost::RepairWakePipe() {
  // The registration under the old number is ours (the selector refuses a second one), so it can
  // be dropped even if the number now names another file; only our own end is closed.
  if (!selector_->closed()) selector_->remove(wake_pipe_[0]);
  const int ours = wake_broken_end_ == 0 ? 1 : 0;
  if (wake_pipe_[ours] >= 0) fd::Close(wake_pipe_[ours]);
  wake_pipe_[0] = wake_pipe_[1] = -1;
  wake_broken_end_ = -1;
  int fds[2];
  if (fd::Pipe(fds, true) != 0) return;  // degraded: interrupts take up to one slice
  if (selector_->closed() || !selector_->add(fds[0], kRead).ok()) {
    fd::Close(fds[0]);
    fd::Close(fds[1]);
    return;
  }
  wake_pipe_[0] = fds[0];
  wake_pipe_[1] = fds[1];
}

void LoopHost::Close(std::function<void()> done) {
  if (closing_) return;
  closing_ = true;
  on_closed_ = std::move(done);
  if (threaded_) {
    if (helper_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        quit_ = true;
        if (in_wait_) {
          interrupted_ = true;
          const char byte = 1;
          while (write(wake_pipe_[1], &byte, 1) < 0 && errno == EINTR) {
          }
        }
        changed_.notify_all();
      }
      helper_.join();
    }
    if (wake_pipe_[0] >= 0 && !selector_->closed()) selector_->remove(wake_pipe_[0]);
    for (int end = 0; end < 2; end++) {
      if (wake_pipe_[end] >= 0 && end != wake_broken_end_) fd::Close(wake_pipe_[end]);
      wake_pipe_[end] = -1;
    }
  } else if (polling_) {
    uv_poll_stop(&poll_);
    polling_ = false;
  }
  if (open_handles_ == 0) {
    std::function<void()> finished = std::move(on_closed_);
    delete this;
    if (finished) finished();
    return;
  }
  // Memory is released only in the last close callback (libuv may touch a handle until then).
  const int handles = open_handles_;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnClosed);
  if (handles >= 2) uv_close(reinterpret_cast<uv_handle_t*>(&idle_), OnClosed);
  if (handles >= 3) {
    if (threaded_) uv_close(reinterpret_cast<uv_handle_t*>(&async_), OnClosed);
    else uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnClosed);
  }
}

void LoopHost::OnClosed(uv_handle_t* handle) {
  LoopHost* host = static_cast<LoopHost*>(handle->data);
  if (--host->open_handles_ > 0) return;
  std::function<void()> finished = std::move(host->on_closed_);
  delete host;
  if (finished) finished();
}

// ---------------------------------------------------------------------------------------------
// Owning mode

std::unique_ptr<LoopOwner> LoopOwner::Create(uv_loop_t* loop, std::shared_ptr<Selector> selector,
                                             std::shared_ptr<CompletionWaiter> waiter, SysResult* err) {
  *err = {0, nullptr};
  // The ring polls the selector's kernel object: an epoll fd (a poll or select selector has none,
  // and an io_uring selector's ring is not polled from another ring here).
  if (waiter != nullptr && (waiter->closed() || std::strcmp(selector->kind(), "epoll") != 0)) waiter = nullptr;
  const int uv_fd = uv_backend_fd(loop);
  if (uv_fd < 0) {
    *err = {-ENOSYS, "uv_backend_fd"};
    return nullptr;
  }
  uv_async_t* keeper = new uv_async_t;
  const int r = uv_async_init(loop, keeper, nullptr);
  if (r != 0) {
    delete keeper;
    *err = {r, "uv_async_init"};
    return nullptr;
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(keeper));
  const auto close_keeper = [keeper] {
    uv_close(reinterpret_cast<uv_handle_t*>(keeper), [](uv_handle_t* handle) { delete reinterpret_cast<uv_async_t*>(handle); });
  };
  SysResult added{0, nullptr};
  try {
    added = selector->add(uv_fd, kRead);
  } catch (const std::bad_alloc&) {
    close_keeper();  // F10: the binding reports ENOMEM; the keeper must not stay in libuv's loop
    throw;
  }
  if (!added.ok()) {
    close_keeper();
    *err = added;
    return nullptr;
  }
  Selector* raw = selector.get();  // selector is moved into the owner
  try {
    std::unique_ptr<LoopOwner> owner(new LoopOwner(loop, std::move(selector), std::move(waiter), uv_fd, keeper));
    if (owner->waiter_) owner->waiter_->SetOwned(true);
    return owner;
  } catch (const std::bad_alloc&) {
    raw->remove(uv_fd);
    close_keeper();
    throw;
  }
}

LoopOwner::~LoopOwner() { Close(); }

SysResult LoopOwner::Wait(int64_t timeout_ns, ReadyEvent* out, int capacity, bool* completions) {
  *completions = false;
  // libuv's own deadline bounds ours. uv_backend_timeout() is 0 when the loop is not alive, which
  // would be a busy loop (node-ecosystem.md 1.2, "CPU"), so the keeper makes it alive meanwhile;
  // it is also 0 when libuv has watcher changes to apply, which the uv_run below does.
  uv_ref(reinterpret_cast<uv_handle_t*>(keeper_));
  const int ms = uv_backend_timeout(loop_);
  if (ms >= 0) {
    const int64_t bound = static_cast<int64_t>(ms) * 1000000;
    if (timeout_ns < 0 || bound < timeout_ns) timeout_ns = bound;
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(keeper_));
  if (buffer_.size() < static_cast<size_t>(capacity) + 1) buffer_.resize(static_cast<size_t>(capacity) + 1);
  SysResult r{0, nullptr};
  if (waiter_ && !waiter_->closed()) {
    bool fd_ready = false;
    if (timeout_ns > kMaxTimeoutNs) timeout_ns = kMaxTimeoutNs;
    r = waiter_->Wait(selector_->fileno(), selector_->rebuilds(), timeout_ns, &fd_ready);
    if (r.ok() && fd_ready) r = selector_->wait(0, buffer_.data(), capacity + 1);
    *completions = waiter_->HasCompletions();
  } else {
    r = selector_->wait(timeout_ns, buffer_.data(), capacity + 1);
  }
  int count = 0;
  bool libuv_ready = false;
  if (r.ok()) {
    for (int i = 0; i < r.value; i++) {
      const ReadyEvent& event = buffer_[static_cast<size_t>(i)];
      if (event.fd == uv_fd_) {
        libuv_ready = true;
      } else if (count < capacity) {
        out[count++] = event;
      }
    }
  }
  // Node's timers, fs completions, messages, signals: their callbacks run here, not nested in any
  // libuv callback (this is only reached before Node's own uv_run started). libuv is run only when
  // it has something to do: its fd is readable (I/O, signals, thread-pool and worker wakeups), or
  // uv_backend_timeout() is 0 (a timer due, pending or idle or closing handles, or watcher changes
  // to apply: libuv >= 1.45 reports those too). A busy loop then pays one epoll_wait per
  // iteration, not two (a chain of 1,000,000 callSoon callbacks: 1.43 -> 0.89 us per iteration).
  uv_ref(reinterpret_cast<uv_handle_t*>(keeper_));
  if (!libuv_ready) uv_update_time(loop_);
  if (libuv_ready || uv_backend_timeout(loop_) == 0) uv_run(loop_, UV_RUN_NOWAIT);
  uv_unref(reinterpret_cast<uv_handle_t*>(keeper_));
  if (!r.ok()) return r;
  return {count, nullptr};
}

void LoopOwner::Close() {
  if (uv_fd_ < 0) return;
  if (waiter_) waiter_->SetOwned(false);
  waiter_.reset();
  if (!selector_->closed()) selector_->remove(uv_fd_);
  uv_fd_ = -1;
  // Freed in the close callback, which Node's own uv_run will run.
  uv_close(reinterpret_cast<uv_handle_t*>(keeper_), [](uv_handle_t* handle) { delete reinterpret_cast<uv_async_t*>(handle); });
  keeper_ = nullptr;
}

}  // namespace muxloop
