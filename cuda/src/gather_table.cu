// GatherTable (cuda/include/embcomp/cuda/gather_table.hpp): the kernels and their driver. The
// same source builds under nvcc and, in host mode, as C++ against the shim (host/).
#include "embcomp/cuda/gather_table.hpp"

#include <algorithm>
#include <limits>
#include <string>

#include "backend.cuh"
#include "embcomp/core/error.hpp"
#include "embcomp/kernels/hash.hpp"
#include "embcomp/kernels/quantize.hpp"
#include "embcomp/kernels/random.hpp"
#include "primitives.cuh"
#include "sparse_update.cuh"

namespace embcomp::cuda {
namespace detail {

/// The rows a batch reads: its checked ids through each field's row map and the block remap.
struct BatchRows {
  BatchIds ids;
  const kernels::FieldRows* field_rows;
  kernels::HotSets hot_sets;
  kernels::BlockRemap remap;

  /// The row position p reads, or -1 (recorded) for an id outside its field's range.
  EMBCOMP_DEVICE Index row_of(Index p) const {
    const Index id = ids.checked_id(p);
    return id < 0 ? -1
                  : remap.row_of(kernels::routed_row(field_rows[p % ids.fields], hot_sets, id));
  }
  EMBCOMP_DEVICE Index count() const { return ids.count; }
};

/// One thread per (position, V-float chunk of its row): out[p] = W[row of ids[p]]; nothing is
/// written for an id out of range.
template <int V>
EMBCOMP_KERNEL void gather_kernel(BatchRows batch, const float* table, Index width, float* out) {
  const Index chunks = width / V;
  for (Index i = thread_index(); i < batch.count() * chunks; i += thread_count()) {
    const Index p = i / chunks;
    const Index c = (i - p * chunks) * V;
    const Index row = batch.row_of(p);
    if (row >= 0) copy_floats<V>(table + row * width + c, out + p * width + c);
  }
}

/// Integer codes: the scale and offset of a row.
struct CodeScale {
  const float* row_scales;  ///< per-row scales, or null for the global (scale, offset)
  float scale;
  float offset;
  int bits;
  EMBCOMP_DEVICE float scale_of(Index row) const { return row_scales ? row_scales[row] : scale; }
  EMBCOMP_DEVICE float offset_of() const { return row_scales ? 0.0f : offset; }
};

/// gather_kernel for integer codes, one thread per output element: out = code * scale + offset.
template <class Code>
EMBCOMP_KERNEL void gather_codes_kernel(BatchRows batch, const Code* codes, CodeScale codec,
                                        Index width, float* out) {
  for (Index i = thread_index(); i < batch.count() * width; i += thread_count()) {
    const Index p = i / width;
    const Index c = i - p * width;
    const Index row = batch.row_of(p);
    if (row < 0) continue;
    out[i] = kernels::dequantize(static_cast<float>(codes[row * width + c]), codec.scale_of(row),
                                 codec.offset_of());
  }
}

/// rows[p] = the row position p reads, positions[p] = p; an id out of range is recorded (its
/// row is set to 0 so the sort stays in bounds; the update then does nothing), and so is the
/// first NaN or Inf of dE row p.
EMBCOMP_KERNEL void rows_kernel(BatchRows batch, const float* dE, Index width, RowKey* rows,
                                Position* positions, unsigned long long* bad_value_index) {
  for (Index p = thread_index(); p < batch.count(); p += thread_count()) {
    check_finite_row(dE, p, width, bad_value_index);
    positions[p] = static_cast<Position>(p);
    const Index row = batch.row_of(p);
    rows[p] = row < 0 ? 0 : static_cast<RowKey>(row);
  }
}

/// update_runs_kernel for integer codes, one thread per run head, in the order of the CPU's
/// optimizer for a row of codes (RowwiseOptimizer::update_rows): the row decoded into
/// `rows`[head] and its gradient summed into `gradients`[head] (both [count x width] scratch),
/// the rule over the row (kernels::update_row; by row for a row rule, whose state is [slots]
/// per row), a learned step size (alpt) stepped by LSQ's gradient at `step_k` with its own
/// state after the rows' (kept >= kMinLearnedStep), or a per-row scale refitted to the updated
/// row, and the row encoded with the CPU's stochastic rounding (Parameter::write_row): noise
/// uniform01(combine(stream, row), c).
template <class Rule, class Code>
EMBCOMP_KERNEL void update_codes_kernel(const RowKey* sorted_rows, const Position* sorted_positions,
                                        Index count, const float* dE, Index width, Index table_rows,
                                        Code* codes, float* row_scales, CodeScale codec,
                                        bool learned, std::uint64_t stream, float* rows,
                                        float* gradients, float* state, Rule rule,
                                        typename Rule::Coefficients k,
                                        typename Rule::Coefficients step_k,
                                        const unsigned long long* flags) {
  if (input_refused(flags)) return;
  const Index state_width = kernels::row_state_width<Rule>(width, Rule::kRowWise);
  const GatherContribution contribution{dE, width};
  for (Index head = thread_index(); head < count; head += thread_count()) {
    if (!starts_run(sorted_rows, head)) continue;
    const auto row = static_cast<Index>(sorted_rows[head]);
    Code* row_codes = codes + row * width;
    float* w = rows + head * width;
    float* g = gradients + head * width;
    const float scale = codec.scale_of(row), offset = codec.offset_of();
    for (Index c = 0; c < width; ++c) {
      w[c] = kernels::dequantize(static_cast<float>(row_codes[c]), scale, offset);
      g[c] = run_gradient(sorted_rows, sorted_positions, count, head, c, contribution);
    }
    kernels::update_row(rule, w, g, kernels::element_state<Rule>(state, row * state_width), width,
                        k, Rule::kRowWise);
    float encoding_scale = scale;
    if (learned) {
      float step = scale;
      const float step_gradient = kernels::lsq_step_gradient(w, g, width, step, codec.bits);
      float* step_state =
          kernels::element_state<Rule>(state, table_rows * state_width + row * Rule::kSlots);
      kernels::update_row(rule, &step, &step_gradient, step_state, 1, step_k);
      encoding_scale = std::fmax(step, kernels::kMinLearnedStep);
      row_scales[row] = encoding_scale;
    } else if (row_scales != nullptr) {
      float max_abs = 0.0f;
      for (Index c = 0; c < width; ++c) max_abs = std::fmax(max_abs, std::fabs(w[c]));
      encoding_scale = kernels::symmetric_scale(max_abs, codec.bits);
      row_scales[row] = encoding_scale;
    }
    const std::uint64_t row_stream = kernels::combine(stream, static_cast<std::uint64_t>(row));
    for (Index c = 0; c < width; ++c) {
      const float u = kernels::uniform01(row_stream, static_cast<std::uint64_t>(c));
      row_codes[c] = static_cast<Code>(
          kernels::quantize_stochastic(w[c], encoding_scale, offset, codec.bits, u));
    }
  }
}

}  // namespace detail

namespace {

/// InvalidArgument unless every field's hot set lies inside `sets` (a field of n ids: h sorted
/// ids, or ceil(n / 64) words and ranks).
void check_hot_sets(const std::vector<kernels::FieldRows>& fields,
                    const std::vector<Index>& cardinalities, const HostHotSets& sets) {
  for (std::size_t f = 0; f < fields.size(); ++f) {
    const kernels::HotRows& hot = fields[f].hot;
    const Index n = cardinalities[f];
    const Index words = (n + 63) / 64;
    const bool inside =
        hot.count >= 0 && hot.count <= n && hot.offset >= 0 &&
        (hot.set == kernels::HotSet::prefix ||
         (hot.set == kernels::HotSet::sorted &&
          hot.offset + hot.count <= static_cast<Index>(sets.ids.size())) ||
         (hot.set == kernels::HotSet::bitset &&
          hot.offset + words <= static_cast<Index>(sets.words.size()) &&
          sets.ranks.size() == sets.words.size()));
    if (!inside) {
      throw InvalidArgument("cuda::GatherTable: field " + std::to_string(f) + "'s " +
                            std::to_string(hot.count) + " hot ids lie outside the hot sets given");
    }
  }
}

/// InvalidArgument unless `remap` (if any) sends every row the fields read to a block of the
/// table's `rows` rows: whole blocks, one entry per block up to the fields' last row, and
/// every entry a block of the table.
void check_block_remap(const std::vector<kernels::FieldRows>& fields,
                       const std::vector<Index>& cardinalities, Index rows,
                       const HostBlockRemap& remap) {
  if (remap.remap.empty()) return;
  const Index r = remap.block_rows;
  Index end = 0;  // one past the last row the fields read before the remap
  for (std::size_t f = 0; f < fields.size(); ++f) {
    const kernels::FieldRows& field = fields[f];
    end = std::max(end, field.base + field.hot.count +
                            (field.hashed ? field.rows : field.key_offset + cardinalities[f]));
  }
  const auto blocks = static_cast<Index>(remap.remap.size());
  const bool shaped = r >= 1 && rows % r == 0 && blocks * r >= end;
  const auto outside = [&](std::int32_t k) { return k < 0 || k >= rows / std::max<Index>(r, 1); };
  if (!shaped || std::any_of(remap.remap.begin(), remap.remap.end(), outside)) {
    throw InvalidArgument("cuda::GatherTable: a remap of " + std::to_string(blocks) +
                          " blocks of " + std::to_string(r) + " rows does not send the fields' " +
                          std::to_string(end) + " rows into the " + std::to_string(rows) +
                          " rows given (whole blocks, every entry one of them)");
  }
}

}  // namespace

GatherTable::GatherTable(std::string method, std::vector<kernels::FieldRows> fields,
                         std::vector<Index> cardinalities, const HostRows& rows,
                         const HostHotSets& hot_sets, const HostBlockRemap& remap)
    : DeviceTable(std::move(method), std::move(cardinalities)),
      rows_(rows.rows),
      width_(rows.width),
      codec_(rows.codec),
      lr_scale_(rows.lr_scale),
      rounding_seed_(rows.rounding_seed) {
  if (fields.size() != cardinalities_.size() || rows_ <= 0 || width_ <= 0 ||
      rows_ > Index{1} << 32 || rows.values == nullptr) {
    throw InvalidArgument("cuda::GatherTable: " + std::to_string(fields.size()) +
                          " field maps for " + std::to_string(cardinalities_.size()) + " fields, " +
                          std::to_string(rows_) + " rows of width " + std::to_string(width_) +
                          " (at most 2^32 rows, values given)");
  }
  if (codec_.per_row != (rows.row_scales.size() == static_cast<std::size_t>(rows_)) ||
      (codec_.per_row && codec_.storage == DeviceCodec::Storage::fp32)) {
    throw InvalidArgument("cuda::GatherTable: " + std::to_string(rows.row_scales.size()) +
                          " row scales for " + std::to_string(rows_) + " rows of " +
                          (codec_.per_row ? "per-row" : "global") + " scale");
  }
  check_hot_sets(fields, cardinalities_, hot_sets);
  check_block_remap(fields, cardinalities_, rows_, remap);
  field_rows_ = DeviceArray<kernels::FieldRows>::from(fields);
  remap_ = DeviceArray<std::int32_t>::from(remap.remap);
  block_rows_ = remap.block_rows;
  hot_ids_ = DeviceArray<std::uint32_t>::from(hot_sets.ids);
  hot_words_ = DeviceArray<std::uint64_t>::from(hot_sets.words);
  hot_ranks_ = DeviceArray<std::uint32_t>::from(hot_sets.ranks);
  const std::size_t bytes = static_cast<std::size_t>(rows_ * width_) * codec_.value_bytes();
  values_ = DeviceBuffer(bytes);
  values_.upload(rows.values, bytes);
  if (codec_.per_row) row_scales_ = DeviceArray<float>::from(rows.row_scales);
  row_bits_ = detail::bit_width_of(rows_ - 1);
}

detail::BatchRows GatherTable::batch_rows(const DeviceIds& ids) const {
  return {{ids.ids, ids.size(), ids.fields, field_sizes(), &flags()[0]},
          field_rows_.data(),
          {hot_ids_.data(), hot_words_.data(), hot_ranks_.data()},
          {remap_.size() > 0 ? remap_.data() : nullptr, block_rows_}};
}

float* GatherTable::fp32_rows() {
  if (codec_.storage != DeviceCodec::Storage::fp32) {
    throw InvalidArgument("cuda::GatherTable (" + method_ + "): its rows are integer codes");
  }
  return static_cast<float*>(values_.data());
}

void GatherTable::lookup(const DeviceIds& ids, float* out) const {
  check_batch(ids);
  reset_flags();
  const Index count = ids.size();
  const detail::BatchRows batch = batch_rows(ids);
  const detail::CodeScale scale{codec_.per_row ? row_scales_.data() : nullptr, codec_.scale,
                                codec_.offset, codec_.bits()};
  switch (codec_.storage) {
    case DeviceCodec::Storage::fp32: {
      const auto* table = static_cast<const float*>(values_.data());
      if (width_ % 4 == 0 && reinterpret_cast<std::uintptr_t>(out) % 16 == 0) {
        detail::launch(count * (width_ / 4), detail::gather_kernel<4>, batch, table, width_, out);
      } else {
        detail::launch(count * width_, detail::gather_kernel<1>, batch, table, width_, out);
      }
      break;
    }
    case DeviceCodec::Storage::int8:
      detail::launch(count * width_, detail::gather_codes_kernel<std::int8_t>, batch,
                     static_cast<const std::int8_t*>(values_.data()), scale, width_, out);
      break;
    case DeviceCodec::Storage::int16:
      detail::launch(count * width_, detail::gather_codes_kernel<std::int16_t>, batch,
                     static_cast<const std::int16_t*>(values_.data()), scale, width_, out);
      break;
  }
  throw_on_flags(ids, width_);
}

template <class Rule>
void GatherTable::launch_update(const Rule& rule, float lr, std::uint64_t step, Index count,
                                const float* dE) {
  switch (codec_.storage) {
    case DeviceCodec::Storage::fp32:
      detail::launch_runs_update(sorted_rows_.data(), sorted_positions_.data(), count, width_,
                                 detail::GatherContribution{dE, width_},
                                 static_cast<float*>(values_.data()), state_.data(), rule,
                                 rule.coefficients(lr, step), updated_rows_, flags());
      break;
    case DeviceCodec::Storage::int8:
      launch_codes_update<Rule, std::int8_t>(rule, lr, step, count, dE);
      break;
    case DeviceCodec::Storage::int16:
      launch_codes_update<Rule, std::int16_t>(rule, lr, step, count, dE);
      break;
  }
}

template <class Rule, class Code>
void GatherTable::launch_codes_update(const Rule& rule, float lr, std::uint64_t step, Index count,
                                      const float* dE) {
  float* row_scales = codec_.per_row ? row_scales_.data() : nullptr;
  const detail::CodeScale scale{row_scales, codec_.scale, codec_.offset, codec_.bits()};
  updated_rows_.reserve(static_cast<std::size_t>(count * width_));
  code_gradients_.reserve(static_cast<std::size_t>(count * width_));
  // As the CPU: the steps' rate is the rows' (lr, the parameter's scale included) times theirs.
  detail::launch(count, detail::update_codes_kernel<Rule, Code>, sorted_rows_.data(),
                 sorted_positions_.data(), count, dE, width_, rows_,
                 static_cast<Code*>(values_.data()), row_scales, scale, codec_.learned,
                 kernels::combine(rounding_seed_, step), updated_rows_.data(),
                 code_gradients_.data(), state_.data(), rule, rule.coefficients(lr, step),
                 rule.coefficients(lr * codec_.step_lr_scale, step), flags());
}

void GatherTable::train_step(const DeviceIds& ids, const float* dE,
                             const DeviceOptimizer& optimizer) {
  check_batch(ids);
  ensure_state(optimizer);
  const Index count = ids.size();
  const auto n = static_cast<std::size_t>(count);
  step_rows_.reserve(n);
  sorted_rows_.reserve(n);
  positions_.reserve(n);
  sorted_positions_.reserve(n);

  reset_flags();
  detail::launch(count, detail::rows_kernel, batch_rows(ids), dE, width_, step_rows_.data(),
                 positions_.data(), &flags()[1]);
  detail::sort_pairs(library_scratch_, step_rows_.data(), sorted_rows_.data(), positions_.data(),
                     sorted_positions_.data(), count, row_bits_);

  const std::uint64_t step = steps_ + 1;
  const float lr = optimizer.learning_rate * lr_scale_;
  detail::with_any_rule(optimizer,
                        [&](const auto& rule) { launch_update(rule, lr, step, count, dE); });
  throw_on_flags(ids, width_);
  steps_ = step;
}

std::vector<float> GatherTable::rows_to_host(const std::string& parameter) const {
  check_only_parameter(parameter, "rows", "cuda::GatherTable");
  const auto size = static_cast<std::size_t>(rows_ * width_);
  std::vector<float> rows(size);
  if (codec_.storage == DeviceCodec::Storage::fp32) {
    values_.download(rows.data(), size * sizeof(float));
    return rows;
  }
  const std::vector<float> scales = codec_.per_row ? row_scales_.to_host() : std::vector<float>{};
  const auto decode = [&](const auto* codes) {
    for (std::size_t i = 0; i < size; ++i) {
      const std::size_t row = i / static_cast<std::size_t>(width_);
      rows[i] = kernels::dequantize(static_cast<float>(codes[i]),
                                    codec_.per_row ? scales[row] : codec_.scale,
                                    codec_.per_row ? 0.0f : codec_.offset);
    }
  };
  if (codec_.storage == DeviceCodec::Storage::int8) {
    std::vector<std::int8_t> codes(size);
    values_.download(codes.data(), size);
    decode(codes.data());
  } else {
    std::vector<std::int16_t> codes(size);
    values_.download(codes.data(), size * sizeof(std::int16_t));
    decode(codes.data());
  }
  return rows;
}

void GatherTable::ensure_state(const DeviceOptimizer& optimizer) {
  // The CPU optimizer's state layout: [rows x slots x width] (a row rule: [rows x slots]), then
  // [rows x slots] for learned step sizes (alpt).
  const auto learned_steps = static_cast<std::size_t>(codec_.learned ? rows_ : 0);
  ensure_optimizer_state(
      state_, state_slots_, static_cast<std::size_t>(rows_ * width_) + learned_steps, optimizer,
      "cuda::GatherTable (" + method_ + ")", static_cast<std::size_t>(rows_) + learned_steps);
}

DeviceTable::StateSpan GatherTable::state_span(const std::string& parameter) const {
  check_only_parameter(parameter, "rows", "cuda::GatherTable");
  return span_of(state_, state_slots_);
}

}  // namespace embcomp::cuda
