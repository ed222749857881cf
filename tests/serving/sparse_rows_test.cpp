// serving/sparse_rows.hpp: both layouts against the dense matrix they came from, their byte
// counts, the budget inverse, and damaged checkpoints.
#include <catch2/catch.hpp>

#include <random>
#include <sstream>
#include <vector>

#include "embcomp/serving/sparse_rows.hpp"

using namespace embcomp;

namespace {

/// A [rows x width] matrix with about `density` of its entries nonzero.
std::vector<float> sparse_matrix(Index rows, Index width, double density, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<float> w(static_cast<std::size_t>(rows * width), 0.0f);
  for (auto& v : w) {
    if (u(rng) < density) v = static_cast<float>(u(rng) - 0.5);
  }
  return w;
}

SparseRows round_trip(const SparseRows& s) {
  std::stringstream file;
  Writer w(file);
  s.save(w);
  w.finish();
  Reader r(file);
  SparseRows loaded;
  loaded.load(r);
  r.finish();
  return loaded;
}

}  // namespace

TEST_CASE("sparse rows: rows read back as the dense matrix, in the smaller layout",
          "[serving][sparse]") {
  const Index rows = 300, width = 8;
  for (double density : {0.0, 0.02, 0.1, 0.5, 1.0}) {
    INFO("density " << density);
    const auto dense = sparse_matrix(rows, width, density, 7);
    const SparseRows s = SparseRows::from_dense(dense.data(), rows, width);
    Index nnz = 0;
    for (float v : dense) nnz += v != 0.0f;
    CHECK(s.nonzeros() == nnz);
    // CSR pays 4 (rows + 1) B once, COO 4 B per nonzero: COO below (rows + 1) nonzeros.
    CHECK(s.layout() == (nnz < rows + 1 ? SparseLayout::coo : SparseLayout::csr));
    CHECK(static_cast<double>(s.bytes()) == SparseRows::bytes_for(s.layout(), rows, nnz));
    const SparseRows loaded = round_trip(s);
    std::vector<float> row(static_cast<std::size_t>(width)), again(row.size());
    for (Index r = 0; r < rows; ++r) {
      s.read_row(r, row.data());
      loaded.read_row(r, again.data());
      CHECK(std::equal(row.begin(), row.end(), dense.begin() + r * width));
      CHECK(row == again);
    }
  }
}

TEST_CASE("sparse rows: max_nonzeros is the inverse of bytes_for", "[serving][sparse]") {
  for (Index rows : {Index{1}, Index{100}, Index{100'000}}) {
    for (double bytes : {10.0, 999.0, 4.0e5, 3.0e6}) {
      const Index nnz = SparseRows::max_nonzeros(rows, bytes);
      INFO("rows " << rows << ", bytes " << bytes << ", nnz " << nnz);
      if (nnz > 0) {
        CHECK(SparseRows::bytes_for(SparseRows::best_layout(rows, nnz), rows, nnz) <= bytes);
      }
      CHECK(SparseRows::bytes_for(SparseRows::best_layout(rows, nnz + 1), rows, nnz + 1) > bytes);
    }
  }
}

TEST_CASE("sparse rows: damaged checkpoints are refused", "[serving][sparse]") {
  const auto dense = sparse_matrix(50, 4, 0.5, 3);
  const SparseRows s = SparseRows::from_dense(dense.data(), 50, 4);
  std::stringstream file;
  Writer w(file);
  s.save(w);
  w.finish();
  std::string bytes = file.str();
  // The first column index sits after the header (8 + 8 + 1 + 8 B) and 51 row pointers.
  const std::size_t first_col = 8 + 8 + 1 + 8 + 51 * 4;
  bytes[first_col] = static_cast<char>(9);  // column 9 of a width-4 matrix
  std::stringstream damaged(bytes);
  Reader r(damaged);
  SparseRows loaded;
  CHECK_THROWS_WITH(loaded.load(r), Catch::Contains("column out of range"));
  CHECK(loaded.nonzeros() == 0);  // unchanged
}
