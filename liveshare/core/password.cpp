#include "password.hpp"

#include <crypt.h>

#include <cstring>
#include <stdexcept>

namespace liveshare {

std::string hash_password(const std::string& password, unsigned cost) {
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    // A null random source asks libxcrypt for OS randomness.
    if (!crypt_gensalt_rn("$2b$", cost, nullptr, 0, salt, sizeof salt))
        throw std::runtime_error("crypt_gensalt_rn failed");
    crypt_data data{};
    const char* h = crypt_rn(password.c_str(), salt, &data, sizeof data);
    if (!h || h[0] == '*') throw std::runtime_error("crypt_rn failed");
    return h;
}

bool verify_password(const std::string& password, const std::string& hash) {
    crypt_data data{};
    const char* h = crypt_rn(password.c_str(), hash.c_str(), &data, sizeof data);
    if (!h || h[0] == '*') return false;
    // Constant-time compare: the hash length is public, its bytes are not.
    std::size_t n = std::strlen(h);
    if (n != hash.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(h[i] ^ hash[i]);
    return diff == 0;
}

}  // namespace liveshare
