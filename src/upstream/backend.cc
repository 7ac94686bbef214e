#include "switchyard/upstream/backend.h"

namespace sy::upstream {

Backend::Backend(const config::Backend& cfg, std::string poolName, unsigned workers)
    : cfg_(cfg),
      name_(cfg.name),
      poolName_(std::move(poolName)),
      address_(cfg.address),
      weight_(cfg.weight),
      effectiveWeight_(cfg.weight),
      maxRequests_(cfg.maxRequests),
      workers_(workers),
      idle_(new IdleList[workers]),
      stats_(workers) {}

}  // namespace sy::upstream
