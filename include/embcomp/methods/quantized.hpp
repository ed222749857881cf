// int8 / int16: low-precision training (spec methods-intra.md §1). The table itself is stored as
// b-bit codes with no fp32 master copy: lookups decode rows, the optimizer updates the decoded
// row in fp32 and writes it back with stochastic rounding (unbiased: E[decode] = value).
//
// scale_mode=global (default, the reference): value = code * scale + middle with one fixed
//   scale (default 0.01) and middle (0). Values outside the range saturate.
// scale_mode=per_row: a symmetric scale per row, refitted to the row's largest magnitude on
//   every write (4 more bytes per row). The reference's per-row option fixed each row's range at
//   initialisation, so rows could never grow past their initial values (its pitfall); this one
//   follows the row.
// Noise is drawn per element (the reference shared one draw across a row, correlating errors).
// The ratio is set by the bits alone: about 4x (int8) or 2x (int16); optimizer state stays fp32.
#pragma once

#include <string>
#include <vector>

#include "embcomp/methods/full.hpp"

namespace embcomp {

template <int Bits>
class QuantizedTable : public FullTable {
  static_assert(Bits == 8 || Bits == 16, "int8 or int16 codes");

 public:
  static constexpr const char* kKey = Bits == 8 ? "int8" : "int16";
  static constexpr const char* kSummary =
      Bits == 8 ? "int8 codes, stochastic rounding (~4x)" : "int16 codes, stochastic rounding (~2x)";
  static std::vector<OptionInfo> option_info() {
    return {{"scale_mode", "global", "global (one fixed scale, the reference) | per_row"},
            {"scale", "0.01", "global mode: value = code * scale + middle"},
            {"middle", "0", "global mode: the value of code 0"}};
  }

  QuantizedTable(const TableArgs& args, const Options& options)
      : FullTable(args, codec_from(options), kKey) {}

 private:
  static CodecSpec codec_from(const Options& options) {
    CodecSpec codec;
    codec.codec = Bits == 8 ? Codec::int8 : Codec::int16;
    codec.scale_mode = options.pick<ScaleMode>(
        "scale_mode", {{"global", ScaleMode::global}, {"per_row", ScaleMode::per_row}});
    if (codec.scale_mode == ScaleMode::per_row) {
      // Each row stores its own scale and middle: the global ones would be ignored.
      options.not_applicable("scale", "scale_mode=per_row (every row has its own scale)");
      options.not_applicable("middle", "scale_mode=per_row (every row has its own middle)");
      return codec;
    }
    codec.scale = static_cast<float>(options.number("scale"));
    codec.offset = static_cast<float>(options.number("middle"));
    if (!(codec.scale > 0.0f)) {
      throw InvalidArgument(std::string(kKey) + ": scale must be > 0, got " +
                            options.text("scale"));
    }
    return codec;
  }
};

using Int8Table = QuantizedTable<8>;
using Int16Table = QuantizedTable<16>;

}  // namespace embcomp
