// The interface of the CTR models (DLRM, WDL, DCN): embeddings and dense features in, one
// logit per sample out, and the backward pass that feeds EmbeddingTable::backward.
//
// One training step:
//   table.lookup(batch.id_batch(), E);                  // E [B*F x d]
//   model.forward(batch, E, logits);                    // logits [B]
//   nn::bce_with_logits(logits, batch.labels, dlogits);
//   model.backward(dlogits, model_grads, dE);           // dense grads + dE [B*F x d]
//   table.backward(batch.id_batch(), dE, table_grads);  // clears its Gradients first, so the
//                                                       // model's go in a separate object
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "embcomp/core/error.hpp"
#include "embcomp/core/gradients.hpp"
#include "embcomp/data/batch.hpp"
#include "embcomp/nn/tensor.hpp"

namespace embcomp {

/// What a model is built from. Empty width lists take the protocol's sizes
/// (benchmark-protocol.md §2): tests pass small ones.
struct ModelArgs {
  Index num_fields = 0;  ///< F
  Index dim = 16;        ///< d
  Index num_dense = 0;   ///< Dd (13 on Criteo, 0 on Avazu)
  std::uint64_t seed = 0;
  /// DLRM: bottom MLP hidden widths before the last layer of width d (default 512, 256, 64).
  std::vector<Index> bottom_hidden;
  /// DLRM: top MLP hidden widths (512, 256); WDL: deep hidden widths (256, 256);
  /// DCN: deep MLP widths (256, 256, 256). The 1-wide logit layer is added after them.
  std::vector<Index> top_hidden;
};

class Model {
 public:
  explicit Model(ModelArgs args) : args_(std::move(args)) {
    if (args_.num_fields < 1 || args_.dim < 1 || args_.num_dense < 0) {
      throw InvalidArgument("model: needs num_fields >= 1, dim >= 1 and num_dense >= 0 (got " +
                            std::to_string(args_.num_fields) + ", " + std::to_string(args_.dim) +
                            ", " + std::to_string(args_.num_dense) + ")");
    }
  }
  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  virtual std::string name() const = 0;
  const ModelArgs& args() const { return args_; }

  /// logits [B] of batch (dense [B x Dd]) with embeddings [B*F x d] (row b*F + f). The model
  /// copies what backward needs, so `embeddings` may be reused after this call.
  void forward(const Batch& batch, ConstMatrix embeddings, std::span<float> logits) {
    const Index b = batch.size;
    if (batch.num_fields != args_.num_fields || batch.num_dense != args_.num_dense) {
      throw InvalidArgument(name() + ": batch has " + std::to_string(batch.num_fields) +
                            " fields and " + std::to_string(batch.num_dense) +
                            " dense features, the model " + std::to_string(args_.num_fields) +
                            " and " + std::to_string(args_.num_dense));
    }
    require_shape("embeddings", embeddings, b * args_.num_fields, args_.dim);
    require_size("logits", logits.size(), b);
    batch_ = b;
    forward_impl(batch.dense_matrix(), flat(embeddings), logits);
  }

  /// From dlogits [B] = dLoss/dlogits of the last forward: writes the gradients of every
  /// parameter through grads.dense_for and dE [B*F x d] = dLoss/dembeddings.
  void backward(std::span<const float> dlogits, Gradients& grads, Matrix dE) {
    require_size("dlogits", dlogits.size(), batch_);
    require_shape("dE", dE, batch_ * args_.num_fields, args_.dim);
    dense_grad_ = backward_impl({dlogits.data(), batch_, 1}, grads,
                                {dE.data, batch_, args_.num_fields * args_.dim});
  }

  /// dLoss/d dense features [B x Dd] of the last backward (used by tests and attributions).
  ConstMatrix dense_gradient() const { return dense_grad_; }

  /// Every trainable parameter, in a fixed order.
  std::vector<Parameter*> parameters() {
    std::vector<Parameter*> out;
    collect_parameters(out);
    return out;
  }
  /// Bytes of the parameters (fp32), for the memory report.
  std::size_t parameter_bytes() const {
    std::size_t bytes = 0;
    // collect_parameters only lists pointers; nothing is modified.
    for (const Parameter* p : const_cast<Model*>(this)->parameters()) bytes += p->bytes();
    return bytes;
  }

  /// Non-trainable state (e.g. BatchNorm running statistics) in a fixed order, kept with the
  /// parameters by the trainer's best state and checkpoints; none by default.
  virtual std::vector<std::vector<float>*> buffers() { return {}; }

  /// Training (batch statistics) or evaluation mode; matters only for layers such as
  /// BatchNorm, which none of the three protocol heads uses.
  virtual void set_training(bool training) { training_ = training; }
  bool training() const { return training_; }

 protected:
  /// dense [B x Dd]; embeddings [B x F*d] (sample b's F vectors side by side).
  virtual void forward_impl(ConstMatrix dense, ConstMatrix embeddings, std::span<float> logits) = 0;
  /// dlogits [B x 1]; dE [B x F*d]. Returns the dense-feature gradient [B x Dd].
  virtual ConstMatrix backward_impl(ConstMatrix dlogits, Gradients& grads, Matrix dE) = 0;
  virtual void collect_parameters(std::vector<Parameter*>& out) = 0;

 private:
  /// The [B*F x d] embeddings seen as [B x F*d] (the same memory).
  ConstMatrix flat(ConstMatrix e) const {
    return {e.data, e.rows / args_.num_fields, e.cols * args_.num_fields};
  }
  static void require_shape(const char* what, ConstMatrix m, Index rows, Index cols) {
    if (m.rows != rows || m.cols != cols) {
      throw InvalidArgument(std::string("model: ") + what + " is [" + std::to_string(m.rows) +
                            " x " + std::to_string(m.cols) + "], expected [" +
                            std::to_string(rows) + " x " + std::to_string(cols) + "]");
    }
  }
  static void require_size(const char* what, std::size_t size, Index expected) {
    if (static_cast<Index>(size) != expected) {
      throw InvalidArgument(std::string("model: ") + what + " has " + std::to_string(size) +
                            " values, expected " + std::to_string(expected));
    }
  }

  ModelArgs args_;
  Index batch_ = 0;
  ConstMatrix dense_grad_;
  bool training_ = true;
};

/// out [B x (a.cols + b.cols)] = [a | b] row by row.
inline void concat_columns(ConstMatrix a, ConstMatrix b, Matrix out) {
  auto o = nn::as_eigen(out);
  if (a.cols > 0) o.leftCols(a.cols) = nn::as_eigen(a);
  if (b.cols > 0) o.rightCols(b.cols) = nn::as_eigen(b);
}

/// The inverse of concat_columns: a = in's first a.cols columns, b = the rest.
inline void split_columns(ConstMatrix in, Matrix a, Matrix b) {
  const auto i = nn::as_eigen(in);
  if (a.cols > 0) nn::as_eigen(a) = i.leftCols(a.cols);
  if (b.cols > 0) nn::as_eigen(b) = i.rightCols(b.cols);
}

/// `widths` with `last` appended: a head's hidden widths plus its output layer.
inline std::vector<Index> with_output(std::vector<Index> widths, Index last) {
  widths.push_back(last);
  return widths;
}

}  // namespace embcomp
