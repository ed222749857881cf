// IdSets (methods/id_sets.hpp): every encoding's membership and rank against a brute-force
// count, the cheapest encoding's choice, and damaged sets rejected.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "embcomp/kernels/row_map.hpp"
#include "embcomp/methods/id_sets.hpp"
#include "support.hpp"

using namespace embcomp;

namespace {

struct Store {
  IndexArray<std::uint32_t> ids;
  IndexArray<std::uint64_t> words;
  IndexArray<std::uint32_t> ranks;
  IdSets sets{ids, words, ranks};
};

/// Roughly `share` of [0, n), increasing, from `seed`.
std::vector<std::uint32_t> some_members(Index n, double share, unsigned seed) {
  std::mt19937 rng(seed);
  std::bernoulli_distribution keep(share);
  std::vector<std::uint32_t> out;
  for (Index i = 0; i < n; ++i) {
    if (keep(rng)) out.push_back(static_cast<std::uint32_t>(i));
  }
  return out;
}

}  // namespace

TEST_CASE("id sets: membership and rank of every encoding equal a brute-force count", "[methods][id_sets]") {
  Store s;
  const Index n = 200;  // not a multiple of 64
  const std::vector<std::uint32_t> members = some_members(n, 0.3, 1);
  const std::vector<std::uint32_t> prefix = {0, 1, 2, 3, 4};
  struct Stored {
    HotSet set;
    const std::vector<std::uint32_t>* members;
    Index offset;
  };
  std::vector<Stored> stored;
  stored.push_back({HotSet::sorted, &members, s.sets.store(HotSet::sorted, n, members)});
  stored.push_back({HotSet::bitset, &members, s.sets.store(HotSet::bitset, n, members)});
  stored.push_back({HotSet::prefix, &prefix, s.sets.store(HotSet::prefix, n, prefix)});
  stored.push_back({HotSet::bitset, &prefix, s.sets.store(HotSet::bitset, n, prefix)});
  for (const Stored& at : stored) {
    INFO("set " << static_cast<int>(at.set) << " of " << at.members->size());
    const auto h = static_cast<Index>(at.members->size());
    s.sets.check(static_cast<std::int64_t>(at.set), n, h, at.offset, "test");
    for (Index id = 0; id < n; ++id) {
      const kernels::HotRank got = kernels::hot_rank({h, 0, at.set, at.offset}, s.sets.view(), id);
      std::uint64_t below = 0;
      bool member = false;
      for (std::uint32_t m : *at.members) {
        below += m < id;
        member = member || m == id;
      }
      CHECK(got.hot == member);
      if (member) CHECK(got.rank == below);
    }
  }
}

TEST_CASE("id sets: the cheapest encoding and its bytes", "[methods][id_sets]") {
  CHECK(cheapest_id_set(100, std::vector<std::uint32_t>{}) == HotSet::prefix);
  CHECK(cheapest_id_set(100, std::vector<std::uint32_t>{0, 1, 2}) == HotSet::prefix);
  CHECK(cheapest_id_set(100, std::vector<std::uint32_t>{0, 2}) == HotSet::sorted);
  // 6400 ids: a bitset is 100 words, 1200 B; 301 sorted ids are 1204 B.
  CHECK(cheapest_id_set(6400, some_members(6400, 1.0, 2)) == HotSet::prefix);
  std::vector<std::uint32_t> many(301);
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = static_cast<std::uint32_t>(2 * i + 1);
  CHECK(cheapest_id_set(6400, many) == HotSet::bitset);
  many.resize(300);
  CHECK(cheapest_id_set(6400, many) == HotSet::sorted);
  CHECK(id_set_bytes(6400, 300, HotSet::sorted) == 1200.0);
  CHECK(id_set_bytes(6400, 300, HotSet::bitset) == 1200.0);
  CHECK(id_set_bytes(6400, 300, HotSet::prefix) == 0.0);
}

TEST_CASE("id sets: damaged sets are rejected", "[methods][id_sets]") {
  Store s;
  const std::vector<std::uint32_t> members = {3, 9, 70};
  const Index sorted_at = s.sets.store(HotSet::sorted, 100, members);
  const Index bitset_at = s.sets.store(HotSet::bitset, 100, members);
  const auto sorted = static_cast<std::int64_t>(HotSet::sorted);
  const auto bitset = static_cast<std::int64_t>(HotSet::bitset);
  CHECK_NOTHROW(s.sets.check(sorted, 100, 3, sorted_at, "t"));
  CHECK_NOTHROW(s.sets.check(bitset, 100, 3, bitset_at, "t"));
  CHECK_THROWS_AS(s.sets.check(sorted, 100, 4, sorted_at, "t"), CheckpointError);   // past the end
  CHECK_THROWS_AS(s.sets.check(sorted, 50, 3, sorted_at, "t"), CheckpointError);    // id 70 >= n
  CHECK_THROWS_AS(s.sets.check(bitset, 100, 2, bitset_at, "t"), CheckpointError);   // count
  CHECK_THROWS_AS(s.sets.check(7, 100, 3, 0, "t"), CheckpointError);                // kind
  CHECK_THROWS_AS(s.sets.check(sorted, 100, -1, 0, "t"), CheckpointError);
  s.ids[1] = 2;  // out of order
  CHECK_THROWS_AS(s.sets.check(sorted, 100, 3, sorted_at, "t"), CheckpointError);
  s.words[static_cast<std::size_t>(bitset_at) + 1] |= 1ULL << 60;  // id 124 >= n = 100
  CHECK_THROWS_AS(s.sets.check(bitset, 100, 3, bitset_at, "t"), CheckpointError);
  s.ranks.values.pop_back();
  CHECK_THROWS_AS(s.sets.check_arrays("t"), CheckpointError);
}
