#include "pipeline/proxy_generation.h"

#include "auth/auth_filter.h"
#include "auth/mutual_tls.h"
#include "filter/fault_filter.h"
#include "upstream/upstream_settings.h"

namespace ringway {

ProxyGeneration::ProxyGeneration(std::shared_ptr<const Config> config, GenerationRefs* refs)
    : config_(std::move(config)), refs_(refs), router_(config_->apis) {}

std::unique_ptr<ProxyGeneration> ProxyGeneration::build(std::shared_ptr<const Config> config,
                                                        Loop* loop, int shard_index,
                                                        UpstreamPools& pools,
                                                        ApiStatsTable& stats,
                                                        AuthShard* auth,
                                                        GenerationRefs* refs,
                                                        std::string* error) {
  std::unique_ptr<ProxyGeneration> gen(new ProxyGeneration(std::move(config), refs));
  const Config& cfg = *gen->config_;
  gen->apis_.resize(cfg.apis.size());
  for (size_t i = 0; i < cfg.apis.size(); ++i) {
    const ApiConfig& api = cfg.apis[i];
    ApiRoute& route = gen->apis_[i];
    route.config = &api;
    route.stats = stats.get(api.name);
    // The chain: route -> mutual TLS -> authentication -> plugin hooks -> (fault
    // injection) -> upstream. A keyless API without hooks has no filter at all.
    if (api.use_mutual_tls_auth) route.filters.add(std::make_unique<MutualTlsFilter>());
    if ((api.use_basic_auth || api.use_standard_auth) && !auth) {
      *error = "api " + api.name + ": Basic and token auth need the key store, which starts "
               "with the gateway: restart to add it";
      return nullptr;
    }
    if (api.use_basic_auth) {
      route.filters.add(std::make_unique<KeyAuthFilter>(auth, KeyAuthMode::kBasic, api));
    }
    if (api.use_standard_auth) {
      route.filters.add(std::make_unique<KeyAuthFilter>(auth, KeyAuthMode::kToken, api));
    }
    if (api.fault_delay_ms > 0 && api.fault_delay_percent > 0) {
      uint64_t seed = 0x9e3779b97f4a7c15ull * (static_cast<uint64_t>(shard_index) + 1) + i;
      route.filters.add(std::make_unique<FaultDelayFilter>(loop, api.fault_delay_ms,
                                                           api.fault_delay_percent, seed));
    }
    route.pool = pools.acquire(upstream_settings_for(api, cfg), &route.stats->upstream, error);
    if (!route.pool) return nullptr;
  }
  return gen;
}

const ApiRoute* ProxyGeneration::match(std::string_view host, std::string_view path) const {
  const ApiConfig* api = router_.match(host, path);
  if (!api) return nullptr;
  return &apis_[static_cast<size_t>(api - config_->apis.data())];
}

}  // namespace ringway
