#include <algorithm>

#include "base/log.h"
#include "upstream/h1_pool.h"
#include "upstream/h2_pool.h"
#include "upstream/pool.h"
#include "upstream/upstream_tls.h"

namespace ringway {

UpstreamPools::~UpstreamPools() = default;

std::shared_ptr<UpstreamPool> UpstreamPools::acquire(const UpstreamSettings& settings,
                                                     UpstreamConnStats* stats,
                                                     std::string* error) {
  std::string key = settings.key();
  auto it = active_.find(key);
  if (it != active_.end()) return it->second;
  std::unique_ptr<UpstreamTls> tls;
  if (settings.target.tls) {
    std::weak_ptr<TlsClientContext>& slot = tls_contexts_[UpstreamTls::context_key(settings)];
    tls = UpstreamTls::create(settings, slot.lock(), error);
    if (!tls) return nullptr;
    slot = tls->context();
  }
  std::shared_ptr<UpstreamPool> pool;
  if (settings.target.protocol == UpstreamProtocol::Http2) {
    pool = std::make_shared<Http2Pool>(loop_, settings, stats, std::move(tls));
  } else {
    pool = std::make_shared<Http1Pool>(loop_, settings, stats, std::move(tls));
  }
  pool->set_memory_budget(memory_);
  if (shut_down_) pool->shutdown();
  active_.emplace(std::move(key), pool);
  return pool;
}

bool UpstreamPools::collect() {
  for (auto it = active_.begin(); it != active_.end();) {
    if (it->second.use_count() == 1) {  // only this registry holds it
      RW_LOG(Debug, "upstream pool for api %s retired (%u connection(s) left)",
             it->second->settings().api.c_str(), it->second->connection_count());
      it->second->shutdown();
      retired_.push_back(std::move(it->second));
      it = active_.erase(it);
    } else {
      ++it;
    }
  }
  retired_.erase(std::remove_if(retired_.begin(), retired_.end(),
                                [](const std::shared_ptr<UpstreamPool>& p) {
                                  return p->connection_count() == 0;
                                }),
                 retired_.end());
  for (auto it = tls_contexts_.begin(); it != tls_contexts_.end();) {
    it = it->second.expired() ? tls_contexts_.erase(it) : std::next(it);
  }
  return !retired_.empty();
}

void UpstreamPools::shutdown() {
  shut_down_ = true;
  for (auto& [key, pool] : active_) pool->shutdown();
  for (auto& pool : retired_) pool->shutdown();
}

void UpstreamPools::abort_all() {
  shut_down_ = true;
  for (auto& [key, pool] : active_) pool->abort_all();
  for (auto& pool : retired_) pool->abort_all();
}

uint32_t UpstreamPools::connection_count() const {
  uint32_t n = 0;
  for (const auto& [key, pool] : active_) n += pool->connection_count();
  for (const auto& pool : retired_) n += pool->connection_count();
  return n;
}

}  // namespace ringway
