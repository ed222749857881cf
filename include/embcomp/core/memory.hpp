// MemoryReport: every byte a table holds, for training and for serving.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

namespace embcomp {

struct MemoryReport {
  double full_bytes = 0;             ///< the uncompressed fp32 tables: N * d * 4
  std::size_t parameter_bytes = 0;   ///< trainable storage (tables, projections), in its codec
  std::size_t index_bytes = 0;       ///< remaps, codes, sketches, scales outside parameters
  std::size_t optimizer_bytes = 0;   ///< optimizer state for this table's parameters
  std::size_t serving_bytes = 0;     ///< what the frozen serving form holds
  /// The trainer's: the largest training footprint over its stages (table, index, optimizer
  /// state and the best-state snapshot it keeps in memory); 0 outside a trainer.
  std::size_t peak_training_bytes = 0;

  /// What the table holds now for training: parameters, index state, optimizer state.
  std::size_t training_bytes() const { return parameter_bytes + index_bytes + optimizer_bytes; }
  /// full fp32 bytes / serving bytes: the compression ratio reported everywhere.
  double ratio() const { return full_bytes / static_cast<double>(serving_bytes); }
  /// full fp32 bytes / everything held during training: the trainer's peak when known.
  double training_ratio() const {
    const std::size_t held = std::max(peak_training_bytes, training_bytes());
    return full_bytes / static_cast<double>(held);
  }

  std::string to_string() const {
    std::string peak;
    if (peak_training_bytes > 0) peak = ", peak " + std::to_string(peak_training_bytes) + " B";
    return "parameters " + std::to_string(parameter_bytes) + " B, index " +
           std::to_string(index_bytes) + " B, optimizer " + std::to_string(optimizer_bytes) +
           " B" + peak + ", serving " + std::to_string(serving_bytes) + " B, ratio " +
           std::to_string(ratio()) + "x (training " + std::to_string(training_ratio()) + "x)";
  }
};

}  // namespace embcomp
