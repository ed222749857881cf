// DLRM, WDL and DCN: backward w.r.t. every parameter, the embeddings and the dense features
// against central finite differences (small widths); the protocol's sizes; determinism; the
// factory; and a short end-to-end training of DLRM on a `full` table.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "embcomp/models/dlrm.hpp"
#include "embcomp/models/factory.hpp"
#include "embcomp/nn/loss.hpp"
#include "nn/gradient_check.hpp"
#include "support.hpp"

using namespace embcomp;

namespace {

/// A batch with random dense features (ids are unused by the models) and random embeddings.
struct Inputs {
  Batch batch;
  std::vector<float> embeddings;
  Index dim;

  Inputs(Index size, Index fields, Index dim_, Index dense, unsigned seed) : dim(dim_) {
    batch.resize(size, dense, fields);
    batch.dense = test::random_values(batch.dense.size(), seed);
    embeddings = test::random_values(static_cast<std::size_t>(size * fields * dim), seed + 1);
  }
  ConstMatrix embedding_matrix() const {
    return {embeddings.data(), batch.size * batch.num_fields, dim};
  }
};

ModelArgs small_args(Index dense) {
  ModelArgs args;
  args.num_fields = 3;
  args.dim = 4;
  args.num_dense = dense;
  args.seed = 5;
  args.bottom_hidden = {8};
  args.top_hidden = {8, 8};
  return args;
}

ModelArgs protocol_args(Index fields, Index dense) {
  ModelArgs args;
  args.num_fields = fields;
  args.dim = 16;
  args.num_dense = dense;
  args.seed = 123;
  return args;
}

std::vector<float> logits_of(Model& model, const Inputs& in) {
  std::vector<float> logits(static_cast<std::size_t>(in.batch.size));
  model.forward(in.batch, in.embedding_matrix(), logits);
  return logits;
}

const Parameter* find_parameter(Model& model, const std::string& name) {
  for (const Parameter* p : model.parameters()) {
    if (p->name() == name) return p;
  }
  return nullptr;
}

/// Checks dL/dparameters, dL/dembeddings and dL/ddense of L = sum(w ⊙ logits).
void check_model_gradients(Model& model, Inputs& in) {
  const Index batch = in.batch.size;
  const std::vector<float> w = test::random_values(static_cast<std::size_t>(batch), 99);
  auto loss = [&] { return test::weighted_sum({logits_of(model, in).data(), batch, 1}, w); };
  loss();
  Gradients grads;
  std::vector<float> dE(in.embeddings.size());
  model.backward(w, grads, {dE.data(), batch * in.batch.num_fields, in.dim});
  const ConstMatrix ddense = model.dense_gradient();
  REQUIRE(ddense.rows == batch);
  REQUIRE(ddense.cols == in.batch.num_dense);
  const std::vector<float> ddense_copy(ddense.data, ddense.data + ddense.size());
  for (Parameter* p : model.parameters()) {
    test::check_gradient(model.name() + " " + p->name(), {p->data(), p->size()},
                         test::gradient_of(grads, *p), loss);
  }
  test::check_gradient(model.name() + " embeddings", in.embeddings, dE, loss);
  if (in.batch.num_dense > 0) test::check_gradient(model.name() + " dense", in.batch.dense, ddense_copy, loss);
}

}  // namespace

TEST_CASE("Models: backward against finite differences, with dense features", "[models]") {
  for (const char* name : {"dlrm", "wdl", "dcn"}) {
    const auto model = make_model(name, small_args(2));
    Inputs in(5, 3, 4, 2, 7);
    check_model_gradients(*model, in);
  }
}

TEST_CASE("Models: backward against finite differences, without dense features", "[models]") {
  for (const char* name : {"dlrm", "wdl", "dcn"}) {
    const auto model = make_model(name, small_args(0));
    Inputs in(5, 3, 4, 0, 8);
    check_model_gradients(*model, in);
  }
}

TEST_CASE("DLRM: protocol sizes, top input 16 + 351 with 13 dense features", "[models]") {
  Dlrm criteo(protocol_args(26, 13));
  CHECK(criteo.top_input_width() == 16 + 351);
  const Parameter* top0 = find_parameter(criteo, "top.0.weight");
  REQUIRE(top0 != nullptr);
  CHECK(top0->rows() == 367);
  CHECK(top0->width() == 512);
  const Parameter* bottom_last = find_parameter(criteo, "bottom.3.weight");
  REQUIRE(bottom_last != nullptr);
  CHECK(bottom_last->rows() == 64);
  CHECK(bottom_last->width() == 16);
  // bottom 13-512-256-64-16 and top 367-512-256-1, weights plus biases
  const std::size_t expected = (13 * 512 + 512) + (512 * 256 + 256) + (256 * 64 + 64) +
                               (64 * 16 + 16) + (367 * 512 + 512) + (512 * 256 + 256) + (256 + 1);
  CHECK(criteo.parameter_bytes() == expected * sizeof(float));

  Dlrm avazu(protocol_args(22, 0));
  CHECK(avazu.top_input_width() == 231);
  CHECK(find_parameter(avazu, "bottom.0.weight") == nullptr);

  Inputs in(4, 26, 16, 13, 3);
  const std::vector<float> logits = logits_of(criteo, in);
  REQUIRE(logits.size() == 4);
  for (const float z : logits) CHECK(std::isfinite(z));
}

TEST_CASE("WDL and DCN: protocol sizes", "[models]") {
  const Index in_width = 26 * 16 + 13;
  const auto wdl = make_model("wdl", protocol_args(26, 13));
  CHECK(find_parameter(*wdl, "deep.0.weight")->rows() == in_width);
  CHECK(find_parameter(*wdl, "deep.2.weight")->width() == 1);
  CHECK(find_parameter(*wdl, "wide.weight")->rows() == in_width);
  CHECK(find_parameter(*wdl, "wide.bias") == nullptr);

  const auto dcn = make_model("dcn", protocol_args(26, 13));
  CHECK(find_parameter(*dcn, "cross.2.weight")->rows() == in_width);
  CHECK(find_parameter(*dcn, "cross.3.weight") == nullptr);
  CHECK(find_parameter(*dcn, "deep.2.weight")->width() == 256);
  CHECK(find_parameter(*dcn, "head.weight")->rows() == in_width + 256);

  Inputs in(4, 26, 16, 13, 4);
  for (Model* model : {wdl.get(), dcn.get()}) {
    const std::vector<float> logits = logits_of(*model, in);
    for (const float z : logits) CHECK(std::isfinite(z));
  }
}

TEST_CASE("Models: deterministic under a seed", "[models]") {
  Inputs in(6, 3, 4, 2, 9);
  for (const char* name : {"dlrm", "wdl", "dcn"}) {
    ModelArgs args = small_args(2);
    const auto a = make_model(name, args);
    const auto b = make_model(name, args);
    args.seed = 6;
    const auto c = make_model(name, args);
    CHECK(logits_of(*a, in) == logits_of(*b, in));
    CHECK(logits_of(*a, in) != logits_of(*c, in));
  }
}

TEST_CASE("Models: the factory and shape checks reject bad input", "[models]") {
  CHECK_THROWS_WITH(make_model("deepfm", small_args(2)), Catch::Contains("unknown model 'deepfm'"));
  const auto model = make_model("dlrm", small_args(2));
  CHECK(model->name() == "dlrm");
  Inputs wrong_dense(5, 3, 4, 3, 1);
  std::vector<float> logits(5);
  CHECK_THROWS_AS(model->forward(wrong_dense.batch, wrong_dense.embedding_matrix(), logits), InvalidArgument);
  Inputs ok(5, 3, 4, 2, 1);
  std::vector<float> short_logits(4);
  CHECK_THROWS_AS(model->forward(ok.batch, ok.embedding_matrix(), short_logits), InvalidArgument);
  CHECK_THROWS_AS(model->forward(ok.batch, {ok.embeddings.data(), 15, 3}, logits), InvalidArgument);
}

TEST_CASE("DLRM with a full table learns the planted task", "[models]") {
  const Schema schema{{200, 100, 50, 20, 300}, 8};
  const PlantedTask task(schema, 3);
  const auto table = make_table("full", {schema, Budget{1}, 11});
  ModelArgs args;
  args.num_fields = schema.num_fields();
  args.dim = schema.dim;
  args.num_dense = 4;
  args.seed = 12;
  args.bottom_hidden = {16};
  args.top_hidden = {32, 16};
  Dlrm model(args);
  // table.backward clears the Gradients it is given, so table and model keep their own.
  Adam table_adam(0.01f), model_adam(0.01f);
  Gradients table_grads, model_grads;

  const Index batch_size = 128;
  Batch batch;
  batch.resize(batch_size, args.num_dense, schema.num_fields());
  std::vector<float> E(static_cast<std::size_t>(batch_size * schema.num_fields() * schema.dim));
  std::vector<float> dE(E.size()), logits(batch_size), dlogits(batch_size);
  const Matrix E_view{E.data(), batch_size * schema.num_fields(), schema.dim};
  auto run = [&](std::uint64_t index) {
    task.sample(batch_size, index, batch.ids, batch.labels);
    batch.dense = test::random_values(batch.dense.size(), static_cast<unsigned>(index));  // noise
    table->lookup(batch.id_batch(), E_view);
    model.forward(batch, E_view, logits);
  };

  for (std::uint64_t step = 0; step < 300; ++step) {
    run(step);
    nn::bce_with_logits(logits, batch.labels, dlogits);
    model.backward(dlogits, model_grads, {dE.data(), E_view.rows, E_view.cols});
    table->backward(batch.id_batch(), {dE.data(), E_view.rows, E_view.cols}, table_grads);
    model_adam.step(model_grads);
    table_adam.step(table_grads);
  }

  model.set_training(false);
  std::vector<float> scores, labels;
  for (std::uint64_t k = 0; k < PlantedTask::kHeldOutBatches; ++k) {
    run(PlantedTask::kHeldOutFirst + k);
    scores.insert(scores.end(), logits.begin(), logits.end());
    labels.insert(labels.end(), batch.labels.begin(), batch.labels.end());
  }
  const double auc = exact_auc(scores, labels);
  INFO("held-out AUC " << auc << ", oracle " << task.oracle_auc(batch_size));
  CHECK(auc > 0.7);
}
