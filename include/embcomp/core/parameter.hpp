// Parameter: named [rows x width] storage with a row codec. Optimizers and lookups read a row as
// fp32 and write it back through the codec, so quantized tables train like fp32 ones.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "embcomp/core/error.hpp"
#include "embcomp/core/huge_pages.hpp"
#include "embcomp/core/serialize.hpp"
#include "embcomp/core/types.hpp"
#include "embcomp/kernels/quantize.hpp"
#include "embcomp/kernels/random.hpp"

namespace embcomp {

/// How gradients reach a parameter: `rows` are row-indexed tables updated sparsely (unique
/// rows + summed values); `dense` are small parts (projections, MLPs) updated whole.
enum class ParamKind : std::uint8_t { rows = 0, dense = 1 };

/// Who changes a parameter and whether it is served:
///   trained         stepped by the shared optimizer, part of the serving form (tables, MLPs);
///   method_updated  written by the method itself, never by the optimizer (BatchNorm running
///                   statistics, codebooks assigned by argmax), part of the serving form;
///   training_only   stepped by the optimizer, dropped from the serving form (DPQ's query
///                   table, search weights).
/// Serving bytes and optimizer bytes follow from the role; no method counts them by hand.
enum class ParamRole : std::uint8_t { trained = 0, method_updated = 1, training_only = 2 };

/// How a method registers a parameter besides its shape and codec.
struct ParamTraits {
  ParamRole role = ParamRole::trained;
  float lr_scale = 1.0f;     ///< the optimizer steps it at lr * lr_scale
  bool reshapeable = false;  ///< its shape may change between stages (and in a checkpoint)
};

/// Storage format of values.
enum class Codec : std::uint8_t { fp32 = 0, int8 = 1, int16 = 2 };

/// Scale of integer codes:
///   global   one (scale, offset) pair fixed at construction, as in the reference;
///   per_row  one symmetric scale per row, refitted to the row's range on every write;
///   learned  one step size per row, learned by the optimizer (ALPT: the LSQ gradient, see
///            optim/optimizer.hpp) and kept across writes: a row is written on its new step.
enum class ScaleMode : std::uint8_t { global = 0, per_row = 1, learned = 2 };

struct CodecSpec {
  Codec codec = Codec::fp32;
  ScaleMode scale_mode = ScaleMode::global;
  float scale = 0.01f;  ///< global: value = code * scale + offset; learned: every row's first step
  float offset = 0.0f;
  /// learned: the optimizer steps the step sizes at the parameter's learning rate times this.
  float step_lr_scale = 1.0f;

  int bits() const { return codec == Codec::int8 ? 8 : codec == Codec::int16 ? 16 : 32; }
};

class Parameter {
 public:
  Parameter(std::string name, Index rows, Index width, ParamKind kind, CodecSpec codec = {},
            ParamTraits traits = {})
      : name_(std::move(name)), rows_(rows), width_(width), kind_(kind), codec_(codec),
        traits_(traits), id_(next_id()) {
    check_shape(rows, width);
    if (codec.codec != Codec::fp32 && !(codec.scale > 0.0f && std::isfinite(codec.scale))) {
      throw InvalidArgument("parameter " + name_ + ": quantization scale must be > 0");
    }
    if (codec.scale_mode == ScaleMode::learned &&
        !(codec.step_lr_scale > 0.0f && std::isfinite(codec.step_lr_scale))) {
      throw InvalidArgument("parameter " + name_ + ": step-size learning-rate scale must be > 0");
    }
    if (!(traits.lr_scale > 0.0f) || !std::isfinite(traits.lr_scale)) {
      throw InvalidArgument("parameter " + name_ + ": learning-rate scale must be finite and > 0");
    }
    allocate();
  }
  // Movable (layers are built in place, then moved) but not copyable: two parameters must
  // never share an id().
  Parameter(const Parameter&) = delete;
  Parameter& operator=(const Parameter&) = delete;
  Parameter(Parameter&&) = default;
  Parameter& operator=(Parameter&&) = default;

  /// A stable identity, unique in the process: a new one on construction and on every
  /// reshape(), so that state kept for the old storage (an optimizer's) is never read for the
  /// new one.
  std::uint64_t id() const { return id_; }

  ParamRole role() const { return traits_.role; }
  float lr_scale() const { return traits_.lr_scale; }
  bool reshapeable() const { return traits_.reshapeable; }
  /// Stepped by the shared optimizer (every role but method_updated).
  bool optimized() const { return traits_.role != ParamRole::method_updated; }
  /// Part of the serving form (every role but training_only).
  bool served() const { return traits_.role != ParamRole::training_only; }

  /// A new role, between stages or at finalize (a pruned table's dense storage becomes
  /// training-only once its sparse serving form is built). Not kept in checkpoints: the method
  /// sets it again from its state after a load.
  void set_role(ParamRole role) { traits_.role = role; }

  /// New storage of [rows x width], zero-filled, with a new id(). Only between stages and
  /// only for parameters registered as reshapeable.
  void reshape(Index rows, Index width) {
    if (!traits_.reshapeable) {
      throw std::logic_error("parameter '" + name_ + "' was not registered as reshapeable");
    }
    check_shape(rows, width);
    rows_ = rows;
    width_ = width;
    values_ = {};
    codes8_ = {};
    codes16_ = {};
    row_scales_ = {};
    allocate();
    id_ = next_id();
  }

  const std::string& name() const { return name_; }
  Index rows() const { return rows_; }
  Index width() const { return width_; }
  std::size_t size() const { return static_cast<std::size_t>(rows_ * width_); }
  ParamKind kind() const { return kind_; }
  const CodecSpec& codec() const { return codec_; }
  bool is_fp32() const { return codec_.codec == Codec::fp32; }

  /// fp32 storage, [rows x width] row-major. Only for fp32 parameters.
  float* data() { return values_.data(); }
  const float* data() const { return values_.data(); }
  float* row(Index r) { return values_.data() + r * width_; }
  const float* row(Index r) const { return values_.data() + r * width_; }

  /// Decodes row r into out[width].
  void read_row(Index r, float* out) const {
    switch (codec_.codec) {
      case Codec::fp32: std::copy_n(row(r), width_, out); break;
      case Codec::int8: decode_row(codes8_.data() + r * width_, r, out); break;
      case Codec::int16: decode_row(codes16_.data() + r * width_, r, out); break;
    }
  }

  /// Encodes in[width] into row r. Integer codecs round stochastically with noise drawn from
  /// (stream, row, column): the same stream gives the same codes on any thread count.
  void write_row(Index r, const float* in, std::uint64_t stream) {
    switch (codec_.codec) {
      case Codec::fp32: std::copy_n(in, width_, row(r)); break;
      case Codec::int8: encode_row(in, r, stream, codes8_.data() + r * width_); break;
      case Codec::int16: encode_row(in, r, stream, codes16_.data() + r * width_); break;
    }
  }

  /// The value step of row r's codes (its scale); 0 for fp32, whose values are continuous.
  float quantum(Index r) const { return is_fp32() ? 0.0f : row_scale(r); }

  /// Whether the optimizer learns a step size per row (integer codes, ScaleMode::learned).
  bool learns_step() const { return !is_fp32() && codec_.scale_mode == ScaleMode::learned; }
  /// Sets row r's step size (learned mode): its codes keep their values, so the row's decoded
  /// values scale with it; the optimizer sets it before writing the row on it.
  void set_step(Index r, float step) { row_scales_[static_cast<std::size_t>(r)] = step; }

  /// Values of optimizer state per slot: one per element, plus one per row for a learned step.
  std::size_t state_elements() const { return size() + (learns_step() ? static_cast<std::size_t>(rows_) : 0); }

  /// Bytes held: values or codes, plus per-row scales or the global (scale, offset) pair.
  std::size_t bytes() const { return storage_bytes(rows_, width_, codec_); }

  /// Bytes a [rows x width] parameter with `codec` holds (known before allocating it).
  static std::size_t storage_bytes(Index rows, Index width, const CodecSpec& codec) {
    const auto n = static_cast<std::size_t>(rows * width);
    if (codec.codec == Codec::fp32) return n * sizeof(float);
    const std::size_t scales = has_row_scales(codec)
                                   ? static_cast<std::size_t>(rows) * sizeof(float)
                                   : 2 * sizeof(float);
    return n * static_cast<std::size_t>(codec.bits() / 8) + scales;
  }

  /// Fills every element with U(-bound, bound) drawn from `seed` (through the codec).
  void fill_uniform(float bound, std::uint64_t seed) {
#pragma omp parallel
    {
      std::vector<float> buffer(static_cast<std::size_t>(width_));
#pragma omp for schedule(static)
      for (Index r = 0; r < rows_; ++r) {
        const std::uint64_t stream = kernels::combine(seed, static_cast<std::uint64_t>(r));
        for (Index c = 0; c < width_; ++c) {
          buffer[c] = kernels::uniform(stream, static_cast<std::uint64_t>(c), -bound, bound);
        }
        write_row(r, buffer.data(), kernels::combine(stream, 0x5eedULL));
      }
    }
  }

  /// Sets every element to `value` (through the codec, deterministic rounding aside).
  void fill(float value) {
    std::vector<float> buffer(static_cast<std::size_t>(width_), value);
    for (Index r = 0; r < rows_; ++r) write_row(r, buffer.data(), 0);
  }

  void save(Writer& out) const {
    out.string(name_);
    out.pod(rows_);
    out.pod(width_);
    out.pod(static_cast<std::uint8_t>(codec_.codec));
    out.pod(static_cast<std::uint8_t>(codec_.scale_mode));
    out.pod(codec_.scale);
    out.pod(codec_.offset);
    out.bytes(storage(), code_bytes());
    out.bytes(row_scales_.data(), row_scales_.size() * sizeof(float));
  }

  /// Loads values saved by save(); the stored name and codec must match this one, and the
  /// shape too unless the parameter is reshapeable (it then takes the stored shape).
  void load(Reader& in) {
    const std::string stored = in.string();
    if (stored != name_) {
      throw CheckpointError("checkpoint does not match this table: parameter '" + stored +
                            "' found where '" + name_ + "' was expected");
    }
    if (traits_.reshapeable) {
      load_shape(in);
    } else {
      expect_equal(in, rows_, name_ + " rows");
      expect_equal(in, width_, name_ + " width");
    }
    expect_equal(in, static_cast<std::uint8_t>(codec_.codec), name_ + " codec");
    expect_equal(in, static_cast<std::uint8_t>(codec_.scale_mode), name_ + " scale mode");
    codec_.scale = in.pod<float>();
    codec_.offset = in.pod<float>();
    in.bytes(storage(), code_bytes());
    in.bytes(row_scales_.data(), row_scales_.size() * sizeof(float));
    for (const float scale : row_scales_) {
      if (!(scale > 0.0f && std::isfinite(scale))) {
        throw CheckpointError("checkpoint damaged: parameter '" + name_ + "' has a row scale " +
                              std::to_string(scale) + " (scales are finite and > 0)");
      }
    }
  }

  /// The stored values as they are kept: floats for fp32, the integer codes otherwise
  /// ([rows x width] either way); for backends that mirror a parameter (cuda/).
  void* storage() {
    return const_cast<void*>(static_cast<const Parameter*>(this)->storage());
  }
  const void* storage() const {
    switch (codec_.codec) {
      case Codec::int8: return codes8_.data();
      case Codec::int16: return codes16_.data();
      case Codec::fp32: break;
    }
    return values_.data();
  }
  /// Per-row scales (ScaleMode::per_row and learned; empty otherwise), one per row.
  std::span<float> row_scales() { return row_scales_; }
  std::span<const float> row_scales() const { return row_scales_; }

 private:
  static bool has_row_scales(const CodecSpec& codec) {
    return codec.codec != Codec::fp32 && codec.scale_mode != ScaleMode::global;
  }

  static std::uint64_t next_id() {
    static std::atomic<std::uint64_t> counter{0};
    return ++counter;
  }

  void check_shape(Index rows, Index width) const {
    if (rows < 1 || width < 1) {
      throw InvalidArgument("parameter " + name_ + ": shape [" + std::to_string(rows) + " x " +
                            std::to_string(width) + "] must be positive");
    }
  }

  /// Reads a stored shape and reshapes to it; a damaged shape (non-positive, or more elements
  /// than a checkpoint could hold) is refused before anything is allocated.
  void load_shape(Reader& in) {
    const auto rows = in.pod<Index>();
    const auto width = in.pod<Index>();
    constexpr Index kMaxElements = Index{1} << 40;
    if (rows < 1 || width < 1 || width > kMaxElements / rows) {
      throw CheckpointError("checkpoint damaged: parameter '" + name_ + "' has shape [" +
                            std::to_string(rows) + " x " + std::to_string(width) + "]");
    }
    const auto bytes = static_cast<std::uint64_t>(rows * width) *
                       static_cast<std::uint64_t>(codec_.bits() / 8);
    if (bytes > in.bytes_left()) {
      throw CheckpointError("checkpoint damaged or truncated: parameter '" + name_ +
                            "' has shape [" + std::to_string(rows) + " x " +
                            std::to_string(width) + "], more values than the file holds");
    }
    if (rows != rows_ || width != width_) reshape(rows, width);
  }

  std::size_t code_bytes() const { return size() * static_cast<std::size_t>(codec_.bits() / 8); }

  void allocate() {
    switch (codec_.codec) {
      case Codec::fp32: assign_on_huge_pages(values_, size(), 0.0f); break;
      case Codec::int8: assign_on_huge_pages(codes8_, size(), std::int8_t{0}); break;
      case Codec::int16: assign_on_huge_pages(codes16_, size(), std::int16_t{0}); break;
    }
    if (has_row_scales(codec_)) {
      const bool learned = codec_.scale_mode == ScaleMode::learned;
      row_scales_.assign(static_cast<std::size_t>(rows_), learned ? codec_.scale : 1.0f);
    }
  }

  float row_scale(Index r) const {
    return has_row_scales(codec_) ? row_scales_[static_cast<std::size_t>(r)] : codec_.scale;
  }
  float row_offset() const { return has_row_scales(codec_) ? 0.0f : codec_.offset; }

  template <class Code>
  void decode_row(const Code* codes, Index r, float* out) const {
    const float scale = row_scale(r);
    const float offset = row_offset();
    for (Index c = 0; c < width_; ++c) {
      out[c] = kernels::dequantize(static_cast<float>(codes[c]), scale, offset);
    }
  }

  template <class Code>
  void encode_row(const float* in, Index r, std::uint64_t stream, Code* codes) {
    const int bits = codec_.bits();
    if (codec_.scale_mode == ScaleMode::per_row) {
      float max_abs = 0.0f;
      for (Index c = 0; c < width_; ++c) max_abs = std::fmax(max_abs, std::fabs(in[c]));
      row_scales_[r] = kernels::symmetric_scale(max_abs, bits);
    }
    const float scale = row_scale(r);
    const float offset = row_offset();
    const std::uint64_t row_stream = kernels::combine(stream, static_cast<std::uint64_t>(r));
    for (Index c = 0; c < width_; ++c) {
      const float u = kernels::uniform01(row_stream, static_cast<std::uint64_t>(c));
      codes[c] = static_cast<Code>(kernels::quantize_stochastic(in[c], scale, offset, bits, u));
    }
  }

  std::string name_;
  Index rows_;
  Index width_;
  ParamKind kind_;
  CodecSpec codec_;
  ParamTraits traits_;
  std::uint64_t id_;
  std::vector<float> values_;
  std::vector<std::int8_t> codes8_;
  std::vector<std::int16_t> codes16_;
  std::vector<float> row_scales_;
};

}  // namespace embcomp
