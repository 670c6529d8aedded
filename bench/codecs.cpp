#include "codecs.hpp"

#include <zdict.h>
#include <zlib.h>
#include <zstd.h>

#include <stdexcept>

namespace liveshare {

namespace {

class Deflate final : public Codec {
  public:
    explicit Deflate(int level) : level_(level) {
        // Negative window bits: raw deflate, no zlib header, as RFC 7692.
        if (deflateInit2(&def_, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK ||
            inflateInit2(&inf_, -15) != Z_OK)
            throw std::runtime_error("zlib init failed");
    }
    ~Deflate() override {
        deflateEnd(&def_);
        inflateEnd(&inf_);
    }
    std::string name() const override { return "deflate"; }
    void compress(std::string_view in, std::string& out) override {
        // No context takeover: every message stands alone, as a server with many clients runs it.
        deflateReset(&def_);
        out.resize(deflateBound(&def_, in.size()) + 8);
        def_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
        def_.avail_in = static_cast<uInt>(in.size());
        def_.next_out = reinterpret_cast<Bytef*>(out.data());
        def_.avail_out = static_cast<uInt>(out.size());
        if (deflate(&def_, Z_SYNC_FLUSH) != Z_OK) throw std::runtime_error("deflate failed");
        out.resize(out.size() - def_.avail_out - 4);  // RFC 7692 drops the 00 00 ff ff tail
    }
    void decompress(std::string_view in, std::string& out, std::size_t original_size) override {
        inflateReset(&inf_);
        std::string buf(in);
        buf.append("\x00\x00\xff\xff", 4);
        out.resize(original_size + 64);
        inf_.next_in = reinterpret_cast<Bytef*>(buf.data());
        inf_.avail_in = static_cast<uInt>(buf.size());
        inf_.next_out = reinterpret_cast<Bytef*>(out.data());
        inf_.avail_out = static_cast<uInt>(out.size());
        int rc = inflate(&inf_, Z_SYNC_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) throw std::runtime_error("inflate failed");
        out.resize(out.size() - inf_.avail_out);
    }

  private:
    int level_;
    z_stream def_{}, inf_{};
};

class Zstd final : public Codec {
  public:
    Zstd(int level, std::string dict) : level_(level), dict_(std::move(dict)) {
        cctx_ = ZSTD_createCCtx();
        dctx_ = ZSTD_createDCtx();
        if (!dict_.empty()) {
            cdict_ = ZSTD_createCDict(dict_.data(), dict_.size(), level);
            ddict_ = ZSTD_createDDict(dict_.data(), dict_.size());
        }
    }
    ~Zstd() override {
        ZSTD_freeCDict(cdict_);
        ZSTD_freeDDict(ddict_);
        ZSTD_freeCCtx(cctx_);
        ZSTD_freeDCtx(dctx_);
    }
    std::string name() const override { return dict_.empty() ? "zstd" : "zstd_dict"; }
    void compress(std::string_view in, std::string& out) override {
        out.resize(ZSTD_compressBound(in.size()));
        std::size_t n =
            cdict_ ? ZSTD_compress_usingCDict(cctx_, out.data(), out.size(), in.data(), in.size(),
                                              cdict_)
                   : ZSTD_compressCCtx(cctx_, out.data(), out.size(), in.data(), in.size(), level_);
        if (ZSTD_isError(n)) throw std::runtime_error(ZSTD_getErrorName(n));
        out.resize(n);
    }
    void decompress(std::string_view in, std::string& out, std::size_t original_size) override {
        out.resize(original_size);
        std::size_t n =
            ddict_ ? ZSTD_decompress_usingDDict(dctx_, out.data(), out.size(), in.data(), in.size(),
                                                ddict_)
                   : ZSTD_decompressDCtx(dctx_, out.data(), out.size(), in.data(), in.size());
        if (ZSTD_isError(n)) throw std::runtime_error(ZSTD_getErrorName(n));
        out.resize(n);
    }

  private:
    int level_;
    std::string dict_;
    ZSTD_CCtx* cctx_ = nullptr;
    ZSTD_DCtx* dctx_ = nullptr;
    ZSTD_CDict* cdict_ = nullptr;
    ZSTD_DDict* ddict_ = nullptr;
};

}  // namespace

std::unique_ptr<Codec> make_deflate(int level) {
    return std::make_unique<Deflate>(level);
}
std::unique_ptr<Codec> make_zstd(int level, std::string dictionary) {
    return std::make_unique<Zstd>(level, std::move(dictionary));
}

std::string train_zstd_dictionary(const std::vector<std::string>& samples, std::size_t size) {
    std::string all;
    std::vector<std::size_t> sizes;
    for (auto& s : samples) {
        all += s;
        sizes.push_back(s.size());
    }
    std::string dict(size, '\0');
    std::size_t n = ZDICT_trainFromBuffer(dict.data(), dict.size(), all.data(), sizes.data(),
                                          static_cast<unsigned>(sizes.size()));
    if (ZDICT_isError(n)) throw std::runtime_error(std::string("ZDICT: ") + ZDICT_getErrorName(n));
    dict.resize(n);
    return dict;
}

}  // namespace liveshare
