// Fuzz entry of the training checkpoint loader (train/checkpoint.hpp): checkpoint_kind,
// inspect_checkpoint and load_training_checkpoint against small fixed setups, then a Trainer
// resuming from the file for one more evaluation.
//
// Input: the checkpoint file. It is loaded as it is, then (when they differ) with its header
// digest and trailing checksum recomputed. The setup (table, DLRM model, optimizer, trainer
// configuration, synthetic data) is the one of training_setups() whose canonical spec the
// file's header names (the first one otherwise); it is built fresh for every load, with one
// OpenMP thread (the thread count is one of the settings a checkpoint must match).
#pragma once

#include <omp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "embcomp/table.hpp"  // first: methods/ headers expect EmbeddingTable
#include "embcomp/data/synthetic.hpp"
#include "embcomp/models/factory.hpp"
#include "embcomp/registry.hpp"
#include "embcomp/train/checkpoint.hpp"
#include "embcomp/train/trainer.hpp"
#include "fuzz_common.hpp"
#include "table_use.hpp"

namespace embcomp::fuzz {

struct TrainingSetup {
  std::string method;   ///< factory string given to make_table
  double ratio = 1.0;
  std::string optimizer;
};

/// The setups the seeds were written with (fuzz/seed_generator.cpp).
inline const std::vector<TrainingSetup>& training_setups() {
  static const std::vector<TrainingSetup> setups = {
      {"full", 1.0, "sgd"},
      {"hash", 2.0, "adam"},
      {"qr", 2.0, "adagrad"},
      {"deeplight", 2.0, "sgd"},
      {"dedup", 2.0, "sgd"},
  };
  return setups;
}

/// The data every setup trains on: 4 fields, 2 dense features, 256/64/64 rows.
inline const SyntheticCtr& training_data() {
  static const SyntheticCtr data([] {
    SyntheticConfig config;
    config.cardinalities = {60, 20, 8, 3};
    config.num_dense = 2;
    config.interaction_pairs = 2;
    config.train_rows = 256;
    config.validation_rows = 64;
    config.test_rows = 64;
    config.seed = 5;
    return config;
  }());
  return data;
}

/// 8 steps per epoch, an evaluation every 4 steps.
inline TrainerConfig training_config(const TrainingSetup& setup) {
  TrainerConfig config;
  config.batch_size = 32;
  config.epochs = 1.0;
  config.evaluations_per_epoch = 2;
  config.patience = 0;
  config.optimizer = setup.optimizer;
  config.learning_rate = 0.05f;
  config.eval_batch_size = 64;
  return config;
}

struct TrainingObjects {
  std::unique_ptr<EmbeddingTable> table;
  std::unique_ptr<Model> model;
  std::unique_ptr<Optimizer> optimizer;
};

inline TrainingObjects build_training_objects(const TrainingSetup& setup) {
  const SyntheticCtr& data = training_data();
  TrainingObjects o;
  o.table = make_table(setup.method, TableArgs{data.schema(4), Budget{setup.ratio}, 7});
  ModelArgs model;
  model.num_fields = static_cast<Index>(data.cardinalities().size());
  model.dim = 4;
  model.num_dense = data.num_dense();
  model.seed = 3;
  model.bottom_hidden = {4};
  model.top_hidden = {8};
  o.model = make_model("dlrm", model);
  o.optimizer = make_optimizer(setup.optimizer, 0.05f);
  return o;
}

/// Runs with one OpenMP thread and restores the previous count.
class SingleThread {
 public:
  SingleThread() : previous_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~SingleThread() { omp_set_num_threads(previous_); }
  SingleThread(const SingleThread&) = delete;
  SingleThread& operator=(const SingleThread&) = delete;

 private:
  int previous_;
};

/// The file with its header digest and trailing checksum recomputed (format in
/// train/checkpoint.hpp).
inline std::string fix_training_checkpoint(std::string bytes) {
  Cursor in(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  in.skip(8 + 4);
  skip_table_identity(in);
  in.string(256);  // model name
  const auto settings = in.pod<std::uint64_t>();
  for (std::uint64_t i = 0; i < settings && i < 1024 && in.ok(); ++i) {
    in.string(256);
    in.string(4096);
  }
  in.skip(106 + 48);  // loop state, memory report
  if (in.ok()) fix_digest(bytes, in.offset());
  fix_trailing_checksum(bytes);
  return bytes;
}

/// The setup whose canonical spec the header names, else the first.
inline const TrainingSetup& setup_for(const std::string& bytes) {
  static const std::vector<std::string> specs = [] {
    std::vector<std::string> canonical;
    for (const TrainingSetup& s : training_setups()) {
      canonical.push_back(build_training_objects(s).table->spec());
    }
    return canonical;
  }();
  Cursor in(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  in.skip(8 + 4);
  const std::string_view spec = in.string(4096);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (specs[i] == spec) return training_setups()[i];
  }
  return training_setups().front();
}

inline void load_training_file(const std::string& path, const std::string& bytes) {
  write_file(path, bytes.data(), bytes.size());
  try {
    const CheckpointKind kind = checkpoint_kind(path);
    const CheckpointInfo info = inspect_checkpoint(path);
    EMBCOMP_FUZZ_CHECK(info.kind == kind);
  } catch (const Error&) {
  }
  const TrainingSetup& setup = setup_for(bytes);
  const TrainerConfig config = training_config(setup);
  TrainingObjects o = build_training_objects(setup);
  const TrainingState state =
      load_training_checkpoint(path, config, training_data(), *o.table, *o.model, *o.optimizer);
  EMBCOMP_FUZZ_CHECK(state.loop.stage < o.table->stages().size());
  use_table(*o.table, false);
  if (!state.best.empty()) {
    try {
      state.best.restore(*o.table, *o.model);
    } catch (const Error&) {
    }
  }

  // What the trainer does with it: resume and run to the next evaluation.
  TrainingObjects fresh = build_training_objects(setup);
  TrainerConfig resume = config;
  resume.resume_from = path;
  resume.stop_after_evaluations = state.loop.evaluations + 1;
  Trainer trainer(resume);
  (void)trainer.train(training_data(), *fresh.table, *fresh.model);
}

/// Loads the bytes as they are, then fixed up; throws the first project error of the second
/// load (or of the first when the fix-up changes nothing).
inline void run_training_checkpoint(const std::uint8_t* data, std::size_t size) {
  static const ScratchDir scratch("training_checkpoint");
  const SingleThread one_thread;
  const std::string path = scratch.path("checkpoint.bin");
  const std::string raw(reinterpret_cast<const char*>(data), size);
  const std::string fixed = fix_training_checkpoint(raw);
  if (fixed == raw) {
    load_training_file(path, raw);
    return;
  }
  try {
    load_training_file(path, raw);
  } catch (const Error&) {
  }
  load_training_file(path, fixed);
}

}  // namespace embcomp::fuzz

/// The libFuzzer entry: project errors (embcomp::Error) are expected; anything else escapes.
inline int fuzz_training_checkpoint(const std::uint8_t* data, std::size_t size) {
  return embcomp::fuzz::expecting_project_errors(embcomp::fuzz::run_training_checkpoint, data, size);
}
