// Room passwords: bcrypt through libxcrypt (the system's crypt(3)). Slow on purpose, so
// callers run these on the KDF thread pool, never on an I/O thread.
#pragma once
#include <string>

namespace liveshare {

// Returns a "$2b$" hash; throws std::runtime_error if the system cannot hash.
std::string hash_password(const std::string& password, unsigned cost);
bool verify_password(const std::string& password, const std::string& hash);

}  // namespace liveshare
