// raw_gather, the benchmark's ceiling, against a plain copy loop.
#include <catch2/catch.hpp>

#include <cstdio>
#include <numeric>

#include "embcomp/cuda/device_memory.hpp"
#include "embcomp/cuda/raw_gather.hpp"
#include "shared_data.hpp"

namespace embcomp::test {

TEST_CASE("cuda raw gather copies the rows asked for", "[cuda]") {
  if (!cuda::host_shim() && !cuda::device_present()) {
    std::printf("%s: no CUDA device\n", kSkipMarker);
    return;
  }
  for (const Index width : {16, 6}) {  // the vector path and the scalar one
    INFO("width " << width);
    const Index rows = 50;
    std::vector<float> table(static_cast<std::size_t>(rows * width));
    std::iota(table.begin(), table.end(), 0.0f);
    const std::vector<Index> picked = {3, 49, 0, 3, 17};
    std::vector<float> expected;
    for (const Index r : picked) {
      expected.insert(expected.end(), table.begin() + r * width, table.begin() + (r + 1) * width);
    }
    const auto device_table = cuda::DeviceArray<float>::from(table);
    const auto device_rows = cuda::DeviceArray<Index>::from(picked);
    cuda::DeviceArray<float> out(expected.size());
    cuda::raw_gather(device_table.data(), width, device_rows.data(), 5, out.data());
    CHECK(out.to_host() == expected);
  }
}

}  // namespace embcomp::test
