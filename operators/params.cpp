#include "operators/params.h"

#include <cassert>

namespace tfe {

TensorRef ParamSet::add(std::string name, uint32_t rows, uint32_t cols) {
  assert(!find(name) && "tensor names are unique within a ParamSet");
  TensorRef ref{static_cast<uint32_t>(size_), rows, cols};
  size_ += std::size_t{rows} * cols;
  tensors_.push_back(TensorInfo{std::move(name), ref});
  return ref;
}

std::optional<TensorRef> ParamSet::find(std::string_view name) const {
  for (const TensorInfo& t : tensors_) {
    if (t.name == name) return t.ref;
  }
  return std::nullopt;
}

}  // namespace tfe
