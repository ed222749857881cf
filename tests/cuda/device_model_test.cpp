// cuda::DeviceModel against the CPU models (DLRM with and without dense features, WDL, DCN) on
// the same inputs: logits, loss, dE, every parameter's gradient, and the parameters and optimizer
// state after steps of every optimizer.
//
// Tolerance: the products are cuBLAS's on a GPU and the CPU's GEMM in host mode, but the dot
// interaction and the cross layer's dots sum in another order than Eigen's vectorised ones, so
// values agree to fp32 rounding of those sums (kTolerance, relative to the values' scale), not
// bit for bit.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cuda/device_support.hpp"
#include "embcomp/cuda/device_model.hpp"
#include "embcomp/models/factory.hpp"
#include "embcomp/nn/loss.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

constexpr double kTolerance = 2e-5;

ModelArgs small_args(Index dense) {
  ModelArgs args;
  args.num_fields = 5;
  args.dim = 8;
  args.num_dense = dense;
  args.seed = 11;
  args.bottom_hidden = {16};
  args.top_hidden = {24, 12};
  return args;
}

struct Case {
  const char* model;
  Index dense;
};

constexpr Case kCases[] = {{"dlrm", 3}, {"dlrm", 0}, {"wdl", 3}, {"dcn", 3}};

/// A batch of `size` samples: random dense features, labels and embeddings.
struct Inputs {
  Batch batch;
  std::vector<float> embeddings;

  Inputs(const ModelArgs& args, Index size, unsigned seed) {
    batch.resize(size, args.num_dense, args.num_fields);
    batch.dense = normal_values(batch.dense.size(), seed);
    embeddings =
        normal_values(static_cast<std::size_t>(size * args.num_fields * args.dim), seed + 1);
    const std::vector<float> coins = normal_values(batch.labels.size(), seed + 2);
    std::transform(coins.begin(), coins.end(), batch.labels.begin(),
                   [](float c) { return c > 0.0f ? 1.0f : 0.0f; });
  }
};

/// require_close (device_support.hpp) at this file's tolerance.
void require_close(const std::vector<float>& a, const std::vector<float>& b,
                   const std::string& what) {
  test::require_close(a, b, what, kTolerance);
}

/// The CPU side of one step: forward, loss, backward; returns the loss.
double cpu_forward_backward(Model& model, const Inputs& in, std::vector<float>& logits,
                            std::vector<float>& dE, Gradients& grads) {
  const Index d = model.args().dim;
  const Index positions = in.batch.size * in.batch.num_fields;
  logits.resize(static_cast<std::size_t>(in.batch.size));
  dE.resize(in.embeddings.size());
  model.forward(in.batch, {in.embeddings.data(), positions, d}, logits);
  std::vector<float> dlogits(logits.size());
  const double loss = nn::bce_with_logits(logits, in.batch.labels, dlogits);
  grads.clear();
  model.backward(dlogits, grads, {dE.data(), positions, d});
  return loss;
}

/// The device side: the inputs copied to the device, forward, loss, backward.
struct DeviceStep {
  DeviceArray<float> dense, embeddings, labels, logits, dlogits, dE;
  double loss = 0.0;

  DeviceStep(cuda::DeviceModel& model, const Inputs& in)
      : dense(DeviceArray<float>::from(in.batch.dense)),
        embeddings(DeviceArray<float>::from(in.embeddings)),
        labels(DeviceArray<float>::from(in.batch.labels)),
        logits(static_cast<std::size_t>(in.batch.size)),
        dlogits(static_cast<std::size_t>(in.batch.size)),
        dE(in.embeddings.size()) {
    model.forward(in.batch.size, dense.data(), embeddings.data(), logits.data());
    loss = model.loss(logits.data(), labels.data(), dlogits.data());
    model.backward(dlogits.data(), dE.data());
  }
};

/// The gradient of `param` in `grads` (dense_for would zero it).
const std::vector<float>& dense_gradient(const Gradients& grads, const Parameter& param) {
  for (const DenseGrad& g : grads.dense) {
    if (g.param == &param) return g.values;
  }
  FAIL("no gradient of " << param.name());
  throw;
}

const Parameter& parameter_named(Model& model, const std::string& name) {
  for (const Parameter* p : model.parameters()) {
    if (p->name() == name) return *p;
  }
  FAIL("no parameter " << name);
  throw;
}

}  // namespace

TEST_CASE("device models equal the CPU models forward and backward", "[cuda][model]") {
  if (!backend_ready()) return;
  for (const Case& c : kCases) {
    INFO(c.model << " with " << c.dense << " dense features");
    const ModelArgs args = small_args(c.dense);
    auto cpu = make_model(c.model, args);
    auto device = cuda::DeviceModel::mirror(*cpu);
    REQUIRE(device->name() == c.model);
    REQUIRE(device->parameter_names().size() == cpu->parameters().size());
    for (const Index size : {1, 37, 64}) {
      INFO("batch " << size);
      const Inputs in(args, size, static_cast<unsigned>(size));
      std::vector<float> logits, dE;
      Gradients grads;
      const double loss = cpu_forward_backward(*cpu, in, logits, dE, grads);
      const DeviceStep step(*device, in);
      require_close(step.logits.to_host(), logits, "logits");
      REQUIRE(step.loss == Approx(loss).epsilon(1e-5));
      require_close(step.dE.to_host(), dE, "dE");
      for (Parameter* p : cpu->parameters()) {
        require_close(device->gradient_to_host(p->name()), dense_gradient(grads, *p),
                      "gradient of " + p->name());
      }
    }
  }
}

TEST_CASE("device models train as the CPU models with every optimizer", "[cuda][model]") {
  if (!backend_ready()) return;
  for (const Case& c : kCases) {
    for (const auto& optimizer : every_optimizer()) {
      INFO(c.model << " (" << c.dense << " dense) with " << optimizer->name());
      const ModelArgs args = small_args(c.dense);
      auto cpu = make_model(c.model, args);
      auto device = cuda::DeviceModel::mirror(*cpu);
      const auto rule = cuda::DeviceOptimizer::of(*optimizer);
      for (unsigned s = 0; s < 5; ++s) {
        const Inputs in(args, 48, 100 + s);
        std::vector<float> logits, dE;
        Gradients grads;
        cpu_forward_backward(*cpu, in, logits, dE, grads);
        optimizer->step(grads);
        const DeviceStep step(*device, in);
        device->check_gradients();
        device->step(rule, optimizer->steps());
      }
      for (Parameter* p : cpu->parameters()) {
        require_close(device->values_to_host(p->name()), {p->data(), p->data() + p->size()},
                      "values of " + p->name());
        if (optimizer->slots() > 0) {
          require_close(device->state_to_host(p->name()), *optimizer->state(*p),
                        "state of " + p->name());
        }
      }
    }
  }
}

TEST_CASE("a device model refuses a NaN gradient and changes nothing", "[cuda][model]") {
  if (!backend_ready()) return;
  const ModelArgs args = small_args(3);
  auto cpu = make_model("dlrm", args);
  auto device = cuda::DeviceModel::mirror(*cpu);
  Inputs in(args, 16, 3);
  in.embeddings[17] = std::nanf("");
  const DeviceStep step(*device, in);
  const std::vector<float> before = device->values_to_host("top.0.weight");
  REQUIRE_THROWS_AS(device->check_gradients(), NonFiniteGradient);
  REQUIRE(device->values_to_host("top.0.weight") == before);
}

TEST_CASE("device model parameters copy back to the CPU model", "[cuda][model]") {
  if (!backend_ready()) return;
  const ModelArgs args = small_args(3);
  auto cpu = make_model("dcn", args);
  auto device = cuda::DeviceModel::mirror(*cpu);
  const Inputs in(args, 32, 9);
  const DeviceStep step(*device, in);
  device->check_gradients();
  device->step(cuda::DeviceOptimizer::of(Sgd(0.5f)), 1);
  const std::vector<float> trained = device->values_to_host("head.weight");
  REQUIRE(trained !=
          std::vector<float>(parameter_named(*cpu, "head.weight").data(),
                             parameter_named(*cpu, "head.weight").data() + trained.size()));
  device->copy_parameters_to(*cpu);
  const Parameter& head = parameter_named(*cpu, "head.weight");
  REQUIRE(std::vector<float>(head.data(), head.data() + head.size()) == trained);

  auto other = make_model("wdl", args);
  REQUIRE_THROWS_WITH(device->copy_parameters_to(*other), Catch::Contains("has no parameter"));
  REQUIRE_THROWS_WITH(device->values_to_host("nope"), Catch::Contains("no parameter 'nope'"));
}

TEST_CASE("a device model is built only for the models it has", "[cuda][model]") {
  cuda::DeviceModel::HostModel host;
  host.name = "fm";
  host.fields = 2;
  host.dim = 4;
  REQUIRE_THROWS_WITH(cuda::DeviceModel::build(host), Catch::Contains("dlrm, wdl, dcn"));
}
