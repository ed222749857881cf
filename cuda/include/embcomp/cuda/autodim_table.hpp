// The CUDA twin of autodim (methods/autodim.hpp) in its search: every candidate width w_k's rows
// R_k [N x w_k] (fields stacked as in `full`), per-field layer W_k [F*w_k x d] and bias b_k
// [F x d], and BatchNorm without scale or shift (running statistics [2 x d]), mixed by the
// weights P [F x K] of the logits alpha (autodim_search.hpp):
//   h_k[p] = BN_k(R_k[r] W_k[f] + b_k[f]),   out[p] = sum_k P[f][k] h_k[p]  (k ascending)
//   lookup      P without noise, BatchNorm on the running statistics;
//   forward     the training forward: P with this step's Gumbel noise, BatchNorm with the batch's
//               statistics (dense_layers' BatchNormLayer), which it updates;
//   train_step  the exact gradient of the training forward of `ids` (that of the last forward
//               when it was given the same device ids, else recomputed without touching the
//               running statistics, as the CPU's backward); every candidate's BatchNorm gradient
//               is computed and checked before any candidate steps (finite dE can overflow in
//               the batch sums: NonFiniteGradient naming the candidate, nothing changed, as the
//               CPU optimizer refuses); then the optimizer: W_k and b_k by element (dense
//               parameters), R_k by run of equal rows (positions sorted by stacked row, CUB,
//               stable; field_rows.cuh, as mde's rows);
//   on_validation_batch  dL/dP [F x K] on the device (each position's dot of dE with the eval
//               h_k in double, then summed per field in ascending position order), read back;
//               alpha steps on the host (autodim::step_logits).
// The logits, the mixing weights (F x K floats, uploaded per call) and the counters (search steps,
// samples seen) live on the host: the CPU table's own functions compute them, so the Gumbel noise
// and the temperature are the CPU's. After the search the CPU table chooses the widths and builds
// its fields on the host; mirror it again (cuda::mirror then gives a cuda::MdeTable).
// In host mode everything equals the CPU table bit for bit: BatchNorm sums rows in ascending order
// (kernels/batch_norm.hpp) on both, and every other sum runs in the CPU's order. Shapes and input
// checks: device_table.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "embcomp/cuda/device_table.hpp"

namespace embcomp {
class AutoDimTable;
}

namespace embcomp::cuda {

class AutoDimTable : public DeviceTable {
 public:
  /// Candidate k in host memory.
  struct HostCandidate {
    Index width = 0;                ///< w_k
    const float* rows = nullptr;    ///< R_k [N x w_k]
    const float* weight = nullptr;  ///< W_k [F*w_k x d]
    const float* bias = nullptr;    ///< b_k [F x d]
    const float* norm = nullptr;    ///< [2 x d]: running mean, running variance
  };
  /// The logits, their settings and the counters: the twin keeps them on the host.
  struct Logits {
    std::vector<float> alpha;  ///< [F x K]
    float alpha_lr = 0.0f;
    double temperature_decay = 0.0;
    std::uint64_t mixing_stream = 0;  ///< the Gumbel noise's (kernels::gumbel)
    std::uint64_t search_steps = 0;
    std::uint64_t samples_seen = 0;
  };
  /// An autodim table in its search, in host memory.
  struct HostTables {
    Index dim = 0;
    std::vector<HostCandidate> candidates;
    Logits logits;
    /// The learning-rate scales of every candidate's rows, layers and biases.
    float rows_lr_scale = 1.0f;
    float weight_lr_scale = 1.0f;
    float bias_lr_scale = 1.0f;
    /// The CPU table's parameters the search leaves untrained (its fields' [1 x 1]
    /// placeholders), returned as they are.
    UntrainedParameters untrained;
  };

  AutoDimTable(std::string method, std::vector<Index> cardinalities, const HostTables& host);
  AutoDimTable(AutoDimTable&&) noexcept;
  AutoDimTable& operator=(AutoDimTable&&) noexcept;
  ~AutoDimTable() override;
  /// A device copy of a CPU `autodim` table in its search; InvalidArgument after it (its fields
  /// are a cuda::MdeTable).
  static AutoDimTable mirror(const embcomp::AutoDimTable& table);

  // DeviceTable (device_table.hpp). Parameters as the CPU table's: "search<w>.rows", ".weight",
  // ".bias" and ".norm" (the running statistics, no optimizer state), and "alpha" (stepped by
  // validation batches, no optimizer state), and the untrained ones.
  Index dim() const override { return dim_; }
  void lookup(const DeviceIds& ids, float* out) const override;
  void forward(const DeviceIds& ids, float* out) override;
  void train_step(const DeviceIds& ids, const float* dE, const DeviceOptimizer& optimizer) override;
  bool takes_validation_batches() const override { return true; }
  void on_validation_batch(const DeviceIds& ids, const float* dE) override;
  /// Counts the search step and its samples (the Gumbel noise's step, the temperature).
  void after_step(const StepContext& ctx) override;
  std::vector<float> rows_to_host(const std::string& parameter) const override;
  StateSpan state_span(const std::string& parameter) const override;
  void ensure_state(const DeviceOptimizer& optimizer) override;
  void copy_rows_to(EmbeddingTable& table) const override;

  /// The temperature and the mixing weights [F x K] a lookup uses now (the CPU table's
  /// temperature() and mixing_weights()).
  float temperature() const;
  std::vector<float> mixing_weights() const;
  /// Search steps taken and training samples seen (the CPU table's counters).
  std::uint64_t search_steps() const;
  std::uint64_t samples_seen() const;

 private:
  struct Parts;  ///< the candidates, their layers and the step's scratch (autodim_table.cu)

  Index dim_;
  std::unique_ptr<Parts> parts_;
};

}  // namespace embcomp::cuda
