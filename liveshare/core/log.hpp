// The server's one logger: a line on stderr, "liveshare-server: ...", silenced by --quiet.
// Only the reason the process exits with an error is printed regardless (by main).
#pragma once
#include <string_view>

namespace liveshare::log {

void set_quiet(bool quiet);
void line(std::string_view text);

}  // namespace liveshare::log
