#include <catch2/catch.hpp>

#include <sstream>

#include "embcomp/core/parameter.hpp"

using namespace embcomp;

TEST_CASE("fp32 rows round-trip exactly", "[core][parameter]") {
  Parameter p("w", 4, 3, ParamKind::rows);
  const float row[3] = {0.25f, -1.5f, 3.0f};
  p.write_row(2, row, 0);
  float out[3];
  p.read_row(2, out);
  CHECK(std::equal(row, row + 3, out));
  CHECK(p.bytes() == 4 * 3 * sizeof(float));
}

TEST_CASE("global-scale codes decode to code * scale + offset", "[core][parameter]") {
  CodecSpec codec{Codec::int8, ScaleMode::global, 0.5f, 1.0f};
  Parameter p("q", 2, 4, ParamKind::rows, codec);
  const float row[4] = {1.0f, 2.0f, -3.0f, 1000.0f};  // on the grid except the saturating one
  p.write_row(0, row, 7);
  float out[4];
  p.read_row(0, out);
  CHECK(out[0] == 1.0f);
  CHECK(out[1] == 2.0f);
  CHECK(out[2] == -3.0f);
  CHECK(out[3] == 127 * 0.5f + 1.0f);  // saturated at the largest int8 code
  CHECK(p.bytes() == 2 * 4 * 1 + 2 * sizeof(float));  // codes + (scale, offset)
}

TEST_CASE("per-row scales follow each row's range", "[core][parameter]") {
  CodecSpec codec{Codec::int16, ScaleMode::per_row, 1.0f, 0.0f};
  Parameter p("q", 3, 4, ParamKind::rows, codec);
  const float small[4] = {1e-4f, -2e-4f, 3e-4f, 0.0f};
  const float large[4] = {100.0f, -50.0f, 25.0f, 1.0f};
  p.write_row(0, small, 1);
  p.write_row(1, large, 1);
  float out[4];
  p.read_row(0, out);
  for (int c = 0; c < 4; ++c) CHECK(out[c] == Approx(small[c]).margin(3e-4f / 32767 * 1.01f));
  p.read_row(1, out);
  for (int c = 0; c < 4; ++c) CHECK(out[c] == Approx(large[c]).margin(100.0f / 32767 * 1.01f));
  CHECK(p.bytes() == 3 * 4 * 2 + 3 * sizeof(float));
}

TEST_CASE("stochastic writes are unbiased over many draws", "[core][parameter]") {
  CodecSpec codec{Codec::int8, ScaleMode::global, 0.01f, 0.0f};
  Parameter p("q", 1, 1, ParamKind::rows, codec);
  const float x = 0.0137f;
  double sum = 0.0;
  const int n = 40000;
  for (int i = 0; i < n; ++i) {
    p.write_row(0, &x, static_cast<std::uint64_t>(i));
    float out;
    p.read_row(0, &out);
    sum += out;
  }
  CHECK(sum / n == Approx(x).margin(5 * 0.005 / std::sqrt(n)));
}

TEST_CASE("fill_uniform is deterministic and within bounds", "[core][parameter]") {
  Parameter a("w", 50, 8, ParamKind::rows), b("w", 50, 8, ParamKind::rows);
  a.fill_uniform(0.1f, 5);
  b.fill_uniform(0.1f, 5);
  CHECK(std::equal(a.data(), a.data() + a.size(), b.data()));
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(std::fabs(a.data()[i]) <= 0.1f);
}

TEST_CASE("save/load restores values and refuses a mismatched parameter", "[core][parameter]") {
  CodecSpec codec{Codec::int8, ScaleMode::per_row, 1.0f, 0.0f};
  Parameter a("q", 6, 5, ParamKind::rows, codec);
  a.fill_uniform(1.0f, 3);
  std::stringstream file;
  {
    Writer w(file);
    a.save(w);
  }
  Parameter b("q", 6, 5, ParamKind::rows, codec);
  {
    Reader r(file);
    b.load(r);
  }
  float ra[5], rb[5];
  for (Index row = 0; row < 6; ++row) {
    a.read_row(row, ra);
    b.read_row(row, rb);
    CHECK(std::equal(ra, ra + 5, rb));
  }
  file.clear();
  file.seekg(0);
  Parameter wrong("q", 7, 5, ParamKind::rows, codec);
  Reader r(file);
  CHECK_THROWS_WITH(wrong.load(r), Catch::Contains("q rows"));
}

TEST_CASE("invalid shapes and scales are rejected", "[core][parameter]") {
  CHECK_THROWS_AS(Parameter("w", 0, 3, ParamKind::rows), InvalidArgument);
  CHECK_THROWS_AS(Parameter("w", 3, 3, ParamKind::rows, CodecSpec{Codec::int8, ScaleMode::global, 0.0f, 0.0f}),
                  InvalidArgument);
}

TEST_CASE("parameter: roles, identity and reshape", "[core][parameter]") {
  Parameter a("a", 4, 3, ParamKind::rows);
  Parameter b("b", 4, 3, ParamKind::rows, {}, ParamTraits{ParamRole::training_only, 0.5f, true});
  CHECK(a.id() != b.id());
  CHECK(a.optimized());
  CHECK(a.served());
  CHECK(b.optimized());
  CHECK_FALSE(b.served());
  CHECK(b.lr_scale() == 0.5f);
  Parameter c("c", 1, 1, ParamKind::dense, {}, ParamTraits{ParamRole::method_updated});
  CHECK_FALSE(c.optimized());
  CHECK(c.served());

  CHECK_THROWS_AS(a.reshape(2, 3), std::logic_error);  // not registered as reshapeable
  const std::uint64_t before = b.id();
  b.data()[0] = 5.0f;
  b.reshape(2, 7);
  CHECK(b.rows() == 2);
  CHECK(b.width() == 7);
  CHECK(b.id() != before);  // state kept for the old storage can never be read for the new
  CHECK(b.data()[0] == 0.0f);
  CHECK_THROWS_AS(b.reshape(0, 7), InvalidArgument);
  CHECK_THROWS_AS(Parameter("d", 1, 1, ParamKind::rows, {}, ParamTraits{ParamRole::trained, 0.0f}),
                  InvalidArgument);
}

TEST_CASE("parameter: a reshapeable parameter loads the stored shape, others refuse it",
          "[core][parameter]") {
  Parameter source("w", 3, 2, ParamKind::rows);
  for (std::size_t i = 0; i < source.size(); ++i) source.data()[i] = static_cast<float>(i);
  std::stringstream file;
  Writer w(file);
  source.save(w);
  w.finish();
  const std::string bytes = file.str();

  Parameter reshapeable("w", 1, 1, ParamKind::rows, {}, ParamTraits{ParamRole::trained, 1.0f, true});
  std::stringstream in(bytes);
  Reader r(in);
  reshapeable.load(r);
  CHECK(reshapeable.rows() == 3);
  CHECK(reshapeable.width() == 2);
  CHECK(reshapeable.data()[5] == 5.0f);

  Parameter fixed("w", 1, 1, ParamKind::rows);
  std::stringstream in2(bytes);
  Reader r2(in2);
  CHECK_THROWS_WITH(fixed.load(r2), Catch::Contains("w rows"));
}
