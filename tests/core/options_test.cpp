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

TEST_CASE("an option with no effect in the chosen configuration is an error naming both",
          "[core][options]") {
  // Default or equal to it (as in a canonical spec): accepted.
  Options defaults("qr", kDeclared, "threshold=0");
  CHECK_NOTHROW(defaults.not_applicable("threshold", "op=mul"));
  // Any other value would be silently ignored: refused, naming the option and the conflict.
  Options given("qr", kDeclared, "threshold=5");
  CHECK_THROWS_WITH(given.not_applicable("threshold", "op=mul"),
                    Catch::Contains("threshold=5") && Catch::Contains("no effect with op=mul"));
}

TEST_CASE("options notice a declared option the method neither read nor ruled out",
          "[core][options]") {
  Options o("qr", kDeclared, "decay=0.5");
  o.text("op");
  o.integer("threshold");
  CHECK_THROWS_WITH(o.require_all_read(), Catch::Contains("'decay'") && Catch::Contains("a bug"));
  o.number("decay");
  CHECK_NOTHROW(o.require_all_read());
  Options ruled_out("qr", kDeclared);
  ruled_out.text("op");
  ruled_out.not_applicable("threshold", "op=mul");
  ruled_out.not_applicable("decay", "op=mul");
  CHECK_NOTHROW(ruled_out.require_all_read());
}
