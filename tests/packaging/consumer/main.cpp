// Builds a hashed table from a factory string through the installed package, looks up one batch
// and checks the output shape. Exits 0 on success.
#include <embcomp/embcomp.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  using namespace embcomp;
  const Schema schema{{1000, 50, 7}, 8};
  const auto table = make_table("hash:hash=xxhash", {schema, Budget{10.0}, 42});

  const Index batch = 4;
  std::vector<Index> ids = {0, 0, 0, 999, 49, 6, 17, 3, 2, 500, 25, 1};
  std::vector<float> out(static_cast<std::size_t>(batch * schema.num_fields() * schema.dim));
  table->lookup({ids.data(), batch, schema.num_fields()},
                {out.data(), batch * schema.num_fields(), schema.dim});

  for (float v : out) {
    if (!std::isfinite(v)) {
      std::fprintf(stderr, "consumer: non-finite embedding value\n");
      return 1;
    }
  }
  if (out.size() != 4u * 3u * 8u || table->spec().rfind("hash:", 0) != 0) {
    std::fprintf(stderr, "consumer: unexpected shape or spec '%s'\n", table->spec().c_str());
    return 1;
  }
  std::printf("consumer OK: %s, output [%lld x %lld], %s\n", table->spec().c_str(),
              static_cast<long long>(batch * schema.num_fields()),
              static_cast<long long>(schema.dim), table->memory().to_string().c_str());
  return 0;
}
