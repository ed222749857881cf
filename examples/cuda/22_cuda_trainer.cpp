// 22: the trainer on the GPU. The same run as on the CPU (a table, a model, the trainer's
// schedule, checkpoints if asked), with TrainerConfig::backend set to the device backend: the
// table's and the model's twins run every step and validation on the device, and the host objects
// are brought up to date when the trainer reads them (the best state, the test evaluation).
// The command line does the same with `embcomp train --device cuda`.
//
// With -DEMBCOMP_CUDA=ON this runs on the GPU; built without it, against the host shim that the
// tests use (the same kernels, run on the CPU).
#include <cstdio>

#include "embcomp/cuda/device_backend.hpp"
#include "embcomp/cuda/device_memory.hpp"
#include "embcomp/data/synthetic.hpp"
#include "embcomp/models/factory.hpp"
#include "embcomp/registry.hpp"
#include "embcomp/train/trainer.hpp"

using namespace embcomp;

int main() {
  if (!cuda::host_shim() && !cuda::device_present()) {
    std::printf("EMBCOMP_TEST_SKIPPED: no CUDA device\n");
    return 0;
  }
  std::printf("backend: %s\n", cuda::device_description().c_str());
  SyntheticConfig data;
  data.cardinalities = {5000, 2000, 800, 300, 100, 40, 10, 3};
  data.num_dense = 4;
  data.train_rows = 200'000;
  data.validation_rows = 5'000;
  data.test_rows = 5'000;
  const SyntheticCtr source(data);

  constexpr Index kDim = 16;
  // Any method with a twin: "full", "int8", "qr", "mde", "robe", "cafe", "dedup", ...
  const auto table = make_table("hash", TableArgs(source.schema(kDim), Budget{10.0}, 1));
  ModelArgs model_args;
  model_args.num_fields = static_cast<Index>(data.cardinalities.size());
  model_args.dim = kDim;
  model_args.num_dense = data.num_dense;
  model_args.bottom_hidden = {64, 32};
  model_args.top_hidden = {64, 32};
  const auto model = make_model("dlrm", model_args);

  TrainerConfig config;
  config.batch_size = 512;
  config.epochs = 1.0;
  config.evaluations_per_epoch = 4;
  config.optimizer = "adam";
  config.learning_rate = 0.005f;
  config.backend = cuda::device_backend();
  config.on_evaluation = [](const Evaluation& e) {
    std::printf("step %5llu  train loss %.4f  val auc %.4f\n",
                static_cast<unsigned long long>(e.step), e.train_loss, e.auc);
  };
  const TrainResult result = Trainer(config).train(source, *table, *model);
  std::printf("test auc %.4f (the generator's own probabilities reach %.4f)\n", result.test_auc,
              source.bayes_metrics(SplitPart::test).auc);
  if (!(result.test_auc > 0.66)) {  // chance is 0.5; the CPU trainer reaches 0.70 here
    std::printf("the model did not learn: test auc %.4f\n", result.test_auc);
    return 1;
  }
  return 0;
}
