// 03: quotient-remainder (compositional) embeddings (spec methods-inter.md §2).
//
// Instead of one row per id, field f keeps two small tables: a quotient table Q_f with
// ceil(n_f / c) rows and a remainder table R_f with c rows. Id x reads Q_f[x div c] and
// R_f[x mod c]; no two ids of a field read the same pair, so every id still gets its own vector,
// made by combining the two rows. A field of n ids costs about n/c + c rows instead of n, which
// is smallest at c ~ sqrt(n). One collision count c is shared by every compressed field and is
// the smallest that fits the budget. Options:
//   op=mul (default) | add | concat   q * r, q + r, or [q; r] (two half-width tables)
//   threshold=T                       fields with n_f <= T keep a full table
#include <embcomp/methods/qr.hpp>
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>
#include <embcomp/train/probe.hpp>

#include <cstdio>
#include <string>

using namespace embcomp;

namespace {

// Builds `spec`, prints its sizing decision and memory, trains it and prints the held-out AUC.
void run(const std::string& spec, const Schema& schema, double ratio) {
  try {
    auto table = make_table(spec, {schema, Budget{ratio}, /*seed=*/1});
    const QrPlan& plan = dynamic_cast<const QrTable&>(*table).sizing();
    std::string fields;
    for (bool split : plan.compressed) fields += split ? 'Q' : 'F';  // Q+R tables or full
    Adam adam(0.01f);
    const ProbeResult r =
        train_linear_probe(*table, adam, PlantedTask(schema, 7), /*steps=*/400, /*batch=*/256);
    std::printf("%-34s c = %4lld  fields %s  AUC %.4f\n    %s\n", table->spec().c_str(),
                static_cast<long long>(plan.collisions), fields.c_str(), r.auc,
                table->memory(&adam).to_string().c_str());
  } catch (const InfeasibleBudget& e) {
    // The error names the highest ratio reachable: the c that makes Q and R smallest.
    std::printf("%-34s infeasible at %gx: highest ratio %.1fx\n", spec.c_str(), ratio,
                e.limit_ratio());
  }
}

}  // namespace

int main() {
  // Four fields with 20000, 2000, 200 and 20 ids (22,220 rows), d = 16.
  const Schema schema{{20000, 2000, 200, 20}, 16};
  std::printf("full fp32 tables: %.0f B\n\n", schema.full_bytes());

  std::printf("the uncompressed reference:\n");
  run("qr", schema, 1.0);  // c = 1: nothing to gain, every field stays full

  // At 10x: c = 11 for mul and add. concat's tables are half as wide, so a smaller c fits.
  // The linear probe sums the entries of each embedding, so with add and concat id x's logit
  // is a(x div c) + b(x mod c), which cannot follow independent per-id effects; mul's
  // sum_k q_k r_k can (a rank-d product), and here it even beats the full table in 400 steps.
  std::printf("\nthe three ways to combine q and r, at 10x:\n");
  for (const char* op : {"mul", "add", "concat"}) run(std::string("qr:op=") + op, schema, 10.0);

  std::printf("\nkeeping the two small fields whole (F) costs more collisions elsewhere:\n");
  run("qr:threshold=200", schema, 10.0);

  // c approaches sqrt(20000) ~ 141, where the largest field costs ~2 x 141 rows; beyond that
  // Q and R cannot shrink further and the error names the highest ratio reachable.
  std::printf("\nmore compression:\n");
  for (double ratio : {20.0, 40.0, 100.0}) run("qr", schema, ratio);
  return 0;
}
