#include "sweep_report.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <sstream>

namespace embcomp::cli {

namespace {

/// The columns of results.csv, in order.
const std::vector<std::string> kCsvColumns = {
    "model",          "method",         "requested_ratio",
    "status",         "ratio",          "serving_bytes",
    "training_bytes", "validation_auc", "validation_logloss",
    "test_auc",       "test_logloss",   "samples_per_second",
    "train_seconds",  "steps",          "note"};

/// `value` with `digits` digits after the point: fixed(0.78123, 4) = "0.7812".
std::string fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

/// A CSV field: strings holding a comma, quote or newline are quoted (quotes doubled); other
/// values as JSON prints them.
std::string csv_field(const json& value) {
  if (!value.is_string()) return value.dump();
  const std::string text = value.get<std::string>();
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + '"';
}

/// One CSV line: field_of(column) for every column, comma-separated, newline-terminated.
template <class FieldOf>
std::string csv_line(FieldOf field_of) {
  std::string line;
  for (std::size_t i = 0; i < kCsvColumns.size(); ++i) {
    if (i > 0) line += ',';
    line += field_of(kCsvColumns[i]);
  }
  line += '\n';
  return line;
}

/// Cell text of the AUC table: "0.7812 (10x)", "infeasible (<= 723x)" or the status.
std::string auc_cell(const json& record) {
  const std::string status = record["status"];
  if (status == "ok") {
    return fixed(record["test_auc"].get<double>(), 4) + " (" +
           ratio_text(record["ratio"].get<double>()) + ")";
  }
  if (status == "infeasible") return "infeasible (" + record["note"].get<std::string>() + ")";
  return status;
}

/// The methods of `model`'s records, in the order they first appear.
std::vector<std::string> methods_of(const std::string& model, const json& records) {
  std::vector<std::string> methods;
  for (const json& r : records) {
    const std::string method = r["method"];
    if (r["model"] == model && std::find(methods.begin(), methods.end(), method) == methods.end()) {
      methods.push_back(method);
    }
  }
  return methods;
}

/// The title and the line naming the data and the training knobs.
void markdown_preamble(std::ostringstream& md, const RunOptions& run, const json& data) {
  md << "# embcomp sweep\n\n";
  md << "Data: " << data["name"].get<std::string>();
  if (data.contains("bayes_test_auc")) {
    md << " (Bayes-optimal test AUC " << fixed(data["bayes_test_auc"].get<double>(), 4) << ")";
  }
  md << "; " << data["train_rows"] << " train / " << data["validation_rows"] << " validation / "
     << data["test_rows"] << " test rows. Training: " << run.optimizer << " lr " << run.lr
     << ", batch " << run.batch << ", dim " << run.dim << ", " << run.epochs
     << " epochs, best state chosen on validation.";
  if (run.jobs > 1) {
    md << " " << run.jobs << " runs side by side, " << run.threads
       << " OpenMP thread(s) each: samples/s are of a run sharing the machine.";
  }
  md << "\n\n";
}

/// One row of a model's AUC table: `method`'s cells at 1x (the baseline) and at each ratio.
void markdown_auc_row(std::ostringstream& md, const std::vector<double>& ratios,
                      const std::string& model, const std::string& method, const json& records) {
  md << "| " << method << " |";
  const bool baseline = is_baseline(method);
  std::vector<std::string> cells(ratios.size() + 1);
  for (const json& r : records) {
    if (r["model"] != model || r["method"] != method) continue;
    const double ratio = r["requested_ratio"];
    if (baseline) cells[0] = auc_cell(r);
    for (std::size_t i = 0; i < ratios.size() && !baseline; ++i) {
      if (ratio == ratios[i]) cells[i + 1] = auc_cell(r);
    }
  }
  for (const std::string& cell : cells) md << ' ' << cell << " |";
  md << '\n';
}

/// `model`'s table of test AUC: a row per method, a column for 1x and one per ratio.
void markdown_auc_table(std::ostringstream& md, const std::vector<double>& ratios,
                        const std::string& model, const json& records) {
  md << "## " << model << ": test AUC (real compression ratio)\n\n| method | 1x |";
  for (double ratio : ratios) md << ' ' << ratio_text(ratio) << " |";
  md << "\n|---|---|";
  for (std::size_t i = 0; i < ratios.size(); ++i) md << "---|";
  md << '\n';
  for (const std::string& method : methods_of(model, records)) {
    markdown_auc_row(md, ratios, model, method, records);
  }
  md << '\n';
}

/// The table of every record, numbers left empty where the cell did not train.
void markdown_every_run(std::ostringstream& md, const json& records) {
  md << "## Every run\n\n| model | method | requested | real ratio | serving bytes | "
        "val AUC | test AUC | test logloss | samples/s | train s | status |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const json& r : records) {
    const bool ok = r["status"] == "ok";
    md << "| " << r["model"].get<std::string>() << " | " << r["method"].get<std::string>() << " | "
       << ratio_text(r["requested_ratio"].get<double>()) << " | "
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
}

}  // namespace

json record_of(const Cell& cell, const std::string& status, const std::string& note) {
  return {{"model", cell.model},
          {"method", cell.method},
          {"requested_ratio", cell.ratio},
          {"status", status},
          {"note", note}};
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

json infeasible_record(const Cell& cell, double limit) {
  json record = record_of(cell, "infeasible", "<= " + limit_text(limit));
  record["limit_ratio"] = limit;
  return record;
}

std::string ratio_text(double ratio, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*gx", digits, ratio);
  return text;
}

std::string limit_text(double ratio) {
  return ratio_text(ratio, 6);
}

std::string csv_of(const json& records) {
  std::string text = csv_line([](const std::string& column) { return column; });
  for (const json& record : records) {
    text += csv_line([&](const std::string& column) {
      return record.contains(column) ? csv_field(record[column]) : std::string();
    });
  }
  return text;
}

std::string markdown_of(const SweepGrid& grid, const RunOptions& run, const json& data,
                        const json& records) {
  std::ostringstream md;
  markdown_preamble(md, run, data);
  for (const std::string& model : grid.models) {
    markdown_auc_table(md, grid_ratios(grid), model, records);
  }
  markdown_every_run(md, records);
  return md.str();
}

json results_json(const RunOptions& run, const json& data, const json& records) {
  return {{"command", "sweep"},   {"data", data},       {"optimizer", run.optimizer},
          {"lr", run.lr},         {"batch", run.batch}, {"dim", run.dim},
          {"epochs", run.epochs}, {"seed", run.seed},   {"jobs", run.jobs},
          {"threads", run.threads}, {"records", records}};
}

void write_results(const SweepGrid& grid, const RunOptions& run, const std::filesystem::path& out,
                   const json& data, const json& records) {
  write_json(out / "results.json", results_json(run, data, records));
  write_text(out / "results.csv", csv_of(records));
  write_text(out / "results.md", markdown_of(grid, run, data, records));
}

}  // namespace embcomp::cli
