// How a result file was made: added to Google Benchmark's context, so every JSON the bench
// writes carries its source (git sha, dirty or not), its build (type, flags), the machine class
// and the exact command.
#pragma once
#include <map>
#include <string>

namespace bench {

void add_provenance(int argc, char** argv);
// What the parsed flags add to it (wss:// trust: --tls_insecure, --tls_ca).
void add_option_provenance();
// The same keys and values, for files the bench writes itself (shard files).
const std::map<std::string, std::string>& provenance();

}  // namespace bench
