// A room's membership and its fan-out: this node's members (with the form of durable messages
// each takes), the members other nodes of a cluster hold, and the delivery of one frame to
// many. Not synchronized: the room's lock guards it.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "metrics.hpp"
#include "participant.hpp"
#include "protocol/codec.hpp"

namespace liveshare {

class RoomMembers {
  public:
    struct Member {
        std::shared_ptr<Participant> p;
        bool v2 = false;  // p->wants_seq(), asked once at join
    };

    explicit RoomMembers(Metrics& metrics) : metrics_(metrics) {}

    void add(const std::shared_ptr<Participant>& p);
    // Removes p if it is still a member; false when it is not.
    bool remove(const Participant* p);
    // A newer connection of `user_id` arrived (here or on another node): the member of that id
    // here, if any, is closed (4001) and removed. True if there was one.
    bool close_replaced(const std::string& user_id);
    void clear();
    Participant* find(const std::string& user_id) const;
    Participant* first_other_than(const Participant* p) const;

    // Hands each member but `exclude` the frame `source(v2, own)` points to (v2: it negotiated
    // seq numbers; `own` holds a frame made for that member alone), by reference: a shared
    // frame is not copied per recipient. Counted once per fan-out.
    template <typename Source>
    void fan_out(const Participant* exclude, MsgType type, Delivery d, std::uint64_t key,
                 Source&& source) {
        std::uint64_t n = 0;
        std::shared_ptr<const std::string> own;
        for (auto& m : local_) {
            if (m.p.get() == exclude) continue;
            ++n;
            const std::shared_ptr<const std::string>* f = source(m.v2, own);
            m.p->deliver_shared(*f, type, d, key);
        }
        metrics_.count_out(type, n);
    }
    // A control frame (UserJoined, UserLeft) to every member but `exclude`.
    void tell_all(MsgType type, const std::shared_ptr<const std::string>& frame,
                  const Participant* exclude = nullptr);
    // A control frame to one participant, counted.
    void tell(Participant& to, MsgType type, std::shared_ptr<const std::string> frame);

    const std::vector<Member>& local() const { return local_; }
    bool empty() const { return local_.empty(); }
    std::size_t local_count() const { return local_.size(); }
    std::size_t v1_count() const { return v1_; }  // members without seq (the original's clients)

    // Cluster: user_id -> username of the room's members on other nodes.
    const std::map<std::string, std::string>& remote() const { return remote_; }
    void set_remote(std::map<std::string, std::string> users) { remote_ = std::move(users); }
    bool add_remote(const std::string& user_id,
                    const std::string& username);  // false: known already
    bool remove_remote(const std::string& user_id) { return remote_.erase(user_id) > 0; }
    std::size_t count() const { return local_.size() + remote_.size(); }

    // The users every node holds, as RoomInfo lists them (with their colour).
    std::vector<UserInfo> users() const;

  private:
    void erase(std::vector<Member>::iterator it);

    Metrics& metrics_;
    std::vector<Member> local_;
    std::size_t v1_ = 0;
    std::map<std::string, std::string> remote_;
};

}  // namespace liveshare
