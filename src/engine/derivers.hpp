// Delivery (SPEC §6): the outbound emitter buffer, subscriptions by kind and
// the change-deriver registry. Handlers and host derivers are JavaScript
// functions, so the core keeps keys for them and decides who runs; the
// binding calls the functions.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "engine/change.hpp"
#include "json/value.hpp"

namespace er {

// Events produced before an emitter is wired wait here, oldest first, at
// most `limit` of them; the oldest is dropped (with a warning) beyond that.
class EventBuffer {
 public:
  EventBuffer(std::size_t limit, std::function<void(const std::string&)> warn)
      : limit_(limit), warn_(std::move(warn)) {}

  bool wired() const { return wired_; }
  // Call for every committed change. Returns true when the caller should
  // deliver it now (wired and not flushing); otherwise the event (written by
  // `write`) is kept for the flush.
  bool publish(const std::function<void(std::string&)>& write);
  // Starts a flush: from now on, take() hands out the buffer in order, and
  // publishes during the flush are appended to it (delivered once, in order).
  void begin_wire();
  // The next buffered event, or nullopt when the flush is complete (the
  // emitter then counts as wired).
  std::optional<std::string> take();
  void unwire() { wired_ = false; flushing_ = false; }
  std::size_t size() const { return events_.size(); }
  std::size_t dropped() const { return dropped_; }

 private:
  std::deque<std::string> events_;
  std::size_t limit_;
  std::function<void(const std::string&)> warn_;
  bool wired_ = false;
  bool flushing_ = false;
  std::size_t dropped_ = 0;
};

enum class DeliveryMode { Broadcast, WorkQueue };

struct Subscription {
  std::uint32_t id = 0;
  std::string kind;
  DeliveryMode mode = DeliveryMode::Broadcast;
  std::string worker_group;
  std::uint32_t max_retries = 0;
};

class Subscriptions {
 public:
  // ER_BAD_KIND for an empty kind; ER_BAD_ARGUMENT for a work-queue
  // subscription without a non-empty worker group.
  Result<std::uint32_t> add(std::string_view kind, DeliveryMode mode, std::string_view worker_group,
                            std::uint32_t max_retries);
  bool remove(std::uint32_t id);  // idempotent: false when already gone
  const Subscription* find(std::uint32_t id) const;
  // Who handles a change of `kind` in this process: every broadcast
  // subscriber, and one subscriber per work-queue group (round robin).
  std::vector<std::uint32_t> route(std::string_view kind);
  std::vector<Subscription> list() const;

 private:
  std::map<std::uint32_t, Subscription> subs_;
  std::map<std::string, std::uint32_t> round_robin_;  // kind\0group -> turn
  std::uint32_t next_ = 1;
};

// A deriver: native (C++) or a host function known by key.
using NativeDeriver = std::function<std::vector<std::string>(const Change&)>;
using NativePayloadMapper = std::function<json::Value(const Change&)>;

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
  // (host returns an error) is skipped and reported to `on_error`.
  std::vector<std::string> derive(const Change& change,
                                  const std::function<Result<json::Value>(std::uint32_t key)>& call_host,
                                  const std::function<void(const Error&)>& on_error) const;

  // True when every deriver and mapper of `kind` is native, so a change can
  // be derived in the core without calling the host.
  bool all_native(std::string_view kind) const;
  bool has_derivers(std::string_view kind) const;
  // The mapper of a kind: 0 = none, kNativeMapper = native, else host key.
  std::uint32_t mapper_key(std::string_view kind) const;
  // Runs the native mapper; nullopt when the kind has no native mapper.
  std::optional<json::Value> native_payload(const Change& change) const;

  static constexpr std::uint32_t kNativeMapper = 0xFFFFFFFFu;

 private:
  struct Entry {
    std::uint32_t host_key = 0;  // 0 for native
    std::string native_name;
    NativeDeriver native;
  };
  struct Kind {
    std::vector<Entry> entries;
    std::uint32_t mapper = 0;
    std::string native_mapper_name;
    NativePayloadMapper native_mapper;
  };
  std::map<std::string, Kind, std::less<>> kinds_;
};

}  // namespace er
