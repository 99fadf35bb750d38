#include "pipeline/api_stats.h"

namespace ringway {

void ApiStats::merge(const ApiStats& o) {
  for (size_t p = 0; p < kDownstreamProtocolCount; ++p) {
    for (size_t c = 0; c < 5; ++c) requests[p][c] += o.requests[p][c];
  }
  upstream.connects += o.upstream.connects;
  upstream.connect_failures += o.upstream.connect_failures;
  upstream.goaways += o.upstream.goaways;
  upstream.connections_open += o.upstream.connections_open;
  upstream_resets += o.upstream_resets;
  upstream_timeouts += o.upstream_timeouts;
  upstream_retries += o.upstream_retries;
  upstream_read_timeouts += o.upstream_read_timeouts;
  client_body_timeouts += o.client_body_timeouts;
  response_head_latency.merge(o.response_head_latency);
}

ApiStats* ApiStatsTable::get(const std::string& api) {
  std::unique_ptr<ApiStats>& slot = table_[api];
  if (!slot) slot = std::make_unique<ApiStats>();
  return slot.get();
}

}  // namespace ringway
