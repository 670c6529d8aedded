// The CPU profile's reader and attribution against stacks written the way `perf script -F
// period,ip,sym,dso` prints them (frames as the Linux kernel, glibc and our binaries name
// them), not as our own writer would: what a frame is named decides its component.
#include <gtest/gtest.h>

#include "measure/cpu_attribution.hpp"

using namespace harness;

namespace {

// Four samples of a server: a send whose softirq runs the peer's receive and wakes it, a
// plain send, a parse, a malloc under the fan-out, and one no rule names.
const char* kScript = R"(   1001001 
	ffffffff8109a0c5 _raw_spin_unlock_irqrestore ([kernel.kallsyms])
	ffffffff810fe1d4 try_to_wake_up ([kernel.kallsyms])
	ffffffff81e7c7a1 sock_def_readable ([kernel.kallsyms])
	ffffffff82076a3d tcp_data_queue ([kernel.kallsyms])
	ffffffff82076623 tcp_rcv_established ([kernel.kallsyms])
	ffffffff81eb094e net_rx_action ([kernel.kallsyms])
	ffffffff81eaca84 __dev_queue_xmit ([kernel.kallsyms])
	ffffffff82064eeb tcp_sendmsg ([kernel.kallsyms])
	ffffffff8223c951 do_syscall_64 ([kernel.kallsyms])
	           f838f __GI___libc_write (/usr/lib/x86_64-linux-gnu/libc.so.6)
	          100604 liveshare::(anonymous namespace)::CorkedSession::pump (/opt/liveshare-server)

   1001001 
	ffffffff8208bcba tcp_v4_rcv ([kernel.kallsyms])
	ffffffff8204bbbc ip_protocol_deliver_rcu ([kernel.kallsyms])
	ffffffff81eb094e net_rx_action ([kernel.kallsyms])
	ffffffff82064eeb tcp_sendmsg ([kernel.kallsyms])

   1001001 
	ffffffff8207cc74 __tcp_transmit_skb ([kernel.kallsyms])
	ffffffff8207e83d tcp_write_xmit ([kernel.kallsyms])
	ffffffff82064eeb tcp_sendmsg ([kernel.kallsyms])
	ffffffff8223c951 do_syscall_64 ([kernel.kallsyms])

   1001001 
	          2a11f0 simdjson::haswell::dom_parser_implementation::stage1 (/opt/liveshare-server)
	          1f0010 liveshare::Parser::parse_client (/opt/liveshare-server)

   1001001 
	           9a0c1 _int_malloc (/usr/lib/x86_64-linux-gnu/libc.so.6)
	           9b2f0 malloc (/usr/lib/x86_64-linux-gnu/libc.so.6)
	          12ab00 liveshare::Room::relay (/opt/liveshare-server)

   1001001 
	          55aa00 [unknown] ([unknown])

)";

}  // namespace

TEST(CpuProfile, PerfScriptIsReadIntoStacksLeafFirst) {
    const auto stacks = parse_perf_script(kScript);
    ASSERT_EQ(stacks.size(), 6u);
    EXPECT_EQ(stacks[0].weight, 1001001u);
    ASSERT_EQ(stacks[0].frames.size(), 11u);
    EXPECT_EQ(stacks[0].frames[0].symbol, "_raw_spin_unlock_irqrestore");
    EXPECT_TRUE(stacks[0].frames[0].kernel);
    EXPECT_EQ(stacks[0].frames[9].dso, "libc.so.6");
    EXPECT_FALSE(stacks[0].frames[10].kernel);
    EXPECT_EQ(stacks[0].frames[10].symbol, "liveshare::(anonymous namespace)::CorkedSession::pump");
    EXPECT_EQ(stacks[5].frames[0].symbol, "[unknown]");
}

TEST(CpuProfile, EachStackGoesToItsFirstNamedFrameFromTheLeaf) {
    const auto stacks = parse_perf_script(kScript);
    EXPECT_EQ(component_of(stacks[0]), "kernel: wake-ups");
    EXPECT_EQ(component_of(stacks[1]), "kernel: receive for the peer");
    EXPECT_EQ(component_of(stacks[2]), "kernel: send");
    EXPECT_EQ(component_of(stacks[3]), "parse");
    EXPECT_EQ(component_of(stacks[4]), "allocation");  // before libc, before the fan-out
    EXPECT_EQ(component_of(stacks[5]), "user: other");
    const auto a = attribute(stacks, 3);
    EXPECT_EQ(a.samples, 6u);
    EXPECT_EQ(a.unnamed, 1u);
    std::uint64_t sum = 0;
    for (const auto& [name, n] : a.components) sum += n;
    EXPECT_EQ(sum, a.samples);  // the shares add up to every sample
    ASSERT_EQ(a.top_total.size(), 3u);
    EXPECT_EQ(a.top_total[0].first, "tcp_sendmsg");  // in three stacks
    EXPECT_EQ(a.top_total[0].second, 3u);
    const std::string json = attribution_json(a);
    EXPECT_NE(json.find("\"named_pct\":83.33"), std::string::npos) << json;
    EXPECT_NE(json.find("\"kernel: send\":16.67"), std::string::npos) << json;
}

TEST(CpuProfile, FoldedStacksAreRootFirstWithCounts) {
    const auto stacks = parse_perf_script(kScript);
    const std::string f = folded({stacks[3], stacks[3], stacks[2]});
    EXPECT_NE(
        f.find("liveshare::Parser::parse_client;simdjson::haswell::dom_parser_implementation::"
               "stage1 2\n"),
        std::string::npos)
        << f;
    EXPECT_NE(
        f.find("do_syscall_64_[k];tcp_sendmsg_[k];tcp_write_xmit_[k];__tcp_transmit_skb_[k] 1\n"),
        std::string::npos)
        << f;
}

// Frames perf could not name at the root end (a frame-pointer walk off our stack) are left
// out, so one caller's stacks share one root; a stack of nothing else keeps its leaf.
TEST(CpuProfile, UnnamedOutermostFramesAreNotRoots) {
    const auto s = parse_perf_script(
        "   1 \n\t  1 work (/bin/x)\n\t  2 caller (/bin/x)\n\t  3 [unknown] ([unknown])\n"
        "\t  4 [unknown] ([unknown])\n\n   1 \n\t  1 work (/bin/x)\n\t  2 caller (/bin/x)\n\n"
        "   1 \n\t  5 [unknown] ([unknown])\n");
    ASSERT_EQ(s.size(), 3u);
    EXPECT_EQ(folded(s), "[unknown] 1\ncaller;work 2\n");
}

TEST(CpuProfile, GarbageIsSkippedNotFatal) {
    EXPECT_TRUE(parse_perf_script("").empty());
    EXPECT_TRUE(parse_perf_script("not perf output\n\n\t\t\n").empty());
    const auto s = parse_perf_script("   12 \n\tno-parens-here\n\tffff x (y)\n");
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].frames.size(), 1u);
}
