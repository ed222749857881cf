// The CPU backend of the trainer (cpu_backend.hpp).
#include "cpu_backend.hpp"

#include "embcomp/nn/loss.hpp"

namespace embcomp {

void score_on_host(const EmbeddingTable& table, Model& model, const Batch& batch,
                   std::vector<float>& embeddings, std::span<float> logits) {
  const Index d = table.dim();
  const Index positions = batch.size * batch.num_fields;
  embeddings.resize(static_cast<std::size_t>(positions * d));
  table.lookup(batch.id_batch(), {embeddings.data(), positions, d});
  model.forward(batch, {embeddings.data(), positions, d}, logits);
}

double CpuBackend::forward_backward(const Batch& b, Gradients* tg, Gradients& mg) {
  const Index d = table_.dim();
  const Index n = b.size;
  const Index positions = n * b.num_fields;
  embeddings_.resize(static_cast<std::size_t>(positions * d));
  dE_.resize(embeddings_.size());
  logits_.resize(static_cast<std::size_t>(n));
  dlogits_.resize(static_cast<std::size_t>(n));
  if (tg != nullptr) {
    table_.forward(b.id_batch(), {embeddings_.data(), positions, d});
  } else {
    table_.lookup(b.id_batch(), {embeddings_.data(), positions, d});
  }
  model_.forward(b, {embeddings_.data(), positions, d}, logits_);
  const double loss = nn::bce_with_logits(logits_, b.labels, dlogits_);
  mg.clear();
  model_.backward(dlogits_, mg, {dE_.data(), positions, d});
  if (tg != nullptr) table_.backward(b.id_batch(), {dE_.data(), positions, d}, *tg);
  return loss;
}

void CpuBackend::validation_batch(const Batch& batch) {
  forward_backward(batch, nullptr, scratch_model_grads_);
  const Index positions = batch.size * batch.num_fields;
  table_.on_validation_batch(batch.id_batch(), {dE_.data(), positions, table_.dim()});
}

std::unique_ptr<StepBackend> cpu_backend(const TrainingObjects& objects) {
  return std::make_unique<CpuBackend>(objects);
}

}  // namespace embcomp
