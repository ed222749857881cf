// Sizes, workloads, the one-slot holder and the entry list shared by the benchmarks.
#include "harness.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <utility>

namespace embcomp::bench {

namespace {

double env_number(const char* name, double fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  return end != text ? value : fallback;
}

constexpr double kSmallBytes = 1.5 * 1024.0 * 1024.0;
constexpr std::size_t kSmallBatches = 2;   // the small tables are cache-resident anyway
constexpr std::size_t kLargeBatches = 16;  // 16 x 106496 rows: far more than the caches hold

}  // namespace

const char* size_name(Size size) { return size == Size::small ? "small" : "large"; }

const Config& config() {
  static const Config c = [] {
    Config out;
    out.large = env_number("EMBCOMP_BENCH_LARGE", 1.0) != 0.0;
    out.large_gib = env_number("EMBCOMP_BENCH_LARGE_GIB", 4.0);
    out.threads = static_cast<int>(env_number("EMBCOMP_BENCH_THREADS", 2.0));
    if (!(out.large_gib > 0.0)) out.large_gib = 4.0;
    if (out.threads < 1) out.threads = 2;
    return out;
  }();
  return c;
}

double size_bytes(Size size) {
  return size == Size::small ? kSmallBytes : config().large_gib * 1024.0 * 1024.0 * 1024.0;
}

Schema make_schema(Size size, Index dim) {
  double criteo_rows = 0.0;
  for (Index n : kCriteoCardinalities) criteo_rows += static_cast<double>(n);
  const double target_rows = size_bytes(size) / (static_cast<double>(dim) * 4.0);
  const double scale = target_rows / criteo_rows;
  Schema schema;
  schema.dim = dim;
  for (Index n : kCriteoCardinalities) {
    const auto scaled = static_cast<Index>(std::floor(static_cast<double>(n) * scale + 0.5));
    schema.cardinalities.push_back(scaled < 1 ? 1 : scaled);
  }
  return schema;
}

void train_step(EmbeddingTable& table, Optimizer& optimizer, Gradients& grads, Workload& w,
                std::size_t b) {
  const Index dim = w.schema.dim;
  table.forward(w.batch(b), Matrix{w.out.data(), w.lookups(), dim});
  table.backward(w.batch(b), ConstMatrix{w.dE.data(), w.lookups(), dim}, grads);
  optimizer.step(grads);
  const std::uint64_t t = optimizer.steps();
  table.after_step(StepContext{t, 0, 0.0, &optimizer, static_cast<Index>(t % 1000) + 1, 1000});
}

Workload& workload(Size size, Index dim) {
  static std::map<std::pair<Size, Index>, Workload> cache;
  const auto key = std::make_pair(size, dim);
  if (auto it = cache.find(key); it != cache.end()) return it->second;

  Workload w;
  w.schema = make_schema(size, dim);
  const Index fields = w.schema.num_fields();
  std::vector<Index> offsets;
  for (Index f = 0; f < fields; ++f) offsets.push_back(w.schema.field_offset(f));
  std::mt19937_64 rng(0xbe5c0ULL + static_cast<std::uint64_t>(dim) * 31 +
                      (size == Size::large ? 7 : 0));
  const std::size_t batches = size == Size::small ? kSmallBatches : kLargeBatches;
  for (std::size_t b = 0; b < batches; ++b) {
    std::vector<Index> ids(static_cast<std::size_t>(kBatch * fields));
    std::vector<Index> rows(ids.size());
    for (Index s = 0; s < kBatch; ++s) {
      for (Index f = 0; f < fields; ++f) {
        std::uniform_int_distribution<Index> pick(0, w.schema.cardinalities[f] - 1);
        const Index p = s * fields + f;
        ids[p] = pick(rng);
        rows[p] = offsets[f] + ids[p];
      }
    }
    w.ids.push_back(std::move(ids));
    w.rows.push_back(std::move(rows));
  }
  const auto elements = static_cast<std::size_t>(w.lookups() * dim);
  w.dE.resize(elements);
  std::normal_distribution<float> normal(0.0f, 1e-2f);
  for (auto& g : w.dE) g = normal(rng);
  w.out.assign(elements, 0.0f);
  return cache.emplace(key, std::move(w)).first->second;
}

namespace {
struct Slot {
  std::string key;
  std::unique_ptr<Held> held;
};
Slot& slot() {
  static Slot s;
  return s;
}
}  // namespace

Held& acquire(const std::string& key, const std::function<std::unique_ptr<Held>()>& make) {
  Slot& s = slot();
  if (s.held && s.key == key) return *s.held;
  s.held.reset();  // free the previous table (and its optimizer state) before building
  s.key.clear();
  s.held = make();
  s.key = key;
  return *s.held;
}

void release_held() {
  slot().held.reset();
  slot().key.clear();
}

namespace {
std::vector<Entry>& entry_list() {
  static std::vector<Entry> list;
  return list;
}
}  // namespace

void add_entry(Entry entry) { entry_list().push_back(std::move(entry)); }
const std::vector<Entry>& entries() { return entry_list(); }

std::string bench_name(const std::string& method, const std::string& op, Size size, Index dim) {
  std::string name = method;
  if (!op.empty()) name += "/" + op;
  return name + "/" + size_name(size) + "/d" + std::to_string(dim);
}

void set_rates(benchmark::State& state, const Workload& w) {
  const auto lookups = state.iterations() * static_cast<benchmark::IterationCount>(w.lookups());
  state.SetItemsProcessed(static_cast<std::int64_t>(lookups));
  state.SetBytesProcessed(static_cast<std::int64_t>(lookups) *
                          static_cast<std::int64_t>(w.schema.dim) *
                          static_cast<std::int64_t>(sizeof(float)));
}

long long huge_page_bytes(const void* data, std::size_t bytes) {
  std::ifstream smaps("/proc/self/smaps");
  if (!smaps) return -1;
  const auto begin = reinterpret_cast<std::uintptr_t>(data), end = begin + bytes;
  long long huge = 0;
  bool overlaps = false;
  for (std::string line; std::getline(smaps, line);) {
    unsigned long long first = 0, last = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx ", &first, &last) == 2 &&
        line.find(':') > line.find(' ')) {  // a mapping's header: "start-end perms ..."
      overlaps = first < end && last > begin;
      continue;
    }
    long long kib = 0;
    if (overlaps && std::sscanf(line.c_str(), "AnonHugePages: %lld kB", &kib) == 1) {
      huge += kib * 1024;
    }
  }
  return std::min(huge, static_cast<long long>(bytes));
}

std::string huge_page_note(const std::vector<std::pair<const void*, std::size_t>>& buffers) {
  long long huge = 0, total = 0;
  for (const auto& [data, bytes] : buffers) {
    const long long h = huge_page_bytes(data, bytes);
    if (h < 0) return "";
    huge += h;
    total += static_cast<long long>(bytes);
  }
  if (total < (64LL << 20)) return "";
  char note[48];
  std::snprintf(note, sizeof note, " huge pages %.0f%%", 100.0 * static_cast<double>(huge) /
                                                          static_cast<double>(total));
  return note;
}

}  // namespace embcomp::bench
