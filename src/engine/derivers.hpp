// The change-deriver registry (SPEC §6): per kind, derivers that turn a
// change into trigger event ids and at most one payload mapper. Derivers
// are native (C++, e.g. the catalog's) or host functions known by a key;
// the core decides the order, the union and what is dropped, the binding
// calls host functions.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "engine/change.hpp"
#include "json/value.hpp"

namespace er {

// Appends the change's trigger ids (static strings) to `out`.
using NativeDeriver = void (*)(const ChangeView& change, std::vector<std::string_view>& out);
// Appends the change's payload as JSON text to `out`.
using NativePayloadMapper = void (*)(const ChangeView& change, std::string& out);

class DeriverRegistry {
 public:
  // Registers a host deriver (and optional host payload mapper) by key.
  // The same deriver twice is harmless; a second, different payload mapper
  // for a kind is ER_DUPLICATE_MAPPER. Keys are non-zero.
  Result<void> add_host(std::string_view kind, std::uint32_t deriver_key, std::uint32_t mapper_key);
  // Registers a native deriver/mapper under a name (same name twice is harmless).
  Result<void> add_native(std::string_view kind, std::string_view name, NativeDeriver derive,
                          NativePayloadMapper to_payload);

  // Union of all derivers' ids for change.kind, in registration order, first
  // occurrence kept, non-string or empty ids dropped; a deriver that fails
  // (host returns an error) is skipped and reported to `on_error`. A host
  // deriver may register derivers while it runs: they count from the next
  // call on.
  std::vector<std::string> derive(const ChangeView& change,
                                  const std::function<Result<json::Value>(std::uint32_t key)>& call_host,
                                  const std::function<void(const Error&)>& on_error) const;

  // True when every deriver and mapper of `kind` is native, so a change can
  // be derived in the core without calling the host.
  bool all_native(std::string_view kind) const;
  bool has_derivers(std::string_view kind) const;
  // The mapper of a kind: 0 = none, kNativeMapper = native, else host key.
  std::uint32_t mapper_key(std::string_view kind) const;
  // Runs the native mapper into `out`; false when the kind has none.
  bool native_payload(const ChangeView& change, std::string& out) const;
  // Derives a change of a kind whose derivers and mapper are all native
  // (one lookup, no host call): its trigger ids into `triggers` and, when
  // it has a mapper, its payload JSON appended to `payload`. False when the
  // kind has no derivers or a host one (the host derives on request).
  bool derive_native(const ChangeView& change, std::vector<std::string_view>& triggers, std::string& payload,
                     bool& has_payload) const;

  static constexpr std::uint32_t kNativeMapper = 0xFFFFFFFFu;

 private:
  struct Entry {
    std::uint32_t host_key = 0;  // 0 for native
    std::string native_name;
    NativeDeriver native = nullptr;
  };
  struct Kind {
    std::vector<Entry> entries;
    std::uint32_t mapper = 0;
    std::string native_mapper_name;
    NativePayloadMapper native_mapper = nullptr;
  };
  std::map<std::string, Kind, std::less<>> kinds_;
};

}  // namespace er
