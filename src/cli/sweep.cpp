// embcomp sweep: the compression benchmark suite. Trains every (model, method, ratio) cell of a
// grid on one dataset and writes, into --out:
//   results.csv, results.json   one record per cell (infeasible and failed cells included)
//   results.md                  per model: test AUC by method x ratio, then every record
//   test_auc_<model>.png        test AUC against the real compression ratio, one line per
//                               method (log-scale ratio), rendered by gnuplot from the .dat and
//                               .gp files next to it
//   runs/<cell>/                summary.json and metrics.jsonl of each trained cell
// `full` runs once per model, at 1x (the baseline); every other method at every ratio. The
// files are rewritten after each cell, so an interrupted sweep leaves what it finished, and
// --keep-done skips the cells whose summary.json is already there. A method may list
// alternative option values ("cafe:hash_share=auto/0.5/0.7"): each variant is trained and the
// cell keeps the one with the best validation AUC (runs/<cell>/v<i>/ hold them all).
#include <algorithm>
#include <cmath>
#include <map>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "cli.hpp"
#include "data_options.hpp"
#include "embcomp/registry.hpp"
#include "run.hpp"

namespace embcomp::cli {

namespace {

struct SweepOptions {
  DataOptions data;
  RunOptions run;
  std::vector<std::string> methods;  ///< empty: every registered method
  std::vector<double> ratios = {10, 100, 1000, 10000};  ///< --full-grid adds 2
  std::vector<std::string> models = {"dlrm"};
  std::string out = "embcomp-sweep";
  bool plot = true;
  bool keep_done = false;
  bool full_grid = false;  ///< 2x too, and the cells the default grid leaves out (kSlowCells)
};

/// The default ratios, and the full grid's: 2x is near-lossless for every method (test AUC
/// within 0.01 of full's 0.7756 for all of them in the suite; dhe, qr and dedup the farthest at
/// 0.007-0.009 below), so the default leaves it to --full-grid and spends its 15 minutes on
/// the ratios where methods differ.
const std::vector<double> kDefaultRatios = {10, 100, 1000, 10000};
const std::vector<double> kFullGridRatios = {2, 10, 100, 1000, 10000};

/// Cells the default grid (every method, no --full-grid) leaves out, so that the main job stays
/// under 15 minutes on a 2-core machine: dhe at its two lowest ratios, whose networks are wide
/// on the default data (H = 265 at 2x, 67 at 10x: 0.56M and 0.09M multiply-adds per lookup),
/// measured at 173 s and 64 s, the two slowest cells of the suite. They stay in
/// the tables as "skipped"; --full-grid (or naming the method in --methods) runs them.
struct SlowCell {
  const char* key;
  double ratio;
};
constexpr SlowCell kSlowCells[] = {{"dhe", 2.0}, {"dhe", 10.0}};

bool slow_cell(const std::string& key, double ratio) {
  for (const SlowCell& c : kSlowCells) {
    if (key == c.key && ratio == c.ratio) return true;
  }
  return false;
}

/// A cell whose method reaches at least (1 - kNearMiss) x its ratio runs at the method's limit.
constexpr double kNearMiss = 0.01;

struct Cell {
  std::string model;
  std::string method;  ///< as given (a key or a factory spec)
  double ratio = 1.0;
  bool skipped = false;   ///< left out of the default grid (kSlowCells)
  bool smallest = false;  ///< the method's smallest ratio: if it cannot reach it, it reaches none
};

std::string key_of(const std::string& method) { return SpecString::parse(method).key; }

/// A directory name for a cell: the spec's punctuation becomes '-'.
std::string cell_name(const Cell& cell) {
  std::ostringstream name;
  name << cell.model << '_' << cell.method << '_' << cell.ratio << 'x';
  std::string text = name.str();
  for (char& c : text) {
    if (c == ':' || c == '=' || c == ',' || c == '/' || c == ' ') c = '-';
  }
  return text;
}

std::vector<Cell> grid(const SweepOptions& o) {
  std::vector<std::string> methods = o.methods;
  const bool default_grid = methods.empty() && !o.full_grid;
  if (methods.empty()) {
    for (const MethodInfo& m : embcomp::methods()) methods.push_back(m.key);
  }
  std::vector<double> ratios = o.ratios;
  if (o.full_grid && ratios == kDefaultRatios) ratios = kFullGridRatios;
  std::sort(ratios.begin(), ratios.end());
  std::vector<Cell> cells;
  for (const std::string& model : o.models) {
    for (const std::string& method : methods) {
      if (key_of(method) == "full") {
        cells.push_back({model, method, 1.0});
        continue;
      }
      for (double ratio : ratios) {
        cells.push_back({model, method, ratio, default_grid && slow_cell(key_of(method), ratio),
                         ratio == ratios.front()});
      }
    }
  }
  return cells;
}

/// One record of results.json: the cell, its status and (when trained) its numbers.
json record_of(const Cell& cell, const std::string& status, const std::string& note) {
  return {{"model", cell.model}, {"method", cell.method}, {"requested_ratio", cell.ratio},
          {"status", status},    {"note", note}};
}

json trained_record(const Cell& cell, const json& summary, const std::string& directory) {
  json record = record_of(cell, "ok", "");
  record["spec"] = summary["method"];
  record["ratio"] = summary["ratio"];
  record["serving_bytes"] = summary["memory"]["serving_bytes"];
  record["training_bytes"] = summary["memory"]["training_bytes"];
  record["validation_auc"] = summary["validation"]["auc"];
  record["validation_logloss"] = summary["validation"]["logloss"];
  record["test_auc"] = summary["test"]["auc"];
  record["test_logloss"] = summary["test"]["logloss"];
  record["samples_per_second"] = summary["train_samples_per_second"];
  record["train_seconds"] = summary["train_seconds"];
  record["steps"] = summary["steps"];
  record["run"] = directory;
  return record;
}

std::string fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

/// "10.929x": a ratio with `digits` significant digits (6 tell a limit of 1.99998x from 2x).
std::string ratio_text(double ratio, int digits = 5) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*gx", digits, ratio);
  return text;
}

/// A CSV field: strings holding a comma, quote or newline are quoted (quotes doubled).
std::string csv_field(const json& value) {
  if (!value.is_string()) return value.dump();
  const std::string text = value.get<std::string>();
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + '"';
}

std::string csv_of(const json& records) {
  const std::vector<std::string> columns = {
      "model",        "method",         "requested_ratio",    "status",   "ratio",
      "serving_bytes", "training_bytes", "validation_auc",     "validation_logloss",
      "test_auc",     "test_logloss",   "samples_per_second", "train_seconds", "steps", "note"};
  auto line_of = [&](auto field_of) {
    std::string line;
    for (std::size_t i = 0; i < columns.size(); ++i) {
      if (i > 0) line += ',';
      line += field_of(columns[i]);
    }
    line += '\n';
    return line;
  };
  std::string text = line_of([](const std::string& column) { return column; });
  for (const json& record : records) {
    text += line_of([&](const std::string& column) {
      return record.contains(column) ? csv_field(record[column]) : std::string();
    });
  }
  return text;
}

/// A method's highest reachable ratio, with enough digits to tell 1.99998x from 2x.
std::string limit_text(double ratio) { return ratio_text(ratio, 6); }

/// The record of a cell its method cannot reach: the note names the highest ratio it can.
json infeasible_record(const Cell& cell, double limit) {
  json record = record_of(cell, "infeasible", "<= " + limit_text(limit));
  record["limit_ratio"] = limit;
  return record;
}


/// Cell text of the AUC table: "0.7812 (10x)", "infeasible (<= 723x)" or "failed".
std::string auc_cell(const json& record) {
  const std::string status = record["status"];
  if (status == "ok") {
    return fixed(record["test_auc"].get<double>(), 4) + " (" +
           ratio_text(record["ratio"].get<double>()) + ")";
  }
  if (status == "infeasible") return "infeasible (" + record["note"].get<std::string>() + ")";
  return status;
}

std::string markdown_of(const SweepOptions& o, const json& data, const json& records) {
  std::ostringstream md;
  md << "# embcomp sweep\n\n";
  md << "Data: " << data["name"].get<std::string>();
  if (data.contains("bayes_test_auc")) {
    md << " (Bayes-optimal test AUC " << fixed(data["bayes_test_auc"].get<double>(), 4) << ")";
  }
  md << "; " << data["train_rows"] << " train / " << data["validation_rows"] << " validation / "
     << data["test_rows"] << " test rows. Training: " << o.run.optimizer << " lr " << o.run.lr
     << ", batch " << o.run.batch << ", dim " << o.run.dim << ", " << o.run.epochs
     << " epochs, best state chosen on validation.\n\n";
  for (const std::string& model : o.models) {
    md << "## " << model << ": test AUC (real compression ratio)\n\n| method | 1x |";
    for (double ratio : o.ratios) md << ' ' << ratio_text(ratio) << " |";
    md << "\n|---|---|";
    for (std::size_t i = 0; i < o.ratios.size(); ++i) md << "---|";
    md << '\n';
    std::vector<std::string> methods;
    for (const json& r : records) {
      const std::string method = r["method"];
      if (r["model"] == model && std::find(methods.begin(), methods.end(), method) == methods.end()) {
        methods.push_back(method);
      }
    }
    for (const std::string& method : methods) {
      md << "| " << method << " |";
      const bool baseline = key_of(method) == "full";
      std::vector<std::string> cells(o.ratios.size() + 1);
      for (const json& r : records) {
        if (r["model"] != model || r["method"] != method) continue;
        const double ratio = r["requested_ratio"];
        if (baseline) cells[0] = auc_cell(r);
        for (std::size_t i = 0; i < o.ratios.size() && !baseline; ++i) {
          if (ratio == o.ratios[i]) cells[i + 1] = auc_cell(r);
        }
      }
      for (const std::string& cell : cells) md << ' ' << cell << " |";
      md << '\n';
    }
    md << '\n';
  }
  md << "## Every run\n\n| model | method | requested | real ratio | serving bytes | "
        "val AUC | test AUC | test logloss | samples/s | train s | status |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const json& r : records) {
    const bool ok = r["status"] == "ok";
    md << "| " << r["model"].get<std::string>() << " | " << r["method"].get<std::string>()
       << " | " << ratio_text(r["requested_ratio"].get<double>()) << " | "
       << (ok ? ratio_text(r["ratio"].get<double>()) : "") << " | "
       << (ok ? std::to_string(r["serving_bytes"].get<std::uint64_t>()) : "") << " | "
       << (ok ? fixed(r["validation_auc"].get<double>(), 4) : "") << " | "
       << (ok ? fixed(r["test_auc"].get<double>(), 4) : "") << " | "
       << (ok ? fixed(r["test_logloss"].get<double>(), 4) : "") << " | "
       << (ok ? fixed(r["samples_per_second"].get<double>(), 0) : "") << " | "
       << (ok ? fixed(r["train_seconds"].get<double>(), 1) : "") << " | "
       << r["status"].get<std::string>()
       << (r["note"].get<std::string>().empty() ? "" : ": " + r["note"].get<std::string>())
       << " |\n";
  }
  return md.str();
}

/// Writes test_auc_<model>.dat/.gp (one data block per method, in record order) and renders
/// the PNG with gnuplot when it is installed. Returns the PNG's path, or empty.
std::string plot_model(const std::filesystem::path& out, const std::string& model,
                       const json& data, const json& records) {
  std::vector<std::string> methods;
  std::ostringstream dat;
  double max_ratio = 1.0;
  std::optional<double> full_auc;
  for (const json& r : records) {
    if (r["model"] != model || r["status"] != "ok") continue;
    max_ratio = std::max(max_ratio, r["ratio"].get<double>());
    if (key_of(r["method"]) == "full") full_auc = r["test_auc"].get<double>();
    const std::string method = r["method"];
    if (std::find(methods.begin(), methods.end(), method) == methods.end()) {
      if (!methods.empty()) dat << "\n\n";
      methods.push_back(method);
      dat << "# " << method << "\n";
    }
    dat << r["ratio"].get<double>() << ' ' << r["test_auc"].get<double>() << '\n';
  }
  if (methods.empty()) return "";
  const std::string base = "test_auc_" + model;
  write_text(out / (base + ".dat"), dat.str());

  std::ostringstream gp;
  gp << "set terminal pngcairo size 1000,640 noenhanced\n"
     << "set output '" << base << ".png'\n"
     << "set logscale x\nset grid\nset key outside right top\n"
     << "set xrange [0.8:" << max_ratio * 2 << "]\n"
     << "set xlabel 'compression ratio (full fp32 table bytes / serving bytes)'\n"
     << "set ylabel 'test AUC'\n"
     << "set title '" << model << " on " << std::filesystem::path(data["name"].get<std::string>()).filename().string()
     << " data: test AUC against compression'\n"
     << "plot ";
  for (std::size_t i = 0; i < methods.size(); ++i) {
    gp << (i ? ", \\\n     " : "") << "'" << base << ".dat' index " << i
       << " using 1:2 with linespoints pointtype " << (i % 13) + 1 << " title '" << methods[i]
       << "'";
  }
  if (full_auc) {
    gp << ", \\\n     " << *full_auc
       << " with lines dashtype 3 linecolor 'gray40' title 'full table (1x)'";
  }
  if (data.contains("bayes_test_auc")) {
    gp << ", \\\n     " << data["bayes_test_auc"].get<double>()
       << " with lines dashtype 2 linecolor 'black' title 'Bayes-optimal'";
  }
  gp << '\n';
  write_text(out / (base + ".gp"), gp.str());

  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    std::printf("sweep: gnuplot is not installed (Debian: gnuplot-nox); the plot script is %s\n",
                (out / (base + ".gp")).c_str());
    return "";
  }
  const std::string command =
      "cd '" + out.string() + "' && gnuplot '" + base + ".gp' 2>&1";
  if (std::system(command.c_str()) != 0) {
    std::printf("sweep: gnuplot failed on %s\n", (out / (base + ".gp")).c_str());
    return "";
  }
  return (out / (base + ".png")).string();
}

void write_results(const SweepOptions& o, const std::filesystem::path& out, const json& data,
                   const json& records) {
  const json results = {{"command", "sweep"},
                        {"data", data},
                        {"optimizer", o.run.optimizer},
                        {"lr", o.run.lr},
                        {"batch", o.run.batch},
                        {"dim", o.run.dim},
                        {"epochs", o.run.epochs},
                        {"seed", o.run.seed},
                        {"records", records}};
  write_json(out / "results.json", results);
  write_text(out / "results.csv", csv_of(records));
  write_text(out / "results.md", markdown_of(o, data, records));
}

/// The specs a method entry stands for: "cafe:hash_share=auto/0.5/0.7,hash_tables=shared" ->
/// one spec per combination of the '/'-separated values, in order.
std::vector<std::string> expand_alternatives(const std::string& method) {
  const SpecString spec = SpecString::parse(method);
  std::vector<std::string> specs = {spec.key + ":"};
  const auto pairs = parse_option_pairs(spec.options, "method '" + spec.key + "'");
  if (pairs.empty()) return {method};
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto& [name, values] = pairs[i];
    std::vector<std::string> expanded;
    for (const std::string& spec_so_far : specs) {
      for (std::size_t v = 0; v <= values.size();) {
        const std::size_t slash = std::min(values.find('/', v), values.size());
        expanded.push_back(spec_so_far + (i == 0 ? "" : ",") + name + "=" + values.substr(v, slash - v));
        v = slash + 1;
      }
    }
    specs = std::move(expanded);
  }
  return specs;
}

/// Trains `spec` for `cell` into `directory` (or reads it back with --keep-done); infeasible and
/// diverged runs become records too.
json run_spec(const SweepOptions& o, const Data& data, const Cell& cell, const std::string& spec,
              const std::filesystem::path& directory, const std::string& relative) {
  if (o.keep_done && std::filesystem::exists(directory / "summary.json")) {
    std::ifstream file(directory / "summary.json");
    return trained_record(cell, json::parse(file), relative);
  }
  RunOptions run = o.run;
  run.model = cell.model;
  auto train_at = [&](double ratio) {
    return trained_record(
        cell, run_training(data, spec, ratio, run, directory, Verbosity::quiet), relative);
  };
  try {
    double limit = 0.0;
    try {
      return train_at(cell.ratio);
    } catch (const InfeasibleBudget& e) {
      // A fixed-ratio method just short of the cell's ratio (int16's 8-byte scale pair makes
      // it 1.99999x), or one that reaches none of the grid's ratios (int8 at 4x against a
      // smallest ratio of 10x), runs at its own highest ratio rather than vanishing from the
      // table.
      const bool near_miss = e.limit_ratio() >= cell.ratio * (1.0 - kNearMiss);
      if (!(near_miss || (cell.smallest && e.limit_ratio() >= 1.0))) throw;
      limit = e.limit_ratio();
    }
    json record = train_at(limit);
    record["note"] = "ran at its highest ratio, " + limit_text(limit);
    record["limit_ratio"] = limit;
    return record;
  } catch (const InfeasibleBudget& e) {
    return infeasible_record(cell, e.limit_ratio());
  } catch (const NonFiniteGradient& e) {
    return record_of(cell, "diverged", e.what());
  }
}

/// One cell. A method entry with alternatives ("hash_share=0.5/0.7") trains every variant and
/// keeps the one with the best validation AUC: the choice never sees test.
json run_cell(const SweepOptions& o, const Data& data, const Cell& cell,
              const std::filesystem::path& out) {
  if (cell.skipped) return record_of(cell, "skipped", "slow: not in the default grid; --full-grid runs it");
  const std::filesystem::path directory = out / "runs" / cell_name(cell);
  const std::string relative = "runs/" + cell_name(cell);
  const std::vector<std::string> specs = expand_alternatives(cell.method);
  if (specs.size() == 1) return run_spec(o, data, cell, specs[0], directory, relative);

  std::optional<json> best, unfit;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const std::string variant = "v" + std::to_string(i);
    json record = run_spec(o, data, cell, specs[i], directory / variant, relative + "/" + variant);
    if (record["status"] != "ok") {
      if (!unfit) unfit = std::move(record);
      continue;
    }
    if (!best || record["validation_auc"].get<double>() > (*best)["validation_auc"].get<double>()) {
      best = std::move(record);
    }
  }
  if (!best) return *unfit;
  (*best)["note"] = "chosen on validation among " + std::to_string(specs.size()) + " variants: " +
                    (*best)["spec"].get<std::string>();
  return *best;
}

void print_record(std::size_t index, std::size_t total, const json& r) {
  std::printf("[%zu/%zu] %-5s %-12s %8s  ", index, total, r["model"].get<std::string>().c_str(),
              r["method"].get<std::string>().c_str(),
              ratio_text(r["requested_ratio"].get<double>()).c_str());
  if (r["status"] == "ok") {
    std::printf("test auc %.4f  logloss %.4f  real %s  %.0f samples/s  %.1f s\n",
                r["test_auc"].get<double>(), r["test_logloss"].get<double>(),
                ratio_text(r["ratio"].get<double>()).c_str(),
                r["samples_per_second"].get<double>(), r["train_seconds"].get<double>());
  } else {
    std::printf("%s %s\n", r["status"].get<std::string>().c_str(), r["note"].get<std::string>().c_str());
  }
  std::fflush(stdout);
}

int run_sweep(const SweepOptions& o) {
  set_threads(o.run.threads);
  for (const std::string& method : o.methods) method_info(key_of(method));  // fail early
  const std::filesystem::path out(o.out);
  std::filesystem::create_directories(out);
  const Data data = open_data(o.data);
  const std::vector<Cell> cells = grid(o);
  std::printf("sweep: %zu runs on %s data into %s\n", cells.size(), data.name.c_str(), o.out.c_str());
  if (data.bayes) std::printf("sweep: Bayes-optimal test AUC %.4f\n", data.bayes->auc);
  std::fflush(stdout);

  const auto start = std::chrono::steady_clock::now();
  json records = json::array();
  // The highest ratio each (model, method) reaches, once a cell found it: a larger ratio is
  // then infeasible without training (dedup learns its limit only after its first stage).
  std::map<std::string, double> limits;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const Cell& cell = cells[i];
    const std::string group = cell.model + '/' + cell.method;
    const auto known = limits.find(group);
    if (known != limits.end() && known->second < cell.ratio * (1.0 - kNearMiss)) {
      records.push_back(infeasible_record(cell, known->second));
      records.back()["limit_known"] = true;  // from a smaller ratio: not trained again
    } else {
      records.push_back(run_cell(o, data, cell, out));
      if (records.back().contains("limit_ratio")) limits[group] = records.back()["limit_ratio"].get<double>();
    }
    print_record(i + 1, cells.size(), records.back());
    write_results(o, out, data.description, records);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::printf("\n%s", markdown_of(o, data.description, records).c_str());
  if (o.plot) {
    for (const std::string& model : o.models) {
      const std::string png = plot_model(out, model, data.description, records);
      if (!png.empty()) std::printf("sweep: plot %s\n", png.c_str());
    }
  }
  std::printf("sweep: %zu runs in %.0f s; wrote %s/results.{csv,json,md}\n", cells.size(),
              seconds, o.out.c_str());
  return 0;
}

}  // namespace

Command add_sweep_command(CLI::App& app) {
  auto o = std::make_shared<SweepOptions>();
  // The suite's default: a tenth of Criteo's ids, enough data for every method to learn.
  o->data.scale = 0.01;
  o->data.train_rows = 200'000;
  o->data.validation_rows = 20'000;
  o->data.test_rows = 20'000;
  o->run.epochs = 1.0;
  o->run.evaluations = 4;
  o->run.patience = 2;
  CLI::App* sweep = app.add_subcommand(
      "sweep", "train every method at every ratio (and model): table, CSV, JSON and a plot");
  add_data_options(sweep, o->data);
  sweep->add_option("--methods", o->methods,
                    "methods or factory specs (default: every method); a/b/c values of an "
                    "option are alternatives, chosen per cell on validation AUC")
;
  sweep->add_option("--ratios", o->ratios, "compression ratios")
      ->capture_default_str()->check(finite_ratio())->delimiter(',');
  sweep->add_option("--models", o->models, "CTR models")
      ->capture_default_str()->check(CLI::IsMember({"dlrm", "wdl", "dcn"}))->delimiter(',');
  add_run_options(sweep, o->run);
  sweep->add_option("--out", o->out, "output directory")->capture_default_str();
  sweep->add_flag("!--no-plot", o->plot, "skip the gnuplot rendering");
  sweep->add_flag("--keep-done", o->keep_done, "reuse cells whose summary.json exists in --out");
  sweep->add_flag("--full-grid", o->full_grid,
                  "2x as well (unless --ratios is given), and the slow cells the default grid "
                  "skips (dhe at 2x and 10x)");
  return {sweep, [o] { return run_sweep(*o); }};
}

}  // namespace embcomp::cli
