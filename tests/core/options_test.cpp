#include <catch2/catch.hpp>

#include "embcomp/core/options.hpp"

using namespace embcomp;

namespace {
const std::vector<OptionInfo> kDeclared = {{"op", "mul", ""}, {"threshold", "0", ""}, {"decay", "0.99", ""}};
}

TEST_CASE("options parse, keep defaults and print canonically", "[core][options]") {
  Options o("qr", kDeclared, "threshold=500,op=add");
  CHECK(o.text("op") == "add");
  CHECK(o.integer("threshold") == 500);
  CHECK(o.number("decay") == Approx(0.99));
  CHECK(o.canonical() == "qr:op=add,threshold=500,decay=0.99");
  CHECK(Options("qr", kDeclared).canonical() == "qr:op=mul,threshold=0,decay=0.99");
}

TEST_CASE("options reject unknown names and bad values with clear messages", "[core][options]") {
  CHECK_THROWS_WITH(Options("qr", kDeclared, "opp=add"), Catch::Contains("no option 'opp'") && Catch::Contains("op, threshold, decay"));
  CHECK_THROWS_WITH(Options("qr", kDeclared, "op"), Catch::Contains("name=value"));
  CHECK_THROWS_WITH(Options("qr", kDeclared, "threshold=5x").integer("threshold"), Catch::Contains("an integer"));
  CHECK_THROWS_WITH(Options("qr", kDeclared, "decay=fast").number("decay"), Catch::Contains("a number"));
  CHECK_THROWS_WITH(Options("qr", kDeclared, "op=div").choice("op", {"mul", "add"}), Catch::Contains("one of mul|add"));
  CHECK_THROWS_WITH(Options("full", {}, "x=1"), Catch::Contains("takes none"));
}

TEST_CASE("spec strings split into key and options", "[core][options]") {
  const auto s = SpecString::parse("cafe:threshold=500,hash_share=0.2");
  CHECK(s.key == "cafe");
  CHECK(s.options == "threshold=500,hash_share=0.2");
  CHECK(SpecString::parse("hash").options.empty());
  CHECK_THROWS_AS(SpecString::parse(":x=1"), InvalidArgument);
}
