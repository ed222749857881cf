// Mixed-dimension embedding math (spec methods-inter.md §8): a field's k-wide row e is lifted
// to the output width D by its projection P [k x D] (row-major): out = e P.
#pragma once

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/host_device.hpp"

namespace embcomp::kernels {

/// Element j of e[k] P[k x D]: the sum over i of e[i] P[i][j], in ascending i from 0.
EMBCOMP_HD float mde_project_element(const float* e, Index k, const float* P, Index D, Index j) {
  float sum = 0.0f;
  for (Index i = 0; i < k; ++i) sum += e[i] * P[i * D + j];
  return sum;
}

/// Element i of P[k x D] g[D], the gradient of e[i] for an output gradient g: the sum over j
/// of P[i][j] g[j], in ascending j from 0.
EMBCOMP_HD float mde_project_back_element(const float* P, Index D, const float* g, Index i) {
  const float* row = P + i * D;
  float sum = 0.0f;
  for (Index j = 0; j < D; ++j) sum += row[j] * g[j];
  return sum;
}

/// out[D] = e[k] P[k x D]. Row by row of P (contiguous), each out[j] summed in the order of
/// mde_project_element, so the two agree bit for bit (the CUDA twin computes elements).
EMBCOMP_HD void mde_project(const float* e, Index k, const float* P, Index D, float* out) {
  for (Index j = 0; j < D; ++j) out[j] = 0.0f;
  for (Index i = 0; i < k; ++i) {
    const float ei = e[i];
    const float* row = P + i * D;
    for (Index j = 0; j < D; ++j) out[j] += ei * row[j];
  }
}

/// acc[k] += P[k x D] g[D]: the gradient of e for an output gradient g.
EMBCOMP_HD void mde_project_back(const float* P, Index k, Index D, const float* g, float* acc) {
  for (Index i = 0; i < k; ++i) acc[i] += mde_project_back_element(P, D, g, i);
}

}  // namespace embcomp::kernels
