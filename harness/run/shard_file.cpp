#include "run/shard_file.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <stdexcept>

#include "protocol/json_write.hpp"

namespace harness {

std::string shard_json(const std::string& benchmark, const LoadTestConfig& cfg,
                       const LoadTestResult& r, const std::map<std::string, std::string>& context,
                       bool with_intervals) {
    const auto& M = r.metrics;
    std::string out = "{\"format\":\"liveshare-shard/3\",\"context\":{";
    bool first_key = true;
    for (const auto& [k, v] : context) {
        if (!first_key) out += ',';
        first_key = false;
        liveshare::json::append_string(out, k);
        out += ':';
        liveshare::json::append_string(out, v);
    }
    out += "},\"benchmark\":";
    liveshare::json::append_string(out, benchmark);
    out +=
        fmt::format(",\"shard\":{},\"shards\":{},\"users\":{},\"seed\":{},\"start_at_unix_ms\":{}",
                    cfg.shard_index, cfg.shard_count, cfg.users, cfg.seed, cfg.start_at_unix_ms);
    out +=
        fmt::format(",\"measured_s\":{:.6f},\"deliveries_per_s\":{:.3f},\"msgs_sent_per_s\":{:.3f}",
                    M.measured_s, M.deliveries_per_s, M.msgs_sent_per_s);
    out += fmt::format(",\"generator_cpu_pct\":{:.3f},\"users_joined\":{},\"error_count\":{}",
                       M.generator_cpu_pct, M.users_joined, M.error_count);
    // Convergence is absent where it was not checked, as in bench's own counters.
    if (M.convergence != Convergence::NotChecked)
        out += fmt::format(",\"converged\":{}",
                           M.convergence == Convergence::Converged ? "true" : "false");
    out += ",\"convergence_detail\":";
    liveshare::json::append_string(out, M.convergence_detail);
    if (r.first_send_wall_us)
        out += fmt::format(
            ",\"first_send_wall_us\":{},\"first_send_ref_us\":{},\"first_send_planned_us\":{}",
            r.first_send_wall_us, r.first_send_ref_us, r.first_send_planned_us);
    if (!r.start_error.empty()) {
        out += ",\"start_error\":";
        liveshare::json::append_string(out, r.start_error);
    }
    out += ",\"latency\":" + histogram_json(M.totals.latency);
    out += ",\"latency_uncorrected\":" + histogram_json(M.totals.latency_uncorrected);
    // The clock against the reference, when there was one: offsets before and after.
    if (M.clock_start) {
        out += ",\"clock\":{\"ref\":";
        liveshare::json::append_string(out, cfg.clock_ref);
        out += fmt::format(",\"offset_start_us\":{:.1f},\"uncertainty_start_us\":{:.1f}",
                           M.clock_start->offset_us, M.clock_start->uncertainty_us);
        if (M.clock_end)
            out += fmt::format(",\"offset_end_us\":{:.1f},\"uncertainty_end_us\":{:.1f}",
                               M.clock_end->offset_us, M.clock_end->uncertainty_us);
        out += '}';
    }
    out += fmt::format(",\"interval_ms\":{},\"intervals\":[", cfg.series_interval.count());
    for (std::size_t k = 0; with_intervals && k < M.series.size(); ++k) {
        if (k) out += ',';
        append_json(out, M.series[k], true);
    }
    out += "],\"events\":";
    append_json(out, M.events);
    out += ",\"per_user\":[";
    for (std::size_t k = 0; k < r.per_user.size(); ++k) {
        const auto& u = r.per_user[k];
        out += fmt::format(
            "{}{{\"index\":{},\"room\":{},\"joined\":{},\"sent_durable\":{},\"durable_rejected\":{}"
            ","
            "\"durable_received\":{},\"duplicates\":{},\"out_of_order\":{}}}",
            k ? "," : "", r.user_slots[k].index, r.user_slots[k].room,
            u.join_time.count() ? "true" : "false", u.sent_durable, u.durable_rejected,
            u.durable_received, u.durable_duplicates, u.durable_out_of_order);
    }
    out += "]}\n";
    return out;
}

void write_shard_file(const std::string& path, const std::string& benchmark,
                      const LoadTestConfig& cfg, const LoadTestResult& r,
                      const std::map<std::string, std::string>& context) {
    const std::string out = shard_json(benchmark, cfg, r, context);
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (!f) throw std::runtime_error("cannot write shard file " + path);
    const bool ok = std::fwrite(out.data(), 1, out.size(), f) == out.size();
    if (std::fclose(f) != 0 || !ok) throw std::runtime_error("cannot write shard file " + path);
}

}  // namespace harness
