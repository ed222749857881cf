// cafe-ml: CAFE with multi-level hash embeddings for the non-hot features (spec cafe.md §3, the
// draft tricks/sketch_ml_embed.py; the artifact does not implement it). Hot features keep their
// own row; a non-hot feature sums its level-1 (per-field) hash row with one more shared hash
// table for each lower threshold its sketch score reaches:
//   levels=2 (default): hot score >= T1 = threshold (and a free row), medium T2 <= score < T1 with
//   T2 = level_ratio x T1 (default 0.2) -> level-1 row + level-2 row, cold -> level-1 row only.
//   levels=L: T_l = T1 x level_ratio^(l-1); a feature sums levels 1..k, k = 1 + #{l >= 2 :
//   score >= T_l} (the generalisation to L levels is an extrapolation of the draft).
// level_share of the hash budget goes to the shared tables of levels 2..L (split equally), the
// rest to the per-field level-1 tables. Level tables start at zero, so a feature that becomes
// medium keeps its embedding at first. Everything else (sizing, sketch, migration, optimizer
// state, checkpoints) is cafe's: see cafe.hpp and cafe_plan.hpp. On promotion the hot row receives the summed
// embedding the feature was read with, and the optimizer state of its level-1 row.
#pragma once

#include <vector>

#include "embcomp/methods/cafe.hpp"

namespace embcomp {

class CafeMlTable : public CafeTable {
 public:
  static constexpr const char* kKey = "cafe-ml";
  static constexpr const char* kSummary =
      "CAFE with multi-level hash embeddings: medium features sum extra hash rows";
  static std::vector<OptionInfo> option_info() {
    std::vector<OptionInfo> options = CafeTable::option_info();
    options.push_back({"levels", "2", "hash levels for non-hot features, 2..4"});
    options.push_back({"level_share", "0.3", "share of the hash budget for levels 2..L, [0, 1)"});
    options.push_back({"level_ratio", "0.2", "T_(l+1) = level_ratio x T_l, in (0, 1)"});
    return options;
  }

  CafeMlTable(const TableArgs& args, const Options& options)
      : CafeTable(args, parse_cafe_config(options, args, /*multi_level=*/true)) {}
};

}  // namespace embcomp
