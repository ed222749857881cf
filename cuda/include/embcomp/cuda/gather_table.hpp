// The CUDA twin of the tables whose embedding is one stored row (full, hash, and full's int8 and
// int16 forms): the rows live on the device, lookup reads device id batches into device
// outputs, and train_step is the backward fused with the optimizer (TBE-style): the gradient
// rows are summed and applied in one kernel, never written out.
//
//   ids    DeviceIds [B x F] row-major per-field local ids (device memory), as IdBatch.
//   out    [B*F x d] floats on the device, row p the embedding of ids[p].
//   dE     [B*F x d] floats on the device, dLoss/dout.
//
// train_step, for the positions p of a batch:
//   rows[p] = kernels::field_row(field f of p, ids[p])      (the CPU table's own index math)
//   sort (row, p) by row (CUB radix sort, stable)
//   for the head of every run of equal rows r and every column c, one thread: g = sum of
//   dE[p][c] over r's positions in ascending p (the CPU's order, so the same sum bit for bit),
//   then the optimizer's rule (kernels/optim_rules.hpp) updates W[r][c] and its state.
//   Integer codes (int8, int16): one thread per run decodes the row, updates every element,
//   and writes it back with the CPU's stochastic rounding (the same counter-based noise,
//   kernels/random.hpp, keyed by the parameter's name and the step), refitting a per-row scale
//   first where the codec has one.
// Three kernels (rows and checks, CUB's sort, update) and one 16-byte read back per step.
// Checks, in kernels, before anything is written: ids outside [0, n_f) (InvalidArgument) and a
// NaN or Inf in dE (NonFiniteGradient) refuse the call and change nothing. A sum of finite dE
// values that overflows is not caught (the CPU optimizer, which sees the sums, refuses it).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "embcomp/core/types.hpp"
#include "embcomp/cuda/device_memory.hpp"
#include "embcomp/kernels/optim_rules.hpp"
#include "embcomp/kernels/row_map.hpp"

namespace embcomp {
class EmbeddingTable;
class Optimizer;
}  // namespace embcomp

namespace embcomp::cuda {

namespace detail {
struct BatchRows;
}

/// A batch of ids in device memory, row-major [batch x fields] (as IdBatch).
struct DeviceIds {
  const Index* ids = nullptr;
  Index batch = 0;
  Index fields = 0;
  Index size() const { return batch * fields; }
};

/// A row-wise optimizer for device tables: the rule and hyper-parameters of a CPU optimizer.
struct DeviceOptimizer {
  enum class Kind { sgd, adagrad, adam };
  Kind kind = Kind::sgd;
  float learning_rate = 0.01f;
  kernels::AdagradRule adagrad{};
  kernels::AdamRule adam{};

  /// The device form of `optimizer` (Sgd, Adagrad or Adam); InvalidArgument for another one.
  static DeviceOptimizer of(const Optimizer& optimizer);
  /// fp32 state values per parameter element (0, 1, 2).
  int slots() const;
  const char* name() const;
};

/// How a device table stores its rows (core/parameter.hpp's CodecSpec without learned steps):
/// fp32, or int8/int16 codes read as code * scale + offset with one global (scale, offset), or
/// with a symmetric scale per row (offset 0).
struct DeviceCodec {
  enum class Storage : std::uint8_t { fp32, int8, int16 };
  Storage storage = Storage::fp32;
  bool per_row = false;
  float scale = 1.0f;
  float offset = 0.0f;

  int bits() const { return storage == Storage::int8 ? 8 : storage == Storage::int16 ? 16 : 32; }
  std::size_t value_bytes() const { return static_cast<std::size_t>(bits() / 8); }
};

/// The rows a GatherTable starts from, in host memory.
struct HostRows {
  Index rows = 0;  ///< at most 2^32 (more than any device holds at d >= 8)
  Index width = 0;
  const void* values = nullptr;       ///< [rows x width] floats or codes, as `codec` says
  DeviceCodec codec{};
  std::span<const float> row_scales;  ///< codec.per_row: one per row
  float lr_scale = 1.0f;              ///< the parameter's learning-rate scale, as on the CPU
  std::uint64_t rounding_seed = 0;    ///< integer codes: XXH64 of the parameter's name
};

class GatherTable {
 public:
  /// `fields[f]` maps field f's ids (in [0, cardinalities[f])) to rows of `rows`.
  GatherTable(std::string method, std::vector<kernels::FieldRows> fields,
              std::vector<Index> cardinalities, const HostRows& rows);

  /// A device copy of `table`: full, int8 or int16 (global or per-row scales), or hash (any
  /// bucket function or layout). Any other method, and learned step sizes (alpt), have no CUDA
  /// table yet: InvalidArgument naming the method.
  static GatherTable mirror(const EmbeddingTable& table);

  const std::string& method() const { return method_; }
  Index rows() const { return rows_; }
  Index width() const { return width_; }
  Index fields() const { return static_cast<Index>(cardinalities_.size()); }
  /// Optimizer steps taken (Adam's t).
  std::uint64_t steps() const { return steps_; }

  /// out[B*F x d] = W[row of ids[p]] (device pointers). InvalidArgument for an id outside its
  /// field's range (out is then undefined; the table is unchanged).
  void lookup(const DeviceIds& ids, float* out) const;

  /// One fused backward + optimizer step for dE[B*F x d] (device pointers); see the top of this
  /// file. The optimizer's kind must stay the same from step to step (its state is kept here).
  void train_step(const DeviceIds& ids, const float* dE, const DeviceOptimizer& optimizer);

  /// The table's rows [rows x width] as floats (codes decoded), copied to the host.
  std::vector<float> rows_to_host() const;
  /// The optimizer state [rows x slots*width] (the CPU optimizer's layout), copied to the host;
  /// empty before the first step of a stateful optimizer.
  std::vector<float> state_to_host() const;
  /// Writes the rows (values or codes, and per-row scales) into `table`'s "rows" parameter (the
  /// table this one mirrors, or one of the same method, codec and shape), e.g. before saving a
  /// checkpoint.
  void copy_rows_to(EmbeddingTable& table) const;

 private:
  /// Positions, in int32 (a batch has fewer than 2^31 positions).
  using Position = std::int32_t;
  /// Where the kernels report bad input; kNone where there was none.
  struct Flags {
    unsigned long long bad_id_position;
    unsigned long long bad_value_index;
  };

  void check_batch(const DeviceIds& ids) const;
  /// What the kernels need to find the rows of `ids` and report a bad one.
  detail::BatchRows batch_rows(const DeviceIds& ids) const;
  void reset_flags() const;
  /// Reads the flags back and throws for what they report.
  void throw_on_flags(const DeviceIds& ids) const;
  void ensure_state(const DeviceOptimizer& optimizer);
  template <class Rule>
  void launch_update(const Rule& rule, float lr, std::uint64_t step, Index count, const float* dE);

  std::string method_;
  std::vector<Index> cardinalities_;
  Index rows_ = 0;
  Index width_ = 0;
  DeviceCodec codec_{};
  float lr_scale_ = 1.0f;
  std::uint64_t rounding_seed_ = 0;
  DeviceArray<kernels::FieldRows> field_rows_;
  DeviceArray<Index> field_sizes_;
  DeviceBuffer values_;           ///< [rows x width] floats or codes
  DeviceArray<float> row_scales_;  ///< per-row scales (codec_.per_row)
  DeviceArray<float> state_;
  int state_slots_ = -1;  ///< slots of the optimizer the state belongs to; -1 before a step
  std::uint64_t steps_ = 0;
  int row_bits_ = 1;      ///< bits of the largest row (the radix sort's key width)

  // Scratch, kept across calls so that steps do not allocate.
  mutable DeviceArray<Flags> flags_;
  DeviceArray<std::uint32_t> step_rows_, sorted_rows_;  ///< rows as sort keys
  DeviceArray<Position> positions_, sorted_positions_;
  DeviceArray<float> updated_rows_;  ///< per-row scales: a run's updated row before encoding
  DeviceArray<unsigned char> library_scratch_;
};

}  // namespace embcomp::cuda
