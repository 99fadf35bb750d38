#include "filter/filter_runner.h"

#include "base/log.h"

namespace ringway {

void FilterRunner::start(const FilterChain* chain, FilterCallbacks* request, Owner* owner) {
  RW_CHECK(state_ == State::kIdle);  // one run per request
  chain_ = chain;
  request_ = request;
  owner_ = owner;
  run();
}

void FilterRunner::run() {
  size_t count = chain_ ? chain_->size() : 0;
  while (next_ < count) {
    RequestFilter* filter = chain_->at(next_++);
    ran_ = next_;
    ++calls_;
    state_ = State::kRunning;
    resume_requested_ = false;
    pending_ = nullptr;  // each stop registers its own operation
    FilterStatus status = filter->on_request(*request_);
    if (state_ == State::kFinished || state_ == State::kCancelled) return;
    if (status == FilterStatus::kStop && !resume_requested_) {
      state_ = State::kWaiting;
      return;
    }
  }
  state_ = State::kPassed;
  owner_->on_filters_passed();
}

void FilterRunner::resume() {
  if (state_ == State::kRunning) {
    resume_requested_ = true;  // the filter is still on the stack: carry on when it returns
    return;
  }
  if (state_ != State::kWaiting) return;  // finished, cancelled or never stopped
  pending_ = nullptr;
  run();
}

void FilterRunner::rerun() {
  if (state_ != State::kWaiting || ran_ == 0) return;
  pending_ = nullptr;
  next_ = ran_ - 1;
  run();
}

void FilterRunner::start_held_response(HeldResponse* response) {
  RW_CHECK(response_state_ == State::kIdle);
  response_ = response;
  run_response();
}

void FilterRunner::run_response() {
  size_t count = chain_->size();
  while (response_next_ < count) {
    RequestFilter* filter = chain_->at(response_next_++);
    if (!filter->wants_held_response()) continue;
    response_state_ = State::kRunning;
    response_resume_requested_ = false;
    pending_ = nullptr;
    FilterStatus status = filter->on_held_response(*request_, *response_);
    if (state_ == State::kFinished || state_ == State::kCancelled) return;
    if (status == FilterStatus::kStop && !response_resume_requested_) {
      response_state_ = State::kWaiting;
      return;
    }
  }
  response_state_ = State::kPassed;
  owner_->on_held_response_passed();
}

void FilterRunner::resume_response() {
  if (response_state_ == State::kRunning) {
    response_resume_requested_ = true;
    return;
  }
  if (response_state_ != State::kWaiting) return;
  pending_ = nullptr;
  run_response();
}

void FilterRunner::finish() {
  PendingOperation* pending = pending_;
  pending_ = nullptr;
  bool was_waiting = state_ == State::kWaiting || response_state_ == State::kWaiting;
  if (state_ != State::kCancelled) state_ = State::kFinished;
  if (holding_response()) response_state_ = State::kFinished;
  // Answered while a filter waited (a deadline passed): its operation is abandoned.
  if (was_waiting && pending) pending->cancel();
}

void FilterRunner::cancel() {
  PendingOperation* pending = pending_;
  pending_ = nullptr;
  bool was_waiting = state_ == State::kWaiting || response_state_ == State::kWaiting;
  // A passed request whose response is held is cancelled too: nothing more runs.
  if (state_ != State::kPassed || holding_response()) state_ = State::kCancelled;
  if (holding_response()) response_state_ = State::kCancelled;
  if (was_waiting && pending) pending->cancel();
}

void FilterRunner::on_response_head(ResponseHead& head) {
  for (size_t i = ran_; i-- > 0;) {
    RequestFilter* filter = chain_->at(i);
    if (filter->wants_response()) filter->on_response_head(*request_, head);
  }
}

void FilterRunner::on_response_data(Slice& data) {
  for (size_t i = ran_; i-- > 0;) {
    RequestFilter* filter = chain_->at(i);
    if (filter->wants_response()) filter->on_response_data(*request_, data);
  }
}

void FilterRunner::on_response_trailers(HeaderList& trailers) {
  for (size_t i = ran_; i-- > 0;) {
    RequestFilter* filter = chain_->at(i);
    if (filter->wants_response()) filter->on_response_trailers(*request_, trailers);
  }
}

}  // namespace ringway
