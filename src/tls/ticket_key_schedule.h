#pragma once
// Session-ticket keys that every shard derives on its own, so no key ever crosses a
// thread and resumption works on whichever shard a connection lands on.
//
// At start-up the process draws one random master secret. Time (the monotonic clock,
// common to all threads) is cut into periods of session_ticket_rotation_s; the key
// of period e is HMAC-SHA256(master, "ringway ticket key" | e | i) for i = 0..2,
// truncated to 80 bytes (nghttpx's key layout: name, HMAC secret, AES-256 key).
// A shard's key list for period e is [k(e), k(e-1), k(e+1)]: new tickets use k(e);
// tickets from the previous period still resume (so a ticket lives between one and
// two periods); k(e+1) covers the few milliseconds in which another shard has already
// rolled over. Each shard arms a timer for the next boundary and installs the new list
// (TlsServerContext::set_ticket_keys). A restart draws a new master: tickets from
// before it fall back to a full handshake.

#include <cstdint>
#include <string>
#include <vector>

namespace ringway {

class TicketKeySchedule {
 public:
  // |master| must be at least 32 random bytes; |period_s| > 0.
  TicketKeySchedule(std::string master, uint32_t period_s);

  static std::string random_master();

  uint64_t period_at(uint64_t now_ms) const { return now_ms / period_ms_; }
  // Milliseconds from |now_ms| to the start of the next period (>= 1).
  uint64_t ms_until_next_period(uint64_t now_ms) const;
  // [k(e), k(e-1), k(e+1)] for period |e| (k(e-1) left out when e == 0).
  std::vector<std::string> keys_for_period(uint64_t e) const;
  std::string key(uint64_t e) const;

 private:
  std::string master_;
  uint64_t period_ms_;
};

}  // namespace ringway
