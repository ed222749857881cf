// What every CUDA table shares: device id batches, the device form of an optimizer, and the
// interface of every device table (DeviceTable: lookup, the fused training step, the copies
// back to the host), with its fields, input checks and step count. cuda::mirror(table) makes
// the twin of a CPU table, whichever its method.
//
//   ids    DeviceIds [B x F] row-major per-field local ids (device memory), as IdBatch.
//   out    [B*F x d] floats on the device, row p the embedding of ids[p].
//   dE     [B*F x d] floats on the device, dLoss/dout.
//
// Checks, in kernels, before anything is written: ids outside [0, n_f) (InvalidArgument) and a
// NaN or Inf in dE (NonFiniteGradient) refuse the call and change nothing; the kernels record
// the first offender in 16 bytes of flags, read back once per call. A sum of finite dE values
// that overflows is not caught (the CPU optimizer, which sees the sums, refuses it).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "embcomp/core/stage.hpp"
#include "embcomp/core/types.hpp"
#include "embcomp/cuda/device_memory.hpp"
#include "embcomp/kernels/optim_rules.hpp"

namespace embcomp {
class EmbeddingTable;
class Optimizer;
}  // namespace embcomp

namespace embcomp::cuda {

/// A batch of ids in device memory, row-major [batch x fields] (as IdBatch).
struct DeviceIds {
  const Index* ids = nullptr;
  Index batch = 0;
  Index fields = 0;
  Index size() const { return batch * fields; }
};

/// A row-wise optimizer for device tables: the rule and hyper-parameters of a CPU optimizer.
struct DeviceOptimizer {
  enum class Kind { sgd, adagrad, adam, rowwise_adagrad };
  Kind kind = Kind::sgd;
  float learning_rate = 0.01f;
  kernels::AdagradRule adagrad{};
  kernels::AdamRule adam{};
  kernels::RowwiseAdagradRule rowwise_adagrad{};

  /// The device form of `optimizer` (Sgd, Adagrad, Adam or RowwiseAdagrad); InvalidArgument for
  /// another one.
  static DeviceOptimizer of(const Optimizer& optimizer);
  /// fp32 state values per state unit: per element (0, 1, 2), or per row for row-wise Adagrad (1).
  int slots() const;
  /// Whether the state is kept per row (row-wise Adagrad).
  bool row_wise() const { return kind == Kind::rowwise_adagrad; }
  const char* name() const;
};

/// Allocates zero optimizer state (`elements` per slot, or `rows` per slot for a row-wise
/// optimizer) at a table's first step and keeps it; InvalidArgument when a table stepped by one
/// optimizer is stepped by another, or by a row-wise one where it has no row form (`rows` 0;
/// `owner` names the table). `slots` is -1 before the first step.
void ensure_optimizer_state(DeviceArray<float>& state, int& slots, std::size_t elements,
                            const DeviceOptimizer& optimizer, const std::string& owner,
                            std::size_t rows = 0);

/// One row-indexed fp32 parameter on the device and its optimizer state, [rows x slots*width]
/// (the CPU optimizer's layout), allocated at the first step.
struct DeviceRows {
  Index rows = 0;
  Index width = 0;
  float lr_scale = 1.0f;  ///< the parameter's learning-rate scale, as on the CPU
  DeviceArray<float> values;
  DeviceArray<float> state;
  int state_slots = -1;  ///< slots of the optimizer the state belongs to; -1 before a step

  DeviceRows() = default;
  /// A device copy of [rows x width] host floats.
  DeviceRows(Index rows_, Index width_, const float* host, float lr_scale_ = 1.0f);
  /// ensure_optimizer_state for these rows; `row_form`: the owner updates them with a row rule's
  /// row form (state [rows]), so a row-wise optimizer is accepted.
  void ensure_state(const DeviceOptimizer& optimizer, const std::string& owner,
                    bool row_form = false) {
    ensure_optimizer_state(state, state_slots, static_cast<std::size_t>(rows * width), optimizer,
                           owner, row_form ? static_cast<std::size_t>(rows) : 0);
  }
};

/// The CPU table's parameters a twin leaves untrained in its stage (a stage's [1 x 1]
/// placeholders, a finished stage's storage), by name with their values, kept as they are: the
/// twin's rows_to_host returns them, and they have no optimizer state.
struct UntrainedParameters {
  std::vector<std::pair<std::string, std::vector<float>>> entries;

  /// The values of `name`, or null where it is not one of them.
  const std::vector<float>* find(const std::string& name) const {
    for (const auto& [entry, values] : entries) {
      if (entry == name) return &values;
    }
    return nullptr;
  }
};

/// A step's positions by row key: keys and positions [count] as a twin's rows kernel writes them
/// (positions[p] = p), and their copies sorted by key (detail::sort_positions).
struct SortedPositions {
  DeviceArray<std::uint32_t> keys, sorted_keys;
  DeviceArray<std::int32_t> positions, sorted_positions;

  /// Room for `count` positions (contents undefined).
  void reserve(Index count) {
    const auto n = static_cast<std::size_t>(count);
    keys.reserve(n);
    sorted_keys.reserve(n);
    positions.reserve(n);
    sorted_positions.reserve(n);
  }
};

/// A CPU table's twin on the device: its parameters in device memory, looked up and trained on
/// device batches. Made from the CPU table (cuda::mirror, or each twin's own mirror), which
/// keeps what it does well (sizing, initialisation, the checkpoint format) and takes the rows
/// back with copy_rows_to.
class DeviceTable {
 public:
  virtual ~DeviceTable() = default;
  DeviceTable(DeviceTable&&) noexcept = default;
  DeviceTable& operator=(DeviceTable&&) noexcept = default;

  /// The embedding width d.
  virtual Index dim() const = 0;
  /// out[B*F x d] = the embeddings of ids (device pointers). InvalidArgument for an id outside
  /// its field's range (out is then undefined; the table is unchanged).
  virtual void lookup(const DeviceIds& ids, float* out) const = 0;
  /// The training forward (EmbeddingTable::forward): the lookup, for every twin whose training
  /// forward is its lookup; dhe's and autodim's search's normalise with the batch's statistics and
  /// update the running ones.
  virtual void forward(const DeviceIds& ids, float* out) { lookup(ids, out); }
  /// One backward fused with the optimizer's step for dE[B*F x d] (device pointers). The
  /// optimizer's kind must stay the same from step to step (its state is kept here).
  virtual void train_step(const DeviceIds& ids, const float* dE,
                          const DeviceOptimizer& optimizer) = 0;
  /// EmbeddingTable's host-batch forms of lookup and train_step: ids [B x F], out and dE
  /// [B*F x d] in host memory, copied to and from the device on every call, for code written
  /// against host batches (a training loop keeps its batches on the device instead:
  /// cuda::device_backend). The checks above, and InvalidArgument for a shape that does not match.
  void lookup_host(const IdBatch& ids, Matrix out) const;
  void train_step_host(const IdBatch& ids, ConstMatrix dE, const DeviceOptimizer& optimizer);

  /// The values of the CPU table's parameter `parameter`, [rows x width] floats (integer codes
  /// decoded), copied to the host. InvalidArgument for a name the table does not hold.
  virtual std::vector<float> rows_to_host(const std::string& parameter) const = 0;
  /// Its optimizer state [rows x slots*width] (the CPU optimizer's layout), copied to the host;
  /// empty before the first step of a stateful optimizer.
  std::vector<float> state_to_host(const std::string& parameter) const;
  /// Overwrites its optimizer state with `values` in that layout, allocating the state of every
  /// parameter for `optimizer` first where there is none (a twin made mid-run: a resumed run, a
  /// new stage). InvalidArgument, with nothing written, where the size differs.
  void state_from_host(const std::string& parameter, std::span<const float> values,
                       const DeviceOptimizer& optimizer);
  /// Adam's t continues from `steps` (the host optimizer's count, for a twin made mid-run).
  void set_steps(std::uint64_t steps) { steps_ = steps; }
  /// Whether the twin takes validation batches now (a stage that feeds them: autosrh's and
  /// autodim's searches).
  virtual bool takes_validation_batches() const { return false; }
  /// The dE [B*F x d] of one validation batch of device ids (EmbeddingTable::on_validation_batch,
  /// device pointers); InvalidArgument where the twin takes none now.
  virtual void on_validation_batch(const DeviceIds& ids, const float* dE);
  /// The CPU table's auxiliary loss (EmbeddingTable::auxiliary_loss) at this point: 0 for most
  /// twins; optembed's supernet regulariser.
  virtual double auxiliary_loss() const { return 0.0; }
  /// The method's work after each step (the CPU table's after_step): none for most twins (cafe's
  /// sketch inserts run inside train_step); deeplight's scheduled prune.
  virtual void after_step(const StepContext& /*ctx*/) {}
  /// Writes every parameter into `table`'s of the same names, codecs and shapes (the table this
  /// one mirrors, e.g. before saving its checkpoint). InvalidArgument, with nothing written,
  /// where `table` has no such parameters.
  virtual void copy_rows_to(EmbeddingTable& table) const = 0;

  const std::string& method() const { return method_; }
  Index fields() const { return static_cast<Index>(cardinalities_.size()); }
  /// Optimizer steps taken (Adam's t).
  std::uint64_t steps() const { return steps_; }

 protected:
  /// Where the kernels record bad input: the first bad position and the first bad dE index.
  struct Flags {
    unsigned long long bad_id_position;
    unsigned long long bad_value_index;
  };

  DeviceTable(std::string method, std::vector<Index> cardinalities);

  /// InvalidArgument unless `ids` has this table's field count and fewer than 2^31 positions.
  void check_batch(const DeviceIds& ids) const;
  /// Clears the flags (asynchronously) before a call's kernels.
  void reset_flags() const;
  /// InvalidArgument unless `parameter` is `name`, the one parameter of this `owner` (a twin's
  /// class name).
  void check_only_parameter(const std::string& parameter, const char* name,
                            const char* owner) const;
  /// Where a parameter's optimizer state lives: `count` floats at `data` (device memory), in
  /// the CPU optimizer's layout; {} before the first stateful step. InvalidArgument for a name
  /// the table does not hold.
  struct StateSpan {
    float* data = nullptr;
    std::size_t count = 0;
  };
  virtual StateSpan state_span(const std::string& parameter) const = 0;
  /// Allocates zero state for `optimizer` where there is none (the first train_step's work;
  /// InvalidArgument after another optimizer).
  virtual void ensure_state(const DeviceOptimizer& optimizer) = 0;
  /// `count` floats of the state `array` from float `first` (all of it by default), or {}
  /// while `slots` is not positive (no state yet, or a stateless optimizer).
  static StateSpan span_of(const DeviceArray<float>& array, int slots) {
    return span_of(array, slots, 0, array.size());
  }
  static StateSpan span_of(const DeviceArray<float>& array, int slots, std::size_t first,
                           std::size_t count) {
    if (slots <= 0) return {};
    return {const_cast<float*>(array.data()) + first, count};
  }
  /// Reads the flags back and throws for what they report (dE rows of `width`).
  void throw_on_flags(const DeviceIds& ids, Index width) const;
  unsigned long long* flags() const { return reinterpret_cast<unsigned long long*>(flags_.data()); }
  const Index* field_sizes() const { return field_sizes_.data(); }

  std::string method_;
  std::vector<Index> cardinalities_;
  std::uint64_t steps_ = 0;
  DeviceArray<unsigned char> library_scratch_;  ///< CUB's temporary storage, kept across steps

 private:
  /// The device copy of a host batch (lookup_host, train_step_host): ids, and dE when given.
  DeviceIds upload_host_batch(const IdBatch& ids, ConstMatrix rows) const;
  mutable DeviceArray<Index> host_ids_;
  mutable DeviceArray<float> host_rows_;
  DeviceArray<Index> field_sizes_;
  mutable DeviceArray<Flags> flags_;
};

/// The device twin of `table`, by its method: GatherTable (full, int8, int16, alpt, hash,
/// adaembed, dedup), DeepLightTable, PepTable, OptEmbedTable or KeptRowsTable (optembed before and
/// after its search), AutoSrhTable, PqTable (dpq, mgqe), AutoDimTable or MdeTable (autodim before
/// and after its search), QrTable, MdeTable (mde), RobeTable, TtTable, DheTable or CafeTable (cafe,
/// cafe-ml).
/// The deeplight, pep and cafe twins read `table` (its schedule, its sketch), which must then
/// outlive them. InvalidArgument naming the method where it has no twin (a serving form).
std::unique_ptr<DeviceTable> mirror(EmbeddingTable& table);

}  // namespace embcomp::cuda
