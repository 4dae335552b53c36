#pragma once
// A score as its JSON object, the one formatting shared by every score output (file, Kafka).
// Keys in fixed order, numbers in shortest round-trip form, so that score files are
// byte-comparable across runs, shard counts and input formats:
//
//   {"patient_id":"P1","score_time":1700000060000,"risk":0.0474,"logit":-2.9997,
//    "strategy":"news2","model":{"name":"news2","id":""},
//    "modalities":{"wearables":{"present":true,"age_ms":1000,"weight":1},
//                  "notes":{"present":false,"age_ms":null,"weight":0}, ...}}
//
// Modalities come in schema order under "modalities" (so that a modality name never collides with
// a top-level key); an absent modality has age_ms null. risk and logit are doubles, weight a float;
// a non-finite number is written as null.

#include <string>
#include <vector>

#include "engine/modality.h"
#include "engine/patient_registry.h"
#include "engine/score.h"
#include "engine/scorer.h"

namespace tfe {

class ScoreJsonFormat {
 public:
  // Precomputes the constant fragments (strategy, model, modality keys).
  ScoreJsonFormat(const ModalitySchema& schema, const ScorerSpec& spec);
  // Appends the JSON object of `score` (no newline). The patient id comes from `registry`.
  void append(std::string& out, const ScoreRecord& score, const PatientRegistry& registry) const;

 private:
  std::string scorer_;                      // ,"strategy":...,"modalities":{
  std::vector<std::string> modality_keys_;  // [schema.size()]: "name":{"present":
};

}  // namespace tfe
