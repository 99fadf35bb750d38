#include "pipeline/proxy_generation.h"

#include "auth/auth_filter.h"
#include "auth/mutual_tls.h"
#include "filter/fault_filter.h"
#include "plugin/hook_filters.h"
#include "upstream/upstream_settings.h"

namespace ringway {
namespace {

// The plugin server as an upstream: cleartext HTTP/2 (Tyk's plugins speak nothing
// else), over TCP or a unix socket.
UpstreamSettings plugin_upstream_settings(const Config& config) {
  const CoprocessConfig& c = config.coprocess;
  UpstreamSettings s = upstream_settings_for(ApiConfig{}, config);
  s.api = "[coprocess]";  // not an API name: never shares an API's pool
  s.target = TargetUrl{};
  s.target.protocol = UpstreamProtocol::Http2;
  s.target.address = c.address;
  s.target.host = c.authority;
  s.target.authority = c.authority;
  s.max_connections = c.max_connections;
  return s;
}

}  // namespace

ProxyGeneration::ProxyGeneration(std::shared_ptr<const Config> config, GenerationRefs* refs)
    : config_(std::move(config)), refs_(refs), router_(config_->apis) {}

ProxyGeneration::~ProxyGeneration() = default;

std::unique_ptr<ProxyGeneration> ProxyGeneration::build(std::shared_ptr<const Config> config,
                                                        Loop* loop, int shard_index,
                                                        UpstreamPools& pools,
                                                        ApiStatsTable& stats,
                                                        AuthShard* auth,
                                                        PluginShard* plugins,
                                                        GenerationRefs* refs,
                                                        std::string* error) {
  std::unique_ptr<ProxyGeneration> gen(new ProxyGeneration(std::move(config), refs));
  const Config& cfg = *gen->config_;
  bool hooks = false;
  for (const ApiConfig& api : cfg.apis) hooks |= api.has_plugin_hooks();
  PluginContext* plugin = nullptr;
  if (hooks && cfg.coprocess.active() && plugins) {
    // One client per generation: a reload may point at another plugin server, and
    // requests keep the client of the generation they started on.
    auto pool = pools.acquire(plugin_upstream_settings(cfg), &plugins->connections, error);
    if (!pool) return nullptr;
    PluginClientSettings settings;
    settings.authority = cfg.coprocess.authority;
    settings.timeout_ms = cfg.coprocess.timeout_ms;
    settings.max_send_bytes = cfg.coprocess.grpc_send_max_size;
    settings.max_recv_bytes = cfg.coprocess.grpc_recv_max_size;
    settings.max_in_flight = cfg.coprocess.max_in_flight;
    gen->plugin_ = std::make_unique<PluginContext>();
    plugin = gen->plugin_.get();
    plugin->shard = plugins;
    plugin->config = &cfg.coprocess;
    plugin->client = std::make_unique<PluginClient>(loop, std::move(pool), settings,
                                                    "/coprocess.Dispatcher/Dispatch",
                                                    &plugins->hooks);
  }
  gen->apis_.resize(cfg.apis.size());
  for (size_t i = 0; i < cfg.apis.size(); ++i) {
    const ApiConfig& api = cfg.apis[i];
    ApiRoute& route = gen->apis_[i];
    route.config = &api;
    route.stats = stats.get(api.name);
    // The chain: route -> mutual TLS -> pre hooks -> authentication (Basic, token,
    // plugin) -> post_key_auth hooks -> post hooks -> (fault injection) -> upstream;
    // response hooks see the response. A keyless API without hooks has no filter.
    if (api.use_mutual_tls_auth) route.filters.add(std::make_unique<MutualTlsFilter>());
    if (plugin) {
      for (const std::string& name : api.pre_hooks) {
        route.filters.add(std::make_unique<HookFilter>(plugin, api, coprocess::Pre, name));
      }
    }
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
    if (api.enable_coprocess_auth) {
      if (!plugin || !auth) {
        *error = "api " + api.name + ": enable_coprocess_auth needs [coprocess] and the key "
                 "store, which start with the gateway: restart to add them";
        return nullptr;
      }
      route.filters.add(std::make_unique<CustomAuthFilter>(plugin, api));
    }
    if (plugin) {
      for (const std::string& name : api.post_key_auth_hooks) {
        route.filters.add(
            std::make_unique<HookFilter>(plugin, api, coprocess::PostKeyAuth, name));
      }
      for (const std::string& name : api.post_hooks) {
        route.filters.add(std::make_unique<HookFilter>(plugin, api, coprocess::Post, name));
      }
      for (const std::string& name : api.response_hooks) {
        route.filters.add(std::make_unique<ResponseHookFilter>(plugin, api, name));
      }
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
