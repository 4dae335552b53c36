#pragma once
// Parameter storage: every tensor of a model lives in one contiguous float buffer, addressed by a
// named table of (offset, rows, cols). A trainer allocates a gradient buffer of the same size and
// uses the same offsets; an optimiser walks the buffer as one flat vector.
//
// Matrices are row-major [rows][cols] (rows = outputs, cols = inputs); vectors have cols = 1.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tfe {

// A tensor's place in its ParamSet buffer.
struct TensorRef {
  uint32_t offset = 0;  // floats from the start of the buffer
  uint32_t rows = 0;
  uint32_t cols = 0;
  uint32_t size() const { return rows * cols; }
  bool operator==(const TensorRef&) const = default;
};

// y = W x (+ b): W [rows][cols] at w, optional bias [rows] at b.
struct LinearRef {
  TensorRef w;
  std::optional<TensorRef> b;
  uint32_t out() const { return w.rows; }
  uint32_t in() const { return w.cols; }
};

struct TensorInfo {
  std::string name;
  TensorRef ref;
  bool operator==(const TensorInfo&) const = default;
};

class ParamSet {
 public:
  // Declares a tensor at the end of the buffer. Names are unique (a duplicate is a programmer
  // error). Values exist after allocate(), so a caller can check size() first.
  TensorRef add(std::string name, uint32_t rows, uint32_t cols);
  // Zero-filled storage for every declared tensor.
  void allocate() { values_.assign(size_, 0.0f); }

  std::span<float> values() { return values_; }
  std::span<const float> values() const { return values_; }
  std::span<float> view(TensorRef t) {
    return std::span<float>(values_).subspan(t.offset, t.size());
  }
  std::span<const float> view(TensorRef t) const {
    return std::span<const float>(values_).subspan(t.offset, t.size());
  }

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  std::optional<TensorRef> find(std::string_view name) const;
  std::size_t size() const { return size_; }  // floats declared

  bool operator==(const ParamSet&) const = default;

 private:
  std::vector<TensorInfo> tensors_;
  std::vector<float> values_;
  std::size_t size_ = 0;
};

}  // namespace tfe
