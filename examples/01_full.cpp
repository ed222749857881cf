// 01: the uncompressed baseline, and the life cycle every method shares.
//
// "full" stores one fp32 row of d floats per id: field f's ids [0, n_f) are rows
// [offset_f, offset_f + n_f) of a single [N x d] table. Every other method implements the same
// EmbeddingTable interface, so the steps below (lookup, backward, optimizer step, memory
// report, checkpoint) are the same for all of them.
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>

#include <cstdio>
#include <filesystem>
#include <vector>

using namespace embcomp;

int main() {
  // Three fields with 1000, 100 and 10 ids, embedded in d = 8 floats each.
  const Schema schema{{1000, 100, 10}, 8};
  // Built from a factory string; "full" fits only the uncompressed budget (ratio 1).
  auto table = make_table("full", {schema, Budget{1.0}, /*seed=*/42});
  std::printf("built '%s'\n", table->spec().c_str());

  // A batch of B = 2 samples, one local id per field: ids are [B x F] row-major.
  const Index batch = 2, fields = schema.num_fields(), d = schema.dim;
  const std::vector<Index> ids = {7, 42, 3,    // sample 0
                                  999, 42, 9};  // sample 1 (shares id 42 of field 1)
  const IdBatch id_batch{ids.data(), batch, fields};

  // lookup: out is [B*F x d]; row p = b * F + f is the embedding of ids[p].
  std::vector<float> out(static_cast<std::size_t>(batch * fields * d));
  table->lookup(id_batch, {out.data(), batch * fields, d});
  std::printf("lookup: [%lld x %lld], out[0][0] = %+.5f\n", static_cast<long long>(batch * fields),
              static_cast<long long>(d), static_cast<double>(out[0]));

  // backward: given dLoss/dout (here all ones), the table returns gradients of its own
  // parameters. Row gradients are sparse: one entry per unique row, summed over the batch, so
  // the row of id 42 (used twice) gets 2.0 in every column.
  const std::vector<float> dE(out.size(), 1.0f);
  Gradients grads;
  table->backward(id_batch, {dE.data(), batch * fields, d}, grads);
  std::printf("backward: %zu sparse gradient(s), %lld unique rows for %lld lookups\n",
              grads.sparse.size(), static_cast<long long>(grads.sparse[0].count()),
              static_cast<long long>(batch * fields));

  // One optimizer serves every method: it updates only the rows that have a gradient.
  Adam adam(/*learning_rate=*/0.01f);
  adam.step(grads);
  std::vector<float> after(out.size());
  table->lookup(id_batch, {after.data(), batch * fields, d});
  std::printf("after one Adam step: out[0][0] = %+.5f (moved against the gradient)\n",
              static_cast<double>(after[0]));

  // memory(): every byte, with the optimizer's state (Adam keeps m and v per touched table).
  // The ratio is full fp32 bytes / serving bytes, so the baseline is exactly 1x.
  std::printf("memory: %s\n", table->memory(&adam).to_string().c_str());

  // Checkpoint: a versioned file (magic, format version, spec, schema, seed, state, checksum).
  const auto path = std::filesystem::temp_directory_path() / "embcomp_example_01_full.bin";
  table->save(path.string());
  auto loaded = load_table(path.string());
  std::filesystem::remove(path);
  std::vector<float> reloaded(out.size());
  loaded->lookup(id_batch, {reloaded.data(), batch * fields, d});
  const bool same = reloaded == after && loaded->spec() == table->spec();
  std::printf("save/load: '%s', lookups %s\n", loaded->spec().c_str(),
              same ? "identical" : "DIFFERENT");

  // freeze(): the serving form, lookup-only (backward throws) and thread-safe to read.
  auto serving = table->freeze();
  try {
    serving->backward(id_batch, {dE.data(), batch * fields, d}, grads);
    std::printf("freeze: backward unexpectedly worked\n");
    return 1;
  } catch (const Error& e) {
    std::printf("freeze: serving form is lookup-only (%s)\n", e.what());
  }
  return same ? 0 : 1;
}
