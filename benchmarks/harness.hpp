// Shared pieces of the embcomp micro benchmarks: the two table sizes (a cache-resident one and a
// ~4 GiB one, both with Criteo Kaggle's field proportions), the pregenerated id batches, the
// one-slot holder that keeps at most one large table alive, and the side table that lets the
// custom main compare every result with the raw gather of the same size and dim.
//
// Environment:
//   EMBCOMP_BENCH_LARGE=0       skip the large size (quick smoke run); default 1
//   EMBCOMP_BENCH_LARGE_GIB=x   fp32 size of the large tables in GiB; default 4
//   EMBCOMP_BENCH_THREADS=n     OpenMP threads for the library and the raw gather; default 2
//   EMBCOMP_HUGE_PAGES=0        large buffers on small pages (library and raw gather alike)
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "embcomp/core/schema.hpp"
#include "embcomp/core/types.hpp"
#include "embcomp/table.hpp"
#include "embcomp/optim/optimizer.hpp"

namespace embcomp::bench {

/// Samples per batch; every batch has 26 fields, so B*F = 106496 lookups.
inline constexpr Index kBatch = 4096;

/// Criteo Kaggle (display advertising challenge) cardinalities of the 26 categorical fields.
/// The benchmark schemas keep these proportions, scaled to a total size.
inline constexpr std::array<Index, 26> kCriteoCardinalities = {
    1460,    583,   10131227, 2202608, 305,   24,    12517, 633,     3,      93145,
    5683,    8351593, 3194,   27,      14992, 5461306, 10,  5652,    2173,   4,
    7046547, 18,    15,       286181,  105,   142572};

enum class Size { small, large };

/// "small" (full fp32 tables of 1.5 MiB: cache-resident) or "large" (EMBCOMP_BENCH_LARGE_GIB).
const char* size_name(Size size);

struct Config {
  bool large = true;
  double large_gib = 4.0;
  int threads = 2;
};
/// Read once from the environment.
const Config& config();

/// Bytes of the full fp32 tables at `size`.
double size_bytes(Size size);

/// Criteo proportions scaled so that rows x dim x 4 B is about size_bytes(size):
/// n_f = max(1, round(n_f^Criteo * target_rows / sum_f n_f^Criteo)).
Schema make_schema(Size size, Index dim);

/// Pregenerated inputs for one (size, dim): uniform random local ids per field, several batches
/// cycled so that the rows they read are not all cache-resident, the same positions as global
/// rows (offset_f + id) for the raw gather, a random dE and an output buffer.
struct Workload {
  Schema schema;
  std::vector<std::vector<Index>> ids;   ///< per batch: [kBatch x F] local ids
  std::vector<std::vector<Index>> rows;  ///< per batch: [kBatch * F] global rows
  std::vector<float> dE;                 ///< [kBatch*F x dim]
  std::vector<float> out;                ///< [kBatch*F x dim]

  Index fields() const { return schema.num_fields(); }
  Index lookups() const { return kBatch * fields(); }
  std::size_t batches() const { return ids.size(); }
  IdBatch batch(std::size_t i) const { return {ids[i].data(), kBatch, fields()}; }
};

/// The workload of (size, dim), generated on first use and kept (ids are small).
Workload& workload(Size size, Index dim);

/// Something large that a benchmark needs (a table, optimizer state).
struct Held {
  virtual ~Held() = default;
};

/// At most one Held object is alive at a time: asking for another key frees the current one
/// first, then makes the new one. Benchmarks are registered in (size, dim, method) order, so
/// each large table is built once per (method, dim) and no two are ever held together.
Held& acquire(const std::string& key, const std::function<std::unique_ptr<Held>()>& make);

/// Frees whatever acquire() holds.
void release_held();

/// What the custom main needs to compare a result with the raw gather of the same size and dim.
struct Entry {
  std::string name;    ///< the registered benchmark name
  Size size;
  Index dim;
  std::string method;  ///< "raw_gather" or a registry key
  std::string op;      ///< "gather", "lookup", "train", "train_<optimizer>" or "serve"
};
void add_entry(Entry entry);
const std::vector<Entry>& entries();

/// Prefixes of SkipWithError messages: a method that cannot fit its budget is skipped; any other
/// exception is a failure, and embcomp_bench then exits with status 1.
inline constexpr const char* kSkipped = "skipped: ";
inline const std::string kFailed = "failed: ";

/// Name of a benchmark: "<method>/<op>/<size>/d<dim>" ("raw_gather/<size>/d<dim>[/after]" for
/// the baseline).
std::string bench_name(const std::string& method, const std::string& op, Size size, Index dim);

/// Registration, one (size, dim) at a time; the main calls them in order.
/// The baseline is registered twice per (size, dim): before the methods and after them (name
/// suffix /after); the summary's ratios use the mean of the two.
void register_gather_baseline(Size size, Index dim, bool after);
void register_methods(Size size, Index dim);
/// gemm/<m>x<n>x<k>: kernels::gemm's multiply-add rate (gemm_bench.cpp).
void register_gemm();

/// One training step as the trainer runs it on batch b of w: forward, backward(ids, w.dE),
/// optimizer step, after_step (CAFE's sketch insert, promotion and migration happen there) with
/// the stage-local counts of a 1,000-step stage, so schedules run (deeplight prunes every 10th
/// step) as in training.
void train_step(EmbeddingTable& table, Optimizer& optimizer, Gradients& grads, Workload& w,
                std::size_t b);

/// Sets items processed (lookups: B*F per iteration) and bytes processed (the fp32 embeddings
/// produced: B*F x dim x 4 per iteration), so reports show rows/s and bytes/s.
void set_rates(benchmark::State& state, const Workload& w);

/// Bytes of [data, data + bytes) that lie on transparent huge pages: the AnonHugePages of the
/// mappings the range overlaps (/proc/self/smaps), at most `bytes`; -1 where that cannot be read.
/// Large lookups run at very different speeds on and off huge pages, so the labels say it.
long long huge_page_bytes(const void* data, std::size_t bytes);

/// " huge pages N%" for the buffers [data_i, data_i + bytes_i) together, or "" when they hold
/// less than 64 MiB or smaps cannot be read.
std::string huge_page_note(const std::vector<std::pair<const void*, std::size_t>>& buffers);

}  // namespace embcomp::bench
