// A table of flags: each flag written once, with its value's shape, its help, how it is
// checked and where it goes. The usage text, the unknown-flag check (with did-you-mean) and
// the parsing all come from the table, so a new flag is one entry.
#pragma once
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"

namespace bench::flags {

template <typename O>
struct Flag {
    std::string_view name;
    std::string_view value;  // the value's shape in the usage ("N", "FILE"); empty: a switch
    std::string_view help;   // lines after the first are indented under it
    // Applies a value (a switch gets "1" or "0"); returns "" or what is wrong with it.
    std::function<std::string(O&, const std::string&)> set;
    // The default as the usage shows it ("" shows none).
    std::function<std::string(const O&)> shown = {};
};

inline std::string wants(std::string_view flag, std::string_view what, const std::string& got) {
    return "--" + std::string(flag) + " wants " + std::string(what) + ", got '" + got + "'";
}

// A whole number in [lo, hi]: "-5", "2.5", "1e3" and "" are refused, never rounded.
template <typename T>
std::string parse_whole(std::string_view flag, const std::string& v, T lo, T hi, T& out) {
    const auto range = "a whole number from " + std::to_string(lo) + " to " + std::to_string(hi);
    T x{};
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (v.empty() || ec != std::errc{} || end != v.data() + v.size() || x < lo || x > hi)
        return wants(flag, range, v);
    out = x;
    return "";
}

// A finite real number in [lo, hi].
inline std::string parse_real(std::string_view flag, const std::string& v, double lo, double hi,
                              double& out) {
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end || !std::isfinite(x) || x < lo || x > hi) {
        std::ostringstream r;
        r << "a number from " << lo << " to " << hi;
        return wants(flag, r.str(), v);
    }
    out = x;
    return "";
}

inline std::vector<std::string> split(const std::string& v, char sep) {
    std::vector<std::string> out;
    std::istringstream in(v);
    for (std::string f; std::getline(in, f, sep);)
        if (!f.empty()) out.push_back(f);
    return out;
}

template <typename T>
std::string join(const std::vector<T>& xs, std::string_view sep) {
    std::ostringstream o;
    for (std::size_t i = 0; i < xs.size(); ++i) o << (i ? sep : "") << xs[i];
    return o.str();
}

template <typename O, typename T>
Flag<O> whole(std::string_view name, T O::*field, T lo, T hi, std::string_view help) {
    return {name, "N", help,
            [name, field, lo, hi](O& o, const std::string& v) {
                return parse_whole(name, v, lo, hi, o.*field);
            },
            [field](const O& o) { return std::to_string(o.*field); }};
}

template <typename O>
Flag<O> real(std::string_view name, double O::*field, double lo, double hi, std::string_view help) {
    return {name, "X", help,
            [name, field, lo, hi](O& o, const std::string& v) {
                return parse_real(name, v, lo, hi, o.*field);
            },
            [field](const O& o) {
                std::ostringstream s;
                s << o.*field;
                return s.str();
            }};
}

// A comma-separated list of whole numbers, each in [lo, hi]; at least one.
template <typename O, typename T>
Flag<O> wholes(std::string_view name, std::vector<T> O::*field, T lo, T hi, std::string_view help) {
    return {name, "N,N", help,
            [name, field, lo, hi](O& o, const std::string& v) {
                std::vector<T> out;
                for (const auto& f : split(v, ',')) {
                    T x{};
                    if (auto e = parse_whole(name, f, lo, hi, x); !e.empty()) return e;
                    out.push_back(x);
                }
                if (out.empty()) return wants(name, "a comma-separated list of numbers", v);
                o.*field = std::move(out);
                return std::string();
            },
            [field](const O& o) { return join(o.*field, ","); }};
}

// Text; `what` (if given) is what an empty value is refused as wanting.
template <typename O>
Flag<O> text(std::string_view name, std::string_view shape, std::string O::*field,
             std::string_view help, std::string_view what = {}) {
    return {name, shape, help, [name, field, what](O& o, const std::string& v) {
                if (v.empty() && !what.empty()) return wants(name, what, v);
                o.*field = v;
                return std::string();
            }};
}

// A switch: alone, or =0|1|true|false. `inverted`: the flag turns the field off.
template <typename O>
Flag<O> on_off(std::string_view name, bool O::*field, std::string_view help,
               bool inverted = false) {
    return {name, "", help,
            [field, inverted](O& o, const std::string& v) {
                o.*field = (v == "1") != inverted;
                return std::string();
            },
            [field, inverted](const O& o) { return o.*field != inverted ? "on" : ""; }};
}

template <typename O>
std::vector<liveshare::cli::FlagSpec> specs(const std::vector<Flag<O>>& table) {
    std::vector<liveshare::cli::FlagSpec> out;
    for (const auto& f : table) out.push_back({std::string(f.name), f.value.empty()});
    return out;
}

// "  --name=SHAPE   help (default D)", continuation lines indented to the help's column.
template <typename O>
std::string usage(const std::vector<Flag<O>>& table, const O& defaults) {
    constexpr std::size_t column = 30;
    std::string s;
    for (const auto& f : table) {
        std::string head = "  --" + std::string(f.name);
        if (!f.value.empty()) head += "=" + std::string(f.value);
        std::string help(f.help);
        if (f.shown) {
            const std::string d = f.shown(defaults);
            if (!d.empty()) help += " (default " + d + ")";
        }
        s += head;
        if (head.size() + 1 < column)
            s.append(column - head.size(), ' ');
        else
            s += "\n" + std::string(column, ' ');
        for (char c : help) {
            s += c;
            if (c == '\n') s.append(column, ' ');
        }
        s += '\n';
    }
    return s;
}

}  // namespace bench::flags
