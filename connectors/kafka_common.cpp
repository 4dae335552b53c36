// Shared pieces of the librdkafka wrappers.

#include "connectors/kafka_common.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace tfe::kafka {

Error kafka_error(rd_kafka_resp_err_t err, std::string_view context) {
  return make_error(Errc::io, fmt::format("kafka: {}: {} ({})", context, rd_kafka_err2str(err),
                                          rd_kafka_err2name(err)));
}

Error kafka_error(const rd_kafka_error_t* err, std::string_view context) {
  return make_error(Errc::io, fmt::format("kafka: {}: {} ({})", context, rd_kafka_error_string(err),
                                          rd_kafka_error_name(err)));
}

Error stopped_error(std::string_view what) {
  return make_error(Errc::io, fmt::format("kafka: {}: given up, stopping", what));
}

namespace detail {
namespace {

// The first slice of a blocking request that notices stops, and the longest one.
constexpr int kFirstSliceMs = 250;
constexpr int kLongestSliceMs = 8'000;

// librdkafka's log lines (syslog levels) through spdlog, so that they share the service's format.
// Called from librdkafka's threads; spdlog's default logger is thread-safe.
void print_line(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  // Properties meant for another client type are reported per client: not worth a warning.
  const bool config_note = std::string_view(facility) == "CONFWARN";
  spdlog::level::level_enum l = spdlog::level::debug;
  if (level <= 3) {
    l = spdlog::level::err;
  } else if (level == 4) {
    l = config_note ? spdlog::level::debug : spdlog::level::warn;
  } else if (level <= 6) {
    l = spdlog::level::info;
  }
  spdlog::log(l, "kafka {} {}: {}", rk ? rd_kafka_name(rk) : "", facility, message);
}

void log_trampoline(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  auto* log = rk ? static_cast<ClientLog*>(rd_kafka_opaque(rk)) : nullptr;
  if (log) {
    log->line(rk, level, facility, message);
  } else {
    print_line(rk, level, facility, message);
  }
}

}  // namespace

void ClientLog::line(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  // syslog levels: 3 error, 4 warning. A command keeps errors back for its one error line, prints
  // warnings, and stays as quiet below them as a service's log would be at its default.
  constexpr int kError = 3, kWarning = 4;
  if (lines_ == LogLines::print) {
    print_line(rk, level, facility, message);
    return;
  }
  if (level > kError) {
    if (level <= kWarning) print_line(rk, level, facility, message);
    return;
  }
  std::string_view text = message ? message : "";
  // "[thrd:NAME]: " says which librdkafka thread logged: noise in a command's error line.
  if (text.starts_with("[thrd:")) {
    if (const auto end = text.find("]: "); end != std::string_view::npos)
      text.remove_prefix(end + 3);
  }
  const std::lock_guard lock(mutex_);
  last_error_.assign(text);
}

std::string ClientLog::last_error() const {
  const std::lock_guard lock(mutex_);
  return last_error_;
}

Error with_last_log_error(Error error, const ClientLog& log) {
  if (std::string last = log.last_error(); !last.empty()) {
    error.message += fmt::format("; librdkafka's last error: {}", last);
  }
  return error;
}

std::optional<Error> fatal_error(rd_kafka_t* rk, std::string_view client) {
  std::array<char, 512> text{};
  const rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk, text.data(), text.size());
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  return make_error(Errc::io, fmt::format("kafka: {} fatal error: {} ({})", client, text.data(),
                                          rd_kafka_err2name(err)));
}

Result<ConfPtr> make_conf(const Properties& properties, ClientLog* log) {
  ConfPtr conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), &log_trampoline);
  if (log) rd_kafka_conf_set_opaque(conf.get(), log);
  std::array<char, 512> err{};
  for (const auto& [key, value] : properties) {
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), err.data(), err.size()) !=
        RD_KAFKA_CONF_OK) {
      // The value is not repeated, and is cut out of librdkafka's text (which quotes it for a
      // property of fixed choices): a mistyped or misplaced property may be holding a password.
      std::string reason = err.data();
      constexpr std::string_view kCut = "<value>";
      if (!value.empty()) {
        for (auto at = reason.find(value); at != std::string::npos;
             at = reason.find(value, at + kCut.size())) {
          reason.replace(at, value.size(), kCut);
        }
      }
      return make_error(Errc::config, fmt::format("kafka property '{}': {}", quoted_text(key),
                                                  quoted_text(reason, err.size())));
    }
  }
  return conf;
}

Result<HandlePtr> make_handle(rd_kafka_type_t type, ConfPtr conf) {
  std::array<char, 512> err{};
  // rd_kafka_new takes ownership of conf only on success.
  HandlePtr rk(rd_kafka_new(type, conf.get(), err.data(), err.size()));
  if (!rk)
    return make_error(Errc::config, fmt::format("kafka: cannot create client: {}", err.data()));
  (void)conf.release();
  return rk;
}

ListPtr to_list(const TopicPartitions& partitions) {
  ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const TopicPartition& tp : partitions) {
    rd_kafka_topic_partition_t* e =
        rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
    e->offset = tp.offset;
    if (!tp.metadata.empty()) {
      // The list frees its elements' metadata with free().
      e->metadata = std::malloc(tp.metadata.size());
      std::memcpy(e->metadata, tp.metadata.data(), tp.metadata.size());
      e->metadata_size = tp.metadata.size();
    }
  }
  return list;
}

TopicPartitions from_list(const rd_kafka_topic_partition_list_t* list) {
  TopicPartitions out;
  if (list == nullptr) return out;
  out.reserve(static_cast<std::size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& e = list->elems[i];
    TopicPartition& tp = out.emplace_back();
    tp.topic = e.topic;
    tp.partition = e.partition;
    tp.offset = e.offset;
    if (e.metadata != nullptr && e.metadata_size > 0) {
      tp.metadata.assign(static_cast<const char*>(e.metadata), e.metadata_size);
    }
    tp.err = e.err;
  }
  return out;
}

Result<TopicLeadership> topic_leadership(rd_kafka_t* rk, rd_kafka_topic_t* handle,
                                         const std::string& topic, int timeout_ms,
                                         const KeepGoing& keep_going) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  const rd_kafka_metadata_t* md = nullptr;
  int slice = kFirstSliceMs;
  for (;;) {
    const int64_t left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    const int wait =
        keep_going ? static_cast<int>(std::clamp<int64_t>(left, 1, slice)) : timeout_ms;
    const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, handle, &md, wait);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    // _TRANSPORT: no broker to ask within the slice; _TIMED_OUT: no answer within it.
    const bool again = err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__TIMED_OUT;
    if (!keep_going || !again || Clock::now() >= deadline) {
      return kafka_error(err, fmt::format("metadata of topic '{}'", topic));
    }
    if (!keep_going()) return stopped_error(fmt::format("metadata of topic '{}'", topic));
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) slice = std::min(2 * slice, kLongestSliceMs);
  }
  std::unique_ptr<const rd_kafka_metadata_t, decltype(&rd_kafka_metadata_destroy)> owned(
      md, &rd_kafka_metadata_destroy);
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) return TopicLeadership{};
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return kafka_error(t.err, fmt::format("metadata of topic '{}'", topic));
    }
    TopicLeadership out{t.partition_cnt, t.partition_cnt > 0};
    for (int p = 0; p < t.partition_cnt; ++p) {
      out.every_partition_led = out.every_partition_led && t.partitions[p].leader >= 0;
    }
    return out;
  }
  return TopicLeadership{};
}

Result<int32_t> partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms,
                                const KeepGoing& keep_going) {
  // A topic handle restricts the metadata request to this topic (and does not create it).
  std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> handle(
      rd_kafka_topic_new(rk, topic.c_str(), nullptr), &rd_kafka_topic_destroy);
  if (!handle) return kafka_error(rd_kafka_last_error(), fmt::format("topic '{}'", topic));
  auto leadership = topic_leadership(rk, handle.get(), topic, timeout_ms, keep_going);
  if (!leadership) return leadership.error();
  return leadership.value().partitions;
}

}  // namespace detail
}  // namespace tfe::kafka
