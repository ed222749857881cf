// Umbrella header: the contract, the registry, every method and every optimizer.
#pragma once

#include "embcomp/registry.hpp"
#include "embcomp/table.hpp"

#include "embcomp/methods/full.hpp"
#include "embcomp/methods/hash.hpp"
#include "embcomp/methods/mde.hpp"
#include "embcomp/methods/qr.hpp"
#include "embcomp/methods/quantized.hpp"

#include "embcomp/optim/adagrad.hpp"
#include "embcomp/optim/adam.hpp"
#include "embcomp/optim/sgd.hpp"

#include "embcomp/data/planted.hpp"
#include "embcomp/data/schemas.hpp"
#include "embcomp/train/metrics.hpp"
