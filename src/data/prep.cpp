#include "embcomp/data/prep.hpp"

#include <chrono>

namespace embcomp {

namespace {
double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

Vocabularies build_vocabularies(std::span<const std::string> inputs, const PrepOptions& options) {
  Vocabularies result;
  result.fields.resize(static_cast<std::size_t>(options.format.num_fields()));
  result.report.max_examples = options.read.max_examples;
  RawRow row;
  for (const std::string& path : inputs) {
    DelimitedReader reader(path, options.format, options.read);
    while (reader.next(row)) {
      for (std::size_t f = 0; f < row.categorical.size(); ++f) result.fields[f].count(row.categorical[f]);
    }
    result.report.merge(reader.report());
  }
  for (FieldVocabulary& field : result.fields) field.finalize(options.min_count, options.id_order);
  return result;
}

PrepResult prepare_cache(std::span<const std::string> inputs, const std::string& directory,
                         const PrepOptions& options) {
  PrepResult result;
  auto start = std::chrono::steady_clock::now();
  const Vocabularies vocabularies = build_vocabularies(inputs, options);
  result.report = vocabularies.report;
  result.seconds_count = seconds_since(start);

  start = std::chrono::steady_clock::now();
  std::vector<CacheField> fields;
  for (const FieldVocabulary& v : vocabularies.fields) fields.push_back({v.size(), 4, v.has_oov()});
  CacheWriter writer(directory, options.format.num_dense(), fields, options.format.has_label(),
                     options.min_count, options.id_order);
  RawRow row;
  std::vector<Index> ids(fields.size());
  for (const std::string& path : inputs) {
    DelimitedReader reader(path, options.format, options.read);
    while (reader.next(row)) {
      for (std::size_t f = 0; f < ids.size(); ++f) {
        ids[f] = vocabularies.fields[f].id_of(row.categorical[f]);
        if (ids[f] < 0) {
          throw DataError("'" + path + "' changed during preprocessing: line " +
                          std::to_string(row.line) + " holds a value not seen in pass 1");
        }
      }
      writer.append(row.label, row.dense, ids);
    }
    writer.end_part(path);
  }
  if (writer.rows() != static_cast<std::uint64_t>(result.report.rows)) {
    throw DataError("input files changed during preprocessing: pass 1 read " +
                    std::to_string(result.report.rows) + " rows, pass 2 " +
                    std::to_string(writer.rows()));
  }
  for (std::size_t f = 0; f < fields.size(); ++f) {
    writer.write_counts(static_cast<Index>(f), vocabularies.fields[f].counts());
  }
  writer.finish();
  result.seconds_encode = seconds_since(start);
  result.meta = CacheReader(directory).meta();
  return result;
}

}  // namespace embcomp
