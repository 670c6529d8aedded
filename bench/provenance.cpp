#include "provenance.hpp"

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "options.hpp"

namespace bench {

namespace {

// The first line a shell command prints, or "" (git may be absent where the binary runs).
std::string first_line(const std::string& cmd) {
    std::string out;
    if (std::FILE* p = popen(cmd.c_str(), "r")) {
        char buf[256];
        if (std::fgets(buf, sizeof buf, p)) out = buf;
        pclose(p);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

// "<cores>core-<cpu model>", as scripts/lib/common.sh names machine classes.
std::string machine_class() {
    std::ifstream in("/proc/cpuinfo");
    std::string line, model;
    while (std::getline(in, line))
        if (line.rfind("model name", 0) == 0) {
            model = line.substr(line.find(':') + 1);
            break;
        }
    std::transform(model.begin(), model.end(), model.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    for (const char* noise : {"(r)", "(tm)", "cpu"})
        for (auto p = model.find(noise); p != std::string::npos; p = model.find(noise))
            model.erase(p, std::string(noise).size());
    if (auto at = model.find('@'); at != std::string::npos) model.resize(at);
    std::string slug;
    for (unsigned char c : model) {
        if (std::isalnum(c))
            slug += static_cast<char>(c);
        else if (!slug.empty() && slug.back() != '-')
            slug += '-';
    }
    while (!slug.empty() && slug.back() == '-') slug.pop_back();
    return std::to_string(std::thread::hardware_concurrency()) + "core-" +
           (slug.empty() ? "unknown" : slug);
}

}  // namespace

std::map<std::string, std::string>& provenance_store() {
    static std::map<std::string, std::string> m;
    return m;
}

const std::map<std::string, std::string>& provenance() {
    return provenance_store();
}

namespace {
void add(const char* k, const std::string& v) {
    provenance_store()[k] = v;
    benchmark::AddCustomContext(k, v);
}
}  // namespace

void add_provenance(int argc, char** argv) {
    const std::string src = LIVESHARE_SOURCE_DIR;
    const std::string sha = first_line("git -C '" + src + "' rev-parse --short HEAD 2>/dev/null");
    const std::string dirty = first_line(
        "git -C '" + src + "' status --porcelain --untracked-files=no 2>/dev/null | head -1");
    add("git_sha", sha.empty() ? "unknown" : sha);
    add("git_dirty", sha.empty() ? "unknown" : dirty.empty() ? "false" : "true");
    add("build_type", LIVESHARE_BUILD_TYPE);
    add("build_flags", LIVESHARE_BUILD_FLAGS);
    add("machine_class", machine_class());
    std::string cmd;
    for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + std::string(argv[i]);
    add("command", cmd);
}

void add_option_provenance() {
    const Options& o = options();
    if (o.tls.insecure)
        add("tls_insecure", "true: wss:// certificates and names were NOT verified");
    if (!o.tls.ca_file.empty()) add("tls_ca", o.tls.ca_file);
}

}  // namespace bench
