// Command-line flags as users expect them: --name=value and --name value, a boolean flag
// alone (--quiet) or with 0|1|true|false, and an unknown flag refused with the nearest known
// one suggested. No exit() here: callers get the error and decide (so parsing is testable).
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace liveshare::cli {

struct FlagSpec {
    std::string name;
    bool boolean = false;  // takes no value unless written --name=value
};

struct Flag {
    std::string name, value;  // a boolean given alone has value "1"
};

struct Split {
    std::vector<Flag> flags;
    std::vector<int> rest;  // argv positions of the arguments `pass` let through
    bool help = false;      // --help or -h was given
    std::string error;      // empty when every argument was understood
};

// `pass` (optional): arguments to leave for another parser (e.g. --benchmark_*).
Split split_args(int argc, const char* const* argv, const std::vector<FlagSpec>& known,
                 const std::function<bool(std::string_view)>& pass = {});
// The known name closest to `name` (edit distance at most 2, or a third of its length), or "".
std::string nearest(std::string_view name, const std::vector<FlagSpec>& known);
// 1/0/true/false/yes/no/on/off; false when it is none of them.
bool parse_bool(std::string_view v, bool& out);

}  // namespace liveshare::cli
