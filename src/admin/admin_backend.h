#pragma once
// What the admin API needs from the shard it runs on, implemented by the runtime:
// counters gathered from every shard (through the mailboxes, so the answer comes
// later), a configuration reload (done by the control thread), and facts for /hello.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "store/key_api.h"

namespace ringway {

class MetricsWaiter {
 public:
  // The Prometheus text of every shard's counters (and the process's).
  virtual void on_metrics(std::string text) = 0;
  // Could not be gathered (a shard did not answer in time, or too many collections
  // are in progress).
  virtual void on_metrics_failed(const char* why) = 0;

 protected:
  ~MetricsWaiter() = default;
};

class ReloadWaiter {
 public:
  // The reload this waiter asked for ran: |ok| when the new configuration is now
  // used by every shard; otherwise |message| says why the file was rejected.
  virtual void on_reload_done(bool ok, std::string_view message) = 0;

 protected:
  ~ReloadWaiter() = default;
};

class KeyApiWaiter {
 public:
  // The key API call ran; for a change, every shard dropped what it cached about the
  // key before this is called.
  virtual void on_key_api_done(int status, std::string body) = 0;

 protected:
  ~KeyApiWaiter() = default;
};

struct AdminStatus {
  std::string version;
  uint32_t shards = 0;
  uint64_t generation = 0;  // configuration generation in use (1 = as started)
};

class AdminBackend {
 public:
  // Calls waiter->on_metrics() or on_metrics_failed(), later or at once.
  virtual void collect_metrics(MetricsWaiter* waiter) = 0;
  virtual void cancel_metrics(MetricsWaiter* waiter) = 0;
  // Asks for a reload (as SIGHUP does). With a waiter, on_reload_done() follows once
  // it ran. Returns false when it cannot be queued now.
  virtual bool request_reload(ReloadWaiter* waiter) = 0;
  virtual void cancel_reload(ReloadWaiter* waiter) = 0;
  virtual AdminStatus status() const = 0;
  // Tyk's key API, run by the key store. False when no store runs or the call cannot
  // be queued now (*why says which); otherwise on_key_api_done() follows, later.
  virtual bool key_api(std::unique_ptr<KeyApiRequest> request, KeyApiWaiter* waiter,
                       const char** why) = 0;
  virtual void cancel_key_api(KeyApiWaiter* waiter) = 0;
  // The [admin] settings of the newest configuration (the secret may change on
  // reload).
  virtual const AdminConfig& admin_config() const = 0;

 protected:
  ~AdminBackend() = default;
};

}  // namespace ringway
