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

#include "embcomp/registry.hpp"

namespace embcomp {

namespace {

constexpr std::array<char, 8> kMagic = {'E', 'M', 'B', 'C', 'O', 'M', 'P', '\0'};
constexpr std::uint32_t kFormatVersion = 2;  // 2: self-describing table state (stage, index state)
constexpr std::uint32_t kFlagFrozen = 1;
constexpr std::uint64_t kMaxFields = 1 << 20;

TableArgs read_header(Reader& in, std::string& spec, std::uint32_t& flags) {
  std::array<char, 8> magic{};
  in.bytes(magic.data(), magic.size());
  if (magic != kMagic) {
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
  spec = in.string(4096);
  TableArgs args;
  const auto fields = in.pod<std::uint64_t>();
  if (fields == 0 || fields > kMaxFields) {
    throw CheckpointError("checkpoint damaged: " + std::to_string(fields) + " fields");
  }
  args.schema.cardinalities.resize(fields);
  in.bytes(args.schema.cardinalities.data(), fields * sizeof(Index));
  args.schema.dim = in.pod<Index>();
  args.budget.ratio = in.pod<double>();
  args.seed = in.pod<std::uint64_t>();
  in.verify_digest("header");
  return args;
}

}  // namespace

void EmbeddingTable::save(std::ostream& out) const {
  Writer w(out);
  w.bytes(kMagic.data(), kMagic.size());
  w.pod(kFormatVersion);
  w.pod(frozen_ ? kFlagFrozen : 0u);
  w.string(spec_);
  w.pod(static_cast<std::uint64_t>(schema().num_fields()));
  w.bytes(schema().cardinalities.data(), schema().cardinalities.size() * sizeof(Index));
  w.pod(schema().dim);
  w.pod(budget().ratio);
  w.pod(seed());
  w.digest();
  save_state(w);
  w.finish();
}

void EmbeddingTable::save(const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw CheckpointError("cannot open '" + path + "' for writing");
  save(out);
}

std::unique_ptr<EmbeddingTable> EmbeddingTable::freeze() const {
  std::stringstream buffer(std::ios::in | std::ios::out | std::ios::binary);
  save(buffer);
  auto copy = load_table(buffer);
  copy->mark_frozen();
  return copy;
}

std::unique_ptr<EmbeddingTable> load_table(std::istream& in) {
  Reader r(in);
  std::string spec;
  std::uint32_t flags = 0;
  const TableArgs args = read_header(r, spec, flags);
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
