// TLS for wss:// targets, on OpenSSL. A client context per run (trust: the system's store, a
// private CA file, or no verification at all), and a session per connection that works on
// memory buffers: the simulated users keep their own sockets and WebSocket framing and pass
// ciphertext in and out, so TLS sits between the socket and the framing and nothing else
// changes. The blocking clients (Beast) use the same context and the same per-connection
// setup (SNI, host name check).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct ssl_st;
struct ssl_ctx_st;
struct ssl_session_st;
struct bio_st;

namespace harness {

struct TlsOptions {
    std::string ca_file;    // PEM: trust these instead of the system's store
    bool insecure = false;  // no certificate or name check (said in the label and the JSON)
    // Lowest and highest protocol version: "1.2" or "1.3".
    std::string min_version = "1.2", max_version = "1.3";
};
// "1.2" -> TLS1_2_VERSION; throws std::invalid_argument for anything else.
int tls_version(const std::string& v);

// An SSL_CTX for clients; shared by every connection of a run (thread-safe in OpenSSL).
class TlsClientContext {
  public:
    // Throws std::invalid_argument naming what is wrong (an unreadable CA file, a bad version).
    explicit TlsClientContext(const TlsOptions& options);
    ~TlsClientContext();
    TlsClientContext(const TlsClientContext&) = delete;
    TlsClientContext& operator=(const TlsClientContext&) = delete;
    ssl_ctx_st* native() const { return ctx_; }
    const TlsOptions& options() const { return options_; }
    // Sets up one client connection to `host`: SNI (unless an IP address) and, when
    // verifying, the host name or IP the certificate must name.
    void prepare(ssl_st* ssl, const std::string& host) const;

  private:
    ssl_ctx_st* ctx_ = nullptr;
    TlsOptions options_;
};

// Why a handshake failed, in words: "unknown CA (...)", "name mismatch (...)", "expired
// certificate", "protocol: ..." (the peer speaks no TLS, no common version), or OpenSSL's
// reason. Reads the verify result of `ssl` and OpenSSL's error queue (which it clears).
std::string tls_failure(ssl_st* ssl);

// One client connection's TLS over memory buffers.
class TlsSession {
  public:
    // `resume`: a session of an earlier connection to the same target (may be null).
    TlsSession(const TlsClientContext& ctx, const std::string& host, ssl_session_st* resume);
    ~TlsSession();
    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;

    // Starts the handshake (the ClientHello goes to output()).
    void start();
    // Ciphertext from the socket. False on a fatal error (error() says why).
    bool feed(const char* data, std::size_t n);
    // Decrypted bytes into out (up to cap): how many, 0 when none is ready now, -1 once the
    // peer closed TLS or on an error (error() says which).
    std::ptrdiff_t read(char* out, std::size_t cap);
    // Plaintext to send: encrypted now, or held until the handshake is done.
    bool write(std::string_view plain);
    // Moves the ciphertext waiting to be sent to the end of `out`.
    void take_output(std::string& out);
    bool established() const { return established_; }
    bool resumed() const;
    const std::string& error() const { return error_; }
    // The session to offer on the next connection (a new reference; null if none yet).
    ssl_session_st* session() const;
    // Takes the reference to a session the server just gave (OpenSSL's new-session callback).
    void keep(ssl_session_st* s);

  private:
    bool progress();  // drives the handshake; writes what was held once it is done
    ssl_st* ssl_ = nullptr;
    bio_st* in_ = nullptr;   // ciphertext from the peer (owned by ssl_)
    bio_st* out_ = nullptr;  // ciphertext to the peer (owned by ssl_)
    bool established_ = false;
    std::string held_;  // plaintext written before the handshake was done
    std::string error_;
    ssl_session_st* latest_ = nullptr;
};

// Frees a session returned by TlsSession::session().
void tls_session_free(ssl_session_st* s);

}  // namespace harness
