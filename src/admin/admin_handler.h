#pragma once
// The admin API, served by the shards on [admin] listen like any listener (HTTP/1.1
// and h2c), as a RequestHandler of its own:
//   GET /hello     health in Tyk's shape (status, version, description, details)
//   GET /metrics   Prometheus text exposition, summed over shards
//   /tyk/...       Tyk's gateway API; every request needs x-tyk-authorization: SECRET
//                  (403 otherwise). GET /tyk/reload[?block=true] reloads the
//                  configuration as SIGHUP does. /tyk/keys is Tyk's key API:
//                  POST /tyk/keys/create (or POST /tyk/keys), POST|GET|PUT|DELETE
//                  /tyk/keys/{key} (?hashed=true: {key} is the key's hash;
//                  ?suppress_reset=1 keeps the quota counters), GET /tyk/keys.
// Replies are JSON ({"status": "error", "message": ...} for errors, as Tyk answers).

#include <cstdint>
#include <string>

#include "admin/admin_backend.h"
#include "http/downstream.h"
#include "http/message.h"
#include "mem/pool.h"

namespace ringway {

class AdminHandlerFactory final : public RequestHandlerFactory {
 public:
  explicit AdminHandlerFactory(AdminBackend* backend) : backend_(backend) {}
  RequestHandler* new_request(ServerStream* stream, const DownstreamInfo& info) override;

 private:
  AdminBackend* backend_;
};

class AdminHandler final : public RequestHandler,
                           private MetricsWaiter,
                           private ReloadWaiter,
                           private KeyApiWaiter,
                           public PoolAllocated<AdminHandler> {
 public:
  AdminHandler(AdminBackend* backend, ServerStream* stream);

  void on_request_head(RequestHead&& head, bool end_stream) override;
  void on_request_data(Slice data) override;
  void on_request_end(const HeaderList* trailers) override;
  void on_response_bytes_sent(uint32_t) override {}
  void on_downstream_reset() override;
  void on_request_error() override;

 private:
  enum class Waiting : uint8_t { kNothing, kMetrics, kReload, kKeyApi };

  ~AdminHandler();
  void dispatch();
  void on_metrics(std::string text) override;
  void on_metrics_failed(const char* why) override;
  void on_reload_done(bool ok, std::string_view message) override;
  void on_key_api_done(int status, std::string body) override;
  // /tyk/keys and /tyk/keys/...: |rest| is what follows "/tyk/keys".
  void dispatch_keys(std::string_view rest);
  // Sends the whole response and lets go of the stream.
  void reply(int status, std::string_view content_type, std::string body,
             const char* allow = nullptr);
  void reply_error(int status, std::string_view message, const char* allow = nullptr);
  void maybe_destroy();

  AdminBackend* backend_;
  ServerStream* down_;
  RequestHead request_;
  std::string body_;
  bool request_ended_ = false;
  bool replied_ = false;
  bool too_large_ = false;
  Waiting waiting_ = Waiting::kNothing;
};

}  // namespace ringway
