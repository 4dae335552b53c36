#include "connectors/score_json.h"

#include "connectors/json_write.h"

namespace tfe {

ScoreJsonFormat::ScoreJsonFormat(const ModalitySchema& schema, const ScorerSpec& spec) {
  scorer_ = ",\"strategy\":";
  json::append_string(scorer_, spec.strategy);
  scorer_ += ",\"model\":{\"name\":";
  json::append_string(scorer_, spec.model_name);
  scorer_ += ",\"id\":";
  json::append_string(scorer_, spec.model_id);
  scorer_ += "},\"modalities\":{";
  for (std::size_t m = 0; m < schema.size(); ++m) {
    std::string key = m ? "," : "";
    json::append_string(key, schema[static_cast<ModalityIndex>(m)].name);
    key += ":{\"present\":";
    modality_keys_.push_back(std::move(key));
  }
}

void ScoreJsonFormat::append(std::string& out, const ScoreRecord& score,
                             const PatientRegistry& registry) const {
  out += "{\"patient_id\":";
  json::append_string(out, registry.id(score.patient));
  out += ",\"score_time\":";
  json::append_int(out, score.score_time_ms);
  out += ",\"risk\":";
  json::append_double(out, score.risk);
  out += ",\"logit\":";
  json::append_double(out, score.logit);
  out += scorer_;
  for (std::size_t m = 0; m < modality_keys_.size(); ++m) {
    const ModalityScoreInfo& info = score.modalities[m];
    out += modality_keys_[m];
    if (info.present) {
      out += "true,\"age_ms\":";
      json::append_int(out, info.age_ms);
    } else {
      out += "false,\"age_ms\":null";
    }
    out += ",\"weight\":";
    json::append_float(out, info.weight);
    out += '}';
  }
  out += "}}";
}

}  // namespace tfe
