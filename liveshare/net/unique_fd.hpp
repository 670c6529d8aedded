// A descriptor closed unless released: one handed to another loop is not lost if that loop
// stops before it gets there.
#pragma once
#include <unistd.h>

#include <utility>

namespace liveshare {

class UniqueFd {
  public:
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
    UniqueFd& operator=(UniqueFd&&) = delete;
    ~UniqueFd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int release() { return std::exchange(fd_, -1); }

  private:
    int fd_;
};

}  // namespace liveshare
