#include "tools/cli/paths.h"

#include <filesystem>
#include <system_error>

#include <fmt/format.h>

namespace tfe::cli {
namespace {

namespace fs = std::filesystem;

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) {
    const bool same = fs::equivalent(a, b, ec);
    return !ec && same;
  }
  const fs::path x = fs::weakly_canonical(fs::absolute(a, ec), ec);
  if (ec) return a == b;
  const fs::path y = fs::weakly_canonical(fs::absolute(b, ec), ec);
  if (ec) return a == b;
  return x == y;
}

}  // namespace

std::string overlapping_paths(const std::vector<NamedPath>& inputs,
                              const std::vector<NamedPath>& outputs) {
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const NamedPath& out = outputs[i];
    if (out.path.empty()) continue;
    for (const NamedPath& in : inputs) {
      if (!in.path.empty() && same_file(out.path, in.path)) {
        return fmt::format("{} names the same file as {} ({}): it would be overwritten", out.option,
                           in.option, out.path);
      }
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (!outputs[j].path.empty() && same_file(out.path, outputs[j].path)) {
        return fmt::format("{} and {} name the same file ({})", outputs[j].option, out.option,
                           out.path);
      }
    }
  }
  return "";
}

std::vector<NamedPath> named(std::string_view option, const std::vector<std::string>& paths) {
  std::vector<NamedPath> out;
  out.reserve(paths.size());
  for (const std::string& p : paths) out.push_back({option, p});
  return out;
}

}  // namespace tfe::cli
