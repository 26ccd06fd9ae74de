// JS surface of tls/engine.h: TlsContext(options) and TlsEngine(context, serverName). Every
// argument is checked here; an OpenSSL failure is an Error{code: 'ERR_SSL_<REASON>', library,
// reason} as Node builds it, and a std::bad_alloc in an engine call (its buffers, an error's
// text) Error{code 'ENOMEM', syscall 'malloc'} (OrEnomem, reliability.md F10). SSL objects are
// freed by close(), by the GC finalizer, or at environment teardown (AddonData's TlsRegistry),
// whichever comes first.
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>
#include <memory>
#include <vector>
#include <string>

#include "bindings/addon.h"
#include "bindings/binding_util.h"
#include "tls/engine.h"

namespace muxloop {
namespace {

Napi::Error ToJsError(Napi::Env env, const tls::TlsError& error) {
  Napi::Error js = Napi::Error::New(env, error.message);
  js.Set("code", Napi::String::New(env, error.code));
  if (!error.library.empty()) js.Set("library", Napi::String::New(env, error.library));
  if (!error.reason.empty()) js.Set("reason", Napi::String::New(env, error.reason));
  return js;
}

// A PEM option: undefined -> empty; a string or a Buffer/TypedArray's bytes.
std::string OptString(const Napi::Object& options, const char* name) {
  Napi::Value value = options.Get(name);
  if (value.IsUndefined()) return std::string();
  if (value.IsString()) return value.As<Napi::String>().Utf8Value();
  if (value.IsTypedArray() || value.IsDataView()) {
    ByteRange range = ToByteRange(value, options.Env().Undefined(), options.Env().Undefined(), name);
    return std::string(reinterpret_cast<const char*>(range.data), range.length);
  }
  throw TypeErrorWithCode(options.Env(), "ERR_INVALID_ARG_TYPE",
                          std::string("The \"options.") + name + "\" property must be a string or a Buffer");
}

bool OptBool(const Napi::Object& options, const char* name) {
  Napi::Value value = options.Get(name);
  if (value.IsUndefined()) return false;
  if (!value.IsBoolean()) {
    throw TypeErrorWithCode(options.Env(), "ERR_INVALID_ARG_TYPE",
                            std::string("The \"options.") + name + "\" property must be of type boolean");
  }
  return value.As<Napi::Boolean>().Value();
}

std::shared_ptr<TlsRegistry> Registry(Napi::Env env) {
  AddonData* data = AddonData::Get(env);
  if (!data->tls) data->tls = std::make_shared<TlsRegistry>();
  return data->tls;
}

class TlsContextWrap : public Napi::ObjectWrap<TlsContextWrap>, public EnomemNew {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TlsContext", {InstanceMethod<&TlsContextWrap::Close>("close")});
  }

  // std::bad_alloc anywhere in the construction is ENOMEM (reliability.md F10).
  explicit TlsContextWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TlsContextWrap>(info) {
    OrEnomem(info.Env(), [&] { Construct(info); });
  }
  void Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject() || info[0].IsArray() || info[0].IsFunction()) {
      throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", "The \"options\" argument must be of type object");
    }
    Napi::Object options = info[0].As<Napi::Object>();
    tls::ContextOptions o;
    o.server_side = OptBool(options, "serverSide");
    o.cert = OptString(options, "cert");
    o.key = OptString(options, "key");
    o.passphrase = OptString(options, "passphrase");
    o.ca = OptString(options, "ca");
    o.ciphers = OptString(options, "ciphers");
    o.ciphersuites = OptString(options, "ciphersuites");
    const std::string alpn = OptString(options, "alpn");
    o.alpn.assign(alpn.begin(), alpn.end());
    // Wire format: every name 1..255 bytes, length-prefixed, covering the buffer exactly.
    for (size_t i = 0; i < o.alpn.size();) {
      const size_t n = o.alpn[i];
      if (n == 0 || i + 1 + n > o.alpn.size()) {
        throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE", "options.alpn is not in ALPN wire format");
      }
      i += 1 + n;
    }
    if (!options.Get("minVersion").IsUndefined()) {
      o.min_version = static_cast<int>(ToInteger(options.Get("minVersion"), "minVersion", TLS1_VERSION, TLS1_3_VERSION));
    }
    if (!options.Get("maxVersion").IsUndefined()) {
      o.max_version = static_cast<int>(ToInteger(options.Get("maxVersion"), "maxVersion", TLS1_VERSION, TLS1_3_VERSION));
    }
    if (o.min_version > o.max_version) {
      throw RangeErrorWithCode(env, "ERR_TLS_PROTOCOL_VERSION_CONFLICT", "minVersion is above maxVersion");
    }
    o.request_cert = OptBool(options, "requestCert");
    o.require_cert = OptBool(options, "requireCert");
    if (o.server_side && (o.cert.empty() || o.key.empty())) {
      throw TypeErrorWithCode(env, "ERR_TLS_MISSING_CERT", "a server context needs options.cert and options.key");
    }
    tls::TlsError error;
    tls::Context* context = tls::Context::Create(o, &error);
    if (context == nullptr) throw ToJsError(env, error);
    context_.reset(context);
    registry_ = Registry(env);
    registry_->contexts.insert(context);
  }

  ~TlsContextWrap() override { Release(); }

  tls::Context* context() const { return context_.get(); }

  static TlsContextWrap* FromValue(Napi::Env env, const Napi::Value& value) {
    AddonData* data = AddonData::Get(env);
    if (!value.IsObject() || data->tls_context_class.IsEmpty() ||
        !value.As<Napi::Object>().InstanceOf(data->tls_context_class.Value())) {
      throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", "The \"context\" argument must be a TlsContext");
    }
    TlsContextWrap* wrap = Unwrap(value.As<Napi::Object>());
    if (wrap->context_ == nullptr || wrap->context_->ctx() == nullptr) {
      throw StateError(env, "ERR_TLS_CONTEXT_CLOSED", "the TLS context is closed");
    }
    return wrap;
  }

 private:
  void Release() {
    if (context_ != nullptr && registry_ != nullptr) registry_->contexts.erase(context_.get());
    context_.reset();
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }
  std::unique_ptr<tls::Context> context_;
  std::shared_ptr<TlsRegistry> registry_;
};

class TlsEngineWrap : public Napi::ObjectWrap<TlsEngineWrap>, public EnomemNew {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TlsEngine",
                       {InstanceMethod<&TlsEngineWrap::Start>("start"),
                        InstanceMethod<&TlsEngineWrap::Receive>("receive"),
                        InstanceMethod<&TlsEngineWrap::Send>("send"),
                        InstanceMethod<&TlsEngineWrap::Seal>("seal"),
                        InstanceMethod<&TlsEngineWrap::OpenInto>("openInto"),
                        InstanceMethod<&TlsEngineWrap::SealInto>("sealInto"),
                        InstanceMethod<&TlsEngineWrap::Shutdown>("shutdown"),
                        InstanceMethod<&TlsEngineWrap::TakePlain>("takePlain"),
                        InstanceMethod<&TlsEngineWrap::TakeOut>("takeOut"),
                        InstanceMethod<&TlsEngineWrap::Info>("info"),
                        InstanceMethod<&TlsEngineWrap::SetSession>("setSession"),
                        InstanceMethod<&TlsEngineWrap::TakeSession>("takeSession"),
                        InstanceMethod<&TlsEngineWrap::ResumeSni>("resumeSni"),
                        InstanceMethod<&TlsEngineWrap::Close>("close"),
                        InstanceAccessor<&TlsEngineWrap::Closed>("closed")});
  }

  // std::bad_alloc anywhere in the construction is ENOMEM (reliability.md F10).
  explicit TlsEngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TlsEngineWrap>(info) {
    OrEnomem(info.Env(), [&] { Construct(info); });
  }
  void Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    TlsContextWrap* context = TlsContextWrap::FromValue(env, info[0]);
    std::string server_name;
    if (!info[1].IsUndefined()) {
      if (!info[1].IsString()) {
        throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", "The \"serverName\" argument must be of type string");
      }
      server_name = info[1].As<Napi::String>().Utf8Value();
      if (server_name.size() > 255 || server_name.find('\0') != std::string::npos) {
        throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE", "serverName must be a host name of at most 255 bytes");
      }
    }
    bool pause_at_sni = false;
    if (!info[2].IsUndefined()) {
      if (!info[2].IsBoolean()) {
        throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", "The \"pauseAtSni\" argument must be of type boolean");
      }
      pause_at_sni = info[2].As<Napi::Boolean>().Value();
    }
    tls::TlsError error;
    tls::Engine* engine = tls::Engine::Create(context->context(), server_name, pause_at_sni, &error);
    if (engine == nullptr) throw ToJsError(env, error);
    engine_.reset(engine);
    registry_ = Registry(env);
    registry_->engines.insert(engine);
  }

  ~TlsEngineWrap() override {
    if (registry_ != nullptr) registry_->engines.erase(engine_.get());
  }

 private:
  tls::Engine* Live(Napi::Env env) {
    if (engine_->closed()) throw StateError(env, "ERR_TLS_ENGINE_CLOSED", "the TLS engine is closed");
    return engine_.get();
  }
  Napi::Value Flags(Napi::Env env, int flags, const tls::TlsError& error) {
    if (flags < 0) throw ToJsError(env, error);
    return Napi::Number::New(env, flags);
  }
  // start() -> flags
  Napi::Value Start(const Napi::CallbackInfo& info) {
    tls::Engine* engine = Live(info.Env());
    tls::TlsError error;
    return Flags(info.Env(), OrEnomem(info.Env(), [&] { return engine->Start(&error); }), error);
  }
  // receive(view, offset?, length?) -> flags
  Napi::Value Receive(const Napi::CallbackInfo& info) {
    ByteRange range = ToByteRange(info[0], info[1], info[2], "data");
    tls::Engine* engine = Live(info.Env());
    tls::TlsError error;
    return Flags(info.Env(), OrEnomem(info.Env(), [&] { return engine->Receive(range.data, range.length, &error); }), error);
  }
  // send(view, offset?, length?) -> flags; only after the handshake
  Napi::Value Send(const Napi::CallbackInfo& info) {
    ByteRange range = ToByteRange(info[0], info[1], info[2], "data");
    tls::Engine* engine = Live(info.Env());
    if (!engine->handshake_done()) {
      throw StateError(info.Env(), "ERR_TLS_HANDSHAKE_PENDING", "send() before the handshake completed");
    }
    tls::TlsError error;
    return Flags(info.Env(), OrEnomem(info.Env(), [&] { return engine->Send(range.data, range.length, &error); }), error);
  }
  // The hot path in one call each way (1 KiB echo: 2 native calls per message instead of 4) and
  // without a Buffer per message (the allocation, its backing store and its sweep cost as much
  // as the AES-GCM of a 1 KiB record). openInto(data, length, pool, poolOffset) ->
  // used * 256 + flags: the batch's plaintext, when it fits, is in pool[poolOffset, +used); any
  // other plaintext is in takePlain() as after receive().
  Napi::Value OpenInto(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ByteRange range = ToByteRange(info[0], env.Undefined(), info[1], "data");
    ByteRange pool = ToByteRange(info[2], info[3], env.Undefined(), "pool");
    tls::Engine* engine = Live(env);
    // used * 256 must stay an exact small integer for the caller's `>>> 8`.
    constexpr size_t kMaxPool = size_t{1} << 22;
    tls::TlsError error;
    size_t used = 0;
    const int flags = OrEnomem(env, [&] {
      return engine->ReceiveInto(range.data, range.length, pool.data, pool.length < kMaxPool ? pool.length : kMaxPool, &used, &error);
    });
    if (flags < 0) throw ToJsError(env, error);
    return Napi::Number::New(env, static_cast<double>(used) * 256 + flags);
  }
  // sealInto(data, out) -> ciphertext bytes copied to `out`, or -1 when they do not fit (then
  // takeOut() has them). For a raw transport that copies what it keeps (SocketTransport).
  Napi::Value SealInto(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ByteRange range = ToByteRange(info[0], env.Undefined(), env.Undefined(), "data");
    ByteRange out = ToByteRange(info[1], env.Undefined(), env.Undefined(), "out");
    tls::Engine* engine = Live(env);
    if (!engine->handshake_done()) {
      throw StateError(env, "ERR_TLS_HANDSHAKE_PENDING", "sealInto() before the handshake completed");
    }
    tls::TlsError error;
    if (OrEnomem(env, [&] { return engine->Send(range.data, range.length, &error); }) < 0) throw ToJsError(env, error);
    const uint8_t* data = nullptr;
    const size_t pending = engine->PeekOut(&data);
    if (pending > out.length) return Napi::Number::New(env, -1);
    if (pending > 0) std::memcpy(out.data, data, pending);
    engine->ConsumeOut();
    return Napi::Number::New(env, static_cast<double>(pending));
  }
  // seal(view, offset?, length?) -> the ciphertext Buffer (undefined for empty input).
  Napi::Value Seal(const Napi::CallbackInfo& info) {
    ByteRange range = ToByteRange(info[0], info[1], info[2], "data");
    tls::Engine* engine = Live(info.Env());
    if (!engine->handshake_done()) {
      throw StateError(info.Env(), "ERR_TLS_HANDSHAKE_PENDING", "seal() before the handshake completed");
    }
    tls::TlsError error;
    if (OrEnomem(info.Env(), [&] { return engine->Send(range.data, range.length, &error); }) < 0) throw ToJsError(info.Env(), error);
    return TakeOut(info);
  }
  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    tls::Engine* engine = Live(info.Env());
    if (!engine->handshake_done()) return Napi::Number::New(info.Env(), 0);
    tls::TlsError error;
    return Flags(info.Env(), OrEnomem(info.Env(), [&] { return engine->Shutdown(&error); }), error);
  }
  // takePlain() -> Buffer | undefined: the decrypted bytes of the last receive calls
  Napi::Value TakePlain(const Napi::CallbackInfo& info) {
    tls::Engine* engine = Live(info.Env());
    if (engine->plain().empty()) return info.Env().Undefined();
    Napi::Value out = Napi::Buffer<uint8_t>::Copy(info.Env(), engine->plain().data(), engine->plain().size());
    engine->ClearPlain();
    return out;
  }
  // takeOut() -> Buffer | undefined: every ciphertext byte waiting to be sent
  Napi::Value TakeOut(const Napi::CallbackInfo& info) {
    tls::Engine* engine = Live(info.Env());
    const uint8_t* data = nullptr;
    const size_t pending = engine->PeekOut(&data);
    if (pending == 0) return info.Env().Undefined();
    // Copy (Node's allocator, no finalizer) is cheaper than an external Buffer per write.
    Napi::Value out = Napi::Buffer<uint8_t>::Copy(info.Env(), data, pending);
    engine->ConsumeOut();
    return out;
  }
  // info() -> {protocol, cipher, cipherStandard, cipherBits, alpn, servername, peerCert,
  //            verifyError, verifyMessage, sessionReused}
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SSL* ssl = Live(env)->ssl();
    Napi::Object out = Napi::Object::New(env);
    // Strings go in as const char* (or a Napi::Value): Object::Set with a Napi::String converts
    // it to a std::string and back (Napi::String converts to std::string, so Value::From takes
    // that path), an allocation per property that could fail (reliability.md F10).
    out.Set("protocol", SSL_get_version(ssl));
    if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl)) {
      out.Set("cipher", SSL_CIPHER_get_name(cipher));
      out.Set("cipherStandard", SSL_CIPHER_standard_name(cipher));
      out.Set("cipherVersion", SSL_CIPHER_get_version(cipher));
      out.Set("cipherBits", Napi::Number::New(env, SSL_CIPHER_get_bits(cipher, nullptr)));
    }
    const unsigned char* alpn = nullptr;
    unsigned int alpn_length = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_length);
    if (alpn_length > 0) out.Set("alpn", Napi::Value(Napi::String::New(env, reinterpret_cast<const char*>(alpn), alpn_length)));
    if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) out.Set("servername", name);
    if (X509* peer = SSL_get1_peer_certificate(ssl)) {
      unsigned char* der = nullptr;
      const int n = i2d_X509(peer, &der);
      if (n > 0) {
        out.Set("peerCert", Napi::Buffer<uint8_t>::Copy(env, der, static_cast<size_t>(n)));
        OPENSSL_free(der);
      }
      X509_free(peer);
      const long result = SSL_get_verify_result(ssl);
      if (const char* code = tls::VerifyErrorCode(result)) {
        out.Set("verifyError", code);
        out.Set("verifyMessage", X509_verify_cert_error_string(result));
      }
    }
    out.Set("sessionReused", Napi::Boolean::New(env, SSL_session_reused(ssl) == 1));
    return out;
  }
  // setSession(der): a client's session to resume, before start().
  Napi::Value SetSession(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ByteRange range = ToByteRange(info[0], env.Undefined(), env.Undefined(), "session");
    tls::Engine* engine = Live(env);
    if (SSL_in_before(engine->ssl()) != 1 || SSL_is_server(engine->ssl()) == 1) {
      throw StateError(env, "ERR_TLS_SESSION_LATE", "setSession() is for a client engine before start()");
    }
    tls::TlsError error;
    if (!engine->SetSession(range.data, range.length, &error)) {
      Napi::Error js = TypeErrorWithCode(env, "ERR_INVALID_ARG_VALUE", "The \"session\" argument is not a TLS session (" + error.message + ")");
      throw js;
    }
    return env.Undefined();
  }
  // takeSession() -> Buffer | undefined: the newest session the server gave (kNewSession).
  Napi::Value TakeSession(const Napi::CallbackInfo& info) {
    std::vector<uint8_t> der = Live(info.Env())->TakeSession();
    if (der.empty()) return info.Env().Undefined();
    return Napi::Buffer<uint8_t>::Copy(info.Env(), der.data(), der.size());
  }
  // resumeSni(context?) -> flags: after kWantSni, the chosen context (undefined: this one).
  Napi::Value ResumeSni(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const tls::Context* sni = nullptr;
    if (!info[0].IsUndefined()) {
      TlsContextWrap* wrap = TlsContextWrap::FromValue(env, info[0]);
      if (!wrap->context()->server_side()) {
        throw TypeErrorWithCode(env, "ERR_INVALID_ARG_VALUE", "The \"context\" argument must be a server context");
      }
      sni = wrap->context();
    }
    tls::Engine* engine = Live(env);
    if (!engine->sni_pending()) throw StateError(env, "ERR_INVALID_STATE", "resumeSni() without a pending SNI pause");
    tls::TlsError error;
    return Flags(env, OrEnomem(env, [&] { return engine->ResumeSni(sni, &error); }), error);
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    engine_->Close();
    return info.Env().Undefined();
  }
  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), engine_->closed()); }

  std::unique_ptr<tls::Engine> engine_;
  std::shared_ptr<TlsRegistry> registry_;
};

}  // namespace

TlsRegistry::~TlsRegistry() { CloseAll(); }

void TlsRegistry::CloseAll() {
  for (tls::Engine* engine : engines) engine->Close();
  for (tls::Context* context : contexts) context->Close();
}

void InitTlsBinding(Napi::Env env, Napi::Object exports) {
  OPENSSL_init_ssl(0, nullptr);
  Napi::Function context_class = TlsContextWrap::Define(env);
  AddonData::Get(env)->tls_context_class = Napi::Persistent(context_class);
  exports.Set("TlsContext", context_class);
  exports.Set("TlsEngine", TlsEngineWrap::Define(env));
  exports.Set("tlsOpenSslVersion", Napi::String::New(env, OpenSSL_version(OPENSSL_VERSION)));
}

}  // namespace muxloop
