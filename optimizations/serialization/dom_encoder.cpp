#include "serialization/dom_encoder.hpp"

#include <boost/json.hpp>
#include <stdexcept>

#include "candidates.hpp"

namespace liveshare {

struct DomMessage::Impl {
    MsgType type;
    boost::json::object payload;
};

DomMessage::DomMessage(MsgType type, std::string_view user_id, std::string_view raw_payload)
    : impl_(std::make_unique<Impl>()) {
    impl_->type = type;
    boost::json::error_code ec;
    // The codec's own depth limit, so every payload the codec accepts parses here.
    boost::json::parse_options opt;
    opt.max_depth = 65;
    boost::json::value v = raw_payload.empty() ? boost::json::value(boost::json::object())
                                               : boost::json::parse(raw_payload, ec, {}, opt);
    if (ec || !v.is_object()) throw std::invalid_argument("payload is not a JSON object");
    // user_id first, as the splice encoder writes it (Update and SyncStep carry none).
    if (type != MsgType::Update && type != MsgType::SyncStep1 && type != MsgType::SyncStep2)
        impl_->payload.emplace("user_id", user_id);
    for (auto& kv : v.as_object()) impl_->payload.emplace(kv.key(), kv.value());
}

DomMessage::~DomMessage() = default;
DomMessage::DomMessage(DomMessage&&) noexcept = default;

std::string DomMessage::serialize(std::optional<std::uint64_t> seq) const {
    boost::json::object msg;
    msg.emplace("type", to_string(impl_->type));
    if (seq) msg.emplace("seq", *seq);
    msg.emplace("payload", impl_->payload);
    return boost::json::serialize(msg);
}

}  // namespace liveshare

namespace liveshare {

namespace {
class DomPrepared final : public RelayEncoding::Prepared {
  public:
    DomPrepared(MsgType t, std::string_view uid, std::string_view payload)
        : dom_(t, uid, payload) {}
    void encode(std::string& out, std::optional<std::uint64_t> seq) const override {
        out = dom_.serialize(seq);
    }

  private:
    DomMessage dom_;
};
}  // namespace

std::unique_ptr<RelayEncoding::Prepared> DomEncoding::prepare(MsgType type, std::string_view uid,
                                                              std::string_view payload) const {
    return std::make_unique<DomPrepared>(type, uid, payload);
}

}  // namespace liveshare
