// The CUDA twin of the tables whose embedding is one stored row (full, hash, full's int8 and
// int16 forms, alpt's codes with learned step sizes, adaembed's hot and cold rows, and dedup's
// rows in either stage: stacked before
// the merge, kept blocks through its block remap after): the rows live on the device, lookup reads
// device id batches into device outputs, and train_step is the backward fused with the optimizer
// (TBE-style): the gradient rows are summed and applied in one kernel, never written out. Shapes
// and input checks: device_table.hpp.
//
// train_step, for the positions p of a batch:
//   rows[p] = remap.row_of(kernels::routed_row(field f of p, ids[p]))   (the CPU table's own
//             index math; the block remap is dedup's, the identity for the other methods)
//   sort (row, p) by row (CUB radix sort, stable)
//   for the head of every run of equal rows r and every column c, one thread: g = sum of
//   dE[p][c] over r's positions in ascending p (the CPU's order, so the same sum bit for bit),
//   then the optimizer's rule (kernels/optim_rules.hpp) updates W[r][c] and its state (a row
//   rule: the run's gradient buffered, then the row at once).
//   Integer codes (int8, int16, alpt): one thread per run does what the CPU's optimizer does
//   for a row of codes (RowwiseOptimizer::update_rows): decodes the row, sums its gradient,
//   updates it by the rule (by row for a row rule), steps a learned step size by LSQ's gradient
//   (alpt), and writes it back with the CPU's stochastic rounding (the same counter-based
//   noise, kernels/random.hpp, keyed by the parameter's name and the step), refitting a
//   per-row scale first where the codec has one.
// Three kernels (rows and checks, CUB's sort, update) and one 16-byte read back per step.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "embcomp/core/types.hpp"
#include "embcomp/cuda/device_memory.hpp"
#include "embcomp/cuda/device_table.hpp"
#include "embcomp/kernels/row_map.hpp"

namespace embcomp::cuda {

namespace detail {
struct BatchRows;
}

/// How a device table stores its rows (core/parameter.hpp's CodecSpec): fp32, or int8/int16
/// codes read as code * scale + offset with one global (scale, offset), or with a scale per row
/// (offset 0): fitted to the row (symmetric) after each update, or learned (alpt's step sizes,
/// stepped by the optimizer at its learning rate times step_lr_scale).
struct DeviceCodec {
  enum class Storage : std::uint8_t { fp32, int8, int16 };
  Storage storage = Storage::fp32;
  bool per_row = false;  ///< a scale per row (fitted, or learned)
  bool learned = false;  ///< per_row scales that the optimizer learns
  float scale = 1.0f;
  float offset = 0.0f;
  float step_lr_scale = 1.0f;  ///< learned: the steps' learning rate, relative to the rows'

  int bits() const { return storage == Storage::int8 ? 8 : storage == Storage::int16 ? 16 : 32; }
  std::size_t value_bytes() const { return static_cast<std::size_t>(bits() / 8); }
};

/// The rows a GatherTable starts from, in host memory.
struct HostRows {
  Index rows = 0;  ///< at most 2^32 (more than any device holds at d >= 8)
  Index width = 0;
  const void* values = nullptr;  ///< [rows x width] floats or codes, as `codec` says
  DeviceCodec codec{};
  std::span<const float> row_scales;  ///< codec.per_row: one per row
  float lr_scale = 1.0f;              ///< the parameter's learning-rate scale, as on the CPU
  std::uint64_t rounding_seed = 0;    ///< integer codes: XXH64 of the parameter's name
};

/// A block remap (kernels::BlockRemap: dedup's, once its blocks are merged), in host memory;
/// empty: none.
struct HostBlockRemap {
  std::span<const std::int32_t> remap;  ///< [blocks], each a kept block of the rows
  Index block_rows = 1;
};

/// The stored hot sets of a GatherTable's fields (kernels::HotSets), in host memory.
struct HostHotSets {
  std::span<const std::uint32_t> ids;
  std::span<const std::uint64_t> words;
  std::span<const std::uint32_t> ranks;
};

class GatherTable : public DeviceTable {
 public:
  /// `fields[f]` maps field f's ids (in [0, cardinalities[f])) to rows of `rows`
  /// (kernels::routed_row, its hot sets in `hot_sets`), through `remap` where one is given (the
  /// fields' rows then index the remapped blocks, and `rows` holds the kept ones).
  GatherTable(std::string method, std::vector<kernels::FieldRows> fields,
              std::vector<Index> cardinalities, const HostRows& rows,
              const HostHotSets& hot_sets = {}, const HostBlockRemap& remap = {});

  /// A device copy of `table`: full, int8 or int16 (global or per-row scales), alpt, hash (any
  /// bucket function or layout), adaembed (any hot-set encoding), or dedup in its current stage
  /// (a multi-stage method's twin mirrors one stage: after begin_stage on the CPU table, copy the
  /// rows back first and mirror it again). Any other method has no GatherTable:
  /// InvalidArgument naming the method.
  static GatherTable mirror(const EmbeddingTable& table);

  Index rows() const { return rows_; }
  Index width() const { return width_; }

  // DeviceTable (device_table.hpp). Its one parameter is "rows": out[p] = W[row of ids[p]];
  // copy_rows_to writes values or codes, and per-row scales.
  Index dim() const override { return width_; }
  void lookup(const DeviceIds& ids, float* out) const override;
  void train_step(const DeviceIds& ids, const float* dE,
                  const DeviceOptimizer& optimizer) override;
  std::vector<float> rows_to_host(const std::string& parameter) const override;
  StateSpan state_span(const std::string& parameter) const override;
  void ensure_state(const DeviceOptimizer& optimizer) override;
  void copy_rows_to(EmbeddingTable& table) const override;
  std::vector<float> rows_to_host() const { return rows_to_host("rows"); }
  using DeviceTable::state_to_host;
  std::vector<float> state_to_host() const { return state_to_host("rows"); }

 protected:
  /// The rows' values on the device, [rows x width] floats; InvalidArgument for integer codes.
  float* fp32_rows();

 private:
  /// What the kernels need to find the rows of `ids` and report a bad one.
  detail::BatchRows batch_rows(const DeviceIds& ids) const;
  /// The sorted runs' update at learning rate `lr` (the rows'), on fp32 rows or codes.
  template <class Rule>
  void launch_update(const Rule& rule, float lr, std::uint64_t step, Index count, const float* dE);
  /// Integer codes: one thread per run, decode, update, (learned step,) encode.
  template <class Rule, class Code>
  void launch_codes_update(const Rule& rule, float lr, std::uint64_t step, Index count,
                           const float* dE);

  Index rows_ = 0;
  Index width_ = 0;
  DeviceCodec codec_{};
  float lr_scale_ = 1.0f;
  std::uint64_t rounding_seed_ = 0;
  int row_bits_ = 1;  ///< bits of the largest row (the radix sort's key width)
  DeviceArray<kernels::FieldRows> field_rows_;
  DeviceArray<std::uint32_t> hot_ids_, hot_ranks_;  ///< the stored hot sets (kernels::HotSets)
  DeviceArray<std::uint64_t> hot_words_;
  DeviceArray<std::int32_t> remap_;  ///< the block remap (kernels::BlockRemap), or empty
  Index block_rows_ = 1;
  DeviceBuffer values_;            ///< [rows x width] floats or codes
  DeviceArray<float> row_scales_;  ///< per-row scales (codec_.per_row)
  DeviceArray<float> state_;
  int state_slots_ = -1;

  // Scratch, kept across calls so that steps do not allocate.
  DeviceArray<std::uint32_t> step_rows_, sorted_rows_;  ///< rows as sort keys
  DeviceArray<std::int32_t> positions_, sorted_positions_;
  /// fp32 rows, a row rule: a run's gradient; codes: a run's decoded, updated row.
  DeviceArray<float> updated_rows_;
  DeviceArray<float> code_gradients_;  ///< codes: a run's gradient row
};

}  // namespace embcomp::cuda
