#pragma once
// Runs one request through its API's FilterChain: calls each filter in order, stops
// where a filter stops, resumes when it calls continue_request(), and tells its owner
// when every filter has passed. Also walks the response back through the filters
// that ran. One per request, owned by the request (the pipeline's Exchange).

#include <cstddef>
#include <cstdint>

#include "filter/filter.h"

namespace ringway {

class FilterRunner {
 public:
  class Owner {
   public:
    // Every filter continued: pick the upstream.
    virtual void on_filters_passed() = 0;

   protected:
    ~Owner() = default;
  };

  // |chain| null or empty: start() passes at once.
  void start(const FilterChain* chain, FilterCallbacks* request, Owner* owner);
  // FilterCallbacks::continue_request().
  void resume();
  // The request was answered (a local reply): nothing more runs. A pending
  // operation still registered is cancelled (the answer did not come from it).
  void finish();
  // The request went away: the pending operation (if any) is cancelled; nothing more
  // runs.
  void cancel();
  void set_pending(PendingOperation* operation) { pending_ = operation; }

  bool waiting() const { return state_ == State::kWaiting; }
  bool passed() const { return state_ == State::kPassed; }
  // Filter calls made so far for this request.
  uint32_t calls() const { return calls_; }

  // The response, through the filters that ran, last first.
  bool wants_response() const { return chain_ && chain_->has_response_filters() && ran_ > 0; }
  void on_response_head(ResponseHead& head);
  void on_response_data(Slice& data);
  void on_response_trailers(HeaderList& trailers);

 private:
  enum class State : uint8_t { kIdle, kRunning, kWaiting, kPassed, kFinished, kCancelled };
  void run();

  const FilterChain* chain_ = nullptr;
  FilterCallbacks* request_ = nullptr;
  Owner* owner_ = nullptr;
  PendingOperation* pending_ = nullptr;
  size_t next_ = 0;  // index of the next filter to call
  size_t ran_ = 0;   // filters whose on_request was called
  uint32_t calls_ = 0;
  State state_ = State::kIdle;
  bool resume_requested_ = false;  // continue_request() from inside on_request
};

}  // namespace ringway
