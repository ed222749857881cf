// Real data samples in ../shared/data, which the repository never copies (their licenses forbid
// it). A test that needs one asks `shared_sample(path)` first.
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

namespace embcomp::test {

/// The printed marker of a skipped test: CTest reports an entry whose output contains it as
/// "Skipped" (SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt), never as "Passed".
inline constexpr const char* kSkipMarker = "EMBCOMP_TEST_SKIPPED";

/// `EMBCOMP_SHARED_DATA_DIR/<relative>`.
inline std::string shared_data_path(const std::string& relative) {
  return std::string(EMBCOMP_SHARED_DATA_DIR) + "/" + relative;
}

/// True when the sample at `path` exists. Otherwise the running test is marked skipped and the
/// caller returns, unless EMBCOMP_REQUIRE_SHARED_DATA=1 (scripts/test.sh sets it when
/// ../shared/data is there): then a missing sample fails the test, so CI never reports a data
/// test as skipped on a machine that has the data.
inline bool shared_sample(const std::string& path) {
  if (std::filesystem::exists(path)) return true;
  const char* required = std::getenv("EMBCOMP_REQUIRE_SHARED_DATA");
  if (required != nullptr && std::string(required) == "1") {
    FAIL("the real data sample " << path
                                 << " is absent, and EMBCOMP_REQUIRE_SHARED_DATA=1 requires it");
  }
  std::cout << kSkipMarker << ": the real data sample " << path << " is absent" << std::endl;
  return false;
}

}  // namespace embcomp::test
