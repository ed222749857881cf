// Checkpoint format (all integers little-endian):
//   magic "EMBCOMP\0" | u32 format version | u32 flags (bit 0: frozen)
//   string spec | u64 F | i64 n_f x F | i64 dim | f64 ratio | u64 seed | u64 header digest
//   method state (EmbeddingTable::save_state) | u64 XXH64 checksum of everything before it
// The header digest lets load_table trust the spec and schema before it builds the table, so a
// damaged header cannot make it allocate from garbage sizes.
#include <array>
#include <cstring>
#include <fstream>
#include <sstream>

#include "checkpoint_format.hpp"
#include "embcomp/core/atomic_file.hpp"
#include "embcomp/registry.hpp"

namespace embcomp {

namespace {

using namespace checkpoint_format;

constexpr std::uint32_t kFormatVersion = 2;  // 2: self-describing table state (stage, index state)
constexpr std::uint32_t kFlagFrozen = 1;

TableIdentity read_header(Reader& in, std::uint32_t& flags) {
  std::array<char, 8> magic{};
  in.bytes(magic.data(), magic.size());
  if (magic != kTableMagic) {
    throw CheckpointError("not an embcomp checkpoint (the file does not start with the "
                          "EMBCOMP magic)");
  }
  const auto version = in.pod<std::uint32_t>();
  if (version != kFormatVersion) {
    throw CheckpointError("checkpoint format version " + std::to_string(version) +
                          " is not supported; this library reads version " +
                          std::to_string(kFormatVersion));
  }
  flags = in.pod<std::uint32_t>();
  TableIdentity id = read_table_identity(in);
  in.verify_digest("header");
  return id;
}

/// How much state a genuine checkpoint of this header holds at least, and the factor by which
/// a header may exceed the bytes that follow before it is refused as damaged or forged. A table
/// sized by its budget stores about the budget (uncompressed bytes / ratio), and so does every
/// serving form. A trainable method with a serving form of its own builds the whole table
/// first (dedup, whose kept blocks may then be as small as the budget): its header may describe
/// a table 65536 times its bytes, far above any method's overhead, far below what would let a
/// few bytes allocate gigabytes. A method whose state is the whole table at every stage (dpq,
/// deeplight) holds at least that, and its construction works on every row: 64 times.
struct StateBound {
  double least_bytes = 0.0;
  double max_expansion = 65536.0;
};

StateBound state_bound(const std::string& spec, const TableArgs& args, bool frozen) {
  const double full = args.schema.full_bytes();
  const double budget = full / args.budget.ratio;
  if (frozen) return {budget};
  const std::string key = SpecString::parse(spec).key;
  for (const MethodInfo& m : methods()) {
    if (m.key != key) continue;
    if (m.state_holds_full_table) return {full, 64.0};
    return {m.serving_form.empty() ? budget : full};
  }
  return {budget};  // an unknown key: make_table refuses it
}

/// Throws CheckpointError when the header's table is implausibly large for the bytes that
/// follow it (checked before the table is built, so nothing is allocated or computed for it).
void check_plausible_size(Reader& in, const std::string& spec, const TableArgs& args,
                          bool frozen) {
  const std::uint64_t left = in.bytes_left();
  if (left == UINT64_MAX) return;  // not seekable
  const StateBound bound = state_bound(spec, args, frozen);
  if (bound.least_bytes > bound.max_expansion * (static_cast<double>(left) + 1.0)) {
    throw CheckpointError("checkpoint damaged: its header describes a table of at least " +
                          std::to_string(bound.least_bytes) + " bytes of state, but only " +
                          std::to_string(left) + " bytes follow (more than " +
                          std::to_string(static_cast<long long>(bound.max_expansion)) +
                          " times fewer)");
  }
}

}  // namespace

void EmbeddingTable::save(std::ostream& out) const {
  Writer w(out);
  w.bytes(kTableMagic.data(), kTableMagic.size());
  w.pod(kFormatVersion);
  w.pod(frozen_ ? kFlagFrozen : 0u);
  write_table_identity(w, *this);
  w.digest();
  save_state(w);
  w.finish();
}

void EmbeddingTable::save(const std::string& path) const {
  write_file_atomically(path, [this](std::ostream& out) { save(out); });
}

/// A copy of `table` through a checkpoint in memory.
static std::unique_ptr<EmbeddingTable> copy_of(const EmbeddingTable& table) {
  std::stringstream buffer(std::ios::in | std::ios::out | std::ios::binary);
  table.save(buffer);
  return load_table(buffer);
}

std::unique_ptr<EmbeddingTable> EmbeddingTable::freeze() const {
  auto copy = copy_of(*this);
  copy->mark_frozen();
  return copy;
}

std::unique_ptr<EmbeddingTable> EmbeddingTable::freeze_finalized_copy() const {
  auto copy = copy_of(*this);
  copy->finalize();
  return copy->freeze();
}

std::unique_ptr<EmbeddingTable> load_table(std::istream& in) {
  Reader r(in);
  std::uint32_t flags = 0;
  const auto [spec, args] = read_header(r, flags);
  check_plausible_size(r, spec, args, (flags & kFlagFrozen) != 0);
  std::unique_ptr<EmbeddingTable> table;
  try {
    // A frozen checkpoint builds its serving form directly, never the trainable table first.
    table = (flags & kFlagFrozen) ? make_frozen_table(spec, args) : make_table(spec, args);
  } catch (const InvalidArgument& e) {
    throw CheckpointError(std::string("checkpoint names a table this library cannot build: ") +
                          e.what());
  }
  table->load_state(r);
  r.finish();
  if (flags & kFlagFrozen) table->mark_frozen();
  return table;
}

std::unique_ptr<EmbeddingTable> load_table(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError("cannot open checkpoint '" + path + "'");
  try {
    return load_table(in);
  } catch (const CheckpointError& e) {
    throw CheckpointError(path + ": " + e.what());
  }
}

}  // namespace embcomp
