#include "sweep_grid.hpp"

#include <algorithm>
#include <sstream>

#include "embcomp/core/options.hpp"
#include "embcomp/registry.hpp"

namespace embcomp::cli {

namespace {

/// Cells the default grid (every method, no --full-grid) leaves out, so that the main job stays
/// under 15 minutes on a 2-core machine:
///   dhe at its two lowest ratios, whose networks are wide on the default data (H = 265 at 2x,
///   67 at 10x: 0.56M and 0.09M multiply-adds per lookup), measured at 173 s and 64 s;
///   optembed at every ratio but 100x: its cells take 80-130 s (its search scores about 160
///   candidates by a validation pass each; hash's cells take 11-15 s in the same sweep), 118 s
///   at 1000x on 2026-12-02, when the main job ran 15m14s with it. 100x stays, where it differs
///   most from hash (+0.005 test AUC against +0.003 at 1000x, README).
/// They stay in the tables as "skipped"; --full-grid (or naming the method in --methods) runs
/// them.
struct SlowCell {
  const char* key;
  double ratio;
};
constexpr SlowCell kSlowCells[] = {{"dhe", 2.0},         {"dhe", 10.0},         {"optembed", 10.0},
                                   {"optembed", 1000.0}, {"optembed", 10000.0}};

/// Every registered method's key, in the registry's order.
std::vector<std::string> every_method() {
  std::vector<std::string> keys;
  for (const MethodInfo& m : methods()) keys.push_back(m.key);
  return keys;
}

}  // namespace

std::vector<double> grid_ratios(const SweepGrid& grid) {
  std::vector<double> ratios = grid.ratios;
  if (grid.full_grid && ratios == kDefaultRatios) ratios = kFullGridRatios;
  std::sort(ratios.begin(), ratios.end());
  return ratios;
}

std::string method_key(const std::string& method) {
  return SpecString::parse(method).key;
}

bool is_baseline(const std::string& method) {
  return method_key(method) == "full";
}

bool slow_cell(const std::string& key, double ratio) {
  for (const SlowCell& c : kSlowCells) {
    if (key == c.key && ratio == c.ratio) return true;
  }
  return false;
}

std::vector<Cell> expand_grid(const SweepGrid& grid) {
  const bool default_grid = grid.methods.empty() && !grid.full_grid;
  const std::vector<std::string> methods = grid.methods.empty() ? every_method() : grid.methods;
  const std::vector<double> ratios = grid_ratios(grid);
  std::vector<Cell> cells;
  for (const std::string& model : grid.models) {
    for (const std::string& method : methods) {
      if (is_baseline(method)) {
        cells.push_back({model, method, 1.0});
        continue;
      }
      for (double ratio : ratios) {
        cells.push_back({model, method, ratio, default_grid && slow_cell(method_key(method), ratio),
                         ratio == ratios.front()});
      }
    }
  }
  return cells;
}

std::vector<std::string> split_alternatives(const std::string& values) {
  std::vector<std::string> alternatives;
  std::size_t begin = 0;
  for (std::size_t slash = values.find('/'); slash != std::string::npos;
       slash = values.find('/', begin)) {
    alternatives.push_back(values.substr(begin, slash - begin));
    begin = slash + 1;
  }
  alternatives.push_back(values.substr(begin));
  return alternatives;
}

std::vector<std::string> expand_alternatives(const std::string& method) {
  const SpecString spec = SpecString::parse(method);
  const auto pairs = parse_option_pairs(spec.options, "method '" + spec.key + "'");
  if (pairs.empty()) return {method};
  std::vector<std::string> specs = {spec.key + ":"};
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto& [name, values] = pairs[i];
    std::vector<std::string> expanded;
    for (const std::string& spec_so_far : specs) {
      for (const std::string& value : split_alternatives(values)) {
        expanded.push_back(spec_so_far + (i == 0 ? "" : ",") + name + "=" + value);
      }
    }
    specs = std::move(expanded);
  }
  return specs;
}

std::string cell_name(const Cell& cell) {
  std::ostringstream name;
  name << cell.model << '_' << cell.method << '_' << cell.ratio << 'x';
  std::string text = name.str();
  for (char& c : text) {
    if (c == ':' || c == '=' || c == ',' || c == '/' || c == ' ') c = '-';
  }
  return text;
}

}  // namespace embcomp::cli
