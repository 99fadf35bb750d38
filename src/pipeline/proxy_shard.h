#pragma once
// What the proxy pipeline of one shard shares between its requests, owned by the
// shard (runtime/) and handed to each Exchange by pointer. Nothing in here is shared
// with another shard; configuration generations are immutable.

#include <cstdint>

#include "http/downstream.h"
#include "http/server_codec.h"

namespace ringway {

class AccessLog;
struct AuthShard;
class ApiStats;
class Loop;
class ProxyGeneration;

struct ProxyShard {
  Loop* loop = nullptr;
  int shard_index = 0;
  AccessLog* access_log = nullptr;    // null when access_log = off
  HttpServerStats* http_stats = nullptr;  // local replies are counted here
  ApiStats* unrouted_stats = nullptr;  // requests no API matched (api="-")
  ProxyGeneration* current = nullptr;  // new requests take this generation
  AuthShard* auth = nullptr;  // null when no key store runs
  uint32_t active_exchanges = 0;
};

// The proxy listeners' handler factory: every request becomes an Exchange.
class ProxyHandlerFactory final : public RequestHandlerFactory {
 public:
  explicit ProxyHandlerFactory(ProxyShard* shard) : shard_(shard) {}
  RequestHandler* new_request(ServerStream* stream, const DownstreamInfo& info) override;

 private:
  ProxyShard* shard_;
};

}  // namespace ringway
