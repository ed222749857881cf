// 02: the hashing trick (spec methods-inter.md §1).
//
// To compress by a ratio R, keep only M ~ N / R rows and send every id to row hash(id) mod M.
// Ids that collide share one row outright, so the table is R times smaller but each row serves
// about R ids. The options choose the hash and how rows are shared between fields:
//   hash=modulo (default) | xxhash   the reference's plain id % M, or XXH64 with the table's seed
//                                   (modulo's collisions are structured: x and x + M always share
//                                   a row; on ids numbered by frequency, as the CLI's prepared data
//                                   and the synthetic generator number them, the M most frequent
//                                   ids get rows of their own)
//   tables=shared (default) | per_field
//                                   one table for all fields (hashing field offset + id), or a
//                                   table per field with the budget split in proportion to n_f
//   threshold=T                     per_field: fields with n_f <= T keep a full, unhashed table
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>
#include <embcomp/train/probe.hpp>

#include <cstdio>
#include <string>

using namespace embcomp;

namespace {

// Trains `spec` on the planted task and prints what the memory report says.
void run(const std::string& spec, const Schema& schema, double ratio) {
  try {
    auto table = make_table(spec, {schema, Budget{ratio}, /*seed=*/1});
    Adam adam(0.001f);
    const ProbeResult r =
        train_linear_probe(*table, adam, PlantedTask(schema, 7), /*steps=*/1000, /*batch=*/512);
    // serving bytes = the rows kept (M x d x 4 B); the real ratio = full bytes / serving bytes
    // is at least the requested one because M is rounded down. Adam's state is training-only.
    const MemoryReport m = table->memory(&adam);
    std::printf("%-48s ratio %6.1fx  serving %8zu B  training %8zu B  AUC %.4f\n",
                table->spec().c_str(), m.ratio(), m.serving_bytes, m.training_bytes(), r.auc);
  } catch (const InfeasibleBudget& e) {
    // The error names the highest ratio this configuration reaches for the schema.
    std::printf("%-48s infeasible at %gx: highest ratio %.1fx\n", spec.c_str(), ratio,
                e.limit_ratio());
  }
}

}  // namespace

int main() {
  // Four fields with 20000, 2000, 200 and 20 ids (22,220 rows), d = 16.
  const Schema schema{{20000, 2000, 200, 20}, 16};
  std::printf("full fp32 tables: %.0f B\n\n", schema.full_bytes());

  std::printf("the uncompressed reference:\n");
  run("full", schema, 1.0);

  // At 10x, each row is shared by about 10 ids. The planted ids are uniform and unstructured,
  // so modulo's regular collisions cost nothing here; xxhash protects against ids that do have
  // structure (e.g. x and x + M both popular).
  std::printf("\nshared table at 10x, two hash functions:\n");
  run("hash", schema, 10.0);              // id % M: the reference's behaviour
  run("hash:hash=xxhash", schema, 10.0);  // xxhash: collisions spread at random

  // Splitting the budget in proportion to n_f leaves the 20-id field 2 rows, although each
  // field matters equally to the label; keeping small fields whole (threshold) fixes that.
  std::printf("\nper-field tables at 10x; with threshold=200 the two small fields stay full:\n");
  run("hash:tables=per_field", schema, 10.0);
  run("hash:tables=per_field,threshold=200", schema, 10.0);

  std::printf("\nmore compression, fewer rows, more collisions:\n");
  for (double ratio : {100.0, 1000.0}) run("hash", schema, ratio);
  // Keeping 220 full rows cannot fit 1000x (22 rows): the error says how far it can go.
  run("hash:tables=per_field,threshold=200", schema, 1000.0);
  return 0;
}
