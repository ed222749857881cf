// 00: every registered method, side by side (what scripts/demo.sh runs).
//
// Each method in embcomp::methods() is built at a few compression ratios, trained (Adam, the
// same settings for all) as the embedding layer of a linear probe on the planted click task
// (data/planted.hpp: every id has a hidden effect, label ~ Bernoulli(sigmoid(sum of the
// sample's effects))), and evaluated on held-out batches. A new method appears here as soon as it is registered.
//
// Usage: example_00_compare_methods [--steps 1000] [--lr 0.001] [--ratios 1,2,10,100,1000]
//                                   [--method SPEC]...
//
// Columns: the requested ratio (the Budget), the real ratio from memory() (full fp32 bytes /
// serving bytes), the serving bytes, and held-out AUC and logloss. A method that cannot fit a
// budget says so, with the highest ratio it can reach for this schema (InfeasibleBudget).
#include <embcomp/data/planted.hpp>
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>
#include <embcomp/train/probe.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

using namespace embcomp;

namespace {

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 1000;
  float lr = 0.001f;
  std::vector<double> ratios = {1, 2, 10, 100, 1000};
  std::vector<std::string> only;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i], value = i + 1 < argc ? argv[i + 1] : "";
    if (value.empty()) {
      std::fprintf(stderr, "usage: %s [--steps N] [--lr X] [--ratios R,...] [--method SPEC]...\n",
                   argv[0]);
      return 2;
    }
    if (flag == "--steps") {
      steps = std::atoi(value.c_str());
    } else if (flag == "--lr") {
      lr = std::strtof(value.c_str(), nullptr);
    } else if (flag == "--ratios") {
      ratios.clear();
      for (const auto& r : split(value)) ratios.push_back(std::atof(r.c_str()));
    } else if (flag == "--method") {
      only.push_back(value);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }

  // Six fields from 20 to 20000 ids (27,620 rows), dim 16: 1.77 MB as full fp32 tables.
  const Schema schema{{20000, 5000, 2000, 500, 100, 20}, 16};
  const PlantedTask task(schema, 7);
  const Index batch = 512;
  std::printf("planted task: %lld fields, %lld ids, dim %lld, full fp32 tables %.0f B; %d steps "
              "of %lld samples, Adam lr %g\n",
              static_cast<long long>(schema.num_fields()),
              static_cast<long long>(schema.total_rows()), static_cast<long long>(schema.dim),
              schema.full_bytes(), steps, static_cast<long long>(batch), static_cast<double>(lr));
  std::printf("oracle AUC (the planted logits) on the held-out batches: %.4f\n\n",
              task.oracle_auc(batch));
  std::printf("%-10s %9s %9s %13s %8s %8s %7s\n", "method", "requested", "real", "serving B",
              "AUC", "logloss", "time s");

  int failures = 0;
  // Every registered method with its default options, or the factory strings given.
  std::vector<std::string> specs = only;
  if (specs.empty()) {
    for (const auto& method : methods()) specs.push_back(method.key);
  }
  for (const auto& spec : specs) {
    for (double ratio : ratios) {
      std::printf("%-10s %8gx ", spec.c_str(), ratio);
      std::fflush(stdout);
      try {
        const auto start = std::chrono::steady_clock::now();
        auto table = make_table(spec, {schema, Budget{ratio}, 1});
        Adam adam(lr);
        const ProbeResult result = train_linear_probe(*table, adam, task, steps, batch);
        const MemoryReport memory = table->memory();
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
        std::printf("%8.1fx %13zu %8.4f %8.4f %7.2f\n", memory.ratio(), memory.serving_bytes,
                    result.auc, result.logloss, took.count());
      } catch (const InfeasibleBudget& e) {
        std::printf("infeasible: the highest ratio it reaches is %.6gx\n", e.limit_ratio());
      } catch (const std::exception& e) {
        std::printf("FAILED: %s\n", e.what());
        ++failures;
      }
    }
  }
  return failures == 0 ? 0 : 1;
}
