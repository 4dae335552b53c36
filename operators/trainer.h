#pragma once
// Training a fusion model from recorded examples: statistics fitting (vitals normalisation, text
// IDF) on the training split, minibatch Adam with decoupled weight decay, gradient clipping,
// class weighting, modality masking, early stopping on validation AUPRC, and Platt (or isotonic)
// calibration on the validation split. See docs/training.md.
//
// Inputs:  an ExampleSet (raw features of every scoring tick, as the pipeline produced them,
//          labelled and split by patient), a FusionModel with initial weights, TrainOptions.
// Outputs: the model's weights, statistics and calibration; a TrainSummary.
// Deterministic: the same examples, options and seed give the same weights bit for bit, whatever
// the thread count. Gradients are computed in fixed chunks of examples (one buffer per chunk)
// and summed in chunk order; masking draws depend on (seed, epoch, example) only.

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/event.h"
#include "engine/result.h"
#include "operators/fusion_backward.h"
#include "operators/fusion_forward.h"
#include "operators/fusion_model.h"

namespace tfe {

enum class Split : uint8_t { train, validation, test };

// One token of an example: a modality's latest state, or (attention, history_k > 1) one of its
// recent events, newest first.
struct ExampleItem {
  int64_t age_ms = 0;  // score time - event time
  uint32_t row = 0;    // raw features: ExampleSet::rows[modality], row `row`
  uint8_t modality = 0;
};

struct Example {
  PatientIndex patient = 0;
  int64_t time_ms = 0;      // score time
  uint32_t first_item = 0;  // items [first_item, next example's first_item), modality order
  uint8_t label = 0;        // 1: an outcome follows within the horizon
  Split split = Split::train;
};

// Raw features are pooled per modality: an unchanged note or image is stored once however many
// ticks see it.
struct ExampleSet {
  std::vector<uint32_t> dims;            // [modality]: raw feature width
  std::vector<std::vector<float>> rows;  // [modality][row * dim + i]
  std::vector<Example> examples;         // sorted by (patient, time_ms)
  std::vector<ExampleItem> items;

  explicit ExampleSet(const ModelSchema& schema);
  ExampleSet() = default;

  std::span<const ExampleItem> items_of(std::size_t e) const;
  std::span<const float> row(std::size_t m, uint32_t r) const {
    return std::span<const float>(rows[m]).subspan(std::size_t{r} * dims[m], dims[m]);
  }
  uint32_t row_count(std::size_t m) const {
    return dims[m] == 0 ? 0 : static_cast<uint32_t>(rows[m].size() / dims[m]);
  }
  // Appends a row of modality m; returns its index.
  uint32_t add_row(std::size_t m, std::span<const float> features);
  // Bit m set: modality m has at least one item in example e.
  uint32_t present_mask(std::size_t e) const;
  std::vector<uint32_t> indices(Split split) const;
};

struct TrainOptions {
  uint32_t epochs = 20;
  uint32_t batch = 256;
  double learning_rate = 1e-3;
  // Decoupled (AdamW), on weight matrices only: each step multiplies them by
  // 1 - learning_rate * weight_decay. Strong by default: a patient-constant note or image is
  // otherwise memorised (docs/training.md, "Regularisation").
  double weight_decay = 1.0;
  double clip_norm = 5.0;      // global gradient norm; 0: no clipping
  double positive_weight = 0;  // loss weight of positives; 0: negatives / positives (train)
  uint32_t patience = 3;       // epochs without a better validation AUPRC before stopping
  // Drop probability of each present modality in training (never all of them); empty or zero:
  // no masking. [modality]
  std::vector<double> masking;
  uint64_t seed = 1;
  uint32_t threads = 0;  // 0: every core
};

// Training throughput: examples through forward, backward and the optimiser step per second of
// the training passes that took them (wall time, every thread). Validation is not part of it, so
// that the figure is the trainer's speed, comparable between epochs and data sets.
double training_rate(uint64_t examples, double train_seconds);

struct EpochReport {
  uint32_t epoch = 0;  // 1-based
  uint32_t epochs = 0;
  double loss = 0;                // mean weighted training loss
  uint64_t examples = 0;          // training examples of the epoch
  double train_seconds = 0;       // the training pass: forward, backward, optimiser steps
  double validation_seconds = 0;  // the validation pass after it: logits and metrics
  double examples_per_s = 0;      // training_rate(examples, train_seconds)
  double val_auroc = 0;
  double val_auprc = 0;
  bool improved = false;
};

// Metrics come from the caller (operators/ stays free of the report library).
using RankMetric =
    std::function<double(std::span<const double> score, std::span<const uint8_t> label)>;
struct TrainHooks {
  RankMetric auroc;
  RankMetric auprc;
  std::function<void(const EpochReport&)> on_epoch;  // may be empty
};

struct TrainSummary {
  uint32_t epochs_run = 0;
  uint32_t best_epoch = 0;
  double best_val_auprc = 0;
  double best_val_auroc = 0;
  double positive_weight = 0;
  uint64_t train_examples = 0;
  uint64_t validation_examples = 0;
  double seconds = 0;
  double examples_per_s = 0;  // training_rate over every epoch's training pass
};

// The modalities example `example` keeps in epoch `epoch`: each present one (bit set in
// `present`) is dropped with probability p[m], never all of them (then one, drawn uniformly,
// stays). Depends on (seed, epoch, example) only.
uint32_t masking_keep(uint32_t present, const std::vector<double>& p, uint64_t seed, uint32_t epoch,
                      uint32_t example);

// Fits vitals mean/std and text IDF on the training split (docs/training.md).
void fit_statistics(FusionModel& model, const ExampleSet& data);

// Whether AdamW decays a weight tensor, by its role: the `.w` matrix of every linear map
// (feature projections, encoder layers, timing projections, attention key and value, head
// layers), whatever its shape. Biases, presence vectors, gates, modality embeddings, the
// attention query and the Time2Vec vectors (`time.<m>.w`, `time.<m>.b`) are not decayed.
bool weight_decays(const TensorInfo& tensor);

// Both fits leave out pairs whose logit is not a finite float.
// Platt scaling: sigmoid(a * logit + b) by damped Newton on the log loss; a >= 1e-3 (never
// reverses the order of the logits).
Calibration fit_platt(std::span<const double> logit, std::span<const uint8_t> label);
// Isotonic: pool-adjacent-violators over groups of equal logits sorted ascending (tied logits
// share one step); logits beyond kMaxCalibrationMagnitude count as at it, so that every
// threshold is one a model file may hold.
Calibration fit_isotonic(std::span<const double> logit, std::span<const uint8_t> label);

// Trains the weights in place (statistics fitted first, calibration last). Fails when the
// training or validation split has no positive or no negative example.
Result<TrainSummary> train_model(FusionModel& model, const ExampleSet& data,
                                 const TrainOptions& options, const TrainHooks& hooks);

// Logits of examples (with the modalities in drop_mask removed), in parallel; out[i] is the
// logit of examples[i]. threads 0: every core.
void predict_logits(const FusionModel& model, const ExampleSet& data,
                    std::span<const uint32_t> examples, uint32_t drop_mask, uint32_t threads,
                    std::span<double> out);

// Per-thread scratch of forward and backward passes over examples.
struct ExampleScratch {
  explicit ExampleScratch(const FusionModel& model) : ws(model), back(model) {}
  Workspace ws;
  BackwardScratch back;
  std::array<ModalitySnapshot, kMaxModalities> mods{};
  std::array<std::array<HistoryItem, kMaxHistoryK>, kMaxModalities> history{};
};

// Forward and backward over examples on the calling thread: grad += sum_e weight_e *
// d bce_e / d weights, with weight_e = (label ? positive_weight : 1) * scale and modalities
// outside keep[i] removed from examples[i]. Returns sum_e weight_e * bce_e. The unit of the
// parallel trainer and of the training benchmark.
double accumulate_gradient(const FusionModel& model, const DerivedWeights& derived,
                           const ExampleSet& data, std::span<const uint32_t> examples,
                           std::span<const uint32_t> keep, float positive_weight, float scale,
                           ExampleScratch& scratch, std::span<float> grad);

}  // namespace tfe
