#pragma once
// Per-shard counters of one API, kept by name for the shard's whole life (a reload
// that keeps an API keeps counting into the same object: Prometheus counters never
// go backwards). Summed over shards when /metrics is scraped.

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "http/downstream.h"
#include "http/upstream.h"
#include "stats/histogram.h"

namespace ringway {

struct ApiStats {
  // Requests by downstream protocol and status class (index 0 = 1xx ... 4 = 5xx).
  uint64_t requests[kDownstreamProtocolCount][5] = {};
  UpstreamConnStats upstream;        // connections of this API's pool
  uint64_t upstream_resets = 0;      // requests lost to a reset, closed or refused stream
  uint64_t upstream_timeouts = 0;    // upstream_timeout_ms or the gRPC deadline passed
  uint64_t upstream_retries = 0;     // requests sent again (the upstream had not seen them)
  uint64_t upstream_read_timeouts = 0;  // response bodies stalled for upstream_read_timeout_ms
  uint64_t client_body_timeouts = 0;    // request bodies stalled for client_body_timeout_ms
  LatencyHistogram response_head_latency;  // request sent -> response head received

  void merge(const ApiStats& other);
  void count_request(DownstreamProtocol protocol, int status) {
    int cls = status / 100 - 1;
    if (cls < 0) cls = 0;
    if (cls > 4) cls = 4;
    ++requests[static_cast<size_t>(protocol)][cls];
  }
};

// The shard's ApiStats by API name ("-" counts requests no API matched).
class ApiStatsTable {
 public:
  ApiStats* get(const std::string& api);
  const std::map<std::string, std::unique_ptr<ApiStats>>& all() const { return table_; }

 private:
  std::map<std::string, std::unique_ptr<ApiStats>> table_;
};

}  // namespace ringway
