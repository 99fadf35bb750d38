#pragma once
// One configuration generation as the proxy pipeline of one shard runs it: the route
// table and, per API, its filter chain, its upstream pool and its counters. Built on
// the shard when a configuration is loaded or reloaded; every request takes the
// newest generation when its head arrives and holds it (acquire/release) until it
// ends, so in-flight requests finish on the configuration they started with.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "filter/filter.h"
#include "pipeline/api_stats.h"
#include "route/router.h"
#include "upstream/pool.h"

namespace ringway {

// One API of a generation.
struct ApiRoute {
  const ApiConfig* config = nullptr;
  FilterChain filters;  // mutual TLS, authentication, plugin hooks, fault injection
  std::shared_ptr<UpstreamPool> pool;
  ApiStats* stats = nullptr;
};

// Whoever owns a generation's lifetime (the shard): told when requests take and
// drop it.
class GenerationRefs {
 public:
  virtual void acquire() = 0;
  virtual void release() = 0;

 protected:
  ~GenerationRefs() = default;
};

class Loop;
struct AuthShard;
struct PluginContext;
struct PluginShard;

class ProxyGeneration {
 public:
  // Null with |error| set when an upstream's TLS files cannot be loaded.
  // |loop| and |shard_index|: the shard the generation runs on (filters that wait use
  // its timers).
  // |auth|: the shard's authentication state (null when no key store runs; then an
  // API with Basic or token auth is an error). |plugins|: the shard's plugin counters;
  // the generation has its own plugin client when an API has hooks.
  static std::unique_ptr<ProxyGeneration> build(std::shared_ptr<const Config> config,
                                                Loop* loop, int shard_index,
                                                UpstreamPools& pools, ApiStatsTable& stats,
                                                AuthShard* auth, PluginShard* plugins,
                                                GenerationRefs* refs, std::string* error);
  ~ProxyGeneration();

  // The API for a request's host and path, or null.
  const ApiRoute* match(std::string_view host, std::string_view path) const;
  const Config& config() const { return *config_; }
  const GatewayConfig& gateway() const { return config_->gateway; }
  void acquire() { refs_->acquire(); }
  void release() { refs_->release(); }

 private:
  ProxyGeneration(std::shared_ptr<const Config> config, GenerationRefs* refs);

  std::shared_ptr<const Config> config_;
  GenerationRefs* refs_;
  Router router_;
  std::vector<ApiRoute> apis_;  // indexed like config_->apis
  // The plugin client of this generation (its requests' hooks call it); declared
  // last so it goes first, while the filters that point at it still exist.
  std::unique_ptr<PluginContext> plugin_;
};

}  // namespace ringway
