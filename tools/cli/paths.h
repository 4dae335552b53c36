#pragma once
// Output paths checked against the command's inputs and against each other before anything is
// opened: an output that names an input would truncate it (a history, a config, a model) before
// it is read, and two outputs that name one file would interleave.

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace tfe::cli {

struct NamedPath {
  std::string_view option;  // "--out", "--history", ...
  std::string path;         // empty: not given
};

// "" when every output names a file of its own, else one line naming the two options and the
// path. Existing files are compared by identity (links, "./a" and "a" alike), others by their
// normalised absolute paths.
std::string overlapping_paths(const std::vector<NamedPath>& inputs,
                              const std::vector<NamedPath>& outputs);

// Every path of `paths` under one option name.
std::vector<NamedPath> named(std::string_view option, const std::vector<std::string>& paths);

}  // namespace tfe::cli
