// Index state: what a table holds besides its Parameters (remaps, bit-packed codes, pruning
// masks, frequency groups, CSR arrays, sketches). A method registers each piece with the table
// base (EmbeddingTable::add_index / add_index_state), which saves, checksums and counts it; no
// method writes its own save/load or byte count.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "embcomp/core/error.hpp"
#include "embcomp/core/serialize.hpp"

namespace embcomp {

/// The interface the base drives: bytes held, and a self-describing save/load (a load takes
/// the stored size, so a stage may resize the state and a checkpoint rebuilds it).
class IndexState {
 public:
  virtual ~IndexState() = default;
  virtual std::size_t bytes() const = 0;
  virtual void save(Writer& out) const = 0;
  virtual void load(Reader& in) = 0;
};

/// A registered array of trivially copyable T: layout and meaning are the method's (state them
/// where it is registered). Saved as its element count, then the elements.
template <class T>
  requires std::is_trivially_copyable_v<T>
class IndexArray final : public IndexState {
 public:
  std::vector<T> values;

  std::size_t size() const { return values.size(); }
  T& operator[](std::size_t i) { return values[i]; }
  const T& operator[](std::size_t i) const { return values[i]; }
  T* data() { return values.data(); }
  const T* data() const { return values.data(); }

  std::size_t bytes() const override { return values.size() * sizeof(T); }
  void save(Writer& out) const override {
    out.pod(static_cast<std::uint64_t>(values.size()));
    out.bytes(values.data(), bytes());
  }
  void load(Reader& in) override {
    constexpr std::uint64_t kMaxBytes = std::uint64_t{1} << 42;
    const auto count = in.pod<std::uint64_t>();
    if (count > kMaxBytes / sizeof(T) || count * sizeof(T) > in.bytes_left()) {
      throw CheckpointError("checkpoint damaged: index array of " + std::to_string(count) +
                            " elements (more than the file holds)");
    }
    std::vector<T> loaded(static_cast<std::size_t>(count));
    in.bytes(loaded.data(), loaded.size() * sizeof(T));
    values = std::move(loaded);
  }
};

/// Any structure with bytes(), save(Writer&) and load(Reader&) of its own (HotSketch).
template <class T>
concept SavableState = requires(T& t, const T& c, Writer& w, Reader& r) {
  { c.bytes() } -> std::convertible_to<std::size_t>;
  c.save(w);
  t.load(r);
};

/// Adapts a SavableState the method owns to IndexState (the object must outlive the table's
/// use of it and keep its address).
template <SavableState T>
class IndexStateOf final : public IndexState {
 public:
  explicit IndexStateOf(T& state) : state_(state) {}
  std::size_t bytes() const override { return state_.bytes(); }
  void save(Writer& out) const override { state_.save(out); }
  void load(Reader& in) override { state_.load(in); }

 private:
  T& state_;
};

}  // namespace embcomp
