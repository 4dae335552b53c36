#pragma once
// Errors as values at every boundary (decoders, loaders, config, I/O).

#include <boost/outcome/result.hpp>
#include <boost/outcome/success_failure.hpp>
#include <string>
#include <string_view>
#include <utility>

namespace tfe {

enum class Errc {
  invalid_argument,  // a caller passed something malformed
  io,                // a file or socket could not be read or written
  parse,             // input text or bytes do not follow their format
  schema,            // well-formed input that does not match the configured schema
  config,            // a configuration value is missing or out of range
  unsupported,       // a version or feature this build does not handle
};

struct Error {
  Errc code;
  std::string message;  // one line, names the field or position; never patient payload
};

template <class T>
using Result = boost::outcome_v2::basic_result<T, Error, boost::outcome_v2::policy::terminate>;

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }

// A string from outside input as an error message may quote it: printable ASCII as is, a
// backslash doubled, any other byte as \xHH, and at most its first max_bytes bytes (then "..."),
// so that the message stays one line whatever the input held.
inline std::string quoted_text(std::string_view text, std::size_t max_bytes = 64) {
  constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < max_bytes; ++i) {
    const auto u = static_cast<unsigned char>(text[i]);
    if (u == '\\') {
      out += "\\\\";
    } else if (u >= 0x20 && u < 0x7f) {
      out.push_back(static_cast<char>(u));
    } else {
      out += "\\x";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  if (text.size() > max_bytes) out += "...";
  return out;
}

inline auto ok() { return boost::outcome_v2::success(); }

}  // namespace tfe
