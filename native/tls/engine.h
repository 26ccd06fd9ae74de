// A TLS connection driven through memory BIOs, asyncio sslproto's SSLObject + MemoryBIO pair in
// native code: the transport hands in ciphertext as it arrives, the engine runs the handshake and
// decrypts every complete record of the batch in one call, and encrypts plaintext into one
// ciphertext buffer the transport sends with one syscall. No N-API here (bindings/tls_binding.cc).
//
// OpenSSL is the copy inside Node: its headers ship in Node's include dir (include/node/openssl)
// and the `node` binary exports the symbols; a Node linked to a shared libssl gets -lssl -lcrypto
// from binding.gyp instead. Nothing here builds or downloads a second OpenSSL.
#ifndef MUXLOOP_TLS_ENGINE_H_
#define MUXLOOP_TLS_ENGINE_H_

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace muxloop {
namespace tls {

// An OpenSSL failure: `code` is Node's form (ERR_SSL_<REASON>, e.g. ERR_SSL_WRONG_VERSION_NUMBER,
// as node's crypto_util.cc builds it), `message` the OpenSSL error string.
struct TlsError {
  std::string code;
  std::string message;
  std::string library;
  std::string reason;
};

// Takes the oldest error off this thread's OpenSSL queue (and clears the rest); `fallback` when
// the queue is empty.
TlsError TakeError(const char* fallback);

struct ContextOptions {
  bool server_side = false;
  std::string cert;        // PEM, leaf first, then the chain
  std::string key;         // PEM
  std::string passphrase;  // for an encrypted key
  std::string ca;          // PEM bundle: the trust anchors (the caller passes Node's roots by default)
  std::string ciphers;     // TLS 1.2 cipher list
  std::string ciphersuites;  // TLS 1.3 suites
  int min_version = TLS1_2_VERSION;
  int max_version = TLS1_3_VERSION;
  std::vector<uint8_t> alpn;  // wire format: length-prefixed names
  bool request_cert = false;  // server: ask the client for a certificate
  bool require_cert = false;  // server: fail the handshake without one
};

// An SSL_CTX. Owns one reference; engines take their own (SSL_new), so closing the context while
// connections live is safe.
class Context {
 public:
  // nullptr and `error` set on failure.
  static Context* Create(const ContextOptions& options, TlsError* error);
  ~Context();
  void Close();
  SSL_CTX* ctx() const { return ctx_; }
  bool server_side() const { return server_side_; }
  const std::vector<uint8_t>& alpn() const { return alpn_; }

 private:
  Context() = default;
  SSL_CTX* ctx_ = nullptr;
  bool server_side_ = false;
  std::vector<uint8_t> alpn_;
};

// Flags from Receive/Start: what happened in this batch.
enum : int {
  kHandshakeDone = 1,  // the handshake completed during this call
  kCloseNotify = 2,    // the peer sent close_notify
  kHavePlain = 4,      // TakePlain() has bytes
  kHaveOut = 8,        // TakeOut() has ciphertext to send
  kWantSni = 16,       // server: the handshake waits at the certificate step for ResumeSni()
  kNewSession = 32,    // client: TakeSession() has a new resumable session (ticket)
};

class Engine {
 public:
  // server_name: SNI to send (client; empty for none). pause_at_sni (server): when the client
  // sends a name, the handshake stops before the certificate is chosen (kWantSni) until
  // ResumeSni(), as Node's SNICallback. nullptr and `error` on failure.
  static Engine* Create(Context* context, const std::string& server_name, bool pause_at_sni, TlsError* error);
  ~Engine();
  // Frees the SSL object (and its BIOs); idempotent. Every other call fails after it.
  void Close();
  bool closed() const { return ssl_ == nullptr; }

  // Starts the handshake (the client's ClientHello). Returns flags, or -1 with `error`.
  int Start(TlsError* error);
  // Ciphertext in: advances the handshake, decrypts every complete record. Flags or -1. Out of
  // memory, std::bad_alloc is thrown before the bytes are taken: nothing has changed then.
  int Receive(const uint8_t* data, size_t length, TlsError* error);
  // Receive, with the plaintext of this batch decrypted straight into `target` (up to `capacity`
  // bytes; `*used` says how many) when it surely fits. Otherwise (*used == 0) it goes to plain()
  // as with Receive, so a batch is not split (were the bound short, the excess follows in plain()).
  int ReceiveInto(const uint8_t* data, size_t length, uint8_t* target, size_t capacity, size_t* used, TlsError* error);
  // Plaintext in (after the handshake): encrypted into the output. Flags or -1.
  int Send(const uint8_t* data, size_t length, TlsError* error);
  // Queues close_notify. Flags or -1.
  int Shutdown(TlsError* error);
  // Client, before Start(): offers `der` (i2d_SSL_SESSION bytes, from TakeSession) for
  // resumption. False and `error` when the bytes are not a session.
  bool SetSession(const uint8_t* der, size_t length, TlsError* error);
  // Server after kWantSni: use `sni`'s certificate, key and chain (nullptr: keep this context's),
  // then go on with the handshake. Flags or -1.
  int ResumeSni(const Context* sni, TlsError* error);
  bool sni_pending() const { return sni_pending_; }
  // The newest session the server gave (DER); TakeSession() moves it out.
  std::vector<uint8_t> TakeSession() { new_session_ = false; return std::move(session_); }

  // Decrypted bytes not yet taken; ClearPlain() keeps the capacity for the next batch.
  const std::vector<uint8_t>& plain() const { return plain_; }
  void ClearPlain() { plain_.clear(); }
  // The ciphertext waiting in the write BIO, without copying; ConsumeOut() empties it.
  size_t PeekOut(const uint8_t** data) const;
  void ConsumeOut();

  bool handshake_done() const { return ssl_ != nullptr && SSL_is_init_finished(ssl_); }
  SSL* ssl() const { return ssl_; }

 private:
  Engine() = default;
  int Flags(int flags) const;
  // The most plaintext that the read BIO, OpenSSL's partial record and `length` more bytes give.
  size_t PlainBound(size_t length) const;
  int ReadAll(int flags, TlsError* error);
  int Advance(TlsError* error);  // handshake step if not done, then every complete record
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // network -> engine
  BIO* wbio_ = nullptr;  // engine -> network
  std::vector<uint8_t> plain_;
  uint8_t* target_ = nullptr;  // ReceiveInto's destination during the call
  size_t target_capacity_ = 0;
  size_t target_used_ = 0;
  bool close_notify_ = false;
  bool pause_at_sni_ = false;  // server: stop at the certificate step once
  bool sni_pending_ = false;   // stopped there, waiting for ResumeSni()
  std::vector<uint8_t> session_;
  bool new_session_ = false;
  friend int CertCallback(SSL* ssl, void* arg);
  friend int NewSessionCallback(SSL* ssl, SSL_SESSION* session);
};

int CertCallback(SSL* ssl, void* arg);
int NewSessionCallback(SSL* ssl, SSL_SESSION* session);

// Node's name for an X509_V_ERR_* verify result (CERT_HAS_EXPIRED, DEPTH_ZERO_SELF_SIGNED_CERT,
// ...; node's crypto_common.cc X509ErrorCode), nullptr for X509_V_OK.
const char* VerifyErrorCode(long result);

}  // namespace tls
}  // namespace muxloop

#endif  // MUXLOOP_TLS_ENGINE_H_
