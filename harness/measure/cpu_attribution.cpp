#include "measure/cpu_attribution.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <regex>
#include <unordered_map>

namespace harness {

namespace {

enum class Where { Kernel, User, UserDso };

struct Rule {
    const char* component;
    Where where;
    const char* pattern;  // ECMAScript regex, searched in the symbol (or, UserDso, the file)
};

// The table. A stack goes to the first of its frames, from the leaf up, that some rule
// names; within a frame the first rule that names it. Helpers shared by several paths
// (copies, allocation in the kernel, RCU) are named by none, so a sample in them goes to the
// path that called them. A stack no frame of which is named goes to "kernel: other" when it
// has a kernel frame, else "user: other": the catch-alls, counted as unnamed.
const std::vector<Rule>& rules() {
    static const std::vector<Rule> r = {
        // The kernel.
        {"kernel: wake-ups", Where::Kernel,
         "^(try_to_wake_up|__wake_up|wake_up_|autoremove_wake|sock_def_readable|"
         "sock_def_write_space|ep_poll_callback|ttwu_|select_task_rq)"},
        {"kernel: receive for the peer", Where::Kernel,
         "^(net_rx_action|__netif_receive_skb|netif_receive|process_backlog|__napi_poll|ip_rcv|"
         "ip_local_deliver|ip_protocol_deliver|ip_sublist_rcv|tcp_v4_rcv|tcp_v4_do_rcv|"
         "tcp_rcv_established|tcp_data_queue|tcp_ack|tcp_event_data_recv|tcp_queue_rcv|"
         "tcp_validate_incoming|__inet_lookup|inet_lookup|tcp_add_backlog|handle_softirqs|"
         "do_softirq|__local_bh_enable_ip|tcp_urg|tcp_rcv_rtt|tcp_check_space)"},
        {"kernel: send", Where::Kernel,
         "^(tcp_sendmsg|tcp_write_xmit|__tcp_transmit_skb|tcp_push|__tcp_push_pending|"
         "ip_queue_xmit|__ip_queue_xmit|ip_output|ip_finish_output|ip_local_out|__ip_local_out|"
         "__dev_queue_xmit|dev_hard_start_xmit|loopback_xmit|tcp_stream_alloc_skb|"
         "sk_stream_alloc|skb_page_frag_refill|sock_write_iter|sock_sendmsg|__sys_sendto|"
         "__sys_sendmsg|____sys_sendmsg|vfs_write|ksys_write|do_iter_write|vfs_writev|"
         "tcp_send_ack|__tcp_send_ack|tcp_established_options|bbr_|tcp_schedule_loss_probe|"
         "tcp_rate_|tcp_current_mss|tcp_tso|tcp_wfree|tcp_options_write|tcp_mstamp)"},
        {"kernel: own reads", Where::Kernel,
         "^(tcp_recvmsg|sock_recvmsg|sock_read_iter|tcp_cleanup_rbuf|skb_copy_datagram|"
         "__skb_datagram_iter|tcp_rcv_space_adjust|sk_wait_data|__sys_recvfrom|__sys_recvmsg|"
         "____sys_recvmsg|vfs_read|ksys_read|do_iter_read|vfs_readv|tcp_poll|sock_poll)"},
        {"kernel: epoll and scheduling", Where::Kernel,
         "^(ep_poll|do_epoll_wait|ep_send_events|ep_item_poll|__ep_eventpoll_poll|schedule|"
         "__schedule|finish_task_switch|pick_next|dequeue_task|enqueue_task|update_curr|"
         "update_load|psi_|futex|__futex|hrtimer|do_nanosleep|timerfd|io_uring|eventfd|"
         "__x64_sys_epoll|__x64_sys_futex|__x64_sys_nanosleep|clock_nanosleep|"
         "irqentry_exit|asm_sysvec|sysvec_|__sysvec|irq_exit|tick_|__irq_exit)"},
        {"kernel: system call entry and exit", Where::Kernel,
         "^(do_syscall_64|entry_SYSCALL|syscall_exit|exit_to_user_mode|syscall_enter|"
         "__x64_sys_|x64_sys_call|fdget|__fdget|fput|__fget|rw_verify_area|security_file|"
         "apparmor_file|fsnotify|__fsnotify|syscall_return|do_syscall|__audit|audit_)"},
        // User space.
        {"locks", Where::User,
         "(pthread_mutex|pthread_spin|pthread_cond|pthread_rwlock|__lll_lock|__lll_unlock|"
         "lll_lock|std::mutex|__GI___pthread_mutex)"},
        {"allocation", Where::User,
         "^(malloc|free|calloc|realloc|cfree|_int_malloc|_int_free|_int_realloc|tcache|"
         "malloc_consolidate|__libc_malloc|__libc_free|__GI___libc_malloc|__GI___libc_free|"
         "__libc_calloc|__libc_realloc|operator new|operator delete|unlink_chunk|sysmalloc)"},
        {"TLS", Where::UserDso, "^(libssl|libcrypto)"},
        {"framing", Where::UserDso, "^libz\\."},
        {"libc", Where::UserDso, "^(libc\\.so|libc-|ld-linux|libstdc\\+\\+)"},
        {"parse", Where::User,
         "(simdjson|liveshare::Parser|parse_client|parse_server|liveshare::json|json_read|"
         "DeliveryScan|scan_matches|split_batch|liveshare::parse)"},
        {"fan-out", Where::User, "(Room::relay|Room::fanout|[Ff]anout|broadcast|Room::deliver)"},
        {"framing", Where::User,
         "(liveshare::ws::|ws_frame|append_masked|encode_|Reader::next|mask_|deflate|inflate|"
         "liveshare::encode|append_frame|frame_header)"},
        {"send queues", Where::User,
         "(SendQueue|CorkedSession|Loop::flush|write_pending|write_at_end|outbox|enqueue|"
         "async_write|Session::send|Session::write)"},
        {"metrics", Where::User, "([Mm]etrics|prometheus|Prometheus|Counter::|Gauge::)"},
        {"event loop", Where::User, "(boost::asio|epoll_reactor|liveshare::Loop::)"},
        // The server's --planted-hot-spot-ns (a known cost, for checking profiles).
        {"planted hot spot", Where::User, "planted_hot_spot"},
        {"liveshare: other", Where::User, "^liveshare::"},
        {"harness: other", Where::User, "^harness::"},
    };
    return r;
}

const std::string kKernelOther = "kernel: other", kUserOther = "user: other";

struct Compiled {
    std::vector<std::regex> re;
    // symbol (or dso) -> index of its rule, or -1: named by none.
    std::unordered_map<std::string, int> sym_cache, dso_cache;
    Compiled() {
        for (const auto& r : rules()) re.emplace_back(r.pattern, std::regex::optimize);
    }
    int rule_of(const Frame& f) {
        auto [it, fresh] = sym_cache.try_emplace((f.kernel ? "k:" : "u:") + f.symbol, -1);
        if (fresh)
            for (std::size_t i = 0; i < rules().size(); ++i) {
                const auto& r = rules()[i];
                if (r.where == Where::UserDso || (r.where == Where::Kernel) != f.kernel) continue;
                if (std::regex_search(f.symbol, re[i])) {
                    it->second = static_cast<int>(i);
                    break;
                }
            }
        const int by_symbol = it->second;
        if (f.kernel) return by_symbol;
        auto [dt, dfresh] = dso_cache.try_emplace(f.dso, -1);
        if (dfresh)
            for (std::size_t i = 0; i < rules().size(); ++i)
                if (rules()[i].where == Where::UserDso && std::regex_search(f.dso, re[i])) {
                    dt->second = static_cast<int>(i);
                    break;
                }
        // The earlier rule in the table wins (locks and allocation before libc).
        if (by_symbol < 0) return dt->second;
        if (dt->second < 0) return by_symbol;
        return std::min(by_symbol, dt->second);
    }
};

// "\t    ffffffff81eae1e5 net_rx_action ([kernel.kallsyms])" -> the frame.
bool parse_frame(std::string_view line, Frame& f) {
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    const auto sp = line.find(' ');
    if (sp == std::string_view::npos) return false;
    line.remove_prefix(sp + 1);  // the address
    const auto open = line.rfind(" (");
    if (open == std::string_view::npos || line.back() != ')') return false;
    f.symbol = std::string(line.substr(0, open));
    std::string_view dso = line.substr(open + 2, line.size() - open - 3);
    f.kernel = dso.starts_with("[kernel");
    if (const auto slash = dso.rfind('/'); slash != std::string_view::npos)
        dso.remove_prefix(slash + 1);
    f.dso = std::string(dso);
    return true;
}

Compiled& compiled() {
    thread_local Compiled c;
    return c;
}

}  // namespace

std::vector<Stack> parse_perf_script(std::string_view text) {
    std::vector<Stack> out;
    Stack cur;
    bool in_sample = false;
    auto flush = [&] {
        if (in_sample && !cur.frames.empty()) out.push_back(std::move(cur));
        cur = Stack{};
        in_sample = false;
    };
    while (!text.empty()) {
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (line.find_first_not_of(" \t") == std::string_view::npos) {
            flush();
        } else if (line.front() != '\t') {  // a sample's header: its period
            flush();
            in_sample = true;
            try {
                cur.weight = std::stoull(std::string(line));
            } catch (const std::exception&) {
                cur.weight = 1;
            }
        } else if (Frame f; in_sample && parse_frame(line, f)) {
            cur.frames.push_back(std::move(f));
        }
    }
    flush();
    return out;
}

std::string folded(const std::vector<Stack>& stacks) {
    std::map<std::string, std::uint64_t> n;
    for (const auto& s : stacks) {
        std::string key;
        // Outermost frames perf could not name are where a frame-pointer walk ran off our
        // stack: noise that would split one caller's stacks into several roots.
        auto it = s.frames.rbegin();
        while (it != s.frames.rend() && std::next(it) != s.frames.rend() &&
               it->symbol == "[unknown]")
            ++it;
        for (; it != s.frames.rend(); ++it) {
            if (!key.empty()) key += ';';
            for (char c : it->symbol) key += c == ';' ? ':' : c;
            if (it->kernel) key += "_[k]";
        }
        ++n[key];
    }
    std::string out;
    for (const auto& [k, v] : n) out += k + ' ' + std::to_string(v) + '\n';
    return out;
}

const std::vector<std::string>& cpu_components() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> n;
        for (const auto& r : rules())
            if (std::find(n.begin(), n.end(), r.component) == n.end()) n.push_back(r.component);
        n.push_back(kKernelOther);
        n.push_back(kUserOther);
        return n;
    }();
    return names;
}

const std::string& component_of(const Stack& s) {
    static thread_local std::string name;
    bool kernel = false;
    for (const auto& f : s.frames) {
        kernel = kernel || f.kernel;
        if (const int i = compiled().rule_of(f); i >= 0) return name = rules()[i].component;
    }
    return kernel ? kKernelOther : kUserOther;
}

Attribution attribute(const std::vector<Stack>& stacks, std::size_t top) {
    Attribution a;
    std::map<std::string, std::uint64_t> by, self, total;
    for (const auto& s : stacks) {
        ++a.samples;
        ++by[component_of(s)];
        if (!s.frames.empty()) ++self[s.frames.front().symbol];
        std::vector<const std::string*> seen;
        for (const auto& f : s.frames)
            if (std::none_of(seen.begin(), seen.end(), [&](auto* x) { return *x == f.symbol; })) {
                seen.push_back(&f.symbol);
                ++total[f.symbol];
            }
    }
    for (const auto& c : cpu_components()) a.components.emplace_back(c, by[c]);
    a.unnamed = by[kKernelOther] + by[kUserOther];
    auto best = [top](const std::map<std::string, std::uint64_t>& m) {
        std::vector<std::pair<std::string, std::uint64_t>> v(m.begin(), m.end());
        std::stable_sort(v.begin(), v.end(),
                         [](const auto& x, const auto& y) { return x.second > y.second; });
        if (v.size() > top) v.resize(top);
        return v;
    };
    a.top_self = best(self);
    a.top_total = best(total);
    return a;
}

std::string attribution_json(const Attribution& a) {
    auto str = [](const std::string& s) {
        std::string o = "\"";
        for (char c : s) {
            if (c == '"' || c == '\\') o += '\\';
            if (static_cast<unsigned char>(c) < 0x20) continue;
            o += c;
        }
        return o + '"';
    };
    const double n = static_cast<double>(std::max<std::uint64_t>(a.samples, 1));
    std::string out =
        fmt::format("{{\"samples\":{},\"named_pct\":{:.2f},\"components\":{{", a.samples,
                    100.0 * static_cast<double>(a.samples - a.unnamed) / n);
    for (std::size_t i = 0; i < a.components.size(); ++i)
        out += fmt::format("{}{}:{:.2f}", i ? "," : "", str(a.components[i].first),
                           100.0 * static_cast<double>(a.components[i].second) / n);
    out += "}";
    for (const auto* list : {&a.top_self, &a.top_total}) {
        out += list == &a.top_self ? ",\"top_self\":[" : ",\"top_total\":[";
        for (std::size_t i = 0; i < list->size(); ++i)
            out += fmt::format("{}[{},{}]", i ? "," : "", str((*list)[i].first), (*list)[i].second);
        out += "]";
    }
    return out + "}";
}

}  // namespace harness
