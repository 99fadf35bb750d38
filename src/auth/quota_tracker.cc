#include "auth/quota_tracker.h"

namespace ringway {

bool QuotaTracker::take(const KeyDigest& subject, const SessionState& session,
                        int64_t now_unix) {
  auto [it, inserted] = keys_.try_emplace(subject);
  Count& c = it->second;
  if (inserted || c.relearn) {
    c.remaining = session.quota_remaining;
    c.renews = session.quota_renews;
    c.in_flight = 0;
    c.relearn = false;
  }
  if (session.quota_renewal_rate > 0 && now_unix >= c.renews) {
    // Due for renewal: the store renews it too when it applies the next batch.
    c.remaining = session.quota_max;
    c.renews = now_unix + session.quota_renewal_rate;
    c.in_flight = 0;
  }
  if (c.remaining - c.unreported - c.in_flight <= 0) return false;
  ++c.unreported;
  return true;
}

void QuotaTracker::forget(const KeyDigest& subject) {
  auto it = keys_.find(subject);
  if (it == keys_.end()) return;
  if (it->second.unreported == 0) {
    keys_.erase(it);
  } else {
    it->second.relearn = true;
  }
}

std::vector<QuotaUsage> QuotaTracker::take_report() {
  std::vector<QuotaUsage> report;
  for (auto it = keys_.begin(); it != keys_.end();) {
    Count& c = it->second;
    if (c.unreported > 0) {
      report.push_back({digest_hex(it->first), c.unreported});
      c.in_flight += c.unreported;
      c.unreported = 0;
    } else if ((keys_.size() > max_keys_ && c.in_flight == 0) || c.relearn) {
      it = keys_.erase(it);
      continue;
    }
    ++it;
  }
  return report;
}

void QuotaTracker::on_store_state(const QuotaState& state) {
  KeyDigest subject;
  if (!parse_digest_hex(state.key_hash, &subject)) return;
  auto it = keys_.find(subject);
  if (it == keys_.end()) return;
  // The store's figure includes every batch it applied, ours in flight among them
  // (mailboxes are FIFO per pair; a batch of ours still on its way is a flush
  // interval at most, the documented error).
  it->second.remaining = state.quota_remaining;
  it->second.renews = state.quota_renews;
  it->second.in_flight = 0;
}

}  // namespace ringway
