#include "runtime/shard_metrics.h"

#include <algorithm>

#include "stats/prometheus.h"

namespace ringway {
namespace {

const char* const kProtocolLabels[] = {"http1", "http2", "unknown"};
const char* const kClassLabels[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

}  // namespace

std::string render_metrics(const std::vector<const ShardMetrics*>& shards,
                           const ProcessStats& process, const StoreMetrics& store,
                           const std::string& version, const std::string& tls_library) {
  PrometheusWriter w;
  size_t n = shards.size();
  std::vector<std::string> shard_ids(n);
  for (size_t i = 0; i < n; ++i) shard_ids[i] = std::to_string(shards[i]->shard);

  // Sums over shards.
  ShardMetrics total;
  std::map<std::string, ApiStats> apis;
  for (size_t i = 0; i < n; ++i) {
    const ShardMetrics& s = *shards[i];
    total.downstream.connections_accepted += s.downstream.connections_accepted;
    total.downstream.connections_rejected += s.downstream.connections_rejected;
    total.downstream.accept_errors_descriptors += s.downstream.accept_errors_descriptors;
    total.downstream.accept_errors_other += s.downstream.accept_errors_other;
    total.downstream.connections_shed += s.downstream.connections_shed;
    total.downstream.tls_handshakes += s.downstream.tls_handshakes;
    total.downstream.tls_resumed_handshakes += s.downstream.tls_resumed_handshakes;
    total.downstream.tls_handshake_failures += s.downstream.tls_handshake_failures;
    total.http.requests += s.http.requests;
    total.http.malformed_requests += s.http.malformed_requests;
    total.http.memory_refused += s.http.memory_refused;
    total.http.http2_glitches += s.http.http2_glitches;
    total.http.http2_calm_goaways += s.http.http2_calm_goaways;
    total.http.http2_settings_timeouts += s.http.http2_settings_timeouts;
    total.http.http2_header_timeouts += s.http.http2_header_timeouts;
    total.http.http2_stream_send_timeouts += s.http.http2_stream_send_timeouts;
    total.downstream.send_timeouts += s.downstream.send_timeouts;
    for (size_t c = 0; c < kLocalReplyCauseCount; ++c) {
      total.http.local_replies.by_cause[c] += s.http.local_replies.by_cause[c];
    }
    total.generation = std::max(total.generation, s.generation);
    total.reloads_applied = std::max(total.reloads_applied, s.reloads_applied);
    total.reloads_failed = std::max(total.reloads_failed, s.reloads_failed);
    for (const auto& [name, stats] : s.apis) apis[name].merge(stats);
  }

  w.family("ringway_build_info", "gauge",
           "Version of the running gateway and its TLS library (always 1).");
  w.sample("ringway_build_info", {{"version", version}, {"tls_library", tls_library}}, 1);
  w.family("ringway_shards", "gauge", "Shards (one thread and io_uring ring each).");
  w.sample("ringway_shards", {}, n);
  w.family("ringway_config_generation", "gauge",
           "Configuration generation new requests use (1 = as started).");
  w.sample("ringway_config_generation", {}, total.generation);
  w.family("ringway_config_reloads_total", "counter",
           "Configuration reloads (SIGHUP or /tyk/reload) by result.");
  w.sample("ringway_config_reloads_total", {{"result", "applied"}}, total.reloads_applied);
  w.sample("ringway_config_reloads_total", {{"result", "rejected"}}, total.reloads_failed);
  w.family("ringway_config_generations_live", "gauge",
           "Configuration generations a shard still holds (the newest, plus older ones "
           "in-flight requests or connections still use).");
  for (size_t i = 0; i < n; ++i) {
    w.sample("ringway_config_generations_live", {{"shard", shard_ids[i]}},
             shards[i]->generations_live);
  }

  // Downstream.
  w.family("ringway_downstream_connections_accepted_total", "counter",
           "Client connections accepted.");
  w.sample("ringway_downstream_connections_accepted_total", {},
           total.downstream.connections_accepted);
  w.family("ringway_downstream_connections_rejected_total", "counter",
           "Client connections closed at accept because max_connections was reached.");
  w.sample("ringway_downstream_connections_rejected_total", {},
           total.downstream.connections_rejected);
  w.family("ringway_downstream_accept_errors_total", "counter",
           "Failed accepts by reason (descriptors: EMFILE/ENFILE, the process or system "
           "is out of file descriptors).");
  w.sample("ringway_downstream_accept_errors_total", {{"reason", "descriptors"}},
           total.downstream.accept_errors_descriptors);
  w.sample("ringway_downstream_accept_errors_total", {{"reason", "other"}},
           total.downstream.accept_errors_other);
  w.family("ringway_downstream_connections_shed_total", "counter",
           "Client connections accepted and closed at once because the process was out "
           "of file descriptors.");
  w.sample("ringway_downstream_connections_shed_total", {}, total.downstream.connections_shed);
  w.family("ringway_downstream_connections", "gauge",
           "Open client connections by protocol (unknown: TLS handshake or first bytes "
           "pending).");
  for (size_t i = 0; i < n; ++i) {
    for (size_t p = 0; p <= kDownstreamProtocolCount; ++p) {
      w.sample_signed("ringway_downstream_connections",
                      {{"shard", shard_ids[i]}, {"protocol", kProtocolLabels[p]}},
                      shards[i]->downstream.connections_open[p]);
    }
  }
  w.family("ringway_downstream_requests_active", "gauge",
           "Proxied requests (streams) in progress.");
  for (size_t i = 0; i < n; ++i) {
    w.sample_signed("ringway_downstream_requests_active", {{"shard", shard_ids[i]}},
                    shards[i]->active_requests);
  }
  w.family("ringway_downstream_malformed_requests_total", "counter",
           "Requests or connections dropped as unparseable.");
  w.sample("ringway_downstream_malformed_requests_total", {}, total.http.malformed_requests);
  w.family("ringway_downstream_send_timeouts_total", "counter",
           "Client connections closed after send_timeout_ms without reading.");
  w.sample("ringway_downstream_send_timeouts_total", {}, total.downstream.send_timeouts);
  w.family("ringway_http2_glitches_total", "counter",
           "HTTP/2 client misbehaviour counted against http2_max_glitches (premature "
           "resets, invalid or empty frames, PRIORITY, stray WINDOW_UPDATE, SETTINGS).");
  w.sample("ringway_http2_glitches_total", {}, total.http.http2_glitches);
  w.family("ringway_http2_connections_ended_total", "counter",
           "HTTP/2 client connections ended by the gateway, by reason.");
  w.sample("ringway_http2_connections_ended_total", {{"reason", "enhance_your_calm"}},
           total.http.http2_calm_goaways);
  w.sample("ringway_http2_connections_ended_total", {{"reason", "settings_timeout"}},
           total.http.http2_settings_timeouts);
  w.sample("ringway_http2_connections_ended_total", {{"reason", "header_timeout"}},
           total.http.http2_header_timeouts);
  w.family("ringway_http2_stream_send_timeouts_total", "counter",
           "HTTP/2 streams reset because their response waited send_timeout_ms for the "
           "client's flow-control window.");
  w.sample("ringway_http2_stream_send_timeouts_total", {}, total.http.http2_stream_send_timeouts);
  w.family("ringway_memory_buffered_bytes", "gauge",
           "Bytes held in connection buffers (queued output, stashed input), against "
           "max_memory_bytes.");
  for (size_t i = 0; i < n; ++i) {
    w.sample("ringway_memory_buffered_bytes", {{"shard", shard_ids[i]}}, shards[i]->memory.used);
  }
  w.family("ringway_memory_buffered_peak_bytes", "gauge",
           "Largest ringway_memory_buffered_bytes seen.");
  for (size_t i = 0; i < n; ++i) {
    w.sample("ringway_memory_buffered_peak_bytes", {{"shard", shard_ids[i]}},
             shards[i]->memory.peak);
  }
  w.family("ringway_memory_block_cache_bytes", "gauge",
           "Freed 16 KiB heap blocks the shard keeps for reuse, up to block_cache_bytes.");
  for (size_t i = 0; i < n; ++i) {
    w.sample("ringway_memory_block_cache_bytes", {{"shard", shard_ids[i]}},
             shards[i]->block_cache_bytes);
  }
  w.family("ringway_memory_refused_requests_total", "counter",
           "Requests refused (503 / UNAVAILABLE) because the shard was over "
           "max_memory_bytes.");
  w.sample("ringway_memory_refused_requests_total", {}, total.http.memory_refused);

  // Requests by API.
  w.family("ringway_requests_total", "counter",
           "Finished requests by API (\"-\": no API matched), status class and downstream "
           "protocol.");
  for (const auto& [name, stats] : apis) {
    for (size_t p = 0; p < kDownstreamProtocolCount; ++p) {
      for (size_t c = 0; c < 5; ++c) {
        if (stats.requests[p][c] == 0) continue;
        w.sample("ringway_requests_total",
                 {{"api", name}, {"code", kClassLabels[c]}, {"protocol", kProtocolLabels[p]}},
                 stats.requests[p][c]);
      }
    }
  }
  w.family("ringway_local_replies_total", "counter",
           "Replies the gateway made itself, by cause (the access log's FLAG).");
  for (size_t c = 0; c < kLocalReplyCauseCount; ++c) {
    auto cause = static_cast<LocalReplyCause>(c);
    w.sample("ringway_local_replies_total",
             {{"cause", local_reply_label(cause)}, {"flag", local_reply_flag(cause)}},
             total.http.local_replies.by_cause[c]);
  }

  // Upstreams by API.
  struct UpstreamCounter {
    const char* name;
    const char* help;
    uint64_t (*get)(const ApiStats&);
  };
  const UpstreamCounter counters[] = {
      {"ringway_upstream_connects_total", "Upstream connections established.",
       [](const ApiStats& s) { return s.upstream.connects; }},
      {"ringway_upstream_connect_failures_total",
       "Upstream connection attempts refused, timed out or failing TLS.",
       [](const ApiStats& s) { return s.upstream.connect_failures; }},
      {"ringway_upstream_resets_total",
       "Requests lost to an upstream reset, a closed connection or an invalid response.",
       [](const ApiStats& s) { return s.upstream_resets; }},
      {"ringway_upstream_timeouts_total",
       "Requests whose upstream_timeout_ms or gRPC deadline passed.",
       [](const ApiStats& s) { return s.upstream_timeouts; }},
      {"ringway_upstream_read_timeouts_total",
       "Responses aborted because their body stalled for upstream_read_timeout_ms.",
       [](const ApiStats& s) { return s.upstream_read_timeouts; }},
      {"ringway_client_body_timeouts_total",
       "Requests ended because their body stalled for client_body_timeout_ms.",
       [](const ApiStats& s) { return s.client_body_timeouts; }},
      {"ringway_upstream_retries_total",
       "Requests sent again because the upstream had not processed them (REFUSED_STREAM, "
       "above a GOAWAY's last stream, a keep-alive connection closed as it was reused).",
       [](const ApiStats& s) { return s.upstream_retries; }},
      {"ringway_upstream_goaways_total", "HTTP/2 GOAWAY frames received from upstreams.",
       [](const ApiStats& s) { return s.upstream.goaways; }},
  };
  for (const UpstreamCounter& c : counters) {
    w.family(c.name, "counter", c.help);
    for (const auto& [name, stats] : apis) {
      if (name == "-") continue;
      w.sample(c.name, {{"api", name}}, c.get(stats));
    }
  }
  w.family("ringway_upstream_connections", "gauge",
           "Upstream connections open (connecting included).");
  for (const auto& [name, stats] : apis) {
    if (name == "-") continue;
    w.sample_signed("ringway_upstream_connections", {{"api", name}},
                    stats.upstream.connections_open);
  }
  w.family("ringway_upstream_response_head_seconds", "histogram",
           "Time from sending a request upstream to receiving its response head.");
  for (const auto& [name, stats] : apis) {
    if (name == "-") continue;
    w.histogram("ringway_upstream_response_head_seconds", {{"api", name}},
                stats.response_head_latency);
  }
  w.family("ringway_upstream_pools", "gauge",
           "Upstream connection pools alive (retired ones finishing their requests "
           "included).");
  for (size_t i = 0; i < n; ++i) {
    w.sample("ringway_upstream_pools", {{"shard", shard_ids[i]}}, shards[i]->upstream_pools);
  }

  // TLS.
  w.family("ringway_tls_handshakes_total", "counter", "Downstream TLS handshakes completed.");
  w.sample("ringway_tls_handshakes_total", {}, total.downstream.tls_handshakes);
  w.family("ringway_tls_resumed_handshakes_total", "counter",
           "Downstream TLS handshakes that resumed a session (ticket).");
  w.sample("ringway_tls_resumed_handshakes_total", {}, total.downstream.tls_resumed_handshakes);
  w.family("ringway_tls_handshake_failures_total", "counter",
           "Downstream TLS handshakes that failed or timed out.");
  w.sample("ringway_tls_handshake_failures_total", {}, total.downstream.tls_handshake_failures);

  // Shards' loops and mailboxes.
  w.family("ringway_loop_turns_total", "counter", "Event-loop turns.");
  for (size_t i = 0; i < n; ++i) {
    w.sample("ringway_loop_turns_total", {{"shard", shard_ids[i]}}, shards[i]->loop_turns);
  }
  w.family("ringway_mailbox_messages_total", "counter",
           "Messages received from other shards and the control thread.");
  for (size_t i = 0; i < n; ++i) {
    w.sample("ringway_mailbox_messages_total", {{"shard", shard_ids[i]}},
             shards[i]->mailbox.messages_received);
  }
  w.family("ringway_mailbox_delay_turns_max", "gauge",
           "Most loop turns of the receiver between a message's posting and its handling.");
  for (size_t i = 0; i < n; ++i) {
    w.sample("ringway_mailbox_delay_turns_max", {{"shard", shard_ids[i]}},
             shards[i]->mailbox.max_delay_turns);
  }
  w.family("ringway_mailbox_posts_refused_total", "counter",
           "Messages not sent because the destination's mailbox was full.");
  for (size_t i = 0; i < n; ++i) {
    w.sample("ringway_mailbox_posts_refused_total", {{"shard", shard_ids[i]}},
             shards[i]->mailbox.posts_refused);
  }

  // Authentication: per shard (each has its own cache), and the key store.
  bool auth = std::any_of(shards.begin(), shards.end(),
                          [](const ShardMetrics* s) { return s->auth.enabled; });
  if (auth) {
    struct AuthCounter {
      const char* name;
      const char* type;
      const char* help;
      uint64_t AuthMetrics::*field;
    };
    const AuthCounter auth_counters[] = {
        {"ringway_auth_cache_hits_total", "counter",
         "Authentication decisions taken from the shard's cache.", &AuthMetrics::cache_hits},
        {"ringway_auth_cache_misses_total", "counter",
         "Credentials not in the shard's cache (or expired there).",
         &AuthMetrics::cache_misses},
        {"ringway_auth_cache_evictions_total", "counter",
         "Cache entries dropped for room (cache_entries).", &AuthMetrics::cache_evictions},
        {"ringway_auth_cache_invalidations_total", "counter",
         "Cache entries dropped because their key was changed through the key API.",
         &AuthMetrics::cache_invalidations},
        {"ringway_auth_cache_entries", "gauge", "Entries in the shard's cache.",
         &AuthMetrics::cache_entries},
        {"ringway_auth_store_lookups_total", "counter",
         "Lookups the shard sent to the key store.", &AuthMetrics::lookups},
        {"ringway_auth_store_lookups_joined_total", "counter",
         "Requests that waited on a lookup another request had already sent.",
         &AuthMetrics::lookups_joined},
        {"ringway_auth_store_lookups_failed_total", "counter",
         "Lookups that failed, timed out (lookup_timeout_ms) or could not be sent "
         "(max_pending_lookups): their requests got 503 / UNAVAILABLE.",
         &AuthMetrics::lookups_failed},
        {"ringway_auth_store_lookups_repeated_total", "counter",
         "Lookups asked again because their key changed while they were out.",
         &AuthMetrics::lookups_repeated},
        {"ringway_auth_store_lookups_pending", "gauge", "Lookups waiting for the store.",
         &AuthMetrics::lookups_pending},
        {"ringway_auth_allowed_total", "counter", "Requests Basic or token auth let through.",
         &AuthMetrics::allowed},
        {"ringway_auth_denied_total", "counter",
         "Requests Basic or token auth answered (401, 403, 429, 503...).",
         &AuthMetrics::denied},
        {"ringway_auth_waited_total", "counter",
         "Requests that waited for the key store (a cache miss).", &AuthMetrics::waited},
        {"ringway_rate_limit_buckets", "gauge", "Keys with a rate-limit bucket on the shard.",
         &AuthMetrics::rate_limit_buckets},
        {"ringway_quota_keys", "gauge", "Keys whose quota the shard is counting.",
         &AuthMetrics::quota_keys},
    };
    for (const AuthCounter& c : auth_counters) {
      w.family(c.name, c.type, c.help);
      for (size_t i = 0; i < n; ++i) {
        w.sample(c.name, {{"shard", shard_ids[i]}}, shards[i]->auth.*c.field);
      }
    }
  }
  // Rich plugins: per hook type, summed over the shards.
  bool plugins = std::any_of(shards.begin(), shards.end(),
                             [](const ShardMetrics* s) { return s->plugins.enabled; });
  if (plugins) {
    static const char* const kHookLabels[6] = {"unknown", "pre", "post", "post_key_auth",
                                               "auth_check", "response"};
    struct HookFamily {
      const char* name;
      const char* help;
      uint64_t PluginHookStats::*field;
    };
    const HookFamily hook_families[] = {
        {"ringway_plugin_calls_total", "Dispatch calls sent to the plugin server.",
         &PluginHookStats::calls},
        {"ringway_plugin_errors_total",
         "Dispatch calls that failed (plugin down, timeout, gRPC status, garbage, oversize).",
         &PluginHookStats::errors},
        {"ringway_plugin_timeouts_total", "Dispatch calls that passed [coprocess] timeout_ms.",
         &PluginHookStats::timeouts},
        {"ringway_plugin_refused_total",
         "Calls not sent because max_in_flight calls were out (503 / UNAVAILABLE).",
         &PluginHookStats::refused},
    };
    for (const HookFamily& f : hook_families) {
      w.family(f.name, "counter", f.help);
      for (int hook = 1; hook < 6; ++hook) {
        uint64_t sum = 0;
        for (const ShardMetrics* sh : shards) sum += sh->plugins.hooks[hook].*f.field;
        w.sample(f.name, {{"hook", kHookLabels[hook]}}, sum);
      }
    }
    w.family("ringway_plugin_call_seconds_total", "counter",
             "Time answered Dispatch calls took, from sending to the reply (divide by "
             "calls minus timeouts and refusals for the mean).");
    for (int hook = 1; hook < 6; ++hook) {
      uint64_t us = 0;
      for (const ShardMetrics* sh : shards) us += sh->plugins.hooks[hook].latency_us_sum;
      w.sample_double("ringway_plugin_call_seconds_total", {{"hook", kHookLabels[hook]}},
                      static_cast<double>(us) / 1e6);
    }
    struct PluginCounter {
      const char* name;
      const char* help;
      uint64_t PluginFilterStats::*field;
    };
    const PluginCounter plugin_counters[] = {
        {"ringway_plugin_failures_denied_total",
         "Requests answered 500 (403 for auth_check) because a plugin call failed.",
         &PluginFilterStats::failed_denied},
        {"ringway_plugin_failures_allowed_total",
         "Requests let on unchanged after a failed call (on_error = allow).",
         &PluginFilterStats::failed_allowed},
        {"ringway_plugin_overrides_total", "Requests a plugin answered (return_overrides).",
         &PluginFilterStats::overrides},
        {"ringway_plugin_body_too_large_total",
         "Bodies over grpc_send_max_size that a hook could not be shown.",
         &PluginFilterStats::body_too_large},
        {"ringway_plugin_auth_cache_hits_total",
         "Custom-auth decisions taken from the shard's cache (no plugin call).",
         &PluginFilterStats::auth_cache_hits},
        {"ringway_plugin_auth_failures_total", "Requests custom auth refused.",
         &PluginFilterStats::auth_failures},
        {"ringway_plugin_events_sent_total", "DispatchEvent calls answered (AuthFailure).",
         &PluginFilterStats::events_sent},
        {"ringway_plugin_events_failed_total", "DispatchEvent calls that failed.",
         &PluginFilterStats::events_failed},
    };
    for (const PluginCounter& c : plugin_counters) {
      w.family(c.name, "counter", c.help);
      uint64_t sum = 0;
      for (const ShardMetrics* sh : shards) sum += sh->plugins.filters.*c.field;
      w.sample(c.name, {}, sum);
    }
    struct ConnCounter {
      const char* name;
      const char* type;
      const char* help;
      uint64_t v;
    };
    uint64_t connects = 0, failures = 0, sends = 0;
    int64_t open = 0;
    for (const ShardMetrics* sh : shards) {
      connects += sh->plugins.connections.connects;
      failures += sh->plugins.connections.connect_failures;
      sends += sh->plugins.connections.sends;
      open += sh->plugins.connections.connections_open;
    }
    const ConnCounter conn_counters[] = {
        {"ringway_plugin_connects_total", "counter", "Connections made to the plugin server.",
         connects},
        {"ringway_plugin_connect_failures_total", "counter",
         "Connections to the plugin server that failed.", failures},
        {"ringway_plugin_sends_total", "counter",
         "Writes to plugin server connections: every call a loop turn makes leaves in one.",
         sends},
        {"ringway_plugin_connections", "gauge", "Open connections to the plugin server.",
         static_cast<uint64_t>(open < 0 ? 0 : open)},
    };
    for (const ConnCounter& c : conn_counters) {
      w.family(c.name, c.type, c.help);
      w.sample(c.name, {}, c.v);
    }
  }
  if (store.enabled) {
    struct StoreFamily {
      const char* name;
      const char* type;
      const char* help;
      uint64_t StoreMetrics::*field;
    };
    const StoreFamily store_families[] = {
        {"ringway_store_lookups_total", "counter", "Lookups the key store answered.",
         &StoreMetrics::lookups},
        {"ringway_store_errors_total", "counter",
         "Key store operations that failed (see the error log).", &StoreMetrics::store_errors},
        {"ringway_store_password_checks_total", "counter",
         "bcrypt password checks run by the bcrypt workers.", &StoreMetrics::password_checks},
        {"ringway_store_key_api_calls_total", "counter", "Key API calls run by the store.",
         &StoreMetrics::key_api_calls},
        {"ringway_store_quota_batches_total", "counter",
         "Batches of quota counts the store applied.", &StoreMetrics::quota_batches},
        {"ringway_bcrypt_queue_depth", "gauge",
         "Password checks and hashes waiting for or running on a bcrypt worker.",
         &StoreMetrics::bcrypt_queue_depth},
        {"ringway_bcrypt_refused_total", "counter",
         "Password checks and hashes refused because bcrypt_queue was full.",
         &StoreMetrics::bcrypt_refused},
    };
    for (const StoreFamily& f : store_families) {
      w.family(f.name, f.type, f.help);
      w.sample(f.name, {}, store.*f.field);
    }
  }

  // The process (Prometheus' standard names).
  w.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  w.sample("process_resident_memory_bytes", {}, process.resident_bytes);
  w.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
  w.sample("process_virtual_memory_bytes", {}, process.virtual_bytes);
  w.family("process_open_fds", "gauge", "Open file descriptors.");
  w.sample("process_open_fds", {}, process.open_fds);
  w.family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
  w.sample("process_max_fds", {}, process.max_fds);
  w.family("process_cpu_seconds_total", "counter", "User and system CPU time in seconds.");
  w.sample_double("process_cpu_seconds_total", {}, process.cpu_seconds);
  w.family("process_start_time_seconds", "gauge",
           "Start time of the process since the Unix epoch in seconds.");
  w.sample_double("process_start_time_seconds", {}, process.start_time_seconds);
  return w.take();
}

}  // namespace ringway
