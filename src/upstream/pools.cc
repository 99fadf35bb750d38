#include <map>
#include <string>

#include "upstream/h1_pool.h"
#include "upstream/h2_pool.h"
#include "upstream/pool.h"
#include "upstream/upstream_tls.h"

namespace ringway {

UpstreamPools::UpstreamPools(ProxyContext* ctx, const Config& config, std::string* error)
    : config_(config) {
  pools_.reserve(config.apis.size());
  std::map<std::string, std::shared_ptr<TlsClientContext>> contexts;
  for (const ApiConfig& api : config.apis) {
    const UpstreamTls* tls = nullptr;
    if (api.target.tls) {
      std::shared_ptr<TlsClientContext>& shared = contexts[UpstreamTls::context_key(api)];
      tls_.push_back(UpstreamTls::create(api, config.tls, shared, error));
      if (!tls_.back()) return;
      shared = tls_.back()->context();
      tls = tls_.back().get();
    } else {
      tls_.push_back(nullptr);
    }
    if (api.target.protocol == UpstreamProtocol::Http2) {
      pools_.push_back(std::make_unique<Http2Pool>(ctx, &api, tls));
    } else {
      pools_.push_back(std::make_unique<Http1Pool>(ctx, &api, tls));
    }
  }
}

UpstreamPools::~UpstreamPools() = default;

UpstreamPool* UpstreamPools::for_api(const ApiConfig* api) {
  return pools_[static_cast<size_t>(api - config_.apis.data())].get();
}

void UpstreamPools::shutdown() {
  for (auto& pool : pools_) pool->shutdown();
}

void UpstreamPools::abort_all() {
  for (auto& pool : pools_) pool->abort_all();
}

uint32_t UpstreamPools::connection_count() const {
  uint32_t n = 0;
  for (const auto& pool : pools_) n += pool->connection_count();
  return n;
}

}  // namespace ringway
