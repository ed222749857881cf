// Training checkpoints and checkpoint inspection; the format is in train/checkpoint.hpp.
#include "embcomp/train/checkpoint.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "embcomp/core/atomic_file.hpp"
#include "embcomp/core/serialize.hpp"
#include "../checkpoint_format.hpp"
#include "embcomp/registry.hpp"

namespace embcomp {

namespace {

using namespace checkpoint_format;

constexpr std::uint32_t kTrainingFormatVersion = 2;  // 2: self-describing table state
constexpr std::uint64_t kMaxSettings = 1 << 10;

// ---- small helpers ----------------------------------------------------------------------

std::string format_double(double value) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  return buffer;
}

std::string optional_rows(const std::optional<Index>& rows) {
  return rows ? std::to_string(*rows) : std::string("all");
}

void write_floats(Writer& w, const float* data, std::size_t n) {
  w.pod(static_cast<std::uint64_t>(n));
  w.bytes(data, n * sizeof(float));
}

/// Reads a write_floats() block that must hold exactly `expected` values.
std::vector<float> read_floats(Reader& r, std::size_t expected, const std::string& what) {
  expect_equal(r, static_cast<std::uint64_t>(expected), what + " size");
  std::vector<float> values(expected);
  r.bytes(values.data(), expected * sizeof(float));
  return values;
}

/// Sizes of the model's values in TrainingSnapshot order: parameters, then buffers.
std::vector<std::size_t> model_value_sizes(Model& model) {
  std::vector<std::size_t> sizes;
  for (const Parameter* p : model.parameters()) sizes.push_back(p->size());
  for (const std::vector<float>* buffer : model.buffers()) sizes.push_back(buffer->size());
  return sizes;
}

void write_model_values(Writer& w, const std::vector<std::vector<float>>& values) {
  w.pod(static_cast<std::uint64_t>(values.size()));
  for (const auto& v : values) write_floats(w, v.data(), v.size());
}

std::vector<std::vector<float>> read_model_values(Reader& r, Model& model,
                                                  const std::string& what) {
  const std::vector<std::size_t> sizes = model_value_sizes(model);
  expect_equal(r, static_cast<std::uint64_t>(sizes.size()), what + " value count");
  std::vector<std::vector<float>> values;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    values.push_back(read_floats(r, sizes[i], what + " values " + std::to_string(i)));
  }
  return values;
}

/// The table's parameters, then the model's: the key of the optimizer's state.
std::vector<Parameter*> trained_parameters(EmbeddingTable& table, Model& model) {
  std::vector<Parameter*> params = table.parameters();
  for (Parameter* p : model.parameters()) params.push_back(p);
  return params;
}

// ---- the settings a resumed run must share --------------------------------------------

using Settings = std::vector<std::pair<std::string, std::string>>;

/// Every setting that shapes the run besides the table and model, as (name, value) strings.
Settings run_settings(const TrainerConfig& config, const BatchSource& source,
                      const EmbeddingTable& table) {
  return {
      {"batch_size", std::to_string(config.batch_size)},
      {"epochs", format_double(config.epochs)},
      {"evaluations_per_epoch", std::to_string(config.evaluations_per_epoch)},
      {"patience", std::to_string(config.patience)},
      {"optimizer", config.optimizer},
      {"learning_rate", format_double(config.learning_rate)},
      {"eval_batch_size", std::to_string(config.eval_batch_size)},
      {"max_validation_rows", optional_rows(config.max_validation_rows)},
      {"max_test_rows", optional_rows(config.max_test_rows)},
      {"train rows", std::to_string(source.rows(SplitPart::train))},
      {"validation rows", std::to_string(source.rows(SplitPart::validation))},
      {"test rows", std::to_string(source.rows(SplitPart::test))},
      {"dense features", std::to_string(source.num_dense())},
      {"stages", std::to_string(table.stages().size())},
      // Reductions split over threads sum in another order with another thread count.
      {"threads", std::to_string(omp_get_max_threads())},
  };
}

void write_settings(Writer& w, const Settings& settings) {
  w.pod(static_cast<std::uint64_t>(settings.size()));
  for (const auto& [name, value] : settings) {
    w.string(name);
    w.string(value);
  }
}

Settings read_settings(Reader& r) {
  const auto count = r.pod<std::uint64_t>();
  if (count > kMaxSettings) {
    throw CheckpointError("checkpoint damaged: " + std::to_string(count) + " settings");
  }
  Settings settings;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::string name = r.string(256);
    std::string value = r.string(4096);
    settings.emplace_back(std::move(name), std::move(value));
  }
  return settings;
}

std::string setting(const Settings& settings, const std::string& name) {
  for (const auto& [key, value] : settings) {
    if (key == name) return value;
  }
  return {};
}

/// Throws CheckpointError naming the first setting whose value differs.
void require_same_settings(const Settings& stored, const Settings& current) {
  for (const auto& [name, value] : current) {
    const std::string found = setting(stored, name);
    if (found != value) {
      throw CheckpointError("cannot resume: the checkpoint was written with " + name + " = " +
                            (found.empty() ? std::string("(absent)") : found) +
                            ", this run has " + name + " = " + value);
    }
  }
}

// ---- header ---------------------------------------------------------------------------

/// Throws CheckpointError unless the checkpoint's table is `table` (spec, schema, budget, seed).
void require_same_table(const TableIdentity& id, const EmbeddingTable& table) {
  auto fail = [](const std::string& what, const std::string& file, const std::string& here) {
    throw CheckpointError("cannot resume: the checkpoint's table has " + what + " " + file +
                          ", this table " + here);
  };
  if (id.spec != table.spec()) fail("spec", "'" + id.spec + "'", "'" + table.spec() + "'");
  if (id.args.schema.cardinalities != table.schema().cardinalities) {
    auto fields = [](const Schema& schema) {
      return std::to_string(schema.num_fields()) + " fields of " +
             std::to_string(schema.total_rows()) + " rows in all";
    };
    throw CheckpointError("cannot resume: the checkpoint's table has other field "
                          "cardinalities (" + fields(id.args.schema) + "), this table " +
                          fields(table.schema()));
  }
  if (id.args.schema.dim != table.dim()) {
    fail("dim", std::to_string(id.args.schema.dim), std::to_string(table.dim()));
  }
  if (id.args.budget.ratio != table.budget().ratio) {
    fail("budget ratio", format_double(id.args.budget.ratio), format_double(table.budget().ratio));
  }
  if (id.args.seed != table.seed()) {
    fail("seed", std::to_string(id.args.seed), std::to_string(table.seed()));
  }
}

void write_loop(Writer& w, const TrainingLoopState& s) {
  w.pod(static_cast<std::uint64_t>(s.stage));
  w.pod(s.stage_step);
  w.pod(static_cast<std::uint8_t>(s.stage_finished));
  w.pod(s.step);
  w.pod(static_cast<std::uint64_t>(s.evaluations));
  w.pod(static_cast<std::uint8_t>(s.stopped_early));
  w.pod(s.train_seconds);
  w.pod(s.best_auc);
  w.pod(s.best_logloss);
  w.pod(s.best_step);
  w.pod(s.since_best);
  w.pod(s.loss_sum);
  w.pod(s.loss_count);
  w.pod(s.validation_row);
  w.pod(s.peak_training_bytes);
}

TrainingLoopState read_loop(Reader& r) {
  TrainingLoopState s;
  s.stage = static_cast<std::size_t>(r.pod<std::uint64_t>());
  s.stage_step = r.pod<Index>();
  s.stage_finished = r.pod<std::uint8_t>() != 0;
  s.step = r.pod<std::uint64_t>();
  s.evaluations = static_cast<std::size_t>(r.pod<std::uint64_t>());
  s.stopped_early = r.pod<std::uint8_t>() != 0;
  s.train_seconds = r.pod<double>();
  s.best_auc = r.pod<double>();
  s.best_logloss = r.pod<double>();
  s.best_step = r.pod<std::uint64_t>();
  s.since_best = r.pod<Index>();
  s.loss_sum = r.pod<double>();
  s.loss_count = r.pod<Index>();
  s.validation_row = r.pod<Index>();
  s.peak_training_bytes = r.pod<std::uint64_t>();
  return s;
}

void write_memory(Writer& w, const MemoryReport& m, std::size_t model_bytes) {
  w.pod(m.full_bytes);
  w.pod(static_cast<std::uint64_t>(m.parameter_bytes));
  w.pod(static_cast<std::uint64_t>(m.index_bytes));
  w.pod(static_cast<std::uint64_t>(m.optimizer_bytes));
  w.pod(static_cast<std::uint64_t>(m.serving_bytes));
  w.pod(static_cast<std::uint64_t>(model_bytes));
}

MemoryReport read_memory(Reader& r, std::size_t& model_bytes) {
  MemoryReport m;
  m.full_bytes = r.pod<double>();
  m.parameter_bytes = static_cast<std::size_t>(r.pod<std::uint64_t>());
  m.index_bytes = static_cast<std::size_t>(r.pod<std::uint64_t>());
  m.optimizer_bytes = static_cast<std::size_t>(r.pod<std::uint64_t>());
  m.serving_bytes = static_cast<std::size_t>(r.pod<std::uint64_t>());
  model_bytes = static_cast<std::size_t>(r.pod<std::uint64_t>());
  return m;
}

/// What the header of a training checkpoint holds.
struct TrainingHeader {
  TableIdentity table;
  std::string model_name;
  Settings settings;
  TrainingLoopState loop;
  MemoryReport memory;
  std::size_t model_parameter_bytes = 0;
};

void require_magic(Reader& r, const std::string& path) {
  std::array<char, 8> magic{};
  r.bytes(magic.data(), magic.size());
  if (magic == kTableMagic) {
    throw CheckpointError(path + ": is a table checkpoint (EmbeddingTable::save), not a "
                                 "training checkpoint; load it with load_table");
  }
  if (magic != kTrainingMagic) {
    throw CheckpointError(path + ": not an embcomp training checkpoint (the file does not "
                                 "start with the EMBTRAIN magic)");
  }
}

TrainingHeader read_header(Reader& r, const std::string& path) {
  require_magic(r, path);
  const auto version = r.pod<std::uint32_t>();
  if (version != kTrainingFormatVersion) {
    throw CheckpointError(path + ": training checkpoint format version " +
                          std::to_string(version) + " is not supported; this library reads " +
                          "version " + std::to_string(kTrainingFormatVersion));
  }
  TrainingHeader h;
  h.table = read_table_identity(r);
  h.model_name = r.string(256);
  h.settings = read_settings(r);
  h.loop = read_loop(r);
  h.memory = read_memory(r, h.model_parameter_bytes);
  r.verify_digest("header");
  return h;
}

// ---- file level -----------------------------------------------------------------------

/// Size of the file at `path`; CheckpointError when it cannot be opened.
std::uint64_t file_size(const std::string& path) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  if (error) throw CheckpointError("cannot open checkpoint '" + path + "': " + error.message());
  return size;
}

/// Checks the trailing XXH64 checksum of the whole file in one streaming pass, before any of
/// its content is trusted. Returns the file's size.
std::uint64_t verify_file_checksum(const std::string& path) {
  const std::uint64_t size = file_size(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError("cannot open checkpoint '" + path + "'");
  if (size < kTrainingMagic.size() + sizeof(std::uint64_t)) {
    throw CheckpointError(path + ": checkpoint truncated: " + std::to_string(size) +
                          " bytes is shorter than any checkpoint");
  }
  XXH64_state_t state{};
  XXH64_reset(&state, 0);
  std::vector<char> chunk(1 << 20);
  std::uint64_t left = size - sizeof(std::uint64_t);
  while (left > 0) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
    in.read(chunk.data(), static_cast<std::streamsize>(n));
    if (static_cast<std::size_t>(in.gcount()) != n) {
      throw CheckpointError(path + ": checkpoint truncated while reading");
    }
    XXH64_update(&state, chunk.data(), n);
    left -= n;
  }
  std::uint64_t stored = 0;
  in.read(reinterpret_cast<char*>(&stored), sizeof stored);
  if (stored != XXH64_digest(&state)) {
    throw CheckpointError(path + ": checkpoint damaged or truncated: checksum mismatch (the "
                                 "file was cut short, modified or corrupted after it was "
                                 "written)");
  }
  return size;
}

/// Opens `path` for a Reader after checking its magic is a training checkpoint's and its
/// checksum; returns the file size.
std::uint64_t open_training_file(const std::string& path, std::ifstream& in) {
  if (checkpoint_kind(path) != CheckpointKind::training) {
    std::ifstream probe(path, std::ios::binary);
    Reader r(probe);
    require_magic(r, path);  // throws the table-checkpoint message
  }
  const std::uint64_t size = verify_file_checksum(path);
  in.open(path, std::ios::binary);
  if (!in) throw CheckpointError("cannot open checkpoint '" + path + "'");
  return size;
}

void write_training_file(std::ostream& out, const TrainerConfig& config,
                         const BatchSource& source, const EmbeddingTable& table, Model& model,
                         const Optimizer& optimizer, const TrainingState& state) {
  Writer w(out);
  w.bytes(kTrainingMagic.data(), kTrainingMagic.size());
  w.pod(kTrainingFormatVersion);
  write_table_identity(w, table);
  w.string(model.name());
  write_settings(w, run_settings(config, source, table));
  write_loop(w, state.loop);
  write_memory(w, table.memory(&optimizer), model.parameter_bytes());
  w.digest();

  TrainingSnapshot current;
  current.take_model(model);
  write_model_values(w, current.model_values);
  std::vector<const Parameter*> params = table.parameters();  // the key of the optimizer state
  for (const Parameter* p : model.parameters()) params.push_back(p);
  optimizer.save_state(w, params);
  w.string(state.best.table_state);
  write_model_values(w, state.best.model_values);
  w.pod(static_cast<std::uint8_t>(state.initial_model.model_values.empty() ? 0 : 1));
  if (!state.initial_model.model_values.empty()) {
    write_model_values(w, state.initial_model.model_values);
  }
  table.save_state(w);
  w.finish();
}

/// The u32 format version after the magic of a file whose checksum was verified.
std::uint32_t stored_format_version(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(kTableMagic.size()));
  std::uint32_t version = 0;
  in.read(reinterpret_cast<char*>(&version), sizeof version);
  return version;
}

}  // namespace

// ---- TrainingSnapshot -----------------------------------------------------------------

void TrainingSnapshot::take(const EmbeddingTable& table, Model& model) {
  std::ostringstream out(std::ios::out | std::ios::binary);
  Writer w(out);
  table.save_state(w);
  w.finish();
  table_state = std::move(out).str();
  take_model(model);
}

void TrainingSnapshot::take_model(Model& model) {
  const auto params = model.parameters();
  const auto buffers = model.buffers();
  model_values.resize(params.size() + buffers.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    model_values[i].assign(params[i]->data(), params[i]->data() + params[i]->size());
  }
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    model_values[params.size() + i] = *buffers[i];
  }
}

void TrainingSnapshot::restore(EmbeddingTable& table, Model& model) const {
  std::istringstream in(table_state, std::ios::in | std::ios::binary);
  Reader r(in);
  table.load_state(r);
  r.finish();
  restore_model(model);
}

void TrainingSnapshot::restore_model(Model& model) const {
  const auto params = model.parameters();
  const auto buffers = model.buffers();
  if (model_values.size() != params.size() + buffers.size()) {
    throw Error("model snapshot holds " + std::to_string(model_values.size()) +
                " arrays; the model has " + std::to_string(params.size() + buffers.size()));
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    std::copy(model_values[i].begin(), model_values[i].end(), params[i]->data());
  }
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    *buffers[i] = model_values[params.size() + i];
  }
}

void TrainingLoopState::begin_stage(std::size_t index) {
  stage = index;
  stage_step = 0;
  stage_finished = false;
  best_auc = -1.0;
  best_logloss = 0.0;
  best_step = 0;
  since_best = 0;
  loss_sum = 0.0;
  loss_count = 0;
  validation_row = 0;
}

// ---- training checkpoints -------------------------------------------------------------

void save_training_checkpoint(const std::string& path, const TrainerConfig& config,
                              const BatchSource& source, const EmbeddingTable& table,
                              Model& model, const Optimizer& optimizer,
                              const TrainingState& state) {
  write_file_atomically(path, [&](std::ostream& out) {
    write_training_file(out, config, source, table, model, optimizer, state);
  });
}

TrainingState load_training_checkpoint(const std::string& path, const TrainerConfig& config,
                                       const BatchSource& source, EmbeddingTable& table,
                                       Model& model, Optimizer& optimizer) {
  std::ifstream in;
  const std::uint64_t size = open_training_file(path, in);
  try {
    Reader r(in);
    const TrainingHeader h = read_header(r, path);
    require_same_table(h.table, table);
    if (h.model_name != model.name()) {
      throw CheckpointError("cannot resume: the checkpoint's model is '" + h.model_name +
                            "', this model is '" + model.name() + "'");
    }
    require_same_settings(h.settings, run_settings(config, source, table));
    if (h.loop.stage >= table.stages().size()) {
      throw CheckpointError("checkpoint damaged: stage " + std::to_string(h.loop.stage));
    }

    // Stage everything but the table's state; nothing is changed yet.
    TrainingState state;
    state.loop = h.loop;
    TrainingSnapshot current;
    current.model_values = read_model_values(r, model, "model");
    Optimizer::StagedState optimizer_state = optimizer.read_state(r);
    state.best.table_state = r.string(static_cast<std::size_t>(size));
    if (state.best.table_state.empty()) {  // no best state yet (a gated stage, before its gate)
      expect_equal(r, std::uint64_t{0}, "best model value count");
    } else {
      state.best.model_values = read_model_values(r, model, "best model");
    }
    if (r.pod<std::uint8_t>() != 0) {
      state.initial_model.model_values = read_model_values(r, model, "initial model");
    }

    // Commit: the checksum was verified and the table identity matches, so its state loads
    // (its stage and, for reshapeable parameters, their shapes), then the optimizer's state
    // is given to the parameters as they now are.
    table.load_state(r);
    r.finish();
    optimizer.adopt_state(std::move(optimizer_state), trained_parameters(table, model));
    current.restore_model(model);
    return state;
  } catch (const CheckpointError& e) {
    const std::string what = e.what();
    if (what.rfind(path, 0) == 0) throw;
    throw CheckpointError(path + ": " + what);
  }
}

// ---- inspection -----------------------------------------------------------------------

CheckpointKind checkpoint_kind(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError("cannot open checkpoint '" + path + "'");
  std::array<char, 8> magic{};
  in.read(magic.data(), static_cast<std::streamsize>(magic.size()));
  if (in.gcount() != static_cast<std::streamsize>(magic.size())) {
    throw CheckpointError(path + ": checkpoint truncated: " + std::to_string(in.gcount()) +
                          " bytes, shorter than the magic");
  }
  if (magic == kTableMagic) return CheckpointKind::table;
  if (magic == kTrainingMagic) return CheckpointKind::training;
  throw CheckpointError(path + ": not an embcomp checkpoint (the file starts with neither the "
                               "EMBCOMP nor the EMBTRAIN magic)");
}

CheckpointInfo inspect_checkpoint(const std::string& path) {
  CheckpointInfo info;
  info.kind = checkpoint_kind(path);
  if (info.kind == CheckpointKind::table) {
    const auto table = load_table(path);  // verifies the whole file
    info.format_version = stored_format_version(path);
    info.method_spec = table->spec();
    info.schema = table->schema();
    info.budget_ratio = table->budget().ratio;
    info.seed = table->seed();
    info.frozen = table->frozen();
    info.memory = table->memory();
    info.statistics = table->statistics();
    return info;
  }
  std::ifstream in;
  open_training_file(path, in);
  Reader r(in);
  const TrainingHeader h = read_header(r, path);
  info.format_version = kTrainingFormatVersion;
  info.method_spec = h.table.spec;
  info.schema = h.table.args.schema;
  info.budget_ratio = h.table.args.budget.ratio;
  info.seed = h.table.args.seed;
  info.memory = h.memory;
  info.model_name = h.model_name;
  info.model_parameter_bytes = h.model_parameter_bytes;
  info.optimizer = setting(h.settings, "optimizer");
  info.learning_rate = std::strtof(setting(h.settings, "learning_rate").c_str(), nullptr);
  info.batch_size =
      static_cast<Index>(std::strtoll(setting(h.settings, "batch_size").c_str(), nullptr, 10));
  info.stages = static_cast<std::size_t>(
      std::strtoull(setting(h.settings, "stages").c_str(), nullptr, 10));
  info.step = h.loop.step;
  info.stage = h.loop.stage;
  info.evaluations = h.loop.evaluations;
  info.best_validation_auc = h.loop.best_auc;
  info.best_step = h.loop.best_step;
  info.stage_finished = h.loop.stage_finished;
  return info;
}

}  // namespace embcomp
