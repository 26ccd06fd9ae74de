// Memory-BIO TLS engine; see engine.h. The calls follow OpenSSL's documented non-blocking pattern
// (SSL_do_handshake / SSL_read / SSL_write then SSL_get_error), as CPython's _ssl.c drives its
// SSLObject over MemoryBIO for asyncio's sslproto.
#include "tls/engine.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <climits>
#include <cstring>
#include <new>

namespace muxloop {
namespace tls {

TlsError TakeError(const char* fallback) {
  TlsError error;
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) {
    error.code = "ERR_SSL_UNKNOWN";
    error.message = fallback;
    return error;
  }
  char buffer[256];
  ERR_error_string_n(e, buffer, sizeof(buffer));
  error.message = buffer;
  const char* lib = ERR_lib_error_string(e);
  const char* reason = ERR_reason_error_string(e);
  if (lib != nullptr) error.library = lib;
  if (reason != nullptr) {
    error.reason = reason;
    // Node: "ERR_SSL_" + reason upper-cased, spaces to underscores (crypto_util.cc, ThrowCryptoError).
    std::string code = "ERR_SSL_";
    for (const char* p = reason; *p != '\0'; ++p) {
      code += *p == ' ' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(*p)));
    }
    error.code = code;
  } else {
    error.code = "ERR_SSL_UNKNOWN";
  }
  return error;
}

namespace {

int AcceptAll(int, X509_STORE_CTX*) {
  // As Node: the handshake completes whatever the chain, and the verify result is judged after it
  // (rejectUnauthorized), so the error carries Node's code and the peer gets a clean close.
  return 1;
}

int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void* arg) {
  auto* context = static_cast<Context*>(arg);
  const std::vector<uint8_t>& ours = context->alpn();
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, ours.data(), static_cast<unsigned int>(ours.size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED) {
    // No common protocol: carry on without ALPN, as CPython's _selectALPN_cb does.
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

int PassphraseCallback(char* buf, int size, int, void* userdata) {
  const auto* passphrase = static_cast<const std::string*>(userdata);
  if (passphrase == nullptr || size <= 0) return 0;
  const size_t n = passphrase->size() < static_cast<size_t>(size) ? passphrase->size() : static_cast<size_t>(size);
  std::memcpy(buf, passphrase->data(), n);
  return static_cast<int>(n);
}

bool LoadChain(SSL_CTX* ctx, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return false;
  X509* leaf = PEM_read_bio_X509_AUX(bio, nullptr, nullptr, nullptr);
  bool ok = leaf != nullptr && SSL_CTX_use_certificate(ctx, leaf) == 1;
  X509_free(leaf);
  if (ok) {
    SSL_CTX_clear_chain_certs(ctx);
    while (X509* extra = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
        X509_free(extra);
        ok = false;
        break;
      }
    }
    // The loop ends on "no start line" at the end of the bundle: not an error.
    if (ok) ERR_clear_error();
  }
  BIO_free(bio);
  return ok;
}

bool LoadKey(SSL_CTX* ctx, const std::string& pem, const std::string& passphrase) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return false;
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, PassphraseCallback, const_cast<std::string*>(&passphrase));
  BIO_free(bio);
  const bool ok = key != nullptr && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(key);
  return ok;
}

bool LoadCa(SSL_CTX* ctx, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return false;
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int count = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    // A duplicate in the bundle is not an error (X509_STORE_add_cert ignores it since 1.1.1).
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
    ++count;
  }
  BIO_free(bio);
  ERR_clear_error();
  return count > 0;
}

}  // namespace

int CertCallback(SSL* ssl, void*) {
  // Node's SNICallback point (its crypto_tls.cc pauses in the same callback): the ClientHello is
  // parsed (SSL_get_servername works), no certificate chosen yet. -1 suspends the handshake:
  // SSL_do_handshake then reports SSL_ERROR_WANT_X509_LOOKUP, and calling it again re-enters here.
  auto* engine = static_cast<Engine*>(SSL_get_app_data(ssl));
  if (engine == nullptr || !engine->pause_at_sni_) return 1;
  if (SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) == nullptr) return 1;  // no SNI: no callback, as Node
  engine->pause_at_sni_ = false;
  engine->sni_pending_ = true;
  return -1;
}

int NewSessionCallback(SSL* ssl, SSL_SESSION* session) {
  // Client: a session (TLS 1.2: at the handshake's end; TLS 1.3: each NewSessionTicket after it)
  // kept as DER for the caller, as Node's 'session' event. 0: OpenSSL keeps no reference.
  auto* engine = static_cast<Engine*>(SSL_get_app_data(ssl));
  if (engine == nullptr || SSL_SESSION_is_resumable(session) != 1) return 0;
  const int n = i2d_SSL_SESSION(session, nullptr);
  if (n <= 0) return 0;
  try {
    engine->session_.resize(static_cast<size_t>(n));
  } catch (const std::bad_alloc&) {
    // No exception may unwind through OpenSSL (C, in the middle of reading a record). Without
    // the memory the ticket is dropped: the next connection makes a full handshake (F10).
    return 0;
  }
  unsigned char* p = engine->session_.data();
  i2d_SSL_SESSION(session, &p);
  engine->new_session_ = true;
  return 0;
}

Context* Context::Create(const ContextOptions& options, TlsError* error) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(options.server_side ? TLS_server_method() : TLS_client_method());
  if (ctx == nullptr) {
    *error = TakeError("SSL_CTX_new failed");
    return nullptr;
  }
  auto* context = new Context();
  context->ctx_ = ctx;
  context->server_side_ = options.server_side;
  context->alpn_ = options.alpn;
  auto fail = [&](const char* what) -> Context* {
    *error = TakeError(what);
    delete context;
    return nullptr;
  };
  // Node's defaults (node_options: --tls-min-v1.2, max 1.3), overridable per context.
  if (SSL_CTX_set_min_proto_version(ctx, options.min_version) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, options.max_version) != 1) {
    return fail("invalid TLS version range");
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  // Memory BIOs: a write always completes whole; no partial writes to track.
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!options.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, options.ciphers.c_str()) != 1) {
    return fail("no cipher match");
  }
  if (!options.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, options.ciphersuites.c_str()) != 1) {
    return fail("no ciphersuite match");
  }
  if (!options.cert.empty() && !LoadChain(ctx, options.cert)) return fail("cannot load the certificate");
  if (!options.key.empty() && !LoadKey(ctx, options.key, options.passphrase)) return fail("cannot load the private key");
  if (!options.ca.empty() && !LoadCa(ctx, options.ca)) return fail("no certificate in ca");
  if (options.server_side) {
    static const unsigned char kSessionContext[] = "muxloop";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
    if (options.request_cert) {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (options.require_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), AcceptAll);
    } else {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
    if (!context->alpn_.empty()) SSL_CTX_set_alpn_select_cb(ctx, SelectAlpn, context);
    // Session tickets (RFC 5077, and TLS 1.3's) and the session-id cache are OpenSSL's server
    // defaults, with ticket keys random per context; the cert callback is the SNI pause point.
    SSL_CTX_set_cert_cb(ctx, CertCallback, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, AcceptAll);
    // Sessions go to the caller (NewSessionCallback), not to a cache inside the context: Node's
    // client setup (SSL_SESS_CACHE_CLIENT | NO_INTERNAL_STORE with a new-session callback).
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, NewSessionCallback);
    if (!context->alpn_.empty() &&
        SSL_CTX_set_alpn_protos(ctx, context->alpn_.data(), static_cast<unsigned int>(context->alpn_.size())) != 0) {
      return fail("invalid ALPN protocols");
    }
  }
  return context;
}

Context::~Context() { Close(); }

void Context::Close() {
  if (ctx_ != nullptr) {
    // The ALPN callback's arg is this object: clear it so live engines (their SSL keeps the
    // SSL_CTX) never see a dangling pointer; their handshake then proceeds without ALPN.
    if (server_side_) SSL_CTX_set_alpn_select_cb(ctx_, nullptr, nullptr);
    SSL_CTX_free(ctx_);
    ctx_ = nullptr;
  }
}

Engine* Engine::Create(Context* context, const std::string& server_name, bool pause_at_sni, TlsError* error) {
  ERR_clear_error();
  SSL* ssl = SSL_new(context->ctx());
  if (ssl == nullptr) {
    *error = TakeError("SSL_new failed");
    return nullptr;
  }
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  if (rbio == nullptr || wbio == nullptr) {
    BIO_free(rbio);
    BIO_free(wbio);
    SSL_free(ssl);
    *error = TakeError("BIO_new failed");
    return nullptr;
  }
  // An empty memory BIO means "retry", not EOF.
  BIO_set_mem_eof_return(rbio, -1);
  BIO_set_mem_eof_return(wbio, -1);
  SSL_set_bio(ssl, rbio, wbio);
  if (context->server_side()) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
    if (!server_name.empty() && SSL_set_tlsext_host_name(ssl, server_name.c_str()) != 1) {
      *error = TakeError("invalid server name");
      SSL_free(ssl);
      return nullptr;
    }
  }
  auto* engine = new Engine();
  engine->ssl_ = ssl;
  engine->rbio_ = rbio;
  engine->wbio_ = wbio;
  engine->pause_at_sni_ = pause_at_sni && context->server_side();
  // The callbacks (CertCallback, NewSessionCallback) find the engine through the SSL.
  SSL_set_app_data(ssl, engine);
  return engine;
}

Engine::~Engine() { Close(); }

void Engine::Close() {
  if (ssl_ != nullptr) {
    SSL_set_app_data(ssl_, nullptr);
    SSL_free(ssl_);  // frees both BIOs (SSL_set_bio gave it ownership)
    ssl_ = nullptr;
    rbio_ = wbio_ = nullptr;
  }
  std::vector<uint8_t>().swap(plain_);
  std::vector<uint8_t>().swap(session_);
  new_session_ = sni_pending_ = false;
}

int Engine::Flags(int flags) const {
  if (!plain_.empty()) flags |= kHavePlain;
  if (close_notify_) flags |= kCloseNotify;
  if (BIO_ctrl_pending(wbio_) > 0) flags |= kHaveOut;
  if (new_session_) flags |= kNewSession;
  return flags;
}

namespace {

// ReadAll reads records into this thread's scratch (one per thread, so per Node environment; no
// zero-filling of a growing vector per call, which cost more than the decryption for 1 KiB
// messages).
constexpr size_t kChunk = 64 * 1024;
std::vector<uint8_t>& Scratch() {
  thread_local std::vector<uint8_t> scratch(kChunk);
  return scratch;
}

}  // namespace

size_t Engine::PlainBound(size_t length) const {
  // Plaintext never outgrows the ciphertext it comes from: what waits in the read BIO, what
  // OpenSSL holds of a partial record, and this batch bound it. OpenSSL may hold part of a record
  // it already pulled from the BIO (SSL_has_pending): count a whole record for it.
  const size_t held = SSL_has_pending(ssl_) == 1 ? SSL3_RT_MAX_PLAIN_LENGTH + SSL3_RT_MAX_ENCRYPTED_OVERHEAD : 0;
  return BIO_ctrl_pending(rbio_) + length + held;
}

int Engine::ReadAll(int flags, TlsError* error) {
  // Every complete record of the batch, into one buffer: one JS callback per batch.
  std::vector<uint8_t>& scratch = Scratch();
  while (!close_notify_) {
    size_t got = 0;
    // ReceiveInto: straight into the caller's memory while it has room; the rest (if the bound
    // of ReceiveInto was short) spills to plain(), after it in order.
    const bool direct = target_ != nullptr && target_used_ < target_capacity_;
    const int r = direct ? SSL_read_ex(ssl_, target_ + target_used_, target_capacity_ - target_used_, &got)
                         : SSL_read_ex(ssl_, scratch.data(), kChunk, &got);
    if (r == 1) {
      if (direct) target_used_ += got;
      else plain_.insert(plain_.end(), scratch.data(), scratch.data() + got);
      continue;
    }
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
    if (e == SSL_ERROR_ZERO_RETURN) {
      close_notify_ = true;
      break;
    }
    *error = TakeError("SSL_read failed");
    return -1;
  }
  return Flags(flags);
}

int Engine::Start(TlsError* error) { return Receive(nullptr, 0, error); }

int Engine::ReceiveInto(const uint8_t* data, size_t length, uint8_t* target, size_t capacity, size_t* used,
                        TlsError* error) {
  *used = 0;
  // Only a batch that surely fits (PlainBound) goes direct (plain() is empty then: every earlier
  // batch was taken), so the protocol still gets one chunk per batch; ReadAll spills to plain()
  // should the bound ever be short.
  const bool fits = plain_.empty() && handshake_done() && !sni_pending_ && PlainBound(length) <= capacity;
  if (!fits) return Receive(data, length, error);
  target_ = target;
  target_capacity_ = capacity;
  target_used_ = 0;
  const int flags = Receive(data, length, error);
  *used = target_used_;
  target_ = nullptr;
  target_capacity_ = target_used_ = 0;
  return flags;
}

int Engine::Receive(const uint8_t* data, size_t length, TlsError* error) {
  // The memory first (reliability.md F10): a std::bad_alloc must leave before the bytes go into
  // the BIO and before a record is decrypted, so that a failed call changed nothing and the
  // caller may pass the same bytes again. Reserved for all the plaintext this batch can give,
  // plain() does not reallocate in ReadAll (where a failure would lose a decrypted record).
  Scratch();
  if (target_ == nullptr) {
    const size_t need = plain_.size() + PlainBound(length);
    if (need > plain_.capacity()) plain_.reserve(need > 2 * plain_.capacity() ? need : 2 * plain_.capacity());
  }
  ERR_clear_error();
  while (length > 0) {
    const int chunk = length > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(length);
    const int n = BIO_write(rbio_, data, chunk);
    if (n <= 0) {
      *error = TakeError("BIO_write failed");
      return -1;
    }
    data += n;
    length -= static_cast<size_t>(n);
  }
  // Waiting for ResumeSni(): the bytes wait in the BIO.
  if (sni_pending_) return Flags(0);
  return Advance(error);
}

int Engine::Advance(TlsError* error) {
  int flags = 0;
  if (!SSL_is_init_finished(ssl_)) {
    const int r = SSL_do_handshake(ssl_);
    if (r != 1) {
      const int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Flags(0);
      if (e == SSL_ERROR_WANT_X509_LOOKUP && sni_pending_) return Flags(kWantSni);
      *error = TakeError("handshake failed");
      return -1;
    }
    flags |= kHandshakeDone;
  }
  return ReadAll(flags, error);
}

bool Engine::SetSession(const uint8_t* der, size_t length, TlsError* error) {
  ERR_clear_error();
  const unsigned char* p = der;
  SSL_SESSION* session = length > static_cast<size_t>(LONG_MAX) ? nullptr : d2i_SSL_SESSION(nullptr, &p, static_cast<long>(length));
  if (session == nullptr) {
    *error = TakeError("not a TLS session");
    return false;
  }
  const int ok = SSL_set_session(ssl_, session);
  SSL_SESSION_free(session);  // SSL_set_session took its own reference
  if (ok != 1) {
    *error = TakeError("SSL_set_session failed");
    return false;
  }
  return true;
}

int Engine::ResumeSni(const Context* sni, TlsError* error) {
  ERR_clear_error();
  if (sni != nullptr) {
    // Node's UseSNIContext: the chosen context lends its certificate, key and chain; everything
    // else (verification, ALPN, tickets) stays the listening context's.
    SSL_CTX* ctx = sni->ctx();
    X509* cert = SSL_CTX_get0_certificate(ctx);
    EVP_PKEY* key = SSL_CTX_get0_privatekey(ctx);
    STACK_OF(X509)* chain = nullptr;
    if (cert == nullptr || key == nullptr || SSL_CTX_get0_chain_certs(ctx, &chain) != 1 ||
        SSL_use_certificate(ssl_, cert) != 1 || SSL_use_PrivateKey(ssl_, key) != 1 ||
        (chain != nullptr && SSL_set1_chain(ssl_, chain) != 1)) {
      *error = TakeError("cannot use the SNI context's certificate");
      return -1;
    }
  }
  sni_pending_ = false;
  return Advance(error);
}

int Engine::Send(const uint8_t* data, size_t length, TlsError* error) {
  ERR_clear_error();
  while (length > 0) {
    size_t written = 0;
    const int r = SSL_write_ex(ssl_, data, length, &written);
    if (r != 1) {
      *error = TakeError("SSL_write failed");
      return -1;
    }
    data += written;
    length -= written;
  }
  return Flags(0);
}

int Engine::Shutdown(TlsError* error) {
  ERR_clear_error();
  // 0 means "sent, the peer's not seen yet": what we want, the peer's arrives through Receive.
  if (SSL_shutdown(ssl_) < 0) {
    const int e = SSL_get_error(ssl_, -1);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      *error = TakeError("SSL_shutdown failed");
      return -1;
    }
  }
  return Flags(0);
}

size_t Engine::PeekOut(const uint8_t** data) const {
  if (wbio_ == nullptr) return 0;
  char* p = nullptr;
  const long n = BIO_get_mem_data(wbio_, &p);
  *data = reinterpret_cast<const uint8_t*>(p);
  return n > 0 ? static_cast<size_t>(n) : 0;
}

void Engine::ConsumeOut() {
  if (wbio_ != nullptr) (void)BIO_reset(wbio_);
}

const char* VerifyErrorCode(long result) {
  switch (result) {
#define CASE(name) \
  case X509_V_ERR_##name: return #name;
    CASE(UNABLE_TO_GET_ISSUER_CERT)
    CASE(UNABLE_TO_GET_CRL)
    CASE(UNABLE_TO_DECRYPT_CERT_SIGNATURE)
    CASE(UNABLE_TO_DECRYPT_CRL_SIGNATURE)
    CASE(UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY)
    CASE(CERT_SIGNATURE_FAILURE)
    CASE(CRL_SIGNATURE_FAILURE)
    CASE(CERT_NOT_YET_VALID)
    CASE(CERT_HAS_EXPIRED)
    CASE(CRL_NOT_YET_VALID)
    CASE(CRL_HAS_EXPIRED)
    CASE(ERROR_IN_CERT_NOT_BEFORE_FIELD)
    CASE(ERROR_IN_CERT_NOT_AFTER_FIELD)
    CASE(ERROR_IN_CRL_LAST_UPDATE_FIELD)
    CASE(ERROR_IN_CRL_NEXT_UPDATE_FIELD)
    CASE(OUT_OF_MEM)
    CASE(DEPTH_ZERO_SELF_SIGNED_CERT)
    CASE(SELF_SIGNED_CERT_IN_CHAIN)
    CASE(UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
    CASE(UNABLE_TO_VERIFY_LEAF_SIGNATURE)
    CASE(CERT_CHAIN_TOO_LONG)
    CASE(CERT_REVOKED)
    CASE(INVALID_CA)
    CASE(PATH_LENGTH_EXCEEDED)
    CASE(INVALID_PURPOSE)
    CASE(CERT_UNTRUSTED)
    CASE(CERT_REJECTED)
    CASE(HOSTNAME_MISMATCH)
#undef CASE
    case X509_V_OK: return nullptr;
    default: return "UNSPECIFIED";
  }
}

}  // namespace tls
}  // namespace muxloop
