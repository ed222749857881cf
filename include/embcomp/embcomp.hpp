// Umbrella header: the contract, the registry, every method, every optimizer, the nn layers,
// the CTR models and the data layer.
#pragma once

#include "embcomp/registry.hpp"
#include "embcomp/table.hpp"

#include "embcomp/methods/alpt.hpp"
#include "embcomp/methods/cafe.hpp"
#include "embcomp/methods/cafe_ml.hpp"
#include "embcomp/methods/dedup.hpp"
#include "embcomp/methods/deeplight.hpp"
#include "embcomp/methods/dhe.hpp"
#include "embcomp/methods/dpq.hpp"
#include "embcomp/methods/full.hpp"
#include "embcomp/methods/hash.hpp"
#include "embcomp/methods/mde.hpp"
#include "embcomp/methods/qr.hpp"
#include "embcomp/methods/quantized.hpp"
#include "embcomp/methods/robe.hpp"
#include "embcomp/methods/tt.hpp"

#include "embcomp/serving/pq_table.hpp"
#include "embcomp/serving/remapped_table.hpp"
#include "embcomp/serving/sparse_rows.hpp"
#include "embcomp/serving/sparse_table.hpp"
#include "embcomp/sketch/hot_sketch.hpp"

#include "embcomp/optim/adagrad.hpp"
#include "embcomp/optim/adam.hpp"
#include "embcomp/optim/sgd.hpp"

#include "embcomp/nn/activation.hpp"
#include "embcomp/nn/batch_norm.hpp"
#include "embcomp/nn/cross_layer.hpp"
#include "embcomp/nn/dot_interaction.hpp"
#include "embcomp/nn/linear.hpp"
#include "embcomp/nn/loss.hpp"
#include "embcomp/nn/mlp.hpp"

#include "embcomp/models/factory.hpp"

#include "embcomp/data/cache.hpp"
#include "embcomp/data/planted.hpp"
#include "embcomp/data/prep.hpp"
#include "embcomp/data/readers.hpp"
#include "embcomp/data/schemas.hpp"
#include "embcomp/data/source.hpp"
#include "embcomp/data/split.hpp"
#include "embcomp/data/synthetic.hpp"
#include "embcomp/train/checkpoint.hpp"
#include "embcomp/train/metrics.hpp"
#include "embcomp/train/probe.hpp"
#include "embcomp/train/trainer.hpp"
