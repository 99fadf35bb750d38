#include "filter/fault_filter.h"

#include "io/loop.h"
#include "mem/pool.h"

namespace ringway {
namespace {

// One delayed request: its timer, and what to resume. Deletes itself when the delay
// passes (after resuming the request) or when the request goes away first.
class Delay final : public PendingOperation, public PoolAllocated<Delay> {
 public:
  Delay(Loop* loop, FilterCallbacks* request) : loop_(loop), request_(request) {
    timer_.callback = on_timer;
    timer_.owner = this;
  }
  void start(uint32_t ms) {
    request_->set_pending(this);
    loop_->arm_timer(&timer_, ms);
  }
  void cancel() override {
    loop_->disarm_timer(&timer_);
    delete this;
  }

 private:
  ~Delay() = default;
  static void on_timer(Timer* timer) {
    auto* d = static_cast<Delay*>(timer->owner);
    FilterCallbacks* request = d->request_;
    request->set_pending(nullptr);  // done: nothing left to cancel
    delete d;
    request->continue_request();
  }

  Loop* loop_;
  FilterCallbacks* request_;
  Timer timer_;
};

}  // namespace

FaultDelayFilter::FaultDelayFilter(Loop* loop, uint32_t delay_ms, uint32_t percent,
                                   uint64_t seed)
    : loop_(loop), delay_ms_(delay_ms), percent_(percent), rng_(seed) {}

bool FaultDelayFilter::pick() {
  if (percent_ >= 100) return true;
  if (percent_ == 0) return false;
  // splitmix64: well mixed from the first draw, whatever the seed.
  rng_ += 0x9e3779b97f4a7c15ull;
  uint64_t z = rng_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return z % 100 < percent_;
}

FilterStatus FaultDelayFilter::on_request(FilterCallbacks& request) {
  if (delay_ms_ == 0 || !pick()) return FilterStatus::kContinue;
  (new Delay(loop_, &request))->start(delay_ms_);
  return FilterStatus::kStop;
}

}  // namespace ringway
