#pragma once
// Errors as values at every boundary (decoders, loaders, config, I/O).

#include <boost/outcome/result.hpp>
#include <boost/outcome/success_failure.hpp>
#include <string>
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

inline auto ok() { return boost::outcome_v2::success(); }

}  // namespace tfe
