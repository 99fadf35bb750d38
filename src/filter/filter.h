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
// trailers), for filters that ask for it (wants_response()).

#include <memory>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "http/downstream.h"
#include "http/local_reply.h"
#include "http/message.h"
#include "mem/slice.h"

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

// The request as a filter sees it.
class FilterCallbacks {
 public:
  virtual RequestHead& request() = 0;
  virtual const DownstreamInfo& downstream() const = 0;
  virtual const ApiConfig& api() const = 0;
  virtual bool is_grpc() const = 0;
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
};

// One API's filters, in order. Immutable once built.
class FilterChain {
 public:
  void add(std::unique_ptr<RequestFilter> filter) {
    if (filter->wants_response()) has_response_filters_ = true;
    filters_.push_back(std::move(filter));
  }
  size_t size() const { return filters_.size(); }
  bool empty() const { return filters_.empty(); }
  RequestFilter* at(size_t i) const { return filters_[i].get(); }
  bool has_response_filters() const { return has_response_filters_; }

 private:
  std::vector<std::unique_ptr<RequestFilter>> filters_;
  bool has_response_filters_ = false;
};

}  // namespace ringway
