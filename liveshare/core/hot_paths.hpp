// The server's hot paths as interfaces, one per path. The core holds the implementation the
// server runs by default; optimizations/ holds the competing candidates (the original's ways
// among them), each one file and one registration line. A Profile names one variant of each
// path; Room uses the resolved HotPaths and never looks at the profile.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/messages.hpp"

namespace liveshare {

struct Profile;

// serialize: a relayed client message as each recipient's text.
class RelayEncoding {
  public:
    static constexpr const char* kPath = "serialize";
    virtual ~RelayEncoding() = default;
    // One relay of the sender's validated raw payload object.
    class Prepared {
      public:
        virtual ~Prepared() = default;
        virtual void encode(std::string& out, std::optional<std::uint64_t> seq) const = 0;
    };
    virtual std::unique_ptr<Prepared> prepare(MsgType type, std::string_view user_id,
                                              std::string_view payload) const = 0;
    // A variant that needs no preparation encodes in one call, with nothing allocated per relay
    // (the default splice); the others return false and are used through prepare().
    virtual bool direct() const { return false; }
    virtual void encode_direct(std::string& out, MsgType type, std::string_view user_id,
                               std::string_view payload, std::optional<std::uint64_t> seq) const {
        prepare(type, user_id, payload)->encode(out, seq);
    }
    // True when every recipient's frame is encoded again (the original's writer per recipient).
    virtual bool per_recipient() const = 0;
};

// fanout: one encoded frame handed to each recipient's queue.
class Fanout {
  public:
    static constexpr const char* kPath = "fanout";
    virtual ~Fanout() = default;
    // The frame one recipient gets: `shared` itself (one buffer for all, no reference taken
    // here), or one made for this recipient, kept in `own`.
    virtual const std::shared_ptr<const std::string>& for_recipient(
        const std::shared_ptr<const std::string>& shared,
        std::shared_ptr<const std::string>& own) const = 0;
};

// cursor: which queued volatile message a newer one from the same sender replaces.
class VolatilePolicy {
  public:
    static constexpr const char* kPath = "cursor";
    virtual ~VolatilePolicy() = default;
    // 0: never replaced; equal keys: only the latest queued one is sent.
    virtual std::uint64_t coalesce_key(const std::string& user_id, MsgType type) const = 0;
};

// The chosen implementation of each path (owned by the registry, alive for the process).
struct HotPaths {
    const RelayEncoding* encoding = nullptr;
    const Fanout* fanout = nullptr;
    const VolatilePolicy* volatiles = nullptr;
};

// Registration (optimizations/register.cpp adds the candidates; the core's are always there).
void add_candidate(const RelayEncoding* impl, const std::string& variant);
void add_candidate(const Fanout* impl, const std::string& variant);
void add_candidate(const VolatilePolicy* impl, const std::string& variant);
// Variant names of a path ("serialize", "fanout", "cursor"), sorted; empty for another path.
std::vector<std::string> candidate_names(std::string_view path);
// The implementations a profile names; throws std::invalid_argument on an unknown variant.
HotPaths resolve_hot_paths(const Profile& p);

}  // namespace liveshare
