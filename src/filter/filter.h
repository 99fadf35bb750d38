#pragma once
// Request filters: the ordered steps an API applies to each request between routing
// and the upstream pick (mutual TLS, authentication, plugin hooks), modelled on
// Envoy's StreamDecoderFilter. Each API's chain is built when the configuration is
// loaded, one per shard; filters are shared by every request of that API on the
// shard, so per-request state lives in the request (FilterCallbacks), not in the
// filter.
//
// A filter returns kContinue to pass the request on, or kStop: either it answered
// (reply_locally) or it waits for something asynchronous (a cache miss, a store
// lookup, a plugin call) and calls continue_request() — later, on the same shard —
// when the answer is in. While it waits, the request body is held (bounded by
// stream_buffer_bytes, the client back-pressured) and a client that goes away
// cancels the operation registered with set_pending().
//
// Responses pass back through the filters that ran, in reverse order (head, data,
// trailers), for filters that ask for it (wants_response()). Filters that must see
// a response whole and may wait while doing so (response plugin hooks) ask for a
// held response instead (wants_held_response()): the head — and, unless it is a
// gRPC stream, the whole body — is kept from the client until each of them has
// continued, in chain order.
//
// A filter that needs the request body whole (plugin hooks send it) asks for it with
// wait_for_request_body() and returns kStop; its on_request runs again once the body
// has ended (or outgrew the limit). gRPC bodies are streams and are never held.

#include <memory>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "http/downstream.h"
#include "http/local_reply.h"
#include "http/message.h"
#include "mem/slice.h"
#include "store/session.h"

namespace ringway {

enum class FilterStatus : uint8_t {
  kContinue,  // on to the next filter
  kStop,      // stop here: answered locally, or waiting (continue_request() follows)
};

// Something a stopped filter waits for. cancel() is called (at most once) when the
// request goes away first; the operation must then never call back.
class PendingOperation {
 public:
  virtual void cancel() = 0;

 protected:
  ~PendingOperation() = default;
};

// Where the request body stands for a filter that asked for it whole.
enum class RequestBody : uint8_t {
  kNone,       // not asked for (or a gRPC stream: never held)
  kReceiving,  // still arriving
  kComplete,   // whole: request_body() has it
  kTooLarge,   // outgrew the limit: what arrived goes upstream, the rest streams
};

// The upstream's response as filters with wants_held_response() see it.
struct HeldResponse {
  ResponseHead head;
  std::string body;         // the whole body (body_whole), else empty
  bool body_whole = false;  // false: a gRPC stream (or too large), passing through
  bool body_too_large = false;  // over held_body_limit(): passing through unseen
  HeaderList trailers;      // gRPC: trailers that arrived while the head was held
};

// The key a request was authenticated with, for the filters after authentication
// (plugins receive its session).
struct RequestIdentity {
  std::shared_ptr<const SessionState> session;  // null: not authenticated (keyless)
  std::string key_id;                           // the key (token), or the Basic user
};

// The request as a filter sees it.
class FilterCallbacks {
 public:
  virtual RequestHead& request() = 0;
  virtual const DownstreamInfo& downstream() const = 0;
  virtual const ApiConfig& api() const = 0;
  virtual bool is_grpc() const = 0;
  virtual RequestIdentity& identity() = 0;

  // The body, whole (see the top of this file). wait_for_request_body() true: return
  // kStop; on_request runs again when request_body_state() is kComplete or kTooLarge
  // (past |limit| bytes). False: the state is final already (kComplete, kTooLarge, or
  // kNone for a gRPC stream), carry on.
  virtual RequestBody request_body_state() const = 0;
  virtual bool wait_for_request_body(uint64_t limit) = 0;
  virtual std::string request_body() const = 0;  // kComplete: the bytes
  virtual void replace_request_body(std::string body) = 0;  // kComplete only

  // Ends the request with a reply the filter composed (a plugin's override): from
  // on_request (then return kStop), while stopped, or from on_held_response before
  // continuing. Nothing else of the chain runs afterwards.
  virtual void reply_with(ResponseHead& head, std::string body) = 0;
  // After kStop from on_held_response: the next filter sees the response, and after
  // the last the client does.
  virtual void continue_response() = 0;
  // After kStop: go on with the next filter. At most once per stop; may be called
  // from inside on_request (then it is as if the filter returned kContinue).
  virtual void continue_request() = 0;
  // Ends the request with a local reply: from on_request (then return kStop) or while
  // stopped. Nothing else of the chain runs afterwards. |extra_headers| (such as
  // WWW-Authenticate or X-RateLimit-*) go into the reply's head.
  virtual void reply_locally(LocalReplyCause cause, std::string_view message,
                             const HeaderList* extra_headers = nullptr) = 0;
  // While stopped: what to cancel if the client goes away first (null clears it).
  virtual void set_pending(PendingOperation* operation) = 0;

 protected:
  ~FilterCallbacks() = default;
};

class RequestFilter {
 public:
  virtual ~RequestFilter() = default;
  virtual const char* name() const = 0;
  virtual FilterStatus on_request(FilterCallbacks& request) = 0;

  // The response path. Only called on filters whose on_request ran and that return
  // true here; synchronous (a response that must wait comes with response hooks).
  virtual bool wants_response() const { return false; }
  virtual void on_response_head(FilterCallbacks& request, ResponseHead& head) {
    (void)request;
    (void)head;
  }
  // |data| may be replaced or emptied.
  virtual void on_response_data(FilterCallbacks& request, Slice& data) {
    (void)request;
    (void)data;
  }
  virtual void on_response_trailers(FilterCallbacks& request, HeaderList& trailers) {
    (void)request;
    (void)trailers;
  }

  // The held response (see the top of this file): may change it, answer instead
  // (reply_with / reply_locally) or stop until continue_response().
  virtual bool wants_held_response() const { return false; }
  // Largest body held whole for this filter (a larger one passes through unseen,
  // with body_whole false).
  virtual uint64_t held_body_limit() const { return 0; }
  virtual FilterStatus on_held_response(FilterCallbacks& request, HeldResponse& response) {
    (void)request;
    (void)response;
    return FilterStatus::kContinue;
  }
};

// One API's filters, in order. Immutable once built.
class FilterChain {
 public:
  void add(std::unique_ptr<RequestFilter> filter) {
    if (filter->wants_response()) has_response_filters_ = true;
    if (filter->wants_held_response()) {
      has_held_response_filters_ = true;
      if (filter->held_body_limit() > held_body_limit_) held_body_limit_ = filter->held_body_limit();
    }
    filters_.push_back(std::move(filter));
  }
  size_t size() const { return filters_.size(); }
  bool empty() const { return filters_.empty(); }
  RequestFilter* at(size_t i) const { return filters_[i].get(); }
  bool has_response_filters() const { return has_response_filters_; }
  bool has_held_response_filters() const { return has_held_response_filters_; }
  uint64_t held_body_limit() const { return held_body_limit_; }

 private:
  std::vector<std::unique_ptr<RequestFilter>> filters_;
  bool has_response_filters_ = false;
  bool has_held_response_filters_ = false;
  uint64_t held_body_limit_ = 0;
};

}  // namespace ringway
