#include "hot_paths.hpp"

#include <map>
#include <mutex>
#include <stdexcept>

#include "profile.hpp"
#include "protocol/codec.hpp"

namespace liveshare {

namespace {

// The default serialization: the validated raw payload spliced into one frame, encoded once.
class SpliceEncoding final : public RelayEncoding {
    class Splice final : public Prepared {
      public:
        Splice(MsgType t, std::string_view uid, std::string_view payload)
            : type_(t), uid_(uid), payload_(payload) {}
        void encode(std::string& out, std::optional<std::uint64_t> seq) const override {
            encode_relay(out, type_, uid_, payload_, seq);
        }

      private:
        MsgType type_;
        std::string_view uid_, payload_;  // valid for the relay call
    };

  public:
    std::unique_ptr<Prepared> prepare(MsgType type, std::string_view uid,
                                      std::string_view payload) const override {
        return std::make_unique<Splice>(type, uid, payload);
    }
    bool per_recipient() const override { return false; }
    bool direct() const override { return true; }
    void encode_direct(std::string& out, MsgType type, std::string_view uid,
                       std::string_view payload, std::optional<std::uint64_t> seq) const override {
        encode_relay(out, type, uid, payload, seq);
    }
};

// The default fan-out: every recipient shares one immutable buffer.
class SharedFanout final : public Fanout {
  public:
    const std::shared_ptr<const std::string>& for_recipient(
        const std::shared_ptr<const std::string>& f,
        std::shared_ptr<const std::string>&) const override {
        return f;
    }
};

// The default volatile policy: latest wins for messages that carry a state (where the pointer
// is, what the viewport shows, whether the user is idle); drag start and end are events and
// never replace each other.
class CoalesceStates final : public VolatilePolicy {
  public:
    std::uint64_t coalesce_key(const std::string& user_id, MsgType t) const override {
        switch (t) {
            case MsgType::CursorMove:
            case MsgType::UserViewport:
            case MsgType::Awareness:
            case MsgType::IdleStatus:
                break;
            default:
                return 0;
        }
        const std::uint64_t k = std::hash<std::string>{}(user_id)*31 + index_of(t) + 1;
        return k ? k : 1;
    }
};

template <typename I>
struct Registry {
    std::mutex mu;
    std::map<std::string, const I*> by_name;
};

template <typename I>
Registry<I>& registry();

template <>
Registry<RelayEncoding>& registry() {
    static SpliceEncoding splice;
    static Registry<RelayEncoding> r{{}, {{"splice", &splice}}};
    return r;
}
template <>
Registry<Fanout>& registry() {
    static SharedFanout shared;
    static Registry<Fanout> r{{}, {{"shared", &shared}}};
    return r;
}
template <>
Registry<VolatilePolicy>& registry() {
    static CoalesceStates coalesce;
    static Registry<VolatilePolicy> r{{}, {{"coalesce", &coalesce}}};
    return r;
}

template <typename I>
void add(const I* impl, const std::string& variant) {
    auto& r = registry<I>();
    std::lock_guard lock(r.mu);
    r.by_name[variant] = impl;
}

template <typename I>
std::vector<std::string> names() {
    auto& r = registry<I>();
    std::lock_guard lock(r.mu);
    std::vector<std::string> out;
    for (auto& [k, v] : r.by_name) out.push_back(k);
    return out;
}

template <typename I>
const I* find(const std::string& variant) {
    auto& r = registry<I>();
    std::lock_guard lock(r.mu);
    auto it = r.by_name.find(variant);
    if (it == r.by_name.end())
        throw std::invalid_argument(std::string("unknown ") + I::kPath + " variant '" + variant +
                                    "'");
    return it->second;
}

}  // namespace

void add_candidate(const RelayEncoding* impl, const std::string& variant) {
    add(impl, variant);
}
void add_candidate(const Fanout* impl, const std::string& variant) {
    add(impl, variant);
}
void add_candidate(const VolatilePolicy* impl, const std::string& variant) {
    add(impl, variant);
}

std::vector<std::string> candidate_names(std::string_view path) {
    if (path == RelayEncoding::kPath) return names<RelayEncoding>();
    if (path == Fanout::kPath) return names<Fanout>();
    if (path == VolatilePolicy::kPath) return names<VolatilePolicy>();
    return {};
}

HotPaths resolve_hot_paths(const Profile& p) {
    return {find<RelayEncoding>(p.serialize), find<Fanout>(p.fanout),
            find<VolatilePolicy>(p.cursor)};
}

}  // namespace liveshare
