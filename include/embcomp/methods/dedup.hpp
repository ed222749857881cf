// dedup: train a full table, then deduplicate blocks of rows with L2 LSH and fine-tune the
// smaller table through a block remap (spec methods-inter.md §6; after "Serving Deep Learning
// Models with Deduplication from Relational Databases", VLDB'22). Block search in
// dedup_blocks.hpp; the serving form is serving/remapped_table.hpp.
//
// Storage: "rows" (reshapeable) [N x d] in the full stage, every field's rows stacked as in
// `full`; after deduplication [kept r x d], the kept blocks of r = block_rows rows (the last
// block zero-padded), and "remap" [blocks] int32 (served): global row x reads
// rows[remap[x / r] r + x mod r].
// Sizing: serving bytes = kept r d 4 + 4 blocks. The budget B sets the duplicates wanted,
// k* = blocks - floor((B - 4 blocks) / (4 r d)); the smallest form (one kept block) is the
// construction-time limit. Whether the trained table has k* near-duplicate blocks is known only
// after the full stage: when it has fewer, begin_stage(1) throws InfeasibleBudget naming the
// ratio the blocks it found reach.
// Stages:
//   full      (full x the trainer's epochs) the uncompressed table trains.
//   finetune  (finetune x the trainer's epochs) begins with the deduplication: the table is
//             reshaped (its optimizer state is forgotten, as the reference's new tables get
//             fresh Adam moments) and blocks sharing a kept block receive the sum of their
//             gradients.
// Departures from the reference: block_rows=auto takes min(10000, ceil(N / 64)) rows per block,
// so that a table has at least ~64 blocks to merge (the reference's 10000 leaves Criteo at 1%
// of its ids 34 blocks, and a table under 10000 rows one block that can never shrink;
// block_rows=10000 restores it); the stage lengths default to half an epoch each (the same
// samples as single-stage methods; the reference trains its full stage for a whole epoch, then
// fine-tunes for another, full=1,finetune=1); the remap of every block is counted (the
// reference's target k* assumed k remap entries but reported nb); the last block is checked like
// the others (the reference's b[:-0] made its similarity NaN when r divides n).
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/row_map.hpp"
#include "embcomp/methods/dedup_blocks.hpp"
#include "embcomp/serving/remapped_table.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

class DedupTable : public GatherTable<DedupTable> {
 public:
  static constexpr const char* kKey = "dedup";
  static constexpr const char* kSummary =
      "train full, merge near-duplicate row blocks (L2 LSH), fine-tune through a block remap";
  static constexpr const char* kServingForm = RemappedServingTable::kKey;
  static std::vector<OptionInfo> option_info() {
    return {{"full", "0.5", "epochs of the full stage, x the trainer's epochs"},
            {"finetune", "0.5", "epochs of the fine-tuning stage, x the trainer's epochs"},
            {"block_rows", "auto", "rows per block (auto: min(10000, ceil(N / 64)))"},
            {"sim", "0.7", "fraction of coordinates within fp for a duplicate"},
            {"fp", "0.01", "coordinates closer than this are equal"},
            {"lsh_threshold", "0", "candidates share more than this many LSH band codes"},
            {"bands", "90", "LSH bands (one hash each)"}};
  }

  DedupTable(const TableArgs& args, const Options& options)
      : GatherTable(args),
        full_epochs_(options.positive("full")),
        finetune_epochs_(options.positive("finetune")),
        config_(parse(options, args)),
        blocks_(block_count(args.schema.total_rows(), config_.block_rows)),
        wanted_(plan_duplicates(args, config_.block_rows, blocks_)),
        rows_(add_parameter("rows", args.schema.total_rows(), args.schema.dim, ParamKind::rows, {},
                            ParamTraits{ParamRole::trained, 1.0f, /*reshapeable=*/true})),
        remap_(add_index<std::int32_t>("remap")) {
    set_rows_parameter(rows_);
    offsets_ = args.schema.field_offsets();
    rows_.fill_uniform(default_init_bound(args.schema), args.seed);
  }

  /// Duplicate blocks the budget needs, of `blocks()` blocks.
  Index duplicates_wanted() const { return wanted_; }
  Index blocks() const { return blocks_; }
  bool deduplicated() const { return !remap_.values.empty(); }

  std::vector<Stage> stages() const override {
    Stage full;
    full.name = "full";
    full.epochs = full_epochs_;
    Stage finetune;
    finetune.name = "finetune";
    finetune.epochs = finetune_epochs_;
    return {full, finetune};
  }

  std::vector<TableStatistic> statistics() const override {
    Index kept = blocks_;
    if (deduplicated()) kept = rows_.rows() / config_.block_rows;
    return {{"blocks", static_cast<double>(blocks_)},
            {"kept_blocks", static_cast<double>(kept)},
            {"duplicates_wanted", static_cast<double>(wanted_)}};
  }

  /// The remapped serving form (deduplicated, or every block its own before).
  std::unique_ptr<EmbeddingTable> freeze() const override {
    if (deduplicated()) {
      return std::make_unique<RemappedServingTable>(args(), rows_.data(), rows_.rows(),
                                                    remap_.values, config_.block_rows, kKey);
    }
    std::vector<float> padded(static_cast<std::size_t>(blocks_ * config_.block_rows * dim()), 0.0f);
    std::copy_n(rows_.data(), rows_.size(), padded.data());
    std::vector<std::int32_t> identity(static_cast<std::size_t>(blocks_));
    for (Index b = 0; b < blocks_; ++b) identity[static_cast<std::size_t>(b)] = static_cast<std::int32_t>(b);
    return std::make_unique<RemappedServingTable>(args(), padded.data(), blocks_ * config_.block_rows,
                                                  std::move(identity), config_.block_rows, kKey);
  }

  /// The row id i of field f reads: block_remap().row_of(field_rows()[f]'s row of i), the rows
  /// of the CUDA twin (cuda::GatherTable) by construction.
  Index row_of(const IdBatch& ids, Index p) const { return row_of(ids, p, ids.field_of(p)); }
  Index row_of(const IdBatch& ids, Index p, Index field) const {
    return block_remap().row_of(offsets_[field] + ids[p]);
  }
  /// Each field's rows in the stacked table before the remap (as full's).
  std::vector<kernels::FieldRows> field_rows() const { return kernels::stacked_fields(offsets_); }
  /// The remap of the stacked rows onto the kept blocks once deduplicated; before, none (every
  /// row reads itself).
  kernels::BlockRemap block_remap() const {
    return deduplicated() ? remap_view_ : kernels::BlockRemap{};
  }

 protected:
  void on_begin_stage(std::size_t index, const StageContext& /*ctx*/) override {
    if (index != 1 || deduplicated()) return;
    const DedupResult found = deduplicate_blocks(rows_.data(), rows_.rows(), dim(), config_, wanted_);
    if (found.duplicates < wanted_) {
      const double bytes = serving_bytes_for(blocks_ - found.duplicates);
      throw_infeasible(std::string(kKey) + " (" + std::to_string(found.duplicates) + " of " +
                           std::to_string(blocks_) + " blocks are near-duplicates of others, " +
                           std::to_string(wanted_) + " needed)",
                       bytes, args());
    }
    rebuild(found);
  }

  void on_state_loaded() override {
    if (!deduplicated()) {
      if (rows_.rows() != schema().total_rows()) throw CheckpointError("checkpoint damaged: dedup rows");
      return;
    }
    const Index kept = rows_.rows() / config_.block_rows;
    if (static_cast<Index>(remap_.size()) != blocks_ || rows_.rows() % config_.block_rows != 0) {
      throw CheckpointError("checkpoint damaged: dedup remap shape");
    }
    for (std::int32_t k : remap_.values) {
      if (k < 0 || k >= kept) throw CheckpointError("checkpoint damaged: dedup remap entry");
    }
    remap_view_ = {remap_.data(), config_.block_rows};
  }

 private:
  static DedupConfig parse(const Options& o, const TableArgs& args) {
    DedupConfig c;
    const Index rows = args.schema.total_rows();
    c.block_rows = o.text("block_rows") == "auto" ? std::min<Index>(10000, (rows + 63) / 64)
                                                   : static_cast<Index>(o.integer("block_rows"));
    c.sim = static_cast<float>(o.number("sim"));
    c.fp = static_cast<float>(o.number("fp"));
    c.lsh_threshold = static_cast<Index>(o.integer("lsh_threshold"));
    c.bands = static_cast<Index>(o.integer("bands"));
    c.seed = kernels::combine(args.seed, 0xdedc0deULL);
    if (c.block_rows < 1 || c.block_rows > rows || c.bands < 1 || c.lsh_threshold < 0 ||
        !(c.fp >= 0.0f) || !(c.sim >= 0.0f && c.sim <= 1.0f)) {
      throw InvalidArgument("dedup: block_rows must be in [1, " + std::to_string(rows) +
                            "] (the table's rows), bands >= 1, lsh_threshold >= 0, fp >= 0 and "
                            "sim in [0, 1]");
    }
    return c;
  }

  double serving_bytes_for(Index kept) const {
    return static_cast<double>(kept) * static_cast<double>(config_.block_rows * dim()) * sizeof(float) +
           static_cast<double>(blocks_) * sizeof(std::int32_t);
  }

  /// Duplicates the budget needs; InfeasibleBudget when even one kept block does not fit.
  static Index plan_duplicates(const TableArgs& args, Index block_rows, Index blocks) {
    const double block_bytes = static_cast<double>(block_rows * args.schema.dim) * sizeof(float);
    const double remap_bytes = static_cast<double>(blocks) * sizeof(std::int32_t);
    const double smallest = block_bytes + remap_bytes;
    require_budget(kKey, smallest, args);
    const auto kept = static_cast<Index>(std::floor((args.budget.bytes(args.schema) - remap_bytes) / block_bytes));
    return std::max<Index>(0, blocks - kept);
  }

  /// The table of kept blocks (each from its source block, the last one zero-padded) and the
  /// remap.
  void rebuild(const DedupResult& found) {
    const Index r = config_.block_rows, d = dim();
    const std::vector<float> old(rows_.data(), rows_.data() + rows_.size());
    const auto old_rows = rows_.rows();
    rows_.reshape(static_cast<Index>(found.kept_from.size()) * r, d);
    for (std::size_t k = 0; k < found.kept_from.size(); ++k) {
      const Index first = found.kept_from[k] * r;
      const Index count = std::min(r, old_rows - first);
      std::copy_n(old.data() + first * d, count * d, rows_.row(static_cast<Index>(k) * r));
    }
    remap_.values = found.remap;
    remap_view_ = {remap_.data(), r};
  }

  double full_epochs_;
  double finetune_epochs_;
  DedupConfig config_;
  Index blocks_;
  Index wanted_;
  Parameter& rows_;
  IndexArray<std::int32_t>& remap_;
  kernels::BlockRemap remap_view_;
  std::vector<Index> offsets_;
};

}  // namespace embcomp
