// embcomp prep: text files -> a memory-mapped binary cache (vocabularies, frequency counts,
// encoded rows) that `train` and `sweep` read with --cache DIR.
#include <cstdio>
#include <memory>

#include "cli.hpp"
#include "data_options.hpp"

namespace embcomp::cli {

namespace {

json report_json(const ParseReport& report) {
  json examples = json::array();
  for (const MalformedRow& row : report.examples) examples.push_back(row.message());
  return {{"rows", report.rows}, {"malformed", report.malformed}, {"examples", examples}};
}

int run_prep(const DataOptions& o) {
  const PrepResult result = prepare_files(o, o.cache_dir);
  json fields = json::array();
  for (const CacheField& field : result.meta.fields) {
    fields.push_back({{"cardinality", field.cardinality}, {"oov", field.has_oov}});
  }
  json parts = json::array();
  for (const CachePart& part : result.meta.parts) {
    parts.push_back({{"source", part.source}, {"rows", part.rows}});
  }
  const json summary = {{"command", "prep"},
                        {"format", o.format},
                        {"min_count", o.min_count},
                        {"id_order", o.id_order},
                        {"rows", result.meta.rows},
                        {"parts", parts},
                        {"dense", result.meta.num_dense},
                        {"fields", fields},
                        {"report", report_json(result.report)},
                        {"seconds_count", result.seconds_count},
                        {"seconds_encode", result.seconds_encode}};
  write_json(std::filesystem::path(o.cache_dir) / "prep.json", summary);
  Index ids = 0;
  for (const CacheField& field : result.meta.fields) ids += field.cardinality;
  std::printf("prep: %lld ids over %lld fields; wrote %s (and prep.json)\n",
              static_cast<long long>(ids), static_cast<long long>(result.meta.num_fields()),
              o.cache_dir.c_str());
  return 0;
}

}  // namespace

Command add_prep_command(CLI::App& app) {
  auto o = std::make_shared<DataOptions>();
  CLI::App* prep = app.add_subcommand(
      "prep", "prepare text files (Criteo TSV, Avazu CSV, a schema) into a binary cache");
  add_data_options(prep, *o, /*with_synthetic=*/false);
  prep->get_option("--train")->required();
  prep->get_option("--cache")->required();
  prep->remove_option(prep->get_option("--split"));
  return {prep, [o] { return run_prep(*o); }};
}

}  // namespace embcomp::cli
