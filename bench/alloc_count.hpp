// Heap allocation counting for the native bench: alloc_count.cpp replaces the
// global operator new/delete (every form the core can reach) with versions
// that count, per thread, before calling malloc/free. The benchmarks read the
// counter before and after their timed loop; the difference over the
// iterations is "allocations per write". malloc calls that bypass operator new
// are not counted (the core allocates through the standard containers, so
// that is all of them in practice; valgrind's heap summary counts both).
#pragma once

#include <cstdint>

namespace er_bench {

struct AllocCount {
  std::uint64_t allocations = 0;  // successful operator new calls
  std::uint64_t bytes = 0;        // bytes requested from them
};

// The calling thread's running totals since the thread started.
AllocCount alloc_count() noexcept;

}  // namespace er_bench
