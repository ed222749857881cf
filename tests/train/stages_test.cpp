// The trainer drives the stage model of table.hpp: a search stage of 0 steps that scores with
// validate(), a stage with the dense model frozen, a reshaped parameter whose optimizer state
// is forgotten, a gate on the best state, a stage the method ends, finalize before test, and
// the peak training memory with the best-state snapshot.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

// table.hpp first: methods/full.hpp (through core/row_table.hpp) expects EmbeddingTable.
#include "embcomp/table.hpp"
#include "embcomp/data/synthetic.hpp"
#include "embcomp/methods/full.hpp"
#include "embcomp/models/factory.hpp"
#include "embcomp/train/checkpoint.hpp"
#include "embcomp/train/trainer.hpp"

using namespace embcomp;

namespace {

SyntheticConfig data_config() {
  SyntheticConfig config;
  config.cardinalities = {500, 60, 12, 5};
  config.num_dense = 2;
  config.interaction_pairs = 2;
  config.train_rows = 6'400;  // 50 steps of 128
  config.validation_rows = 1'000;
  config.test_rows = 1'000;
  config.seed = 3;
  return config;
}

std::unique_ptr<Model> small_model(const BatchSource& source) {
  ModelArgs args;
  args.num_fields = static_cast<Index>(source.cardinalities().size());
  args.dim = 4;
  args.num_dense = source.num_dense();
  args.seed = 3;
  args.bottom_hidden = {8};
  args.top_hidden = {8};
  return make_model("dlrm", args);
}

std::vector<std::vector<float>> values_of(Model& model) {
  std::vector<std::vector<float>> out;
  for (const Parameter* p : model.parameters()) out.emplace_back(p->data(), p->data() + p->size());
  return out;
}

/// A full table with an extra dense parameter ("extra", reshaped at stage 2) and four stages:
///   0 search   0 steps; begin_stage scores the table with validate()
///   1 frozen   20 steps with the dense model frozen
///   2 gated    100 steps, no early stopping; the best state is gated until its step 30 and
///              the method ends the stage after its step 40
///   3 tail     5 steps
class ContractTable : public FullTable {
 public:
  ContractTable(const TableArgs& args, Model* model)
      : FullTable(args, Options("full", {})), model_(model),
        extra_(add_parameter("extra", 1, 1, ParamKind::dense, {},
                             ParamTraits{ParamRole::trained, 1.0f, /*reshapeable=*/true})) {}

  std::vector<Stage> stages() const override {
    Stage search{.name = "search", .steps = 0};
    Stage frozen{.name = "frozen", .steps = 20, .train_model = false};
    Stage gated{.name = "gated", .steps = 100, .early_stopping = false};
    Stage tail{.name = "tail", .steps = 5};
    return {search, frozen, gated, tail};
  }

  bool stage_done() const override { return stage() == 2 && stage_step_ >= 40; }
  bool may_become_best() const override { return stage() != 2 || stage_step_ >= 30; }

  void after_step(const StepContext& ctx) override {
    stage_step_ = ctx.stage_step;
    steps_per_stage[ctx.stage] = std::max(steps_per_stage[ctx.stage], ctx.stage_step);
    CHECK(ctx.stage_steps == stages()[ctx.stage].steps.value());
  }

  std::vector<float> validated;                    ///< validate() at the search stage
  std::vector<std::vector<std::vector<float>>> model_at_begin;  ///< per begun stage
  std::array<Index, 4> steps_per_stage{};
  int finalized_calls = 0;
  Parameter& extra() { return extra_; }

 protected:
  void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) override {
    FullTable::backward_impl(ids, dE, grads);
    DenseGrad& g = grads.dense_for(extra_);
    for (float& v : g.values) v = 0.01f;
  }
  void on_begin_stage(std::size_t index, const StageContext& ctx) override {
    model_at_begin.push_back(values_of(*model_));
    stage_step_ = 0;
    if (index == 0) {
      REQUIRE(ctx.validate);
      validated.push_back(static_cast<float>(ctx.validate()));
    }
    if (index == 2) extra_.reshape(3, 1);
  }
  void on_finalize() override { ++finalized_calls; }

 private:
  Model* model_;
  Parameter& extra_;
  Index stage_step_ = 0;
};

}  // namespace

TEST_CASE("stages: the trainer drives search, frozen, gated and method-ended stages",
          "[train][stages]") {
  const SyntheticCtr data(data_config());
  auto model = small_model(data);
  ContractTable table(TableArgs{data.schema(4), Budget{1.0}, 5}, model.get());
  TrainerConfig config;
  config.optimizer = "adam";
  config.learning_rate = 0.01f;
  config.evaluations_per_epoch = 5;  // every 10 steps
  config.patience = 1;               // would end the gated stage early if it applied
  std::vector<Evaluation> evaluations;
  config.on_evaluation = [&](const Evaluation& e) { evaluations.push_back(e); };
  Trainer trainer(config);
  const TrainResult result = trainer.train(data, table, *model);

  // Search: validate() gave a real AUC; the stage ran no steps and was evaluated once.
  REQUIRE(table.validated.size() == 1);
  CHECK(table.validated[0] > 0.3f);
  CHECK(table.validated[0] < 0.8f);
  CHECK(table.steps_per_stage[0] == 0);
  CHECK(std::count_if(evaluations.begin(), evaluations.end(),
                      [](const Evaluation& e) { return e.stage == 0; }) == 1);

  // Frozen: the dense model did not change during stage 1.
  REQUIRE(table.model_at_begin.size() == 4);
  CHECK(table.model_at_begin[1] == table.model_at_begin[2]);
  CHECK(table.model_at_begin[2] != table.model_at_begin[3]);  // it trains again in stage 2

  // Gated: nothing became the best before step 30 of the stage, patience did not apply, and
  // the method ended the stage at step 40 (of 100).
  CHECK(table.steps_per_stage[1] == 20);
  CHECK(table.steps_per_stage[2] == 40);
  CHECK(table.steps_per_stage[3] == 5);
  for (const Evaluation& e : evaluations) {
    if (e.stage == 2 && e.step < 20 + 30) CHECK_FALSE(e.improved);
  }
  CHECK(result.steps == 65);

  // The reshaped parameter's optimizer state is the new shape's (the old one was forgotten).
  const std::vector<float>* state = trainer.optimizer()->state(table.extra());
  REQUIRE(state != nullptr);
  CHECK(state->size() == 2 * 3);  // Adam: m and v for 3 elements

  // finalize ran once, before test; the peak counts the best-state snapshot.
  CHECK(table.finalized_calls == 1);
  CHECK(table.finalized());
  CHECK(result.memory.peak_training_bytes > result.memory.training_bytes());
  CHECK(result.memory.training_ratio() <
        result.memory.full_bytes / static_cast<double>(result.memory.training_bytes()));
}

TEST_CASE("stages: a table's state keeps its stage and reshaped parameters", "[train][stages]") {
  const SyntheticCtr data(data_config());
  auto model = small_model(data);
  const TableArgs args{data.schema(4), Budget{1.0}, 5};
  ContractTable a(args, model.get());
  a.begin_stage(2);
  a.extra().data()[2] = 7.0f;
  TrainingSnapshot snapshot;
  snapshot.take(a, *model);

  ContractTable b(args, model.get());  // fresh: stage 0, extra of shape [1 x 1]
  snapshot.restore(b, *model);
  CHECK(b.stage() == 2);
  REQUIRE(b.extra().rows() == 3);
  CHECK(b.extra().data()[2] == 7.0f);

  // A parameter registered without reshapeable keeps refusing another shape.
  TrainingSnapshot full_snapshot;
  FullTable small(TableArgs{Schema{{50, 6}, 4}, Budget{1.0}, 5}, Options("full", {}));
  full_snapshot.take(small, *model);
  FullTable other(TableArgs{Schema{{50, 7}, 4}, Budget{1.0}, 5}, Options("full", {}));
  CHECK_THROWS_WITH(full_snapshot.restore(other, *model), Catch::Contains("rows"));
}
