// How a data source numbers each field's ids. Frequency-aware methods read the training
// split's counts when they are given; without them a method takes an id as its frequency rank,
// and hash's modulo buckets are frequency-aware only for ranked ids (README: hash and CAFE).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "embcomp/core/error.hpp"

namespace embcomp {

enum class IdOrder : std::uint8_t {
  ranked = 0,      ///< descending frequency: id 0 is the most frequent value
  hashed = 1,      ///< a pseudo-random order (the generator's seeded permutation; a vocabulary's
                   ///< value hashes), like raw hashed ids
  first_seen = 2,  ///< a vocabulary's order of first appearance in its input (files only)
};

inline const char* id_order_name(IdOrder order) {
  switch (order) {
    case IdOrder::ranked: return "ranked";
    case IdOrder::hashed: return "hashed";
    case IdOrder::first_seen: return "first_seen";
  }
  return "?";
}

/// "ranked", "hashed" or "first_seen"; InvalidArgument otherwise.
inline IdOrder parse_id_order(std::string_view name) {
  for (const IdOrder order : {IdOrder::ranked, IdOrder::hashed, IdOrder::first_seen}) {
    if (name == id_order_name(order)) return order;
  }
  throw InvalidArgument("id order '" + std::string(name) +
                        "': expected ranked, hashed or first_seen");
}

}  // namespace embcomp
