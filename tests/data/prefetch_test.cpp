// BatchPrefetcher against plain BatchSource::read: the same batches, prefetched or not; a
// mismatched prefetch is dropped, a failed read throws at take(), the reading thread runs one
// OpenMP thread.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include <omp.h>

#include "embcomp/data/prefetch.hpp"
#include "embcomp/data/synthetic.hpp"
#include "data/forwarding_source.hpp"

using namespace embcomp;

namespace {

SyntheticConfig small_config() {
  SyntheticConfig config;
  config.cardinalities = {500, 40, 7};
  config.num_dense = 3;
  config.train_rows = 2'000;
  config.validation_rows = 500;
  config.test_rows = 500;
  config.seed = 21;
  return config;
}

Batch read_directly(const BatchSource& source, const BatchRequest& r) {
  Batch b;
  source.read(r.part, r.first, r.count, b);
  return b;
}

void require_same(const Batch& a, const Batch& b) {
  REQUIRE(a.size == b.size);
  REQUIRE(a.num_fields == b.num_fields);
  REQUIRE(a.num_dense == b.num_dense);
  CHECK(a.ids == b.ids);
  CHECK(a.dense == b.dense);
  CHECK(a.labels == b.labels);
}

/// Forwards to another source; throws on the train rows from `poisoned`, sleeps `delay` in
/// each read, and records the OpenMP thread count, the thread of the last read and the reads
/// started and finished.
class ProbedSource : public test::ForwardingSource {
 public:
  using ForwardingSource::ForwardingSource;
  void read(SplitPart part, Index first, Index count, Batch& out) const override {
    ++started;
    omp_threads = omp_get_max_threads();
    reader = std::this_thread::get_id();
    std::this_thread::sleep_for(delay);
    if (part == SplitPart::train && first == poisoned) throw std::runtime_error("disk error");
    inner().read(part, first, count, out);
    ++finished;
  }
  Index poisoned = -1;
  std::chrono::milliseconds delay{0};
  mutable std::atomic<int> started{0}, finished{0};
  mutable std::atomic<int> omp_threads{0};
  mutable std::atomic<std::thread::id> reader{};
};

}  // namespace

TEST_CASE("prefetch: batches taken are the batches read, prefetched or not", "[data][prefetch]") {
  const SyntheticCtr data(small_config());
  BatchPrefetcher prefetcher(data);
  Batch batch;
  // Without a prefetch: read on the spot.
  const BatchRequest first{SplitPart::train, 0, 128};
  prefetcher.take(first, batch);
  require_same(batch, read_directly(data, first));
  CHECK(prefetcher.hits() == 0);
  // A chain of prefetched batches, the last one clipped at the part's end.
  for (Index b = 1; b <= 15; ++b) {
    const BatchRequest next{SplitPart::train, b * 128, 128};
    prefetcher.prefetch(next);
    prefetcher.take(next, batch);
    require_same(batch, read_directly(data, next));
  }
  CHECK(batch.size == 2'000 - 15 * 128);
  CHECK(prefetcher.hits() == 15);

  SECTION("a prefetch of another batch is dropped") {
    prefetcher.prefetch({SplitPart::train, 0, 64});
    const BatchRequest other{SplitPart::validation, 0, 64};
    prefetcher.take(other, batch);
    require_same(batch, read_directly(data, other));
    CHECK(prefetcher.hits() == 15);
    // Nothing is left prefetched: the dropped batch is read again when asked for.
    const BatchRequest dropped{SplitPart::train, 0, 64};
    prefetcher.take(dropped, batch);
    require_same(batch, read_directly(data, dropped));
    CHECK(prefetcher.hits() == 15);
  }
  SECTION("a second prefetch replaces the first") {
    prefetcher.prefetch({SplitPart::train, 0, 64});
    const BatchRequest second{SplitPart::test, 64, 64};
    prefetcher.prefetch(second);
    prefetcher.take(second, batch);
    require_same(batch, read_directly(data, second));
    CHECK(prefetcher.hits() == 16);
  }
}

TEST_CASE("prefetch: a failed read throws at take and the prefetcher goes on",
          "[data][prefetch]") {
  const SyntheticCtr data(small_config());
  ProbedSource source(data);
  source.poisoned = 256;
  BatchPrefetcher prefetcher(source);
  Batch batch;
  const BatchRequest poisoned{SplitPart::train, 256, 128};
  prefetcher.prefetch(poisoned);
  CHECK_THROWS_WITH(prefetcher.take(poisoned, batch), Catch::Contains("disk error"));
  CHECK(prefetcher.hits() == 1);
  const BatchRequest next{SplitPart::train, 384, 128};
  prefetcher.prefetch(next);
  prefetcher.take(next, batch);
  require_same(batch, read_directly(data, next));
  CHECK(prefetcher.hits() == 2);
  // A poisoned batch read on the spot throws too.
  CHECK_THROWS_WITH(prefetcher.take(poisoned, batch), Catch::Contains("disk error"));
}

TEST_CASE("prefetch: the reading thread is another thread with one OpenMP thread",
          "[data][prefetch]") {
  const SyntheticCtr data(small_config());
  ProbedSource source(data);
  BatchPrefetcher prefetcher(source);
  Batch batch;
  const BatchRequest r{SplitPart::validation, 0, 100};
  prefetcher.prefetch(r);
  prefetcher.take(r, batch);
  CHECK(source.omp_threads.load() == 1);
  CHECK(source.reader.load() != std::this_thread::get_id());
}

TEST_CASE("prefetch: destroyed with a read in flight, it waits for the read to end",
          "[data][prefetch]") {
  const SyntheticCtr data(small_config());
  ProbedSource source(data);
  source.delay = std::chrono::milliseconds(100);
  {
    BatchPrefetcher prefetcher(source);
    prefetcher.prefetch({SplitPart::train, 0, 2'000});
    while (source.started.load() == 0) std::this_thread::yield();
  }
  // No read outlives the prefetcher (the source may be destroyed right after it).
  CHECK(source.finished.load() == 1);
}
