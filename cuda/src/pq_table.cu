// PqTable (cuda/include/embcomp/cuda/pq_table.hpp): the kernels and their driver. The same
// source builds under nvcc and, in host mode, as C++ against the shim (host/).
#include "embcomp/cuda/pq_table.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "backend.cuh"
#include "dense_layers.hpp"
#include "embcomp/core/error.hpp"
#include "embcomp/kernels/pq.hpp"
#include "primitives.cuh"
#include "sparse_update.cuh"

namespace embcomp::cuda {
namespace detail {

/// The queries and centroids as the kernels read them.
struct PqModel {
  const Index* offsets;  ///< [F] field f's first row
  const float* query;    ///< Q [N x d]
  const float* centroids;
  Index d;
  Index parts;
  Index width;   ///< d / parts
  Index stride;  ///< centroid rows between parts (0: shared)

  EMBCOMP_DEVICE Index row(Index p, Index fields, Index id) const {
    return offsets[p % fields] + id;
  }
  /// The nearest of the first `candidates` centroids of part j to row x's query.
  EMBCOMP_DEVICE Index nearest(Index x, Index j, Index candidates) const {
    return kernels::nearest_centroid(query + x * d + j * width, centroids + j * stride * width,
                                     candidates, width);
  }
};

/// The codes of both groups and where a row's are.
struct PqCodes {
  std::uint64_t* high;
  std::uint64_t* low;
  int high_bits;
  int low_bits;
  Index high_candidates;
  Index low_candidates;
  kernels::SplitView split;

  EMBCOMP_DEVICE Index candidates(const kernels::CodeSlot& at) const {
    return at.high ? high_candidates : low_candidates;
  }
};

/// kernels::write_code's layout, written with atomics: neighbouring codes share words, and the
/// positions of one row write the same code.
EMBCOMP_DEVICE void write_code_atomic(std::uint64_t* words, Index index, int bits,
                                      std::uint32_t code) {
  const auto bit = static_cast<std::uint64_t>(index) * static_cast<std::uint64_t>(bits);
  const std::uint64_t word = bit / 64, shift = bit % 64;
  const std::uint64_t mask = (std::uint64_t{1} << bits) - 1;
  const std::uint64_t value = static_cast<std::uint64_t>(code) & mask;
  auto* at = reinterpret_cast<unsigned long long*>(words + word);
  atomicAnd(at, static_cast<unsigned long long>(~(mask << shift)));
  atomicOr(at, static_cast<unsigned long long>(value << shift));
  if (shift + static_cast<std::uint64_t>(bits) > 64) {
    const std::uint64_t spill = 64 - shift;
    atomicAnd(at + 1, static_cast<unsigned long long>(~(mask >> spill)));
    atomicOr(at + 1, static_cast<unsigned long long>(value >> spill));
  }
}

/// One thread per position: its row decoded from the stored codes.
EMBCOMP_KERNEL void pq_lookup_kernel(BatchIds batch, PqModel model, PqCodes codes, float* out) {
  for (Index p = thread_index(); p < batch.count; p += thread_count()) {
    const Index id = batch.checked_id(p);
    if (id < 0) continue;
    const Index f = p % batch.fields;
    const kernels::CodeSlot at = codes.split.slot(f, model.row(p, batch.fields, id));
    kernels::decode_codes(at.high ? codes.high : codes.low, at.rank * model.parts,
                          at.high ? codes.high_bits : codes.low_bits, model.parts, model.centroids,
                          model.stride, model.width, out + p * model.d);
  }
}

/// One thread per position: the nearest candidate centroid of every part (assigned [B*F x D]),
/// out = those centroids and squares[p] = the position's squared distance to them.
EMBCOMP_KERNEL void pq_assign_kernel(BatchIds batch, PqModel model, PqCodes codes, Index* assigned,
                                     float* out, double* squares) {
  for (Index p = thread_index(); p < batch.count; p += thread_count()) {
    const Index id = batch.checked_id(p);
    if (id < 0) continue;
    const Index x = model.row(p, batch.fields, id);
    const Index candidates = codes.candidates(codes.split.slot(p % batch.fields, x));
    Index* own = assigned + p * model.parts;
    for (Index j = 0; j < model.parts; ++j) own[j] = model.nearest(x, j, candidates);
    squares[p] =
        kernels::quantize_position(model.query + x * model.d, model.centroids, model.stride,
                                   model.parts, model.width, own, out + p * model.d);
  }
}

/// One thread per position: its assigned codes stored, once every id has passed its check.
EMBCOMP_KERNEL void pq_store_codes_kernel(const Index* ids, Index count, Index fields,
                                          PqModel model, PqCodes codes, const Index* assigned,
                                          const unsigned long long* flags) {
  if (input_refused(flags)) return;
  for (Index p = thread_index(); p < count; p += thread_count()) {
    const kernels::CodeSlot at = codes.split.slot(p % fields, model.row(p, fields, ids[p]));
    for (Index j = 0; j < model.parts; ++j) {
      write_code_atomic(at.high ? codes.high : codes.low, at.rank * model.parts + j,
                        at.high ? codes.high_bits : codes.low_bits,
                        static_cast<std::uint32_t>(assigned[p * model.parts + j]));
    }
  }
}

/// One thread: *mean = the positions' squares summed in order, over count * d entries.
EMBCOMP_KERNEL void pq_regulariser_kernel(const double* squares, Index count, Index d, double* mean,
                                          const unsigned long long* flags) {
  if (input_refused(flags) || thread_index() != 0) return;
  double sum = 0.0;
  for (Index p = 0; p < count; ++p) sum += squares[p];
  *mean = count > 0 ? sum / static_cast<double>(count * d) : 0.0;
}

/// One thread per position: its row as a sort key (kNoRow for a bad id, which is recorded), dE
/// row p checked, and for every part j the centroid row it is assigned as a sort key of the pair
/// p D + j (kNoRow for a bad id).
EMBCOMP_KERNEL void pq_step_keys_kernel(BatchIds batch, PqModel model, PqCodes codes,
                                        const float* dE, RowKey* rows, Position* positions,
                                        RowKey* centroid_rows, Position* pairs,
                                        unsigned long long* bad_value_index) {
  for (Index p = thread_index(); p < batch.count; p += thread_count()) {
    check_finite_row(dE, p, model.d, bad_value_index);
    positions[p] = static_cast<Position>(p);
    const Index id = batch.checked_id(p);
    const Index x = id < 0 ? -1 : model.row(p, batch.fields, id);
    rows[p] = x < 0 ? kNoRow : static_cast<RowKey>(x);
    const Index candidates = x < 0 ? 0 : codes.candidates(codes.split.slot(p % batch.fields, x));
    for (Index j = 0; j < model.parts; ++j) {
      pairs[p * model.parts + j] = static_cast<Position>(p * model.parts + j);
      centroid_rows[p * model.parts + j] =
          x < 0 ? kNoRow : static_cast<RowKey>(j * model.stride + model.nearest(x, j, candidates));
    }
  }
}

/// One thread per (sorted pair, entry i < width): at the head of a run of pairs assigned one
/// centroid, its gradient's entry i = scale (C - Q[x]_j)[i] summed over the run's pairs in
/// ascending order (the CPU's), from the parameters before the step.
EMBCOMP_KERNEL void pq_centroid_gradient_kernel(const RowKey* sorted_centroids,
                                                const Position* sorted_pairs, Index pairs,
                                                PqModel model, const RowKey* rows, float scale,
                                                float* gradient, const unsigned long long* flags) {
  if (input_refused(flags)) return;
  for (Index t = thread_index(); t < pairs * model.width; t += thread_count()) {
    const Index head = t / model.width;
    const RowKey key = sorted_centroids[head];
    if (key == kNoRow) return;
    if (!starts_run(sorted_centroids, head)) continue;
    const Index i = t - head * model.width;
    const float c = model.centroids[static_cast<Index>(key) * model.width + i];
    float g = 0.0f;
    for (Index h = head; h < pairs && sorted_centroids[h] == key; ++h) {
      const Index pair = sorted_pairs[h];
      const Index p = pair / model.parts, j = pair - p * model.parts;
      const float q = model.query[static_cast<Index>(rows[p]) * model.d + j * model.width + i];
      g += scale * (c - q);
    }
    gradient[static_cast<Index>(key) * model.width + i] = g;
  }
}

}  // namespace detail

struct PqTable::Parts {
  DeviceRows query;
  detail::DenseParameter centroids;
  DeviceArray<Index> offsets, high_before;
  DeviceArray<std::uint64_t> split_words, high_codes, low_codes;
  DeviceArray<std::uint32_t> split_ranks;
  Index parts = 1, stride = 0, high_candidates = 2, low_candidates = 2;
  DeviceArray<double> regulariser;  ///< [1]: of the last forward
  // scratch
  DeviceArray<Index> assigned;
  DeviceArray<double> squares;
  DeviceArray<std::uint32_t> rows, sorted_rows, centroid_rows, sorted_centroid_rows;
  DeviceArray<std::int32_t> positions, sorted_positions, pairs, sorted_pairs;
  DeviceArray<float> row_gradients;

  detail::PqModel model(Index d) const {
    return {offsets.data(), query.values.data(), centroids.values.data(), d, parts, d / parts,
            stride};
  }
  detail::PqCodes codes() {
    kernels::SplitView split{offsets.data(), high_before.data(), nullptr, nullptr};
    if (split_words.size() > 0)
      split = {offsets.data(), nullptr, split_words.data(), split_ranks.data()};
    return {high_codes.data(),
            low_codes.data(),
            kernels::code_bits(high_candidates),
            kernels::code_bits(low_candidates),
            high_candidates,
            low_candidates,
            split};
  }
};

PqTable::PqTable(std::string method, std::vector<Index> cardinalities, const HostTables& host)
    : DeviceTable(std::move(method), std::move(cardinalities)),
      dim_(host.dim),
      parts_(std::make_unique<Parts>()) {
  const bool bitset = !host.split_words.empty();
  if (host.offsets.size() != cardinalities_.size() || dim_ <= 0 || host.parts < 1 ||
      dim_ % host.parts != 0 || host.rows >= Index{detail::kNoRow} || host.query == nullptr ||
      host.centroids == nullptr || host.centroid_rows < 1 ||
      host.centroid_rows >= Index{detail::kNoRow} || host.low_candidates < 1 ||
      host.low_candidates > host.high_candidates ||
      (bitset ? host.split_ranks.size() != host.split_words.size()
              : host.high_before.size() != cardinalities_.size() + 1)) {
    throw InvalidArgument("cuda::PqTable: " + std::to_string(host.rows) + " query rows of d = " +
                          std::to_string(dim_) + " in " + std::to_string(host.parts) + " parts, " +
                          std::to_string(host.centroid_rows) + " centroid rows, and a split for " +
                          std::to_string(cardinalities_.size()) + " fields");
  }
  Parts& parts = *parts_;
  parts.query = DeviceRows(host.rows, dim_, host.query, host.query_lr_scale);
  detail::DenseParameter& c = parts.centroids;
  c.name = "centroids";
  c.rows = host.centroid_rows;
  c.width = dim_ / host.parts;
  c.lr_scale = host.centroid_lr_scale;
  c.values = DeviceArray<float>::from({host.centroids, static_cast<std::size_t>(c.size())});
  c.gradient = DeviceArray<float>(static_cast<std::size_t>(c.size()));
  parts.offsets = DeviceArray<Index>::from(host.offsets);
  parts.high_before = DeviceArray<Index>::from(host.high_before);
  parts.split_words = DeviceArray<std::uint64_t>::from(host.split_words);
  parts.split_ranks = DeviceArray<std::uint32_t>::from(host.split_ranks);
  parts.high_codes = DeviceArray<std::uint64_t>::from(host.high_codes);
  parts.low_codes = DeviceArray<std::uint64_t>::from(host.low_codes);
  parts.parts = host.parts;
  parts.stride = host.part_stride;
  parts.high_candidates = host.high_candidates;
  parts.low_candidates = host.low_candidates;
  parts.regulariser = DeviceArray<double>(1);
  parts.regulariser.zero();
}

PqTable::PqTable(PqTable&&) noexcept = default;
PqTable& PqTable::operator=(PqTable&&) noexcept = default;
PqTable::~PqTable() = default;

void PqTable::lookup(const DeviceIds& ids, float* out) const {
  check_batch(ids);
  reset_flags();
  Parts& parts = *parts_;
  const detail::BatchIds batch{ids.ids, ids.size(), ids.fields, field_sizes(), &flags()[0]};
  detail::launch(ids.size(), detail::pq_lookup_kernel, batch, parts.model(dim_), parts.codes(),
                 out);
  throw_on_flags(ids, dim_);
}

void PqTable::forward(const DeviceIds& ids, float* out) {
  check_batch(ids);
  Parts& parts = *parts_;
  const Index count = ids.size();
  parts.assigned.reserve(static_cast<std::size_t>(count * parts.parts));
  parts.squares.reserve(static_cast<std::size_t>(count));
  reset_flags();
  const detail::BatchIds batch{ids.ids, count, ids.fields, field_sizes(), &flags()[0]};
  const detail::PqModel model = parts.model(dim_);
  const detail::PqCodes codes = parts.codes();
  detail::launch(count, detail::pq_assign_kernel, batch, model, codes, parts.assigned.data(), out,
                 parts.squares.data());
  const unsigned long long* checked = flags();
  detail::launch(count, detail::pq_store_codes_kernel, ids.ids, count, ids.fields, model, codes,
                 static_cast<const Index*>(parts.assigned.data()), checked);
  detail::launch(1, detail::pq_regulariser_kernel, static_cast<const double*>(parts.squares.data()),
                 count, dim_, parts.regulariser.data(), checked);
  throw_on_flags(ids, dim_);
}

double PqTable::auxiliary_loss() const {
  return parts_->regulariser.to_host()[0];
}

void PqTable::train_step(const DeviceIds& ids, const float* dE, const DeviceOptimizer& optimizer) {
  check_batch(ids);
  ensure_state(optimizer);
  Parts& parts = *parts_;
  const Index count = ids.size(), pairs = count * parts.parts;
  const auto n = static_cast<std::size_t>(count), m = static_cast<std::size_t>(pairs);
  for (auto* keys : {&parts.rows, &parts.sorted_rows}) keys->reserve(n);
  for (auto* positions : {&parts.positions, &parts.sorted_positions}) positions->reserve(n);
  for (auto* keys : {&parts.centroid_rows, &parts.sorted_centroid_rows}) keys->reserve(m);
  for (auto* scratch : {&parts.pairs, &parts.sorted_pairs}) scratch->reserve(m);
  reset_flags();
  const detail::BatchIds batch{ids.ids, count, ids.fields, field_sizes(), &flags()[0]};
  const detail::PqModel model = parts.model(dim_);
  detail::launch(count, detail::pq_step_keys_kernel, batch, model, parts.codes(), dE,
                 parts.rows.data(), parts.positions.data(), parts.centroid_rows.data(),
                 parts.pairs.data(), &flags()[1]);
  detail::sort_pairs(library_scratch_, parts.rows.data(), parts.sorted_rows.data(),
                     parts.positions.data(), parts.sorted_positions.data(), count, 32);
  detail::sort_pairs(library_scratch_, parts.centroid_rows.data(),
                     parts.sorted_centroid_rows.data(), parts.pairs.data(),
                     parts.sorted_pairs.data(), pairs, 32);
  // 1. The centroids' gradient (it reads the queries before their update).
  detail::DenseParameter& centroids = parts.centroids;
  centroids.gradient.zero();
  const float scale = 2.0f / static_cast<float>(std::max<Index>(1, count * dim_));
  detail::launch(pairs * model.width, detail::pq_centroid_gradient_kernel,
                 static_cast<const detail::RowKey*>(parts.sorted_centroid_rows.data()),
                 static_cast<const detail::Position*>(parts.sorted_pairs.data()), pairs, model,
                 static_cast<const detail::RowKey*>(parts.rows.data()), scale,
                 centroids.gradient.data(), static_cast<const unsigned long long*>(flags()));
  // 2. The queries, fused: the straight-through dE summed per row.
  const std::uint64_t step = steps_ + 1;
  detail::with_any_rule(optimizer, [&](const auto& rule) {
    detail::launch_runs_update(
        parts.sorted_rows.data(), parts.sorted_positions.data(), count, dim_,
        detail::GatherContribution{dE, dim_}, parts.query.values.data(), parts.query.state.data(),
        rule, rule.coefficients(optimizer.learning_rate * parts.query.lr_scale, step),
        parts.row_gradients, flags());
  });
  throw_on_flags(ids, dim_);
  // 3. The centroids, a dense parameter: stepped once the checks have passed.
  detail::dense_step(centroids, optimizer, step);
  steps_ = step;
}

std::vector<float> PqTable::rows_to_host(const std::string& parameter) const {
  if (parameter == "query") return parts_->query.values.to_host();
  if (parameter == "centroids") return parts_->centroids.values.to_host();
  throw InvalidArgument("cuda::PqTable: no parameter '" + parameter + "' (query, centroids)");
}

std::vector<std::uint64_t> PqTable::codes_to_host(bool high) const {
  return high ? parts_->high_codes.to_host() : parts_->low_codes.to_host();
}

DeviceTable::StateSpan PqTable::state_span(const std::string& parameter) const {
  if (parameter == "query") return span_of(parts_->query.state, parts_->query.state_slots);
  if (parameter == "centroids") {
    return span_of(parts_->centroids.state, parts_->centroids.state_slots);
  }
  throw InvalidArgument("cuda::PqTable: no parameter '" + parameter + "' (query, centroids)");
}

void PqTable::ensure_state(const DeviceOptimizer& optimizer) {
  const std::string owner = "cuda::PqTable (" + method_ + ")";
  parts_->query.ensure_state(optimizer, owner, true);
  detail::ensure_dense_state(parts_->centroids, optimizer, owner);
}

}  // namespace embcomp::cuda
