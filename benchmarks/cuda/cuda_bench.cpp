// The CUDA backend's speed on a GPU, as ratios against the device's own random-row gather
// measured in the same run (scripts/gpu-check.sh runs it):
//   raw gather     out[p] = W[rows[p]] over a 4 GiB fp32 table, d = 16, uniform random rows
//   full lookup    the same table as `full` (8 fields of 2^23 ids), uniform random ids
//   hash lookup    `hash` at 5x: a 4 GiB table of 8 fields of 5 * 2^23 ids
//   int8           `int8` (global scale) on full's schema: lookup and an SGD step
//   alpt           `alpt` (int8 codes, a learned step per row) on full's schema: lookup and an
//                  SGD step (the step size stepped too)
//   qr             `qr` (op=mul) at 100x on full's schema: lookup and an SGD step
//   mde            `mde` at 8x on fields of 2^23 down to 2^9 ids (widths 16 down to 1, most
//                  projected): lookup and an SGD step
//   cafe           `cafe` at 1000x on full's schema (the HotSketch on the host: the ids and
//                  norms cross PCIe each step): lookup and an SGD step, beside `hash` at 1000x
//   robe           `robe` at 1000x on full's schema (an array of about a million cells): lookup
//                  and an SGD step (the B*F*d elements sorted by cell), beside `hash` at 1000x
//   tt             `tt` at 1000x on full's schema (rank-R cores, the cache of hot rows; a lookup
//                  contracts three core rows per position): lookup and an SGD step
//   dhe            `dhe` at 1000x on full's schema (k = 1024 hashes into an MLP per field, the
//                  compute-bound method): lookup, and an SGD step with its training forward
//   train steps    full's fused backward + update (sgd, adam), positions per second
// Each figure is the median of 5 timed repetitions of `kIterations` calls after a warm-up;
// lookups and steps include their input checks (one 16-byte copy each way per call).
//
//   embcomp_cuda_bench [--small]     (--small: 1/16 of the sizes, for a quick look)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "embcomp/cuda/cafe_table.hpp"
#include "embcomp/cuda/dhe_table.hpp"
#include "embcomp/cuda/gather_table.hpp"
#include "embcomp/cuda/mde_table.hpp"
#include "embcomp/cuda/qr_table.hpp"
#include "embcomp/cuda/raw_gather.hpp"
#include "embcomp/cuda/robe_table.hpp"
#include "embcomp/cuda/tt_table.hpp"
#include "embcomp/registry.hpp"

namespace {

using embcomp::Index;
using embcomp::cuda::DeviceArray;

constexpr int kIterations = 20;
constexpr Index kDim = 16;
constexpr Index kFields = 8;

/// Median over 5 repetitions of the seconds one call of `body` takes.
double seconds_per_call(const std::function<void()>& body) {
  body();
  embcomp::cuda::synchronize();
  std::vector<double> times;
  for (int rep = 0; rep < 5; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kIterations; ++i) body();
    embcomp::cuda::synchronize();
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
        kIterations);
  }
  std::sort(times.begin(), times.end());
  return times[2];
}

std::vector<Index> uniform_ids(const embcomp::Schema& schema, Index batch, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<Index> ids(static_cast<std::size_t>(batch * schema.num_fields()));
  for (std::size_t p = 0; p < ids.size(); ++p) {
    ids[p] = static_cast<Index>(
        rng() % static_cast<std::uint64_t>(schema.cardinalities[p % schema.cardinalities.size()]));
  }
  return ids;
}

struct Row {
  std::string name;
  double per_second;
};

void print(const std::vector<Row>& rows, double baseline) {
  std::printf("%-44s %14s %10s\n", "measure", "rows/s", "vs raw");
  for (const Row& r : rows) {
    std::printf("%-44s %14.4g %10.3f\n", r.name.c_str(), r.per_second, r.per_second / baseline);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool small = argc > 1 && std::strcmp(argv[1], "--small") == 0;
  if (!embcomp::cuda::device_present()) {
    std::printf("embcomp_cuda_bench: no CUDA device (%s); nothing measured\n",
                embcomp::cuda::device_description().c_str());
    return 0;
  }
  std::printf("device: %s\n", embcomp::cuda::device_description().c_str());
  const Index ids_per_field = (Index{1} << 23) / (small ? 16 : 1);
  const embcomp::Schema full_schema{std::vector<Index>(kFields, ids_per_field), kDim};
  const embcomp::Schema hash_schema{std::vector<Index>(kFields, 5 * ids_per_field), kDim};
  std::printf("tables: %lld rows x %lld floats (%.2f GiB)\n",
              static_cast<long long>(full_schema.total_rows()), static_cast<long long>(kDim),
              static_cast<double>(full_schema.total_rows() * kDim * 4) / (1 << 30));

  const auto full_cpu = embcomp::make_table("full", embcomp::TableArgs(full_schema, {1.0}, 1));
  const auto full = embcomp::cuda::GatherTable::mirror(*full_cpu);
  // The raw gather reads a second device copy of the same rows.
  const auto device_table = DeviceArray<float>::from(full.rows_to_host());
  const auto hash_cpu = embcomp::make_table("hash", embcomp::TableArgs(hash_schema, {5.0}, 1));
  const auto hash = embcomp::cuda::GatherTable::mirror(*hash_cpu);
  const auto int8_cpu = embcomp::make_table("int8", embcomp::TableArgs(full_schema, {1.0}, 1));
  auto int8 = embcomp::cuda::GatherTable::mirror(*int8_cpu);
  const auto alpt_cpu = embcomp::make_table("alpt", embcomp::TableArgs(full_schema, {1.0}, 1));
  auto alpt = embcomp::cuda::GatherTable::mirror(*alpt_cpu);
  const auto qr_cpu = embcomp::make_table("qr", embcomp::TableArgs(full_schema, {100.0}, 1));
  auto qr = embcomp::cuda::QrTable::mirror(*qr_cpu);
  // mde needs fields of different sizes to give them different widths.
  std::vector<Index> mixed_cardinalities;
  for (Index f = 0; f < kFields; ++f) mixed_cardinalities.push_back(ids_per_field >> (2 * f));
  const embcomp::Schema mixed_schema{mixed_cardinalities, kDim};
  const auto mde_cpu = embcomp::make_table("mde", embcomp::TableArgs(mixed_schema, {8.0}, 1));
  auto mde = embcomp::cuda::MdeTable::mirror(*mde_cpu);
  // cafe routes on the host through its CPU table, which must outlive the twin.
  const auto cafe_cpu = embcomp::make_table("cafe", embcomp::TableArgs(full_schema, {1000.0}, 1));
  auto cafe = embcomp::cuda::CafeTable::mirror(*cafe_cpu);
  const auto hash1000_cpu =
      embcomp::make_table("hash", embcomp::TableArgs(full_schema, {1000.0}, 1));
  auto hash1000 = embcomp::cuda::GatherTable::mirror(*hash1000_cpu);
  const auto robe_cpu = embcomp::make_table("robe", embcomp::TableArgs(full_schema, {1000.0}, 1));
  auto robe = embcomp::cuda::RobeTable::mirror(*robe_cpu);
  const auto tt_cpu = embcomp::make_table("tt", embcomp::TableArgs(full_schema, {1000.0}, 1));
  auto tt = embcomp::cuda::TtTable::mirror(*tt_cpu);
  const auto dhe_cpu = embcomp::make_table("dhe", embcomp::TableArgs(full_schema, {1000.0}, 1));
  auto dhe = embcomp::cuda::DheTable::mirror(*dhe_cpu);
  auto trained_sgd = embcomp::cuda::GatherTable::mirror(*full_cpu);
  auto trained_adam = embcomp::cuda::GatherTable::mirror(*full_cpu);

  std::vector<Row> rows;
  double raw_rate = 0.0;
  for (const Index batch : {Index{8192}, Index{1} << 17}) {
    const Index positions = batch * kFields;
    const std::string at = " (B*F = " + std::to_string(positions) + ")";
    DeviceArray<float> out(static_cast<std::size_t>(positions * kDim));

    // Raw gather: the rows full's lookup reads, given.
    const auto ids = uniform_ids(full_schema, batch, 3);
    std::vector<Index> table_rows(ids.size());
    for (std::size_t p = 0; p < ids.size(); ++p) {
      table_rows[p] = static_cast<Index>(p % kFields) * ids_per_field + ids[p];
    }
    const auto device_rows = DeviceArray<Index>::from(table_rows);
    const double raw = static_cast<double>(positions) / seconds_per_call([&] {
                         embcomp::cuda::raw_gather(device_table.data(), kDim, device_rows.data(),
                                                   positions, out.data());
                       });
    if (batch == (Index{1} << 17)) raw_rate = raw;
    rows.push_back({"raw gather" + at, raw});

    const auto device_ids = DeviceArray<Index>::from(ids);
    const embcomp::cuda::DeviceIds full_batch{device_ids.data(), batch, kFields};
    rows.push_back({"full lookup" + at, static_cast<double>(positions) / seconds_per_call([&] {
                                          full.lookup(full_batch, out.data());
                                        })});

    const auto hash_ids = DeviceArray<Index>::from(uniform_ids(hash_schema, batch, 4));
    const embcomp::cuda::DeviceIds hash_batch{hash_ids.data(), batch, kFields};
    rows.push_back({"hash lookup 5x" + at, static_cast<double>(positions) / seconds_per_call([&] {
                                             hash.lookup(hash_batch, out.data());
                                           })});

    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 1e-3f);
    std::vector<float> dE(static_cast<std::size_t>(positions * kDim));
    for (float& v : dE) v = normal(rng);
    const auto device_dE = DeviceArray<float>::from(dE);
    rows.push_back({"int8 lookup" + at, static_cast<double>(positions) / seconds_per_call([&] {
                                          int8.lookup(full_batch, out.data());
                                        })});
    const embcomp::cuda::DeviceOptimizer sgd{embcomp::cuda::DeviceOptimizer::Kind::sgd, 0.01f};
    rows.push_back(
        {"int8 train step sgd" + at, static_cast<double>(positions) / seconds_per_call([&] {
                                       int8.train_step(full_batch, device_dE.data(), sgd);
                                     })});
    rows.push_back({"alpt lookup" + at, static_cast<double>(positions) / seconds_per_call([&] {
                                          alpt.lookup(full_batch, out.data());
                                        })});
    rows.push_back(
        {"alpt train step sgd" + at, static_cast<double>(positions) / seconds_per_call([&] {
                                       alpt.train_step(full_batch, device_dE.data(), sgd);
                                     })});
    rows.push_back({"qr lookup 100x" + at, static_cast<double>(positions) / seconds_per_call([&] {
                                             qr.lookup(full_batch, out.data());
                                           })});
    rows.push_back(
        {"qr train step sgd 100x" + at, static_cast<double>(positions) / seconds_per_call([&] {
                                          qr.train_step(full_batch, device_dE.data(), sgd);
                                        })});
    const auto mixed_ids = DeviceArray<Index>::from(uniform_ids(mixed_schema, batch, 6));
    const embcomp::cuda::DeviceIds mixed_batch{mixed_ids.data(), batch, kFields};
    rows.push_back({"mde lookup 8x" + at, static_cast<double>(positions) / seconds_per_call([&] {
                                            mde.lookup(mixed_batch, out.data());
                                          })});
    rows.push_back(
        {"mde train step sgd 8x" + at, static_cast<double>(positions) / seconds_per_call([&] {
                                         mde.train_step(mixed_batch, device_dE.data(), sgd);
                                       })});
    rows.push_back({"cafe lookup 1000x" + at,
                    static_cast<double>(positions) /
                        seconds_per_call([&] { cafe.lookup(full_batch, out.data()); })});
    rows.push_back(
        {"cafe train step sgd 1000x" + at, static_cast<double>(positions) / seconds_per_call([&] {
                                             cafe.train_step(full_batch, device_dE.data(), sgd);
                                           })});
    rows.push_back(
        {"hash train step sgd 1000x" + at, static_cast<double>(positions) / seconds_per_call([&] {
                                             hash1000.train_step(full_batch, device_dE.data(), sgd);
                                           })});
    rows.push_back({"robe lookup 1000x" + at,
                    static_cast<double>(positions) /
                        seconds_per_call([&] { robe.lookup(full_batch, out.data()); })});
    rows.push_back(
        {"robe train step sgd 1000x" + at, static_cast<double>(positions) / seconds_per_call([&] {
                                             robe.train_step(full_batch, device_dE.data(), sgd);
                                           })});
    rows.push_back({"tt lookup 1000x" + at,
                    static_cast<double>(positions) /
                        seconds_per_call([&] { tt.lookup(full_batch, out.data()); })});
    rows.push_back(
        {"tt train step sgd 1000x" + at, static_cast<double>(positions) / seconds_per_call([&] {
                                           tt.train_step(full_batch, device_dE.data(), sgd);
                                         })});
    rows.push_back({"dhe lookup 1000x" + at, static_cast<double>(positions) / seconds_per_call([&] {
                                               dhe.lookup(full_batch, out.data());
                                             })});
    rows.push_back({"dhe forward + train step sgd 1000x" + at,
                    static_cast<double>(positions) / seconds_per_call([&] {
                      dhe.forward(full_batch, out.data());
                      dhe.train_step(full_batch, device_dE.data(), sgd);
                    })});
    for (auto* trained : {&trained_sgd, &trained_adam}) {
      const embcomp::cuda::DeviceOptimizer optimizer{
          trained == &trained_sgd ? embcomp::cuda::DeviceOptimizer::Kind::sgd
                                  : embcomp::cuda::DeviceOptimizer::Kind::adam,
          0.01f};
      rows.push_back({std::string("full train step ") + optimizer.name() + at,
                      static_cast<double>(positions) / seconds_per_call([&] {
                        trained->train_step(full_batch, device_dE.data(), optimizer);
                      })});
    }
  }
  print(rows, raw_rate);
  std::printf("(vs raw: against the raw gather at B*F = %lld)\n",
              static_cast<long long>((Index{1} << 17) * kFields));
  return 0;
}
