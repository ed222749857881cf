// dhe: Deep Hash Embedding (spec methods-inter.md §4; Kang et al., KDD'21). No table: id x is
// encoded by k universal hashes into a dense vector of k reals (kernels/dhe.hpp), and an MLP
//   k -> H -> H -> H -> H -> H -> d   (six Linear layers, the first five each followed by
//                                      BatchNorm, then Mish; nn/ layers over this table's
//                                      registered parameters)
// decodes it into the embedding. DHE is compute-bound: a lookup is a batched MLP through the
// project's GEMM kernel (k H + 4 H^2 + H d multiply-adds per id).
//
// Sizing, per field as the reference (which forces use_multi = 1): field f gets its own network
// (one width H for all) if n_f > threshold and the network takes fewer floats than its full
// table (core/budget.hpp FieldRule); the other fields keep full tables. H is the largest width
// whose total fits the budget (an exact integer search). A network's floats count everything
// it serves: weights, biases, BatchNorm scale and shift, and its running mean and variance
// (the reference counts the last layer's bias as H instead of d and leaves the running
// statistics out; DheCount::reference reproduces its widths, tested against the spec's
// computed H = 3626/1372/271/29 on Criteo).
//
// Training forward (forward()) normalises with batch statistics and updates the running ones;
// lookup() is eval mode (running statistics), so forward() differs from lookup() by design
// (forward_matches_lookup() is false) and backward() is the exact gradient of forward(), not
// of lookup() (exact_gradient() is false; dhe_test checks it by finite differences of the
// training forward). A batch of one id has no batch statistics: forward then uses the running
// ones. backward() after a lookup, or after a forward of other ids, recomputes the training
// forward without touching the running statistics.
//
// Hash constants (a_i, b_i, p_i per field) are drawn from the table's seed, kept in every
// checkpoint, like hash's xxhash seed: nothing to store. Exact integer arithmetic throughout
// (the reference's GPU kernel overflows int32, a defect the spec marks): int64, or for the
// uniform encoding of ids with m * n_f < 2^52, the same values through exact double
// arithmetic that vectorises (kernels::exact_mod; an int64 division per hash made the
// encoding most of a narrow network's lookup). Init as the reference:
// every weight from the trainer's U(±b), b = 1 / sqrt(max n_f), biases 0, BatchNorm scale 1
// and shift 0; full fields U(±b).
#pragma once

#include <algorithm>
#include <cmath>
#include <deque>
#include <string>
#include <vector>

#include "embcomp/core/budget.hpp"
#include "embcomp/core/options.hpp"
#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/dhe.hpp"
#include "embcomp/kernels/row_groups.hpp"
#include "embcomp/nn/activation.hpp"
#include "embcomp/nn/batch_norm.hpp"
#include "embcomp/nn/linear.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

/// How a network's floats are counted: every served float, or as the reference does.
enum class DheCount { served, reference };

/// The sizing decision of a DheTable, computed before anything is allocated.
struct DhePlan {
  Index hidden = 0;           ///< H: width of every hidden layer
  std::vector<bool> network;  ///< per field: a DHE network (true) or a full table
  Index floats = 0;           ///< fp32 values of all networks and tables together
  std::size_t bytes() const { return static_cast<std::size_t>(floats) * sizeof(float); }
};

class DheTable : public EmbeddingTable {
 public:
  static constexpr const char* kKey = "dhe";
  static constexpr const char* kSummary =
      "deep hash embedding: k universal hashes of the id decoded by an MLP per field";
  static std::vector<OptionInfo> option_info() {
    return {{"hashes", "1024", "k: hash functions (the encoding's width)"},
            {"buckets", "1000000", "m: buckets of every hash"},
            {"encoding", "uniform", "uniform (2u - 1) | normal (Box-Muller; k even)"},
            {"threshold", "0", "fields with n_f <= threshold keep a full table"}};
  }
  static constexpr Index kHiddenLayers = 5;
  /// Bound of the `hashes` option, so that the network sizes cannot overflow.
  static constexpr Index kMaxHashes = Index{1} << 20;

  DheTable(const TableArgs& args, const Options& options)
      : EmbeddingTable(args),
        hashes_(checked_hashes(options)),
        buckets_(checked_buckets(options)),
        encoding_(options.pick<kernels::DheEncoding>(
            "encoding", {{"uniform", kernels::DheEncoding::uniform}, {"normal", kernels::DheEncoding::normal}})),
        plan_(plan(args.schema, args.budget, options.integer("threshold"), hashes_)) {
    if (encoding_ == kernels::DheEncoding::normal && hashes_ % 2 != 0) {
      throw InvalidArgument("dhe: encoding=normal pairs the hashes (Box-Muller), so hashes=" +
                            std::to_string(hashes_) + " must be even");
    }
    build();
  }

  /// Floats of one network of width H for k hashes and output width d.
  static Index network_floats(Index k, Index H, Index d, DheCount count = DheCount::served) {
    if (count == DheCount::reference) return (k + 1) * H + 4 * H * (H + 1) + (d + 1) * H + 10 * H;
    const Index linears = (k + 1) * H + (kHiddenLayers - 1) * (H + 1) * H + (H + 1) * d;
    const Index norms = kHiddenLayers * 4 * H;  // scale, shift, running mean and variance
    return linears + norms;
  }

  /// Sizes a DheTable without building it: the widest H whose networks and full fields fit.
  /// Throws InfeasibleBudget (naming the reachable ratio) when H = 1 does not fit.
  static DhePlan plan(const Schema& schema, const Budget& budget, long long threshold, Index k,
                      DheCount count = DheCount::served) {
    const FieldRule rule{threshold, schema.dim};
    const auto total = [&](Index H) {
      const auto network = static_cast<double>(network_floats(k, H, schema.dim, count));
      double floats = 0;
      for (Index n : schema.cardinalities) floats += rule.floats(n, network);
      return floats;
    };
    const double limit = budget.bytes(schema) / sizeof(float);
    const Index top = ceil_root(schema.total_rows() * schema.dim, 2);  // the reference's range
    const Index hidden = largest_fitting(1, top, [&](Index H) { return total(H) <= limit; });
    if (hidden < 1) throw_infeasible(kKey, total(1) * sizeof(float), {schema, budget, 0});
    DhePlan p{hidden, {}, static_cast<Index>(total(hidden))};
    const auto network = static_cast<double>(network_floats(k, hidden, schema.dim, count));
    for (Index n : schema.cardinalities) p.network.push_back(rule.compresses(n, network));
    return p;
  }

  const DhePlan& sizing() const { return plan_; }
  Index hidden() const { return plan_.hidden; }
  /// k, m and the encoding of every network.
  Index hash_count() const { return hashes_; }
  std::int64_t buckets() const { return buckets_; }
  kernels::DheEncoding encoding() const { return encoding_; }
  /// Field f's k hashes (empty for a field with a full table).
  std::vector<kernels::UniversalHash> field_hashes(Index f) const {
    return networks_[static_cast<std::size_t>(f)] == nullptr
               ? std::vector<kernels::UniversalHash>{}
               : networks_[static_cast<std::size_t>(f)]->hashes;
  }
  /// The first row of field f in "full" (a field without a network).
  Index full_base(Index f) const { return full_base_[static_cast<std::size_t>(f)]; }

  bool exact_gradient() const override { return false; }
  bool forward_matches_lookup() const override { return false; }

  /// Multiply-adds of one network's lookup: k H + 4 H^2 + H d.
  Index network_multiply_adds() const {
    const Index H = plan_.hidden;
    return hashes_ * H + (kHiddenLayers - 1) * H * H + H * dim();
  }
  /// "multiply_adds_per_lookup": the MLP's work per id, averaged over the fields (a full field
  /// does none), as benchmarks compare it with the machine's GEMM rate.
  std::vector<TableStatistic> statistics() const override {
    const auto networks = std::count(plan_.network.begin(), plan_.network.end(), true);
    return {{"multiply_adds_per_lookup", static_cast<double>(network_multiply_adds() * networks) /
                                             static_cast<double>(schema().num_fields())}};
  }

 protected:
  void lookup_impl(const IdBatch& ids, Matrix out) const override {
    nn::Buffer x, a, b, y;  // local: lookups are thread-safe; reused from field to field
    for (Index f = 0; f < ids.fields; ++f) {
      if (networks_[f] == nullptr) {
        copy_full_rows(ids, f, out);
        continue;
      }
      const Network& net = *networks_[f];
      encode(ids, f, net, x.resize(ids.batch, hashes_));
      ConstMatrix h = x.view();
      for (Index l = 0; l < kHiddenLayers; ++l) {
        const Matrix next = (l % 2 == 0 ? a : b).resize(ids.batch, plan_.hidden);
        net.linears[l].infer(h, next);
        net.norms[l].infer(next, next);
        net.activations[l].infer(next, next);
        h = next;
      }
      const Matrix e = y.resize(ids.batch, dim());
      net.linears[kHiddenLayers].infer(h, e);
      scatter_field(ids, f, e, out);
    }
  }

  void forward_impl(const IdBatch& ids, Matrix out) override {
    train_forward(ids, &out);
    forwarded_.assign(ids.ids, ids.ids + ids.size());
    forwarded_fields_ = ids.fields;
  }

  void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) override {
    if (!forwarded(ids)) recompute_forward(ids);
    forwarded_.clear();  // the layers' caches are used up
    nn::Buffer dy;
    for (Index f = 0; f < ids.fields; ++f) {
      if (networks_[f] == nullptr) continue;
      const Matrix g = dy.resize(ids.batch, dim());
      for (Index b = 0; b < ids.batch; ++b) std::copy_n(dE.row(b * ids.fields + f), dim(), g.row(b));
      networks_[f]->backward(g, grads);
    }
    full_gradients(ids, dE, grads);
  }

 private:
  /// One field's network over parameters registered with the table.
  struct Network {
    std::vector<kernels::UniversalHash> hashes;  ///< [k], drawn from the seed
    kernels::FastUniversalHashes fast;           ///< the same as doubles, when they are exact
    bool use_fast = false;                       ///< uniform encoding, a x + b < 2^52 for all ids
    std::deque<nn::Linear> linears;              ///< [6]
    std::deque<nn::BatchNorm> norms;             ///< [5]
    std::vector<nn::Activation> activations;     ///< [5], Mish
    nn::Buffer encoded;                          ///< [B x k] of the last training forward

    ConstMatrix forward(ConstMatrix x, bool batch_statistics) {
      for (Index l = 0; l < kHiddenLayers; ++l) {
        norms[l].set_training(batch_statistics);
        x = activations[l].forward(norms[l].forward(linears[l].forward(x)));
      }
      return linears[kHiddenLayers].forward(x);
    }
    void backward(ConstMatrix dy, Gradients& grads) {
      dy = linears[kHiddenLayers].backward(dy, grads);
      for (Index l = kHiddenLayers; l-- > 0;) {
        dy = linears[l].backward(norms[l].backward(activations[l].backward(dy, grads), grads), grads);
      }
    }
  };

  static Index checked_hashes(const Options& options) {
    const long long k = options.integer("hashes");
    if (k < 1 || k > kMaxHashes) {
      throw InvalidArgument("dhe: hashes=" + std::to_string(k) + " must be in [1, " +
                            std::to_string(kMaxHashes) + "]");
    }
    return k;
  }
  static std::int64_t checked_buckets(const Options& options) {
    const long long m = options.integer("buckets");
    if (m < 2 || m >= (std::int64_t{1} << 31)) {
      throw InvalidArgument("dhe: buckets=" + std::to_string(m) + " must be in [2, 2^31)");
    }
    return m;
  }

  void build() {
    const Schema& s = schema();
    const Index H = plan_.hidden, d = s.dim;
    const float bound = default_init_bound(s);
    Index full_rows = 0;
    full_base_.assign(static_cast<std::size_t>(s.num_fields()), 0);
    for (Index f = 0; f < s.num_fields(); ++f) {
      if (!plan_.network[f]) {
        full_base_[f] = full_rows;
        full_rows += s.cardinalities[f];
        networks_.push_back(nullptr);
        continue;
      }
      const std::string name = "field" + std::to_string(f);
      Network& net = storage_.emplace_back();
      net.hashes = kernels::make_universal_hashes(kernels::combine(seed(), 0xd4e0ULL + static_cast<std::uint64_t>(f)),
                                                  hashes_, buckets_);
      net.use_fast = encoding_ == kernels::DheEncoding::uniform &&
                     kernels::FastUniversalHashes::fits_fast(buckets_, s.cardinalities[f]);
      if (net.use_fast) net.fast = kernels::FastUniversalHashes(net.hashes, buckets_);
      for (Index l = 0; l <= kHiddenLayers; ++l) {
        const std::string layer = name + ".layer" + std::to_string(l);
        Parameter& w = add_parameter(layer + ".weight", l == 0 ? hashes_ : H, l == kHiddenLayers ? d : H,
                                     ParamKind::dense);
        Parameter& b = add_parameter(layer + ".bias", 1, w.width(), ParamKind::dense);
        w.fill_uniform(bound, kernels::combine(seed(), kernels::combine(static_cast<std::uint64_t>(f), static_cast<std::uint64_t>(l))));
        net.linears.emplace_back(w, &b);
        if (l == kHiddenLayers) break;
        const std::string norm = name + ".norm" + std::to_string(l);
        net.norms.emplace_back(add_parameter(norm + ".gamma", 1, H, ParamKind::dense),
                               add_parameter(norm + ".beta", 1, H, ParamKind::dense),
                               add_parameter(norm + ".running", 2, H, ParamKind::dense, {},
                                             ParamTraits{ParamRole::method_updated}));
        net.norms.back().reset_parameters();
        net.activations.emplace_back(nn::ActivationKind::mish);
      }
      networks_.push_back(&net);
    }
    if (full_rows > 0) {
      full_ = &add_parameter("full", full_rows, d, ParamKind::rows);
      full_->fill_uniform(bound, kernels::combine(seed(), 0xf011ULL));
    }
  }

  /// x [B x k] = the encodings of field f's ids.
  void encode(const IdBatch& ids, Index f, const Network& net, Matrix x) const {
#pragma omp parallel for schedule(static) if (ids.batch * hashes_ > 65536)
    for (Index b = 0; b < ids.batch; ++b) {
      const Index id = ids[b * ids.fields + f];
      if (net.use_fast) {
        kernels::dhe_encode_uniform_fast(net.fast, id, x.row(b));
      } else {
        kernels::dhe_encode(net.hashes.data(), hashes_, buckets_, encoding_, id, x.row(b));
      }
    }
  }

  /// out rows of field f = e [B x d].
  static void scatter_field(const IdBatch& ids, Index f, ConstMatrix e, Matrix out) {
    for (Index b = 0; b < ids.batch; ++b) std::copy_n(e.row(b), e.cols, out.row(b * ids.fields + f));
  }

  void copy_full_rows(const IdBatch& ids, Index f, Matrix out) const {
    for (Index b = 0; b < ids.batch; ++b) {
      const Index p = b * ids.fields + f;
      std::copy_n(full_->row(full_base_[f] + ids[p]), dim(), out.row(p));
    }
  }

  /// The training forward of every field; `out` may be null (backward's recomputation).
  void train_forward(const IdBatch& ids, Matrix* out) {
    for (Index f = 0; f < ids.fields; ++f) {
      if (networks_[f] == nullptr) {
        if (out != nullptr) copy_full_rows(ids, f, *out);
        continue;
      }
      Network& net = *networks_[f];
      encode(ids, f, net, net.encoded.resize(ids.batch, hashes_));
      const ConstMatrix e = net.forward(net.encoded.view(), /*batch_statistics=*/ids.batch > 1);
      if (out != nullptr) scatter_field(ids, f, e, *out);
    }
  }

  bool forwarded(const IdBatch& ids) const {
    return forwarded_fields_ == ids.fields && forwarded_.size() == static_cast<std::size_t>(ids.size()) &&
           std::equal(forwarded_.begin(), forwarded_.end(), ids.ids);
  }

  /// The training forward again (its caches are what backward reads), leaving the running
  /// statistics as they were: only forward() updates them.
  void recompute_forward(const IdBatch& ids) {
    std::vector<std::vector<float>> running;
    for (Network& net : storage_) {
      for (nn::BatchNorm& norm : net.norms) {
        running.emplace_back(norm.running().data(), norm.running().data() + norm.running().size());
      }
    }
    train_forward(ids, nullptr);
    std::size_t i = 0;
    for (Network& net : storage_) {
      for (nn::BatchNorm& norm : net.norms) std::copy(running[i].begin(), running[i].end(), norm.running().data()), ++i;
    }
  }

  void full_gradients(const IdBatch& ids, ConstMatrix dE, Gradients& grads) {
    if (full_ == nullptr) return;
    full_positions_.clear();
    full_rows_.clear();
    for (Index p = 0; p < ids.size(); ++p) {
      const Index f = ids.field_of(p);
      if (networks_[f] != nullptr) continue;
      full_positions_.push_back(p);
      full_rows_.push_back(full_base_[f] + ids[p]);
    }
    scatter_param_grad(*full_, full_rows_, groups_, grads, [&](Index i, float* acc) {
      const float* g = dE.row(full_positions_[i]);
      for (Index k = 0; k < dim(); ++k) acc[k] += g[k];
    });
  }

  Index hashes_;
  std::int64_t buckets_;
  kernels::DheEncoding encoding_;
  DhePlan plan_;
  std::deque<Network> storage_;      ///< the networks (a deque: their layers never move)
  std::vector<Network*> networks_;   ///< [F]: field f's network, or null for a full field
  std::vector<Index> full_base_;     ///< [F]: first row of a full field in "full"
  Parameter* full_ = nullptr;

  // what the last forward() saw, and backward scratch
  std::vector<Index> forwarded_;
  Index forwarded_fields_ = 0;
  std::vector<Index> full_positions_, full_rows_;
  kernels::RowGroups groups_;
};

}  // namespace embcomp
