// The CUDA twin of the straight-through product quantizers (methods/pq_training.hpp): dpq and
// mgqe. Every field's query rows Q [N x d] stacked as in `full`, the centroids [rows x d/D]
// (part j's centroid k at row j S + k, S the part stride, 0 when shared), and the packed codes of
// two groups (kernels/pq.hpp): a high row names any of K_high centroids, a low row only the first
// K_low, and kernels::SplitView locates a row's codes (dpq: one group, every row high).
//   lookup    decodes the stored codes (kernels::decode_codes)
//   forward   per position and part the nearest candidate centroid of Q[x] (the first on
//             ties), its code stored (atomically: neighbouring codes share words; every position
//             of a row writes the same code), out = the centroids; the regulariser, the mean of
//             (out - Q[x])^2, summed per position then over positions in order
//             (kernels::quantize_position), is auxiliary_loss()
//   step      the CPU's surrogate from the parameters before the step: dQ[x] = dE summed over
//             x's positions (ascending), stepped fused; every centroid's gradient, 2 (C - Q[x]_j)
//             / (B F d) summed over the (position, part) pairs assigned to it in the CPU's order
//             (pairs sorted by centroid row, stable), then the centroids stepped as a dense
//             parameter (every element, as the CPU optimizer)
// Query rows, centroids, state, codes and the regulariser equal the CPU's bit for bit in host
// mode. Shapes and input checks: device_table.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "embcomp/cuda/device_table.hpp"

namespace embcomp {
class StraightThroughPq;
}

namespace embcomp::cuda {

class PqTable : public DeviceTable {
 public:
  /// A straight-through quantizer in host memory.
  struct HostTables {
    Index rows = 0;
    Index dim = 0;
    Index parts = 1;
    Index part_stride = 0;
    const float* query = nullptr;  ///< Q [rows x dim]
    float query_lr_scale = 1.0f;
    Index centroid_rows = 0;
    const float* centroids = nullptr;  ///< [centroid_rows x dim / parts]
    float centroid_lr_scale = 1.0f;
    std::vector<Index> offsets;  ///< [F] field f's first row
    /// The split's arrays (kernels::SplitView): the prefix encoding's high_before [F + 1], or the
    /// bitset's words and ranks.
    std::span<const Index> high_before;
    std::span<const std::uint64_t> split_words;
    std::span<const std::uint32_t> split_ranks;
    Index high_candidates = 2;
    Index low_candidates = 2;
    std::span<const std::uint64_t> high_codes;
    std::span<const std::uint64_t> low_codes;
  };

  PqTable(std::string method, std::vector<Index> cardinalities, const HostTables& host);
  /// A device copy of a CPU dpq or mgqe table (InvalidArgument for another method).
  static PqTable mirror(StraightThroughPq& table);
  PqTable(PqTable&&) noexcept;
  PqTable& operator=(PqTable&&) noexcept;
  ~PqTable() override;

  // DeviceTable (device_table.hpp). Parameters "query" and "centroids"; copy_rows_to writes the
  // codes too.
  Index dim() const override { return dim_; }
  void lookup(const DeviceIds& ids, float* out) const override;
  void forward(const DeviceIds& ids, float* out) override;
  void train_step(const DeviceIds& ids, const float* dE, const DeviceOptimizer& optimizer) override;
  double auxiliary_loss() const override;
  std::vector<float> rows_to_host(const std::string& parameter) const override;
  StateSpan state_span(const std::string& parameter) const override;
  void ensure_state(const DeviceOptimizer& optimizer) override;
  void copy_rows_to(EmbeddingTable& table) const override;

  /// The packed codes of the high (dpq: the only) or the low group, copied to the host.
  std::vector<std::uint64_t> codes_to_host(bool high) const;

 private:
  struct Parts;  ///< the parameters, codes, split and scratch (pq_table.cu)

  Index dim_;
  std::unique_ptr<Parts> parts_;
};

}  // namespace embcomp::cuda
