#include "engine/delivery.hpp"

#include <algorithm>

namespace er {

bool EventBuffer::publish(const std::function<void(std::string&)>& write) {
  if (wired_ && !flushing_) return true;
  std::string event;
  write(event);
  events_.push_back(std::move(event));
  if (events_.size() > limit_) {
    events_.pop_front();
    ++dropped_;
    if (warn_) {
      warn_("entity-reactor: emitter buffer is full (" + std::to_string(limit_) +
            " events); dropped the oldest unwired event (" + std::to_string(dropped_) + " dropped so far)");
    }
  }
  return false;
}

void EventBuffer::begin_wire() {
  wired_ = true;
  flushing_ = true;
}

std::optional<std::string> EventBuffer::take() {
  if (events_.empty()) {
    flushing_ = false;
    return std::nullopt;
  }
  std::string e = std::move(events_.front());
  events_.pop_front();
  return e;
}

Result<std::uint32_t> Subscriptions::add(std::string_view kind, DeliveryMode mode, std::string_view worker_group,
                                         std::uint32_t max_retries) {
  if (kind.empty()) return make_error(Code::ER_BAD_KIND, "onEntityChanged: kind must be a non-empty string");
  if (mode == DeliveryMode::WorkQueue && worker_group.empty())
    return make_error(Code::ER_BAD_ARGUMENT,
                      "onEntityChanged: work-queue delivery needs a non-empty workerGroup (kind \"" +
                          std::string(kind) + "\")");
  Subscription s;
  s.id = next_++;
  s.kind = kind;
  s.mode = mode;
  if (mode == DeliveryMode::WorkQueue) s.worker_group = worker_group;
  s.max_retries = max_retries;
  subs_.emplace(s.id, s);
  return s.id;
}

bool Subscriptions::remove(std::uint32_t id) { return subs_.erase(id) != 0; }

const Subscription* Subscriptions::find(std::uint32_t id) const {
  auto it = subs_.find(id);
  return it == subs_.end() ? nullptr : &it->second;
}

std::vector<std::uint32_t> Subscriptions::route(std::string_view kind) {
  std::vector<std::uint32_t> out;
  std::map<std::string, std::vector<std::uint32_t>> groups;
  for (const auto& [id, s] : subs_) {
    if (s.kind != kind) continue;
    if (s.mode == DeliveryMode::Broadcast) {
      out.push_back(id);
    } else {
      groups[s.worker_group].push_back(id);
    }
  }
  for (auto& [group, members] : groups) {
    std::string key(kind);
    key += '\0';
    key += group;
    std::uint32_t& turn = round_robin_[key];
    out.push_back(members[turn % members.size()]);
    ++turn;
  }
  return out;
}

std::vector<Subscription> Subscriptions::list() const {
  std::vector<Subscription> out;
  for (const auto& [id, s] : subs_) out.push_back(s);
  return out;
}

Result<void> DeriverRegistry::add_host(std::string_view kind, std::uint32_t deriver_key, std::uint32_t mapper_key) {
  if (kind.empty()) return make_error(Code::ER_BAD_KIND, "registerChangeDeriver: kind must be a non-empty string");
  if (deriver_key == 0) return make_error(Code::ER_BAD_ARGUMENT, "registerChangeDeriver: derive must be a function");
  auto& k = kinds_[std::string(kind)];
  if (mapper_key != 0) {
    if (k.mapper != 0 && k.mapper != mapper_key)
      return make_error(Code::ER_DUPLICATE_MAPPER,
                        "registerChangeDeriver: kind \"" + std::string(kind) + "\" already has a different payload mapper");
  }
  const bool known = std::any_of(k.entries.begin(), k.entries.end(),
                                 [&](const Entry& e) { return e.host_key == deriver_key; });
  if (!known) k.entries.push_back(Entry{deriver_key, {}, {}});
  if (mapper_key != 0) k.mapper = mapper_key;
  return Ok{};
}

Result<void> DeriverRegistry::add_native(std::string_view kind, std::string_view name, NativeDeriver derive,
                                         NativePayloadMapper to_payload) {
  if (kind.empty()) return make_error(Code::ER_BAD_KIND, "registerChangeDeriver: kind must be a non-empty string");
  auto& k = kinds_[std::string(kind)];
  if (to_payload) {
    const bool same = k.mapper == kNativeMapper && k.native_mapper_name == name;
    if (k.mapper != 0 && !same)
      return make_error(Code::ER_DUPLICATE_MAPPER,
                        "registerChangeDeriver: kind \"" + std::string(kind) + "\" already has a different payload mapper");
  }
  const bool known = std::any_of(k.entries.begin(), k.entries.end(),
                                 [&](const Entry& e) { return e.host_key == 0 && e.native_name == name; });
  if (!known) k.entries.push_back(Entry{0, std::string(name), std::move(derive)});
  if (to_payload) {
    k.mapper = kNativeMapper;
    k.native_mapper_name = name;
    k.native_mapper = std::move(to_payload);
  }
  return Ok{};
}

std::vector<std::string> DeriverRegistry::derive(const Change& change,
                                                 const std::function<Result<json::Value>(std::uint32_t)>& call_host,
                                                 const std::function<void(const Error&)>& on_error) const {
  std::vector<std::string> out;
  auto it = kinds_.find(change.kind);
  if (it == kinds_.end()) return out;
  auto add = [&](const std::string& id) {
    if (!id.empty() && std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  };
  for (const auto& e : it->second.entries) {
    if (e.host_key == 0) {
      if (e.native)
        for (const auto& id : e.native(change)) add(id);
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

std::optional<json::Value> DeriverRegistry::native_payload(const Change& change) const {
  auto it = kinds_.find(change.kind);
  if (it == kinds_.end() || it->second.mapper != kNativeMapper) return std::nullopt;
  return it->second.native_mapper(change);
}

}  // namespace er
