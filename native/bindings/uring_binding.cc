// JS surface of the io_uring completion engine (uring/completion.h): argument checks and
// conversion only. As the selector hands its events over (selector_binding.cc), completions go to
// JS in one batch per call through a typed array this object made once: `events` (four int32 per
// completion: id, op, res, flags). The provided buffers are one external ArrayBuffer, `buffers`,
// that JS reads a completion's bytes from; JS writes the bids it is done with to `recycled` and
// passes their count to reap(), which gives them back to the kernel first.
#include <new>
#include <string>

#include "bindings/addon.h"
#include "bindings/binding_util.h"
#include "uring/completion.h"

namespace muxloop {
namespace {

constexpr int64_t kMaxId = 0x7fffffff;
constexpr unsigned kEventCapacity = 4096;

static_assert(sizeof(uring::Event) == 4 * sizeof(int32_t), "an Event is four int32");

class UringEngineWrap : public Napi::ObjectWrap<UringEngineWrap>, public EnomemNew {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "UringEngine",
                       {
                           InstanceMethod<&UringEngineWrap::Accept>("accept"),
                           InstanceMethod<&UringEngineWrap::Recv>("recv"),
                           InstanceMethod<&UringEngineWrap::Send>("send"),
                           InstanceMethod<&UringEngineWrap::Shutdown>("shutdown"),
                           InstanceMethod<&UringEngineWrap::CancelFd>("cancelFd"),
                           InstanceMethod<&UringEngineWrap::Cancel>("cancel"),
                           InstanceMethod<&UringEngineWrap::Reap>("reap"),
                           InstanceMethod<&UringEngineWrap::Flush>("flush"),
                           InstanceMethod<&UringEngineWrap::Close>("close"),
                           InstanceAccessor<&UringEngineWrap::Fileno>("fileno"),
                           InstanceAccessor<&UringEngineWrap::Closed>("closed"),
                           InstanceAccessor<&UringEngineWrap::BufferSize>("bufferSize"),
                           InstanceAccessor<&UringEngineWrap::Counters>("counters"),
                       });
  }

  // new UringEngine(bufferCount, bufferSize, deferTaskrun = false): completion.h, "Waking the loop"
  // std::bad_alloc anywhere in the construction is ENOMEM (reliability.md F10).
  explicit UringEngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UringEngineWrap>(info) {
    OrEnomem(info.Env(), [&] { Construct(info); });
  }
  void Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uring::EngineConfig config;
    if (!info[0].IsUndefined()) config.buffer_count = static_cast<unsigned>(ToInteger(info[0], "bufferCount", 1, 32768));
    if (!info[1].IsUndefined()) config.buffer_size = static_cast<unsigned>(ToInteger(info[1], "bufferSize", 1, 1 << 20));
    config.defer_taskrun = ToBool(info[2], "deferTaskrun", false);
    if ((config.buffer_count & (config.buffer_count - 1)) != 0) {
      throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE", "bufferCount must be a power of two");
    }
    SysResult err{0, nullptr};
    engine_ = uring::CompletionEngine::Create(config, &err);
    if (!engine_) throw ErrnoError(env, err.value, err.syscall);
    // The JS view of the buffers shares the pool: it stays valid after close(), until collected.
    auto* hold = new std::shared_ptr<uring::BufferPool>(engine_->pool());
    Napi::ArrayBuffer buffers = Napi::ArrayBuffer::New(
        env, (*hold)->data, (*hold)->bytes,
        [](Napi::Env, void*, std::shared_ptr<uring::BufferPool>* h) { delete h; }, hold);
    events_ = Napi::Persistent(Napi::Int32Array::New(env, 4 * kEventCapacity));
    recycled_ = Napi::Persistent(Napi::Int32Array::New(env, config.buffer_count));
    Napi::Object self = info.This().As<Napi::Object>();
    self.Set("buffers", Napi::Uint8Array::New(env, (*hold)->bytes, buffers, 0));
    self.Set("events", events_.Value());
    self.Set("recycled", recycled_.Value());
  }

  ~UringEngineWrap() override {
    if (engine_) engine_->Close();
  }

  std::shared_ptr<CompletionWaiter> waiter(Napi::Env env) {
    Open(env);
    return engine_;
  }

 private:
  uring::CompletionEngine& Open(Napi::Env env) {
    if (!engine_ || engine_->closed()) throw StateError(env, "ERR_URING_CLOSED", "I/O operation on a closed io_uring engine");
    return *engine_;
  }

  static uint32_t ToId(const Napi::Value& value) { return static_cast<uint32_t>(ToInteger(value, "id", 0, kMaxId)); }

  static void Check(Napi::Env env, const SysResult& r, int fd) {
    if (!r.ok()) throw ErrnoError(env, r.value, r.syscall, "fd " + std::to_string(fd));
  }

  // accept(fd, id): multishot accept on a listening socket.
  void Accept(const Napi::CallbackInfo& info) {
    uring::CompletionEngine& engine = Open(info.Env());
    const int fd = ToFd(info[0]);
    Check(info.Env(), engine.Accept(fd, ToId(info[1])), fd);
  }

  // recv(fd, id): multishot recv into the provided buffers.
  void Recv(const Napi::CallbackInfo& info) {
    uring::CompletionEngine& engine = Open(info.Env());
    const int fd = ToFd(info[0]);
    Check(info.Env(), engine.Recv(fd, ToId(info[1])), fd);
  }

  // send(fd, id, view | view[]): copies the bytes, then one send or one sendmsg.
  void Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uring::CompletionEngine& engine = Open(env);
    const int fd = ToFd(info[0]);
    const uint32_t id = ToId(info[1]);
    std::vector<uring::Piece> pieces;
    if (info[2].IsArray()) {
      Napi::Array list = info[2].As<Napi::Array>();
      const uint32_t n = list.Length();
      if (n == 0 || n > 1024) throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE", "between 1 and 1024 buffers per send");
      OrEnomem(env, [&] { pieces.reserve(n); });
      for (uint32_t i = 0; i < n; i++) {
        ByteRange r = ToByteRange(list.Get(i), Napi::Value(), Napi::Value(), "buffers item");
        pieces.push_back({r.data, r.length});
      }
    } else {
      ByteRange r = ToByteRange(info[2], Napi::Value(), Napi::Value(), "data");
      OrEnomem(env, [&] { pieces.push_back({r.data, r.length}); });
    }
    SysResult r{0, nullptr};
    OrEnomem(env, [&] { r = engine.Send(fd, id, pieces); });
    Check(env, r, fd);
  }

  // shutdown(fd, id, how)
  void Shutdown(const Napi::CallbackInfo& info) {
    uring::CompletionEngine& engine = Open(info.Env());
    const int fd = ToFd(info[0]);
    const uint32_t id = ToId(info[1]);
    const int how = static_cast<int>(ToInteger(info[2], "how", 0, 2));
    Check(info.Env(), engine.Shutdown(fd, id, how), fd);
  }

  // cancelFd(fd, id): cancels every request on fd, submitted before returning.
  void CancelFd(const Napi::CallbackInfo& info) {
    uring::CompletionEngine& engine = Open(info.Env());
    const int fd = ToFd(info[0]);
    Check(info.Env(), engine.CancelFd(fd, ToId(info[1])), fd);
  }

  // cancel(id, op): cancels that operation of id (queued).
  void Cancel(const Napi::CallbackInfo& info) {
    uring::CompletionEngine& engine = Open(info.Env());
    const uint32_t id = ToId(info[0]);
    const uint32_t op = static_cast<uint32_t>(ToInteger(info[1], "op", uring::kOpAccept, uring::kOpShutdown));
    Check(info.Env(), engine.CancelOp(id, op), -1);
  }

  // Gives back recycled[0 .. count) (count from info[0]): all or none; a bid not the caller's is a RangeError.
  void RecycleFrom(const Napi::Value& value, uring::CompletionEngine& engine) {
    Napi::Env env = value.Env();
    if (value.IsUndefined()) return;
    Napi::Int32Array recycled = recycled_.Value();
    const size_t count = static_cast<size_t>(ToInteger(value, "recycledCount", 0, static_cast<int64_t>(recycled.ElementLength())));
    if (!engine.RecycleAll(recycled.Data(), count).ok()) {
      throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE", "a recycled buffer is not the caller's (out of range, the kernel's, or listed twice)");
    }
  }

  // reap(recycledCount) -> count: gives back recycled[0 .. recycledCount), then writes the
  // completions to `events`. Accepted fds become the addon's (closed at teardown if JS drops them).
  Napi::Value Reap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uring::CompletionEngine& engine = Open(env);
    RecycleFrom(info[0], engine);
    Napi::Int32Array events = events_.Value();
    uring::Event* out = reinterpret_cast<uring::Event*>(events.Data());
    const unsigned n = engine.Reap(out, kEventCapacity);
    AddonData* data = AddonData::Get(env);
    for (unsigned i = 0; i < n; i++) {
      if (out[i].op == uring::kOpAccept && out[i].res >= 0) {
        // F10: these completions are gone from the ring, so they must reach JS. An accepted fd
        // the table cannot take (std::bad_alloc) still does, and JS closes it; only the close at
        // teardown is lost. Thrown, it lost every completion of the batch and leaked their fds.
        try {
          data->Own(out[i].res);
        } catch (const std::bad_alloc&) {
        }
      }
    }
    // Recycled buffers are published (and a re-armed recv submitted) before JS runs again.
    Check(env, engine.Flush(), engine.fd());
    return Napi::Number::New(env, n);
  }

  // flush(recycledCount?): gives back recycled buffers, submits what is queued; true if there
  // was a submission.
  Napi::Value Flush(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uring::CompletionEngine& engine = Open(env);
    RecycleFrom(info[0], engine);
    const bool had = engine.HasSubmissions();
    Check(env, engine.Flush(), engine.fd());
    return Napi::Boolean::New(env, had);
  }

  void Close(const Napi::CallbackInfo&) {
    if (engine_) engine_->Close();
  }

  Napi::Value Fileno(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), engine_ ? engine_->fd() : -1); }
  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !engine_ || engine_->closed()); }
  Napi::Value BufferSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), engine_ ? engine_->buffer_size() : 0);
  }
  Napi::Value Counters(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    if (!engine_) return o;
    o.Set("enters", static_cast<double>(engine_->enters()));
    o.Set("sqes", static_cast<double>(engine_->sqes()));
    o.Set("cqes", static_cast<double>(engine_->cqes()));
    o.Set("recycled", static_cast<double>(engine_->recycled()));
    o.Set("nobufs", static_cast<double>(engine_->nobufs()));
    o.Set("shortSends", static_cast<double>(engine_->short_sends()));
    o.Set("eventfdReads", static_cast<double>(engine_->eventfd_reads()));
    o.Set("deferTaskrun", engine_->deferred() ? 1 : 0);
    o.Set("wakeups", static_cast<double>(engine_->wakeups()));
    o.Set("ownerWaits", static_cast<double>(engine_->owner_waits()));
    o.Set("ownerPolls", static_cast<double>(engine_->owner_polls()));
    o.Set("ownerRearms", static_cast<double>(engine_->owner_rearms()));
    o.Set("sendsInFlight", static_cast<double>(engine_->in_flight_sends()));
    return o;
  }

  // Shared with a LoopOwner waiting in it (ToCompletionWaiter), which may outlive this object.
  std::shared_ptr<uring::CompletionEngine> engine_;
  Napi::Reference<Napi::Int32Array> events_;
  Napi::Reference<Napi::Int32Array> recycled_;
};

}  // namespace

void InitUringBinding(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = UringEngineWrap::Define(env);
  AddonData::Get(env)->uring_engine_class = Napi::Persistent(cls);
  exports.Set("UringEngine", cls);
}

std::shared_ptr<CompletionWaiter> ToCompletionWaiter(const Napi::Value& value) {
  Napi::Env env = value.Env();
  AddonData* data = AddonData::Get(env);
  if (!value.IsObject() || data->uring_engine_class.IsEmpty() ||
      !value.As<Napi::Object>().InstanceOf(data->uring_engine_class.Value())) {
    throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", "The \"engine\" argument must be a muxloop UringEngine");
  }
  return UringEngineWrap::Unwrap(value.As<Napi::Object>())->waiter(env);
}

}  // namespace muxloop
