// SPDX-License-Identifier: MIT
// bench/adapters.cc — the responders of sigrelay's event-loop adapters that are built.
#include "harness.hpp"

namespace bench {

void add_adapter_asio(std::vector<mechanism_info>& out);
void add_adapter_uv(std::vector<mechanism_info>& out);
void add_adapter_event(std::vector<mechanism_info>& out);

void add_adapters([[maybe_unused]] std::vector<mechanism_info>& out) {
#ifdef BENCH_HAVE_ADAPTER_ASIO
  add_adapter_asio(out);
#endif
#ifdef BENCH_HAVE_ADAPTER_UV
  add_adapter_uv(out);
#endif
#ifdef BENCH_HAVE_ADAPTER_EVENT
  add_adapter_event(out);
#endif
}

}  // namespace bench
