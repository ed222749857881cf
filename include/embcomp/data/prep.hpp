// Preprocessing of text data into a binary cache, in two streaming passes so that memory holds
// the vocabularies but never the rows (Criteo Kaggle's 45.8M rows need a few GiB):
//   pass 1 reads every input file and counts the values of every field (FieldVocabulary),
//   then ids are assigned (by frequency, first appearance or value hash; see vocabulary.hpp);
//   pass 2 reads the files again and writes each good row, encoded, to the cache.
// Memory: the vocabularies' hash tables, ~35-50 bytes per distinct value (Criteo Kaggle's 33.8M
// values: about 1.5 GiB, plus 24 bytes per value of the largest field while ids are assigned).
// The reference's fillna("0") makes empty categoricals one value; here the empty string is
// that value (Criteo's hashed values are never "0", so the ids are the same).
// Every input file becomes one part of the cache, in the given order, so separate
// train/validation/test files give a split by part (split.hpp).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "embcomp/data/cache.hpp"
#include "embcomp/data/readers.hpp"
#include "embcomp/data/vocabulary.hpp"

namespace embcomp {

struct PrepOptions {
  TextFormat format = criteo_format();
  ReadOptions read;
  std::int64_t min_count = 1;  ///< > 1: values seen fewer times share the OOV id 0
  IdOrder id_order = IdOrder::ranked;  ///< how ids are numbered (vocabulary.hpp)
};

struct Vocabularies {
  std::vector<FieldVocabulary> fields;
  ParseReport report;  ///< of all input files together
};

/// Pass 1: counts values per field over `inputs` and finalizes the vocabularies.
Vocabularies build_vocabularies(std::span<const std::string> inputs, const PrepOptions& options);

struct PrepResult {
  CacheMeta meta;
  ParseReport report;  ///< pass 1's report (pass 2 sees the same rows)
  double seconds_count = 0.0;
  double seconds_encode = 0.0;
};

/// Both passes: writes the cache of `inputs` into `directory` (created if needed).
/// Throws DataError if an input changes between the passes.
PrepResult prepare_cache(std::span<const std::string> inputs, const std::string& directory,
                         const PrepOptions& options = {});

}  // namespace embcomp
