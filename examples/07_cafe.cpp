// 07: CAFE (spec cafe.md): HotSketch + a hot table for important features + hash tables for
// the rest; cafe-ml adds multi-level hash rows for medium features.
//
// cafe sizes itself from the budget: hash_share of it for per-field hash tables, the rest for
// hot rows, each paying 4d B for its row plus 52 B for its sketch bucket and free-list entry.
// Importance is learned online: after each optimizer step, table.after_step(ctx) inserts every
// occurrence's gradient norm (normalised per field and batch) into the sketch, promotes
// features that reach the threshold and copies the embedding they used into their new hot row
// (ctx.optimizer lets the row's optimizer state move along). A training loop of your own must
// therefore call after_step; the Trainer does. It should also call table.forward (the lookup
// of a training step) rather than lookup before backward: cafe then keeps each id's sketch
// answer for backward instead of asking again. table.statistics() reports the hot rows in use.
//
// Here: two fields of 50,000 ids with Zipf-like traffic and a hidden per-id effect; cafe,
// cafe-ml and hash trained the same way at 100x and 1000x, AUC on held-out samples.
#include <embcomp/data/planted.hpp>
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace embcomp;

namespace {

const Schema kSchema{{50000, 50000}, 16};

struct Task {
  std::vector<float> effect = std::vector<float>(100000);
  std::mt19937_64 rng{11};
  Task() {
    std::normal_distribution<float> normal(0.0f, 1.5f);
    for (auto& e : effect) e = normal(rng);
  }
  /// ids [batch x 2], P(id = i) ~ 1 / (i + 1); label ~ Bernoulli(sigmoid(sum of effects)).
  void sample(Index batch, std::vector<Index>& ids, std::vector<float>& labels) {
    std::uniform_real_distribution<double> u(0, 1);
    ids.resize(static_cast<std::size_t>(batch * 2));
    labels.resize(static_cast<std::size_t>(batch));
    for (Index b = 0; b < batch; ++b) {
      float z = 0.0f;
      for (Index f = 0; f < 2; ++f) {
        const auto id = static_cast<Index>(std::floor(std::pow(50000.0, u(rng)))) - 1;
        ids[b * 2 + f] = id;
        z += effect[f * 50000 + id];
      }
      labels[b] = u(rng) < 1.0 / (1.0 + std::exp(-z)) ? 1.0f : 0.0f;
    }
  }
};

void run(const std::string& spec, double ratio) {
  auto table = make_table(spec, {kSchema, Budget{ratio}, 1});
  Task task;
  Adam adam(0.02f);
  const Index batch = 512, width = 2 * kSchema.dim;
  std::vector<Index> ids;
  std::vector<float> labels, emb(static_cast<std::size_t>(batch * width)), dE(emb.size());
  const Matrix out{emb.data(), batch * 2, kSchema.dim};
  auto logit = [&](Index b) {
    float z = 0.0f;
    for (Index i = 0; i < width; ++i) z += emb[b * width + i];
    return z;
  };
  Gradients grads;
  for (std::uint64_t step = 1; step <= 1500; ++step) {
    task.sample(batch, ids, labels);
    const IdBatch id_batch{ids.data(), batch, 2};
    table->forward(id_batch, out);
    for (Index b = 0; b < batch; ++b) {
      const float g = (1.0f / (1.0f + std::exp(-logit(b))) - labels[b]) / static_cast<float>(batch);
      std::fill_n(dE.data() + b * width, width, g);
    }
    table->backward(id_batch, {dE.data(), out.rows, out.cols}, grads);
    adam.step(grads);
    table->after_step(StepContext{step, 0, 0.0, &adam});  // sketch insert, promotion, migration
  }
  std::vector<float> p, y;
  for (int k = 0; k < 16; ++k) {
    task.sample(batch, ids, labels);
    table->lookup({ids.data(), batch, 2}, out);  // evaluation only queries the sketch
    for (Index b = 0; b < batch; ++b) p.push_back(1.0f / (1.0f + std::exp(-logit(b))));
    y.insert(y.end(), labels.begin(), labels.end());
  }
  const MemoryReport m = table->memory(&adam);
  std::string extra;
  for (const TableStatistic& s : table->statistics()) {
    if (s.name == "hot_rows_in_use" || s.name == "hot_rows" || s.name == "threshold") {
      extra += "  " + s.name + " " + std::to_string(static_cast<long long>(s.value));
    }
  }
  std::printf("  %-24s %6.0fx  serving %6zu B (sketch %5zu B)  AUC %.4f%s\n", spec.c_str(), m.ratio(),
              m.serving_bytes, m.index_bytes, exact_auc(p, y), extra.c_str());
}

}  // namespace

int main() {
  for (double ratio : {100.0, 1000.0}) {
    std::printf("ratio %gx:\n", ratio);
    run("hash", ratio);
    run("cafe:threshold=50", ratio);  // T from the per-ratio table would be 100 / 500
    run("cafe-ml:threshold=50", ratio);
    run("cafe:threshold=adaptive", ratio);  // T starts at 1 and rises as the hot rows fill
  }
  return 0;
}
