#pragma once
// The typed messages shards and the control thread send each other through the
// mailboxes (runtime/mailboxes.h). Payloads move with the message: the receiver owns
// them once it pops it.

#include <cstdint>
#include <memory>
#include <string>
#include <variant>

#include "auth/key_lookup.h"
#include "config/config.h"
#include "runtime/shard_metrics.h"
#include "store/key_api.h"
#include "store/key_store.h"

namespace ringway {

// control -> shard: stop accepting, finish in-flight work, exit.
struct DrainMessage {};
// control -> shard: switch new requests to this configuration. |covers| is the
// highest reload request of the receiving shard this reload answers (0: none).
struct ReloadMessage {
  std::shared_ptr<const Config> config;
  uint64_t generation = 0;
  uint64_t covers = 0;
};
// control -> shard: a reload was refused (the file had errors); the running
// configuration stays.
struct ReloadFailedMessage {
  std::string errors;  // the first problems, for /tyk/reload?block=true
  uint64_t covers = 0;
};
// shard -> control: reload the configuration file (GET /tyk/reload).
struct ReloadRequestMessage {
  uint64_t request = 0;  // per-shard sequence number
};
// shard -> shard: send your counters back (GET /metrics).
struct CollectMetricsMessage {
  uint64_t request = 0;
};
struct MetricsReplyMessage {
  uint64_t request = 0;
  std::unique_ptr<ShardMetrics> metrics;
};

// Authentication (payloads boxed: the queues hold messages by value).
// shard -> store: a cache miss.
struct KeyLookupMessage {
  std::unique_ptr<KeyLookup> lookup;
};
// store -> shard
struct KeyLookupReplyMessage {
  std::unique_ptr<KeyLookupResult> result;
};
// shard -> store: a key API call (/tyk/keys/...).
struct KeyApiMessage {
  std::unique_ptr<KeyApiRequest> request;
};
// store -> shard
struct KeyApiReplyMessage {
  std::unique_ptr<KeyApiResponse> response;
};
// shard -> shard: a key changed; drop what you cached about it, then say so.
struct InvalidateKeyMessage {
  uint64_t request = 0;
  KeyDigest subject{};
};
struct InvalidateAckMessage {
  uint64_t request = 0;
};
// shard -> store: requests counted against quotas since the last report.
struct QuotaUsageMessage {
  std::unique_ptr<std::vector<QuotaUsage>> usage;
};
// store -> every shard: the quotas a batch changed.
struct QuotaStateMessage {
  std::shared_ptr<const std::vector<QuotaState>> states;
};

// shard -> store: a session a custom-auth plugin returned, kept under its token (as
// Tyk keeps it in Redis) so the key API sees, updates and revokes it.
struct StoreSessionMessage {
  std::unique_ptr<std::pair<std::string, SessionState>> session;  // key, session
};

using ShardMessageBody =
    std::variant<std::monostate, DrainMessage, ReloadMessage, ReloadFailedMessage,
                 ReloadRequestMessage, CollectMetricsMessage, MetricsReplyMessage,
                 KeyLookupMessage, KeyLookupReplyMessage, KeyApiMessage, KeyApiReplyMessage,
                 InvalidateKeyMessage, InvalidateAckMessage, QuotaUsageMessage,
                 QuotaStateMessage, StoreSessionMessage>;

struct ShardMessage {
  uint32_t from = 0;         // sender endpoint (a shard index, or the control thread)
  uint64_t posted_turn = 0;  // the receiver's loop turn when it was posted
  ShardMessageBody body;
};

}  // namespace ringway
