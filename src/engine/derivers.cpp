#include "engine/derivers.hpp"

#include <algorithm>

namespace er {

namespace {
bool blank(std::string_view s) { return s.find_first_not_of(" \t\n\r\f\v") == std::string_view::npos; }
}  // namespace

Result<void> DeriverRegistry::add_host(std::string_view kind, std::uint32_t deriver_key, std::uint32_t mapper_key) {
  if (blank(kind)) return make_error(Code::ER_BAD_KIND, "registerChangeDeriver: kind must be a non-empty string");
  if (deriver_key == 0) return make_error(Code::ER_BAD_ARGUMENT, "registerChangeDeriver: derive must be a function");
  auto& k = kinds_[std::string(kind)];
  if (mapper_key != 0) {
    if (k.mapper != 0 && k.mapper != mapper_key)
      return make_error(Code::ER_DUPLICATE_MAPPER, "registerChangeDeriver: kind \"" + std::string(kind) +
                                                       "\" already has a different payload mapper");
  }
  const bool known =
      std::any_of(k.entries.begin(), k.entries.end(), [&](const Entry& e) { return e.host_key == deriver_key; });
  if (!known) k.entries.push_back(Entry{deriver_key, {}, {}});
  if (mapper_key != 0) k.mapper = mapper_key;
  return Ok{};
}

Result<void> DeriverRegistry::add_native(std::string_view kind, std::string_view name, NativeDeriver derive,
                                         NativePayloadMapper to_payload) {
  if (blank(kind)) return make_error(Code::ER_BAD_KIND, "registerChangeDeriver: kind must be a non-empty string");
  auto& k = kinds_[std::string(kind)];
  if (to_payload) {
    const bool same = k.mapper == kNativeMapper && k.native_mapper_name == name;
    if (k.mapper != 0 && !same)
      return make_error(Code::ER_DUPLICATE_MAPPER, "registerChangeDeriver: kind \"" + std::string(kind) +
                                                       "\" already has a different payload mapper");
  }
  const bool known = std::any_of(k.entries.begin(), k.entries.end(),
                                 [&](const Entry& e) { return e.host_key == 0 && e.native_name == name; });
  if (!known) k.entries.push_back(Entry{0, std::string(name), derive});
  if (to_payload) {
    k.mapper = kNativeMapper;
    k.native_mapper_name = name;
    k.native_mapper = to_payload;
  }
  return Ok{};
}

std::vector<std::string> DeriverRegistry::derive(const ChangeView& change,
                                                 const std::function<Result<json::Value>(std::uint32_t)>& call_host,
                                                 const std::function<void(const Error&)>& on_error) const {
  std::vector<std::string> out;
  auto add = [&](std::string_view id) {
    if (!id.empty() && std::find(out.begin(), out.end(), id) == out.end()) out.emplace_back(id);
  };
  std::vector<std::string_view> native;
  // Index, not iterator: a host deriver may register derivers for this kind
  // while it runs, which can reallocate the entries. Those count from the
  // next call on.
  auto it = kinds_.find(change.kind);
  if (it == kinds_.end()) return out;
  const std::size_t count = it->second.entries.size();
  for (std::size_t i = 0; i < count; ++i) {
    const Entry e = it->second.entries[i];  // a copy: the vector may move
    if (e.host_key == 0) {
      native.clear();
      if (e.native) e.native(change, native);
      for (std::string_view id : native) add(id);
      continue;
    }
    if (!call_host) continue;
    auto r = call_host(e.host_key);
    if (!r.ok()) {
      if (on_error) on_error(r.error());
      continue;
    }
    if (!r->is_array()) continue;  // a deriver that returns no list adds nothing
    for (const auto& v : r->as_array())
      if (v.is_string()) add(v.as_string());
  }
  return out;
}

bool DeriverRegistry::derive_native(const ChangeView& change, std::vector<std::string_view>& triggers,
                                    std::string& payload, bool& has_payload) const {
  triggers.clear();
  has_payload = false;
  auto it = kinds_.find(change.kind);
  if (it == kinds_.end() || it->second.entries.empty()) return false;
  const Kind& k = it->second;
  if (k.mapper != 0 && k.mapper != kNativeMapper) return false;
  for (const Entry& e : k.entries)
    if (e.host_key != 0) return false;
  std::size_t start = 0;
  for (const Entry& e : k.entries) {
    if (!e.native) continue;
    e.native(change, triggers);
    // First occurrence kept, empty ids dropped.
    for (std::size_t i = start; i < triggers.size();) {
      const auto end_of_seen = triggers.begin() + static_cast<std::ptrdiff_t>(i);
      if (triggers[i].empty() || std::find(triggers.begin(), end_of_seen, triggers[i]) != end_of_seen)
        triggers.erase(end_of_seen);
      else
        ++i;
    }
    start = triggers.size();
  }
  if (k.mapper == kNativeMapper && k.native_mapper) {
    k.native_mapper(change, payload);
    has_payload = true;
  }
  return true;
}

bool DeriverRegistry::all_native(std::string_view kind) const {
  auto it = kinds_.find(kind);
  if (it == kinds_.end()) return true;
  const auto& k = it->second;
  if (k.mapper != 0 && k.mapper != kNativeMapper) return false;
  return std::all_of(k.entries.begin(), k.entries.end(), [](const Entry& e) { return e.host_key == 0; });
}

bool DeriverRegistry::has_derivers(std::string_view kind) const {
  auto it = kinds_.find(kind);
  return it != kinds_.end() && !it->second.entries.empty();
}

std::uint32_t DeriverRegistry::mapper_key(std::string_view kind) const {
  auto it = kinds_.find(kind);
  return it == kinds_.end() ? 0 : it->second.mapper;
}

bool DeriverRegistry::native_payload(const ChangeView& change, std::string& out) const {
  auto it = kinds_.find(change.kind);
  if (it == kinds_.end() || it->second.mapper != kNativeMapper || !it->second.native_mapper) return false;
  it->second.native_mapper(change, out);
  return true;
}

}  // namespace er
