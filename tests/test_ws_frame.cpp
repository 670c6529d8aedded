// WebSocket framing against RFC 6455's own examples (section 5.7), byte for byte, and the
// reader's refusals. Our encoder is checked against those bytes, never against our reader.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "protocol/ws_frame.hpp"

namespace liveshare::ws {
namespace {

std::string bytes(std::initializer_list<int> b) {
    std::string s;
    for (int x : b) s.push_back(static_cast<char>(x));
    return s;
}

struct Seen {
    Event::Kind kind;
    std::string data;
    std::uint16_t code;
};

std::vector<Seen> feed_all(Reader& r, std::string wire, std::size_t* used = nullptr) {
    std::vector<Seen> out;
    wire.append(64, '\0');  // parse padding, as the server's buffers have
    const std::size_t n = r.feed(wire.data(), wire.size() - 64, [&](Event& e) {
        out.push_back({e.kind, std::string(e.data ? e.data : "", e.len), e.code});
        return true;
    });
    if (used) *used = n;
    return out;
}

TEST(WsFrame, RfcUnmaskedHelloIsWhatTheServerWrites) {
    std::string out;
    append_frame(out, Opcode::Text, "Hello");
    EXPECT_EQ(out, bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
}

TEST(WsFrame, RfcMaskedHelloIsReadAndUnmasked) {
    Reader r(true, 1 << 20);
    auto seen =
        feed_all(r, bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].kind, Event::Kind::Text);
    EXPECT_EQ(seen[0].data, "Hello");
}

TEST(WsFrame, RfcMaskedFrameIsWhatTheClientWrites) {
    std::string out;
    const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    std::uint32_t k;
    std::memcpy(&k, key, 4);
    append_masked_frame(out, Opcode::Text, "Hello", k);
    EXPECT_EQ(out, bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
}

TEST(WsFrame, RfcFragmentedHelloIsOneMessage) {
    Reader r(false, 1 << 20);
    auto seen = feed_all(r, bytes({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}));
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].data, "Hello");
}

TEST(WsFrame, RfcPingInsideAFragmentedMessageComesOutFirst) {
    Reader r(false, 1 << 20);
    auto seen = feed_all(r, bytes({0x01, 0x03, 0x48, 0x65, 0x6c, 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c,
                                   0x6f, 0x80, 0x02, 0x6c, 0x6f}));
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].kind, Event::Kind::Ping);
    EXPECT_EQ(seen[0].data, "Hello");
    EXPECT_EQ(seen[1].data, "Hello");
}

TEST(WsFrame, RfcLengthEncodingsOf256BytesAnd64KiB) {
    // 256 bytes: 126 and a 16-bit length; 65536 bytes: 127 and a 64-bit length.
    std::string out;
    append_frame(out, Opcode::Binary, std::string(256, 'x'));
    EXPECT_EQ(out.substr(0, 4), bytes({0x82, 0x7E, 0x01, 0x00}));
    out.clear();
    append_frame(out, Opcode::Binary, std::string(65536, 'x'));
    EXPECT_EQ(out.substr(0, 10),
              bytes({0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}));
}

TEST(WsFrame, SeveralFramesInOneReadAndAPartialOneLeftOver) {
    Reader r(false, 1 << 20);
    std::string wire =
        bytes({0x81, 0x01, 'a', 0x81, 0x01, 'b', 0x81, 0x03, 'c'});  // the last is cut short
    std::size_t used = 0;
    auto seen = feed_all(r, wire, &used);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[1].data, "b");
    EXPECT_EQ(used, 6u);  // the caller keeps the 3 bytes of the incomplete frame
    EXPECT_EQ(Reader::frame_size(wire.data() + used, wire.size() - used), 5u);
}

TEST(WsFrame, CloseCarriesTheCodeAndReason) {
    Reader r(false, 1 << 20);
    auto seen = feed_all(r, bytes({0x88, 0x04, 0x0f, 0xa8, 'o', 'k'}));  // 4008 "ok"
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].kind, Event::Kind::Close);
    EXPECT_EQ(seen[0].code, 4008);
    EXPECT_EQ(seen[0].data, "ok");
}

TEST(WsFrame, RefusalsCarryTheCloseCode) {
    struct Case {
        const char* what;
        std::string wire;
        bool server;
        std::uint16_t code;
    } cases[] = {
        {"unmasked client frame", bytes({0x81, 0x01, 'a'}), true, kCloseProtocolError},
        {"masked server frame", bytes({0x81, 0x81, 1, 2, 3, 4, 'a'}), false, kCloseProtocolError},
        {"reserved bit", bytes({0xC1, 0x01, 'a'}), false, kCloseProtocolError},
        {"unknown opcode", bytes({0x83, 0x00}), false, kCloseProtocolError},
        {"fragmented ping", bytes({0x09, 0x00}), false, kCloseProtocolError},
        {"continuation first", bytes({0x80, 0x01, 'a'}), false, kCloseProtocolError},
        {"over the limit", bytes({0x81, 0x7E, 0x01, 0x00}), false,
         kCloseTooBig},  // 256 > 100, header alone
        {"close of one byte", bytes({0x88, 0x01, 0x03}), false, kCloseProtocolError},
    };
    for (const auto& c : cases) {
        Reader r(c.server, 100);
        auto seen = feed_all(r, c.wire);
        ASSERT_EQ(seen.size(), 1u) << c.what;
        EXPECT_EQ(seen[0].kind, Event::Kind::Error) << c.what;
        EXPECT_EQ(seen[0].code, c.code) << c.what;
        // After an error the reader takes nothing more.
        EXPECT_TRUE(feed_all(r, bytes({0x81, 0x01, 'a'})).empty()) << c.what;
    }
}

}  // namespace
}  // namespace liveshare::ws

// RFC 3629's table, case by case, whole and cut at every byte: the incremental validator (for
// fragments) and the whole-message one agree with the RFC and with each other.
TEST(Utf8, IncrementalAgreesWithWholeAndTheRfcAtEveryCut) {
    const std::vector<std::pair<std::string, bool>> cases = {
        {"", true},
        {"ascii only, long enough for the eight-byte path", true},
        {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true},  // κόσμε
        {"\xf0\x9d\x84\x9e", true},                              // U+1D11E
        {"\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf",
         true},  // U+D7FF U+E000 U+FFFF U+10FFFF
        {"\xc0\x80", false},
        {"\xc1\xbf", false},
        {"\xe0\x9f\xbf", false},
        {"\xf0\x8f\xbf\xbf", false},  // overlong
        {"\xed\xa0\x80", false},
        {"\xed\xbf\xbf", false},  // surrogates
        {"\xf4\x90\x80\x80", false},
        {"\xf5\x80\x80\x80", false},
        {"\xfe", false},
        {"\xff", false},
        {"\x80", false},
        {"a\xbf", false},
        {"\xe2\x82", false},
        {"\xe2\x82x", false},
        {"\xf0\x9f\x98", false},
        {"\xce\xba\xe1\xbd", false}};
    for (const auto& [text, valid] : cases) {
        EXPECT_EQ(liveshare::valid_utf8(text.data(), text.size()), valid) << text;
        for (std::size_t cut = 0; cut <= text.size(); ++cut) {
            liveshare::Utf8Validator v;
            const bool fed =
                v.feed(text.data(), cut) && v.feed(text.data() + cut, text.size() - cut);
            EXPECT_EQ(fed && v.complete(), valid) << "cut at " << cut << " of " << text.size();
        }
    }
}

// A server reader refuses a text message that is not UTF-8 with 1007, in the fragment that
// breaks it; a close code RFC 6455 7.4 does not allow is 1002; a close reason not UTF-8 is 1007.
TEST(WsReader, Rfc6455PayloadRules) {
    auto first_event = [](std::string bytes) {
        liveshare::ws::Reader r(false, 1 << 20);
        bytes.append(64, '\0');
        std::vector<liveshare::ws::Event> evs;
        r.feed(bytes.data(), bytes.size() - 64, [&](liveshare::ws::Event& e) {
            evs.push_back(e);
            return true;
        });
        return evs;
    };
    auto raw = [](std::uint8_t b0, std::string payload) {
        std::string f;
        f.push_back(static_cast<char>(b0));
        f.push_back(static_cast<char>(payload.size()));
        return f + payload;
    };
    using K = liveshare::ws::Event::Kind;
    auto evs = first_event(raw(0x81, "\xed\xa0\x80"));
    ASSERT_EQ(evs.size(), 1u);
    EXPECT_EQ(evs[0].kind, K::Error);
    EXPECT_EQ(evs[0].code, 1007);
    evs = first_event(raw(0x01, "ok \xf0\x9f") + raw(0x00, "\x98\x80") + raw(0x80, "!"));
    ASSERT_EQ(evs.size(), 1u);
    EXPECT_EQ(evs[0].kind, K::Text);  // a code point split across fragments is fine
    evs = first_event(raw(0x01, "ok \xf0\x9f") + raw(0x80, "A"));
    ASSERT_EQ(evs.size(), 1u);
    EXPECT_EQ(evs[0].code, 1007);
    evs = first_event(raw(0x88, std::string("\x13\x88", 2)));  // 5000
    ASSERT_EQ(evs.size(), 1u);
    EXPECT_EQ(evs[0].kind, K::Error);
    EXPECT_EQ(evs[0].code, 1002);
    evs = first_event(raw(0x88, std::string("\x0f\xa0", 2)));  // 4000
    ASSERT_EQ(evs.size(), 1u);
    EXPECT_EQ(evs[0].kind, K::Close);
    EXPECT_EQ(evs[0].code, 4000);
    evs = first_event(raw(0x88, std::string("\x03\xe8\xff", 3)));
    ASSERT_EQ(evs.size(), 1u);
    EXPECT_EQ(evs[0].code, 1007);
}
