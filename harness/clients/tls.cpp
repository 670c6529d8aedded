#include "clients/tls.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace harness {

namespace {

bool is_ip_literal(const std::string& host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
           inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string openssl_errors() {
    std::string s;
    for (unsigned long e; (e = ERR_get_error()) != 0;) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!s.empty()) s += "; ";
        s += buf;
    }
    return s.empty() ? "no detail from OpenSSL" : s;
}

// The connection's TlsSession keeps the newest session the server gave it (TLS 1.3 sends
// them after the handshake), for the next connection to resume.
int on_new_session(SSL* ssl, SSL_SESSION* s);

}  // namespace

int tls_version(const std::string& v) {
    if (v == "1.2") return TLS1_2_VERSION;
    if (v == "1.3") return TLS1_3_VERSION;
    throw std::invalid_argument("TLS version must be 1.2 or 1.3, got '" + v + "'");
}

TlsClientContext::TlsClientContext(const TlsOptions& options) : options_(options) {
    const int lo = tls_version(options.min_version), hi = tls_version(options.max_version);
    if (lo > hi)
        throw std::invalid_argument("TLS minimum version " + options.min_version +
                                    " is above the maximum " + options.max_version);
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) throw std::runtime_error("SSL_CTX_new: " + openssl_errors());
    SSL_CTX_set_min_proto_version(ctx_, lo);
    SSL_CTX_set_max_proto_version(ctx_, hi);
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx_, on_new_session);
    if (options.insecure) {
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
        return;
    }
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    const bool ok = options.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx_) == 1
                                            : SSL_CTX_load_verify_locations(
                                                  ctx_, options.ca_file.c_str(), nullptr) == 1;
    if (!ok) {
        const std::string why = openssl_errors();
        SSL_CTX_free(ctx_);
        ctx_ = nullptr;
        throw std::invalid_argument(options.ca_file.empty()
                                        ? "cannot load the system's trusted certificates: " + why
                                        : "cannot read CA file '" + options.ca_file + "': " + why);
    }
}

TlsClientContext::~TlsClientContext() {
    if (ctx_) SSL_CTX_free(ctx_);
}

void TlsClientContext::prepare(SSL* ssl, const std::string& host) const {
    const bool ip = is_ip_literal(host);
    if (!ip) SSL_set_tlsext_host_name(ssl, host.c_str());
    if (options_.insecure) return;
    if (ip)
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
    else
        SSL_set1_host(ssl, host.c_str());
}

std::string tls_failure(SSL* ssl) {
    const long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (v != X509_V_OK) {
        ERR_clear_error();
        const std::string detail = X509_verify_cert_error_string(v);
        switch (v) {
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
            case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
            case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
            case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            case X509_V_ERR_CERT_UNTRUSTED:
                return "unknown CA (" + detail + ")";
            case X509_V_ERR_HOSTNAME_MISMATCH:
            case X509_V_ERR_IP_ADDRESS_MISMATCH:
                return "name mismatch (the certificate does not name the host connected to)";
            case X509_V_ERR_CERT_HAS_EXPIRED:
                return "expired certificate (" + detail + ")";
            case X509_V_ERR_CERT_NOT_YET_VALID:
                return "certificate not yet valid (" + detail + ")";
            default:
                return "certificate rejected (" + detail + ")";
        }
    }
    const unsigned long e = ERR_peek_error();
    if (e == 0) return "connection closed during the handshake";
    const int reason = ERR_GET_REASON(e);
    const char* text = ERR_reason_error_string(e);
    const std::string detail = text ? text : openssl_errors();
    ERR_clear_error();
    switch (reason) {
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_PACKET_LENGTH_TOO_LONG:
            return "protocol: the peer does not speak TLS (" + detail + ")";
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        case SSL_R_NO_PROTOCOLS_AVAILABLE:
            return "protocol: no TLS version in common (" + detail + ")";
        default:
            return "protocol: " + detail;
    }
}

TlsSession::TlsSession(const TlsClientContext& ctx, const std::string& host, SSL_SESSION* resume) {
    ssl_ = SSL_new(ctx.native());
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    if (!ssl_ || !in_ || !out_) {
        if (in_) BIO_free(in_);
        if (out_) BIO_free(out_);
        if (ssl_) SSL_free(ssl_);
        throw std::runtime_error("SSL_new: " + openssl_errors());
    }
    BIO_set_mem_eof_return(in_, -1);  // an empty buffer is "wait for more", not the end
    SSL_set_bio(ssl_, in_, out_);
    SSL_set_connect_state(ssl_);
    SSL_set_app_data(ssl_, this);
    ctx.prepare(ssl_, host);
    if (resume) SSL_set_session(ssl_, resume);
}

TlsSession::~TlsSession() {
    if (latest_) SSL_SESSION_free(latest_);
    SSL_free(ssl_);  // frees both BIOs
}

void TlsSession::start() {
    progress();
}

bool TlsSession::progress() {
    if (established_) return true;
    const int r = SSL_do_handshake(ssl_);
    if (r != 1) {
        const int e = SSL_get_error(ssl_, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
        error_ = tls_failure(ssl_);
        return false;
    }
    established_ = true;
    if (held_.empty()) return true;
    std::string held;
    held.swap(held_);
    return write(held);
}

bool TlsSession::feed(const char* data, std::size_t n) {
    if (n && BIO_write(in_, data, static_cast<int>(n)) != static_cast<int>(n)) {
        error_ = "BIO_write: " + openssl_errors();
        return false;
    }
    return progress();
}

std::ptrdiff_t TlsSession::read(char* out, std::size_t cap) {
    if (!established_ || cap == 0) return 0;
    const int r = SSL_read(ssl_, out, static_cast<int>(std::min<std::size_t>(cap, 1 << 30)));
    if (r > 0) return r;
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    error_ = e == SSL_ERROR_ZERO_RETURN ? "the server closed TLS" : tls_failure(ssl_);
    return -1;
}

bool TlsSession::write(std::string_view plain) {
    if (!established_) {
        held_.append(plain);
        return true;
    }
    if (plain.empty()) return true;
    const int r = SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
    if (r == static_cast<int>(plain.size())) return true;
    error_ = "SSL_write: " + tls_failure(ssl_);
    return false;
}

void TlsSession::take_output(std::string& out) {
    const std::size_t pending = BIO_ctrl_pending(out_);
    if (!pending) return;
    const std::size_t at = out.size();
    out.resize(at + pending);
    const int r = BIO_read(out_, out.data() + at, static_cast<int>(pending));
    out.resize(at + static_cast<std::size_t>(r > 0 ? r : 0));
}

bool TlsSession::resumed() const {
    return SSL_session_reused(ssl_) == 1;
}

SSL_SESSION* TlsSession::session() const {
    if (!latest_) return nullptr;
    SSL_SESSION_up_ref(latest_);
    return latest_;
}

void TlsSession::keep(SSL_SESSION* s) {
    if (latest_) SSL_SESSION_free(latest_);
    latest_ = s;
}

void tls_session_free(SSL_SESSION* s) {
    if (s) SSL_SESSION_free(s);
}

namespace {
int on_new_session(SSL* ssl, SSL_SESSION* s) {
    auto* self = static_cast<TlsSession*>(SSL_get_app_data(ssl));
    if (!self) return 0;  // not ours: OpenSSL frees it
    self->keep(s);
    return 1;  // we hold the reference now
}
}  // namespace

}  // namespace harness
