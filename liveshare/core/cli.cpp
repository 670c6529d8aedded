#include "cli.hpp"

#include <algorithm>

namespace liveshare::cli {

namespace {
std::size_t distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}
}  // namespace

std::string nearest(std::string_view name, const std::vector<FlagSpec>& known) {
    std::string best;
    std::size_t best_d = std::max<std::size_t>(2, name.size() / 3) + 1;  // farther is no suggestion
    for (const auto& k : known) {
        const std::size_t d = distance(name, k.name);
        if (d < best_d) {
            best_d = d;
            best = k.name;
        }
    }
    return best;
}

bool parse_bool(std::string_view v, bool& out) {
    if (v == "1" || v == "true" || v == "yes" || v == "on") return out = true, true;
    if (v == "0" || v == "false" || v == "no" || v == "off") return out = false, true;
    return false;
}

Split split_args(int argc, const char* const* argv, const std::vector<FlagSpec>& known,
                 const std::function<bool(std::string_view)>& pass) {
    Split out;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (pass && pass(a)) {
            out.rest.push_back(i);
            continue;
        }
        if (a == "--help" || a == "-h") {
            out.help = true;
            continue;
        }
        if (!a.starts_with("--") || a.size() == 2) {
            out.error = "unexpected argument '" + std::string(a) + "'";
            return out;
        }
        a.remove_prefix(2);
        const auto eq = a.find('=');
        const std::string name(a.substr(0, eq));
        auto spec = std::find_if(known.begin(), known.end(),
                                 [&](const FlagSpec& f) { return f.name == name; });
        if (spec == known.end()) {
            const std::string near = nearest(name, known);
            out.error =
                "unknown flag --" + name + (near.empty() ? "" : " (did you mean --" + near + "?)");
            return out;
        }
        std::string value;
        if (eq != std::string_view::npos) {
            value = std::string(a.substr(eq + 1));
        } else if (spec->boolean) {
            value = "1";
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            out.error = "--" + name + " needs a value";
            return out;
        }
        if (spec->boolean) {
            bool b = false;
            if (!parse_bool(value, b)) {
                out.error = "--" + name + " is on or off (0|1|true|false), got '" + value + "'";
                return out;
            }
            value = b ? "1" : "0";
        }
        out.flags.push_back({name, std::move(value)});
    }
    return out;
}

}  // namespace liveshare::cli
