#pragma once
// A copy of one shard's counters, made on that shard when another shard asks for it
// (GET /metrics) and sent back through the mailboxes; the asking shard sums them and
// renders the Prometheus text.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "http/server_codec.h"
#include "listener/downstream_conn.h"
#include "pipeline/api_stats.h"
#include "plugin/hook_filters.h"
#include "stats/process_stats.h"

namespace ringway {

struct MailboxStats {
  uint64_t messages_received = 0;
  uint64_t max_delay_turns = 0;  // most loop turns between posting and handling
  uint64_t posts_refused = 0;    // a destination's mailbox was full
};

// One shard's authentication counters (when a key store runs).
struct AuthMetrics {
  bool enabled = false;
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t cache_evictions = 0;
  uint64_t cache_invalidations = 0;  // entries dropped because their key changed
  uint64_t cache_entries = 0;        // gauge
  uint64_t lookups = 0;              // sent to the store
  uint64_t lookups_joined = 0;
  uint64_t lookups_failed = 0;
  uint64_t lookups_repeated = 0;
  uint64_t lookups_pending = 0;      // gauge
  uint64_t allowed = 0;
  uint64_t denied = 0;
  uint64_t waited = 0;
  uint64_t rate_limit_buckets = 0;   // gauge
  uint64_t quota_keys = 0;           // gauge
};

// The key store thread's counters (process-wide; read by the rendering shard).
struct StoreMetrics {
  bool enabled = false;
  uint64_t lookups = 0;
  uint64_t store_errors = 0;
  uint64_t password_checks = 0;
  uint64_t key_api_calls = 0;
  uint64_t quota_batches = 0;
  uint64_t bcrypt_queue_depth = 0;  // gauge
  uint64_t bcrypt_refused = 0;
};

// One shard's plugin counters (when [coprocess] is on).
struct PluginMetrics {
  bool enabled = false;
  std::array<PluginHookStats, 6> hooks{};  // by coprocess::HookType
  PluginFilterStats filters;
  UpstreamConnStats connections;
};

struct ShardMetrics {
  int shard = 0;
  DownstreamStats downstream;
  HttpServerStats http;
  MemoryBudget memory;  // buffer bytes held now, the peak, requests refused
  uint64_t block_cache_bytes = 0;  // freed heap blocks kept for reuse
  std::map<std::string, ApiStats> apis;  // by API name ("-": no API matched)
  int64_t active_requests = 0;           // gauge: proxied requests in progress
  uint32_t upstream_pools = 0;           // gauge: live pools (retired ones included)
  uint64_t generation = 0;               // configuration generation in use
  uint64_t generations_live = 0;         // gauge: this one plus older ones still held
  uint64_t reloads_applied = 0;
  uint64_t reloads_failed = 0;
  uint64_t loop_turns = 0;
  MailboxStats mailbox;
  AuthMetrics auth;
  PluginMetrics plugins;
};

// The exposition of every shard's counters (summed, with a shard label where the
// per-shard value matters) and the process's own resource use.
std::string render_metrics(const std::vector<const ShardMetrics*>& shards,
                           const ProcessStats& process, const StoreMetrics& store,
                           const std::string& version, const std::string& tls_library);

}  // namespace ringway
