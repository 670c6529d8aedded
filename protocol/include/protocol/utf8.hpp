// UTF-8 validation (RFC 3629, as RFC 6455 section 8.1 requires of every text message).
// valid_utf8() checks a whole buffer; Utf8Validator checks a message that arrives in pieces
// (WebSocket fragments), keeps a code point split across two pieces, and fails at the first
// byte that no valid continuation could follow (so a bad fragment fails before the message ends).
#pragma once
#include <cstddef>
#include <cstdint>

namespace liveshare {

// True when [p, p+n) is complete, well-formed UTF-8: no overlong forms, no surrogates
// (U+D800-U+DFFF), nothing above U+10FFFF, no bytes C0, C1, F5-FF, no stray or missing
// continuation bytes. SIMD (simdjson) where the CPU has it.
bool valid_utf8(const char* p, std::size_t n);

class Utf8Validator {
  public:
    // Takes the next piece; false once the bytes so far cannot start valid UTF-8 (sticky).
    bool feed(const char* p, std::size_t n);
    // True when the pieces so far are valid and no code point is left unfinished.
    bool complete() const { return !failed_ && need_ == 0; }
    void reset() { *this = Utf8Validator{}; }

  private:
    std::uint8_t need_ = 0;               // continuation bytes still expected
    std::uint8_t lo_ = 0x80, hi_ = 0xBF;  // range allowed for the next continuation byte
    bool failed_ = false;
};

}  // namespace liveshare
