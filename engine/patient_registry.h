#pragma once
// Interned patient ids: a dense PatientIndex per distinct id string, and the stable hash that
// routes a patient to its shard, splits patients for training, and names them in logs.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/event.h"

namespace tfe {

// Stable 64-bit hash of a patient id (FNV-1a with a splitmix64 finaliser): identical on every
// machine and run, so shard routing, data splits and log pseudonyms never change.
uint64_t patient_hash(std::string_view patient_id);

// Hex pseudonym for logs: patient ids never appear in logs in the clear.
std::string patient_pseudonym(std::string_view patient_id);

class PatientRegistry {
 public:
  PatientRegistry();
  ~PatientRegistry();
  PatientRegistry(const PatientRegistry&) = delete;
  PatientRegistry& operator=(const PatientRegistry&) = delete;

  // Single writer (the source thread). Amortised O(1).
  PatientIndex intern(std::string_view patient_id);
  // Safe from any thread for an index whose intern() happened-before (e.g. handed over through a
  // queue): entries never move once written.
  std::string_view id(PatientIndex p) const;
  uint64_t hash(PatientIndex p) const;
  std::size_t size() const { return size_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::size_t size_ = 0;
};

}  // namespace tfe
