#pragma once
// A minimal JSON writer for the report files: keys come out in the order they are written (so the
// output is stable), numbers in a locale-independent format with a fixed number of significant
// digits (NaN and infinities become null), strings escaped per RFC 8259. Objects and arrays are
// indented; an array opened compact stays on one line (curve points, time series).

#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/json_write.h"

namespace tfe::report {

class JsonWriter {
 public:
  JsonWriter& begin_object() { return open('{', false); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array(bool compact = false) { return open('[', compact); }
  JsonWriter& end_array() { return close(']'); }

  JsonWriter& key(std::string_view name) {
    separate();
    string_literal(name);
    out_ += compact() ? ":" : ": ";
    after_key_ = true;
    return *this;
  }

  JsonWriter& value(std::string_view text) {
    separate();
    string_literal(text);
    return *this;
  }
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }

  template <std::integral T>
  JsonWriter& value(T v) {
    separate();
    if constexpr (std::same_as<T, bool>) {
      out_ += v ? "true" : "false";
    } else {
      char buf[32];
      const auto r = std::to_chars(buf, buf + sizeof buf, v);
      out_.append(buf, r.ptr);
    }
    return *this;
  }

  // A double with `significant` significant digits (shortest form: 0.5, 1e-07, 12.3457);
  // kRoundTrip: the shortest form that reads back as the same double (0.1, 0.30000049).
  static constexpr int kRoundTrip = 0;
  JsonWriter& number(double v, int significant = 6) {
    separate();
    if (!std::isfinite(v)) {
      out_ += "null";
      return *this;
    }
    if (v == 0) v = 0;  // no "-0"
    char buf[64];
    const auto r =
        significant == kRoundTrip
            ? std::to_chars(buf, buf + sizeof buf, v)
            : std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, significant);
    out_.append(buf, r.ptr);
    return *this;
  }

  JsonWriter& null() {
    separate();
    out_ += "null";
    return *this;
  }

  // The document so far (complete once every object and array is closed), ending in a newline.
  std::string str() const { return out_ + "\n"; }

 private:
  struct Frame {
    bool compact = false;
    bool empty = true;
  };

  bool compact() const { return !stack_.empty() && stack_.back().compact; }

  JsonWriter& open(char bracket, bool compact_array) {
    separate();
    out_ += bracket;
    stack_.push_back({compact_array || compact(), true});
    return *this;
  }

  JsonWriter& close(char bracket) {
    const Frame frame = stack_.back();
    stack_.pop_back();
    if (!frame.compact && !frame.empty) newline();
    out_ += bracket;
    return *this;
  }

  // Comma and line break before a value or key, except right after a key.
  void separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (stack_.empty()) return;
    Frame& frame = stack_.back();
    if (!frame.empty) out_ += ",";
    frame.empty = false;
    if (!frame.compact) newline();
  }

  void newline() {
    out_ += '\n';
    out_.append(2 * stack_.size(), ' ');
  }

  // One escaping rule for every JSON tfe writes (invalid UTF-8 becomes U+FFFD).
  void string_literal(std::string_view text) { json::append_string(out_, text); }

  std::string out_;
  std::vector<Frame> stack_;
  bool after_key_ = false;
};

}  // namespace tfe::report
