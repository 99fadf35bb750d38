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
    // Every filter that holds responses continued: the response goes to the client.
    virtual void on_held_response_passed() = 0;

   protected:
    ~Owner() = default;
  };

  // |chain| null or empty: start() passes at once.
  void start(const FilterChain* chain, FilterCallbacks* request, Owner* owner);
  // FilterCallbacks::continue_request().
  void resume();
  // The filter that stopped waiting for the request body runs again (its on_request).
  void rerun();
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

  // The held response (filters with wants_held_response(), in chain order): start
  // once, resume on continue_response(). The owner hears on_held_response_passed().
  bool wants_held_response() const {
    return chain_ && chain_->has_held_response_filters() && state_ == State::kPassed;
  }
  void start_held_response(HeldResponse* response);
  void resume_response();
  bool holding_response() const {
    return response_state_ == State::kRunning || response_state_ == State::kWaiting;
  }

 private:
  enum class State : uint8_t { kIdle, kRunning, kWaiting, kPassed, kFinished, kCancelled };
  void run();
  void run_response();

  const FilterChain* chain_ = nullptr;
  FilterCallbacks* request_ = nullptr;
  Owner* owner_ = nullptr;
  PendingOperation* pending_ = nullptr;
  size_t next_ = 0;  // index of the next filter to call
  size_t ran_ = 0;   // filters whose on_request was called
  uint32_t calls_ = 0;
  State state_ = State::kIdle;
  bool resume_requested_ = false;  // continue_request() from inside on_request
  // The held-response stage.
  HeldResponse* response_ = nullptr;
  size_t response_next_ = 0;
  State response_state_ = State::kIdle;
  bool response_resume_requested_ = false;
};

}  // namespace ringway
