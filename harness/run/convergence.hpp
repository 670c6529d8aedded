// The end-of-run convergence check: does every client hold the server's diagram?
#pragma once
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "users/sim_user.hpp"

namespace harness {

// A fresh observer joins each room the original's way and reads the server's state; each
// user's state is read on its own generator thread. Returns true when all are equal; `detail`
// says how many matched, or why the check could not be made.
bool check_convergence(Shared& sh, std::vector<std::unique_ptr<SimUser>>& users,
                       std::vector<std::unique_ptr<boost::asio::io_context>>& iocs,
                       std::string& detail);

}  // namespace harness
