// CafeRouter (cafe_router.hpp): plain C++, compiled by the host compiler in both builds.
#include "cafe_router.hpp"

#include <string>
#include <utility>

#include "embcomp/methods/cafe.hpp"

namespace embcomp::cuda::detail {

struct CafeRouter::Batch {
  CafeTable::Routes routes;
  Index batch = 0;
  Index fields = 0;
};

namespace {

CafeTable& cafe_of(EmbeddingTable& table) {
  if (auto* cafe = dynamic_cast<CafeTable*>(&table)) return *cafe;
  const std::string& spec = table.spec();
  throw InvalidArgument("cuda: method '" + spec.substr(0, spec.find(':')) +
                        "' is not cafe or cafe-ml; cuda::CafeTable mirrors those only");
}

}  // namespace

CafeRouter::CafeRouter(EmbeddingTable& table)
    : table_(&cafe_of(table)),
      batch_(std::make_unique<Batch>()),
      method_(table.spec().empty() ? CafeTable::kKey
                                   : table.spec().substr(0, table.spec().find(':'))),
      dim_(table.dim()),
      cardinalities_(table.schema().cardinalities),
      table_rows_(table_->plan().table_rows),
      frequency_(table_->config().frequency),
      has_hot_(false) {
  for (const Parameter* p : table.parameters()) {
    if (p->name() == "hot") has_hot_ = true;
    tables_.push_back({p->name(), p->rows(), p->data(), p->lr_scale()});
  }
  if (extra_levels() > kMaxExtraLevels) {
    throw InvalidArgument("cuda::CafeTable: " + std::to_string(extra_levels() + 1) +
                          " hash levels (at most " + std::to_string(kMaxExtraLevels + 1) + ")");
  }
}

CafeRouter::~CafeRouter() = default;
CafeRouter::CafeRouter(CafeRouter&&) noexcept = default;
CafeRouter& CafeRouter::operator=(CafeRouter&&) noexcept = default;

EmbeddingTable& CafeRouter::table() const {
  return *table_;
}

void CafeRouter::route(const Index* ids, Index batch, Index fields, std::uint32_t* keys) {
  const Index n = batch * fields;
  for (Index p = 0; p < n; ++p) {
    const Index f = p % fields, id = ids[p];
    if (id < 0 || id >= cardinalities_[f]) {
      throw InvalidArgument("cuda (" + method_ + "): id " + std::to_string(id) + " at position " +
                            std::to_string(p) + " (field " + std::to_string(f) +
                            ") is outside [0, " + std::to_string(cardinalities_[f]) +
                            "); nothing was changed");
    }
  }
  CafeTable::Routes& routes = batch_->routes;
  table_->route_batch({ids, batch, fields}, routes);
  batch_->batch = batch;
  batch_->fields = fields;
  for (Index p = 0; p < n; ++p) {
    keys[p] = static_cast<std::uint32_t>(routes.primary[p]);
    for (Index l = 0; l < extra_levels(); ++l) {
      const bool reads = routes.levels[p] > l + 1;
      keys[(1 + l) * n + p] =
          reads ? static_cast<std::uint32_t>(table_->level_row(l + 2, routes.gids[p])) : ~0u;
    }
  }
}

void CafeRouter::insert(const float* norms, std::vector<std::int32_t>& sources,
                        std::vector<std::int32_t>& destinations) {
  const auto& promotions =
      table_->insert_importance(batch_->routes, norms, batch_->batch, batch_->fields);
  sources.clear();
  destinations.clear();
  for (const CafeTable::Promotion& promotion : promotions) {
    sources.push_back(static_cast<std::int32_t>(promotion.position));
    destinations.push_back(static_cast<std::int32_t>(table_rows_ + promotion.hot));
  }
}

}  // namespace embcomp::cuda::detail
