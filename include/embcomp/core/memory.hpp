// MemoryReport: every byte a table holds, for training and for serving.
#pragma once

#include <cstddef>
#include <string>

namespace embcomp {

struct MemoryReport {
  double full_bytes = 0;             ///< the uncompressed fp32 tables: N * d * 4
  std::size_t parameter_bytes = 0;   ///< trainable storage (tables, projections), in its codec
  std::size_t index_bytes = 0;       ///< remaps, codes, sketches, scales outside parameters
  std::size_t optimizer_bytes = 0;   ///< optimizer state for this table's parameters
  std::size_t serving_bytes = 0;     ///< what the frozen serving form holds

  std::size_t training_bytes() const { return parameter_bytes + index_bytes + optimizer_bytes; }
  /// full fp32 bytes / serving bytes: the compression ratio reported everywhere.
  double ratio() const { return full_bytes / static_cast<double>(serving_bytes); }
  /// full fp32 bytes / everything held during training.
  double training_ratio() const { return full_bytes / static_cast<double>(training_bytes()); }

  std::string to_string() const {
    return "parameters " + std::to_string(parameter_bytes) + " B, index " +
           std::to_string(index_bytes) + " B, optimizer " + std::to_string(optimizer_bytes) +
           " B, serving " + std::to_string(serving_bytes) + " B, ratio " +
           std::to_string(ratio()) + "x (training " + std::to_string(training_ratio()) + "x)";
  }
};

}  // namespace embcomp
