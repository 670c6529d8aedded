// How a result file was made: added to Google Benchmark's context, so every JSON the bench
// writes carries its source (git sha, dirty or not), its build (type, flags), the machine class
// and the exact command.
#pragma once

namespace bench {

void add_provenance(int argc, char** argv);

}  // namespace bench
