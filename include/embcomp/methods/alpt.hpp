// alpt: adaptive low-precision training (spec methods-intra.md §2; Li et al., AAAI 2023). As
// int8/int16 (quantized.hpp), the table is only integer codes, with no fp32 master copy, but
// each row has its own step size, learned: value(r, c) = code(r, c) * step_r, signed codes in
// [-2^(b-1), 2^(b-1) - 1].
//
// Storage: "rows" [N x d] b-bit codes with one fp32 step per row (Parameter, ScaleMode::learned;
// every field's rows stacked as in `full`). Serving = codes + steps: N (d b/8 + 4) bytes, so the
// ratio is set by the bits alone: 3.2x (int8) or 1.78x (int16) at d = 16.
// One step of a row with gradient g (the sum of dE over the batch positions that read it),
// written once in the optimizer (optim/optimizer.hpp, RowwiseOptimizer) so that SGD, Adagrad and
// Adam all train it:
//   w'     = rule(code * step, g)                         the table's update, in fp32
//   g_step = sum_c g[c] * lsq(w'[c] / step) / sqrt(d Qp)   LSQ: round(v) - v inside the range,
//                                                          Qn or Qp outside (kernels/quantize.hpp)
//   step'  = rule(step, g_step) at lr * step_lr           its own optimizer state, the same t
//   code   = clamp(floor(w' / step' + u))                 u ~ U[0, 1) per element
//
// Departures from the reference, each for a reason:
// - One pass. The reference runs the model a second time on round(w' / step) * step, with the
//   dense layers already updated, for dLoss/d(quantized w'); here the batch's own dE (the row's
//   gradient g) stands in for it, so a step costs one forward and one backward, as every other
//   method's. The difference is measured by tests/methods/alpt_test.cpp ("the one-pass step
//   gradient against the reference's second pass") on a DLRM step.
// - LSQ's scale 1 / sqrt(d Qp): the reference divides by sqrt(B d Qp) with B the batch size, so
//   its step sizes learned more slowly with larger batches; under Adam the two are the same up
//   to eps. The step size is kept >= 1e-10 (the reference let it reach 0 or below).
// - Noise per element (the reference drew one u per row, correlating a row's rounding errors).
// Defaults (bits, init_scale, step_lr) are chosen on validation AUC over 3 data seeds
// (README, methods table); the reference's are `bits=16,init_scale=0.01,step_lr=0.02` (2e-5
// at its learning rate 1e-3).
#pragma once

#include <string>
#include <vector>

#include "embcomp/methods/full.hpp"

namespace embcomp {

class AlptTable : public FullTable {
 public:
  static constexpr const char* kKey = "alpt";
  static constexpr const char* kSummary =
      "int8/int16 codes with a learned step size per row (LSQ), stochastic rounding (~3.2x)";
  static std::vector<OptionInfo> option_info() {
    return {{"bits", "8", "code width: 8 or 16"},
            {"init_scale", "0.01", "every row's first step size"},
            {"step_lr", "0.02", "the step sizes' learning rate, relative to the table's"}};
  }

  AlptTable(const TableArgs& args, const Options& options)
      : FullTable(args, codec_from(options), kKey) {}

 private:
  static CodecSpec codec_from(const Options& options) {
    CodecSpec codec;
    const auto bits = options.integer("bits");
    if (bits != 8 && bits != 16) {
      throw InvalidArgument("alpt: bits must be 8 or 16, got " + options.text("bits"));
    }
    codec.codec = bits == 8 ? Codec::int8 : Codec::int16;
    codec.scale_mode = ScaleMode::learned;
    codec.scale = static_cast<float>(options.number("init_scale"));
    codec.step_lr_scale = static_cast<float>(options.number("step_lr"));
    if (!(codec.scale > 0.0f) || !std::isfinite(codec.scale)) {
      throw InvalidArgument("alpt: init_scale must be finite and > 0, got " +
                            options.text("init_scale"));
    }
    if (!(codec.step_lr_scale > 0.0f) || !std::isfinite(codec.step_lr_scale)) {
      throw InvalidArgument("alpt: step_lr must be finite and > 0, got " + options.text("step_lr"));
    }
    return codec;
  }
};

}  // namespace embcomp
