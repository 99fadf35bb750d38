#include "auth/key_resolver.h"

#include <algorithm>
#include <ctime>

#include "io/loop.h"

namespace ringway {
namespace {

// An answer that keeps arriving stale (the key changing all the time) is used after
// this many repeats rather than asked for forever.
constexpr uint8_t kMaxRepeats = 3;

}  // namespace

KeyResolver::KeyResolver(Loop* loop, const StoreConfig& config, KeyLookupBackend* backend)
    : loop_(loop),
      backend_(backend),
      max_pending_(config.max_pending_lookups),
      lookup_timeout_ms_(config.lookup_timeout_ms),
      cache_(config.cache_entries, config.cache_ttl_ms) {}

KeyResolver::~KeyResolver() {
  for (auto& [credential, p] : pending_) loop_->disarm_timer(&p->timer);
}

bool KeyResolver::wait(const KeyDigest& credential, const KeyDigest& subject, bool basic,
                       std::string_view password, Waiter* waiter, const char** why) {
  auto it = pending_.find(credential);
  if (it != pending_.end()) {
    it->second->waiters.push_back(waiter);
    ++stats_.lookups_joined;
    return true;
  }
  if (pending_.size() >= max_pending_) {
    ++stats_.lookups_failed;
    *why = "too many key lookups in progress";
    return false;
  }
  auto p = std::make_unique<Pending>();
  p->resolver = this;
  p->credential = credential;
  p->subject = subject;
  p->basic = basic;
  p->password.assign(password);
  p->timer.callback = on_timeout;
  p->timer.owner = p.get();
  if (!send(*p)) {
    ++stats_.lookups_failed;
    *why = "the key store cannot be reached";
    return false;
  }
  p->waiters.push_back(waiter);
  loop_->arm_timer(&p->timer, lookup_timeout_ms_);
  Pending* raw = p.get();
  pending_.emplace(credential, std::move(p));
  by_id_.emplace(raw->id, raw);
  return true;
}

bool KeyResolver::send(Pending& p) {
  KeyLookup lookup;
  lookup.id = next_id_++;
  lookup.subject = p.subject;
  lookup.basic = p.basic;
  lookup.password = p.password;
  uint64_t id = lookup.id;
  if (!backend_->post_lookup(std::move(lookup))) return false;
  p.id = id;
  ++stats_.lookups;
  return true;
}

void KeyResolver::cancel(const KeyDigest& credential, Waiter* waiter) {
  auto it = pending_.find(credential);
  if (it != pending_.end()) {
    std::vector<Waiter*>& waiters = it->second->waiters;
    auto w = std::find(waiters.begin(), waiters.end(), waiter);
    // The lookup stays out: its answer still fills the cache for the next request.
    if (w != waiters.end()) waiters.erase(w);
    return;
  }
  if (notifying_) {
    // Its lookup is being answered and an earlier waiter's callback ended this one.
    auto w = std::find(notifying_->begin(), notifying_->end(), waiter);
    if (w != notifying_->end()) *w = nullptr;
  }
}

template <class Notify>
void KeyResolver::notify_all(std::vector<Waiter*> waiters, Notify&& notify) {
  std::vector<Waiter*>* outer = notifying_;
  notifying_ = &waiters;
  for (Waiter*& w : waiters) {
    Waiter* current = w;
    if (!current) continue;
    w = nullptr;
    notify(current);
  }
  notifying_ = outer;
}

void KeyResolver::on_result(KeyLookupResult& result) {
  auto it = by_id_.find(result.id);
  if (it == by_id_.end()) return;  // timed out (or repeated) meanwhile: dropped
  Pending* p = it->second;
  if (p->stale && p->repeats < kMaxRepeats && result.outcome != LookupOutcome::kUnavailable) {
    // The key changed after this question left: ask again.
    by_id_.erase(it);
    p->stale = false;
    ++p->repeats;
    ++stats_.lookups_repeated;
    if (!send(*p)) {
      fail(p, "the key store cannot be reached");
      return;
    }
    by_id_.emplace(p->id, p);
    return;
  }
  if (result.outcome == LookupOutcome::kUnavailable) {
    fail(p, "the key store is unavailable");
    return;
  }
  AuthEntry entry;
  entry.subject = p->subject;
  uint64_t not_after_ms = 0;
  if (result.outcome == LookupOutcome::kFound && result.session) {
    entry.session = std::move(result.session);
    if (entry.session->expires > 0) {
      // Cached no longer than the key lives (then the expiry answer comes fresh).
      int64_t left_s = entry.session->expires - static_cast<int64_t>(time(nullptr));
      not_after_ms = loop_->now_ms() + static_cast<uint64_t>(left_s > 0 ? left_s : 0) * 1000;
      if (not_after_ms == 0) not_after_ms = 1;
    }
  } else {
    entry.denial = result.outcome == LookupOutcome::kWrongPassword ? AuthDenial::kWrongPassword
                                                                   : AuthDenial::kUnknownKey;
  }
  if (!p->stale) cache_.insert(p->credential, entry, loop_->now_ms(), not_after_ms);
  std::vector<Waiter*> waiters = std::move(p->waiters);
  erase(p);
  notify_all(std::move(waiters), [&entry](Waiter* w) { w->on_resolved(entry); });
}

void KeyResolver::invalidate(const KeyDigest& subject) {
  ++stats_.invalidations;
  cache_.invalidate_subject(subject);
  for (auto& [credential, p] : pending_) {
    if (p->subject == subject) p->stale = true;
  }
}

void KeyResolver::on_timeout(Timer* t) {
  auto* p = static_cast<Pending*>(t->owner);
  p->resolver->fail(p, "the key store did not answer in time");
}

void KeyResolver::fail(Pending* p, const char* why) {
  ++stats_.lookups_failed;
  std::vector<Waiter*> waiters = std::move(p->waiters);
  erase(p);
  notify_all(std::move(waiters), [why](Waiter* w) { w->on_unavailable(why); });
}

void KeyResolver::erase(Pending* p) {
  loop_->disarm_timer(&p->timer);
  by_id_.erase(p->id);
  pending_.erase(p->credential);  // frees p
}

}  // namespace ringway
