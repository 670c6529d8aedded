// Plain new/delete at the exact size, for the handlers of waits that may last long (a
// connection whose request has not arrived yet): Asio's per-thread recycling would hand them a
// block freed by a larger operation, held for as long as they wait.
#pragma once
#include <cstddef>
#include <new>

namespace liveshare {

template <typename T>
struct ExactAllocator {
    using value_type = T;
    ExactAllocator() = default;
    template <typename U>
    ExactAllocator(const ExactAllocator<U>&) {}
    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
    void deallocate(T* p, std::size_t) { ::operator delete(p); }
    template <typename U>
    bool operator==(const ExactAllocator<U>&) const {
        return true;
    }
};

}  // namespace liveshare
