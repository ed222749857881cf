// 13: ROBE-Z, the random offset block embedding (spec methods-inter.md §5).
//
// Every id of every field reads its embedding from one shared circular array M of S floats:
// element j of id x sits at a universal-hash location, and is read with a hashed sign:
//   e[j] = sign(x, j) * M[location(x, j)]
// With Z = 1 (chunks=1, the default) the d elements are one contiguous window starting at a
// hash of x; with Z chunks, Z windows of d / Z cells at independent offsets. S is simply the
// budget in floats, so any ratio works. Ids collide per window instead of per row, and the
// random signs make the shared cells' errors cancel on average. Options:
//   chunks=Z (a divisor of d), slot=true (hash the field too; ids are already global)
#include <embcomp/methods/robe.hpp>
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>
#include <embcomp/train/probe.hpp>

#include <cstdio>
#include <string>

using namespace embcomp;

namespace {

void run(const std::string& spec, const Schema& schema, double ratio) {
  auto table = make_table(spec, {schema, Budget{ratio}, /*seed=*/1});
  Adam adam(0.01f);
  const ProbeResult r =
      train_linear_probe(*table, adam, PlantedTask(schema, 7), /*steps=*/400, /*batch=*/256);
  std::printf("%-22s %6.0fx  S = %7lld cells  AUC %.4f\n", table->spec().c_str(), ratio,
              static_cast<long long>(dynamic_cast<const RobeTable&>(*table).size()), r.auc);
}

}  // namespace

int main() {
  const Schema schema{{20000, 2000, 200, 20}, 16};
  std::printf("full fp32 tables: %.0f B\n\n", schema.full_bytes());

  std::printf("one window per embedding, at growing compression:\n");
  for (double ratio : {2.0, 10.0, 100.0, 1000.0}) run("robe", schema, ratio);

  std::printf("\nfour windows of four cells, and per-field hashes:\n");
  run("robe:chunks=4", schema, 10.0);
  run("robe:slot=true", schema, 10.0);

  // A hashing trick would need at least one row of d floats per field; ROBE's array can be
  // smaller than one embedding (windows then overlap themselves).
  std::printf("\nfewer cells than one embedding has entries:\n");
  run("robe", schema, schema.full_bytes() / (8 * 4.0));
  return 0;
}
