// Compression candidates for messages on the wire.
// Baseline: none. Candidates: raw deflate (what permessage-deflate, the browsers' extension,
// sends; the server enables it through Beast with compress:deflate); zstd at a level, with
// or without a dictionary trained on the workload's own messages.
// Hypothesis: protocol messages are small and repetitive (keys, UUIDs), so a trained zstd
// dictionary compresses them far better than context-free deflate, at lower CPU.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace liveshare {

class Codec {
  public:
    virtual ~Codec() = default;
    virtual std::string name() const = 0;
    virtual void compress(std::string_view in, std::string& out) = 0;
    virtual void decompress(std::string_view in, std::string& out, std::size_t original_size) = 0;
};

std::unique_ptr<Codec> make_deflate(int level);  // raw deflate, sync flush, as permessage-deflate
std::unique_ptr<Codec> make_zstd(int level, std::string dictionary = {});
// Trains a zstd dictionary of about `size` bytes from sample messages (ZDICT); throws on failure.
std::string train_zstd_dictionary(const std::vector<std::string>& samples, std::size_t size);

}  // namespace liveshare
