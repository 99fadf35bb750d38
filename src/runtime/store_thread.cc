#include "runtime/store_thread.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.h"
#include "runtime/mailboxes.h"
#include "store/password.h"
#include "store/sqlite_key_store.h"
#include "tls/crypto.h"

namespace ringway {
namespace {

// Messages kept per shard whose mailbox is full; beyond, quota updates are dropped
// (the next batch carries newer figures). Answers to lookups and key API calls are
// always kept: they are bounded by what the shards may have outstanding
// (max_pending_lookups, one call per admin request).
constexpr size_t kMaxOutbox = 65536;
// While messages wait for room, the thread looks again this often.
constexpr int kOutboxRetryMs = 2;

uint64_t steady_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

std::string_view bytes(const KeyDigest& d) {
  return std::string_view(reinterpret_cast<const char*>(d.data()), d.size());
}

}  // namespace

StoreThread::StoreThread(const StoreConfig& config, Mailboxes* mailboxes)
    : config_(config),
      mailboxes_(mailboxes),
      pool_(config.bcrypt_workers, config.bcrypt_queue),
      outboxes_(mailboxes->shard_count()) {}

StoreThread::~StoreThread() {
  stop();
  if (event_fd_ >= 0) close(event_fd_);
}

bool StoreThread::open(std::string* error) {
  // backend = sqlite is the only one (config/ refuses others).
  store_ = std::make_unique<SqliteKeyStore>(config_.path);
  if (!store_->open(error)) return false;
  random_bytes(verify_salt_.data(), verify_salt_.size());
  event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event_fd_ < 0) {
    *error = std::string("eventfd: ") + strerror(errno);
    return false;
  }
  mailboxes_->set_event_fd(mailboxes_->store(), event_fd_);
  return true;
}

bool StoreThread::start(std::string* error) {
  if (!pool_.start(error)) return false;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "ringway-store");
    run();
  });
  return true;
}

void StoreThread::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true);
  uint64_t one = 1;
  ssize_t rc = write(event_fd_, &one, sizeof(one));
  (void)rc;
  thread_.join();
}

void StoreThread::run() {
  while (!stopping_.load()) {
    pollfd fds[2] = {{event_fd_, POLLIN, 0}, {pool_.event_fd(), POLLIN, 0}};
    int rc = poll(fds, 2, queued_ == 0 ? -1 : kOutboxRetryMs);
    if (rc < 0 && errno != EINTR) {
      RW_LOG(Error, "key store thread: poll: %s", strerror(errno));
      return;
    }
    if (fds[0].revents & POLLIN) {
      uint64_t value = 0;
      ssize_t n = read(event_fd_, &value, sizeof(value));
      (void)n;
    }
    drain_mailbox();
    if (fds[1].revents & POLLIN) pool_.run_completions();
    flush_outbox();
  }
  // What the shards sent last (their final quota counts) before they stopped.
  drain_mailbox();
  flush_outbox();
}

void StoreThread::drain_mailbox() {
  const uint32_t self = mailboxes_->store();
  mailboxes_->clear_wake(self);
  mailboxes_->drain(self, [this](ShardMessage&& m) {
    // The store's libraries (SQLite, JSON) report some failures by throwing; one bad
    // message must not take the gateway down.
    try {
      handle(std::move(m));
    } catch (const std::exception& e) {
      stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
      RW_LOG(Error, "key store: a message failed: %s", e.what());
    }
  });
}

void StoreThread::handle(ShardMessage&& message) {
  const uint32_t from = message.from;
  if (auto* m = std::get_if<KeyLookupMessage>(&message.body)) {
    if (m->lookup) on_lookup(from, *m->lookup);
  } else if (auto* m = std::get_if<KeyApiMessage>(&message.body)) {
    if (m->request) on_key_api(from, std::move(m->request));
  } else if (auto* m = std::get_if<QuotaUsageMessage>(&message.body)) {
    if (m->usage) on_quota_usage(*m->usage);
  } else if (auto* m = std::get_if<StoreSessionMessage>(&message.body)) {
    if (m->session) on_store_session(m->session->first, m->session->second);
  }
}

void StoreThread::on_store_session(const std::string& key, SessionState& session) {
  std::string key_hash = digest_hex(key_digest(key));
  SessionState existing;
  std::string why;
  StoreResult found = store_->get(key_hash, &existing, &why);
  if (found == StoreResult::kError) {
    stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
    RW_LOG(Error, "key store: plugin session not stored: %s", why.c_str());
    return;
  }
  int64_t now = static_cast<int64_t>(time(nullptr));
  if (found == StoreResult::kOk) {
    // As Tyk: a session the plugin returns again keeps the quota it has used.
    session.quota_remaining = existing.quota_remaining;
    session.quota_renews = existing.quota_renews;
    session.date_created = existing.date_created;
  } else {
    session.quota_remaining = session.quota_max;
    session.quota_renews = session.quota_renewal_rate > 0 ? now + session.quota_renewal_rate : 0;
    session.date_created = now;
  }
  session.last_updated = now;
  if (store_->put(key_hash, session, &why) != StoreResult::kOk) {
    stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
    RW_LOG(Error, "key store: plugin session not stored: %s", why.c_str());
  }
}

void StoreThread::on_lookup(uint32_t from, KeyLookup& lookup) {
  stats_.lookups.fetch_add(1, std::memory_order_relaxed);
  auto result = std::make_unique<KeyLookupResult>();
  result->id = lookup.id;
  auto session = std::make_shared<SessionState>();
  std::string why;
  StoreResult r = store_->get(digest_hex(lookup.subject), session.get(), &why);
  if (r == StoreResult::kError) {
    stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
    RW_LOG(Error, "key store: %s", why.c_str());
    result->outcome = LookupOutcome::kUnavailable;
    result->why = why;
  } else if (r == StoreResult::kNotFound || lookup.basic != session->is_basic_user()) {
    // A token key presented as a Basic user is no user at all, and a Basic user's
    // name is no token (user names are not secret: without this, "Authorization:
    // alice" would pass token auth with no password).
    result->outcome = LookupOutcome::kNotFound;
  } else if (!lookup.basic) {
    result->outcome = LookupOutcome::kFound;
    result->session = std::move(session);
  } else if (const bool* known = verified(
                 sha256({bytes(verify_salt_), bytes(lookup.subject), lookup.password,
                         session->basic_auth_data.password}),
                 steady_ms())) {
    // Checked moments ago (for another shard): bcrypt does not run again.
    result->outcome = *known ? LookupOutcome::kFound : LookupOutcome::kWrongPassword;
    if (*known) result->session = std::move(session);
  } else {
    // bcrypt on a worker; the answer goes out from its completion.
    KeyDigest digest = sha256({bytes(verify_salt_), bytes(lookup.subject), lookup.password,
                               session->basic_auth_data.password});
    // Owned by the job (a job dropped at shutdown frees it with itself).
    auto verified = std::make_shared<bool>(false);
    std::string password = std::move(lookup.password);
    std::string hash = session->basic_auth_data.password;
    uint64_t id = lookup.id;
    bool queued = pool_.submit(BcryptPool::Job{
        [verified, password = std::move(password), hash = std::move(hash)] {
          *verified = bcrypt_verify(password, hash);
        },
        [this, from, id, verified, session, digest] {
          stats_.password_checks.fetch_add(1, std::memory_order_relaxed);
          remember(digest, *verified, steady_ms());
          auto done = std::make_unique<KeyLookupResult>();
          done->id = id;
          if (*verified) {
            done->outcome = LookupOutcome::kFound;
            done->session = session;
          } else {
            done->outcome = LookupOutcome::kWrongPassword;
          }
          send(from, KeyLookupReplyMessage{std::move(done)});
        }});
    if (queued) return;
    result->outcome = LookupOutcome::kUnavailable;
    result->why = "password checks are at bcrypt_queue";
  }
  send(from, KeyLookupReplyMessage{std::move(result)});
}

const bool* StoreThread::verified(const KeyDigest& digest, uint64_t now_ms) {
  auto it = verified_.find(digest);
  if (it == verified_.end()) return nullptr;
  if (it->second.expires_ms <= now_ms) {
    verified_.erase(it);
    return nullptr;
  }
  return &it->second.ok;
}

void StoreThread::remember(const KeyDigest& digest, bool ok, uint64_t now_ms) {
  if (verified_.size() >= config_.cache_entries) {
    // Bounded like a shard's cache: expired answers go first, else all of them.
    for (auto it = verified_.begin(); it != verified_.end();) {
      it = it->second.expires_ms <= now_ms ? verified_.erase(it) : std::next(it);
    }
    if (verified_.size() >= config_.cache_entries) verified_.clear();
  }
  verified_[digest] = Verified{ok, now_ms + config_.cache_ttl_ms};
}

void StoreThread::on_key_api(uint32_t from, std::unique_ptr<KeyApiRequest> request) {
  stats_.key_api_calls.fetch_add(1, std::memory_order_relaxed);
  key_calls_.emplace_back(from, std::move(request));
  run_key_calls();
}

// Key API calls run one after another in the order they came: a write whose password
// is being hashed holds back the calls behind it, so a POST with a password followed
// by a DELETE of the same key cannot land in reverse.
void StoreThread::run_key_calls() {
  while (!key_call_hashing_ && !key_calls_.empty()) {
    auto [from, request] = std::move(key_calls_.front());
    key_calls_.pop_front();
    if (!key_api_needs_password_hash(*request)) {
      finish_key_call(from, *request);
      continue;
    }
    // The password is hashed on a worker (the job owns the request), then the write
    // happens here.
    std::shared_ptr<KeyApiRequest> req = std::move(request);
    auto hash = std::make_shared<std::string>();
    auto error = std::make_shared<std::string>();
    int cost = static_cast<int>(config_.bcrypt_cost);
    bool queued = pool_.submit(BcryptPool::Job{
        [req, hash, error, cost] {
          *hash = bcrypt_hash(req->session.basic_auth_data.password, cost, error.get());
        },
        [this, from = from, req, hash, error] {
          key_call_hashing_ = false;
          if (hash->empty()) {
            reply_key_call(from, req->id, 500, "password hashing failed: " + *error);
          } else {
            req->session.basic_auth_data.password = std::move(*hash);
            req->session.basic_auth_data.hash_type = "bcrypt";
            finish_key_call(from, *req);
          }
          run_key_calls();
        }});
    if (queued) {
      key_call_hashing_ = true;
    } else {
      reply_key_call(from, req->id, 503, "password hashing is busy (bcrypt_queue); try again");
    }
  }
}

void StoreThread::finish_key_call(uint32_t from, const KeyApiRequest& request) {
  auto response = std::make_unique<KeyApiResponse>(
      run_key_api(*store_, request, static_cast<int64_t>(time(nullptr))));
  if (response->status >= 500) {
    stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
    RW_LOG(Error, "key API: %s", response->body.c_str());
  }
  send(from, KeyApiReplyMessage{std::move(response)});
}

void StoreThread::reply_key_call(uint32_t from, uint64_t id, int status,
                                 std::string_view message) {
  auto response = std::make_unique<KeyApiResponse>();
  response->id = id;
  response->status = status;
  response->body = key_api_error_body(message);
  send(from, KeyApiReplyMessage{std::move(response)});
}

void StoreThread::on_quota_usage(std::vector<QuotaUsage>& usage) {
  stats_.quota_batches.fetch_add(1, std::memory_order_relaxed);
  auto states = std::make_shared<std::vector<QuotaState>>();
  std::string why;
  if (store_->apply_quota_usage(usage, static_cast<int64_t>(time(nullptr)), states.get(),
                                &why) != StoreResult::kOk) {
    stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
    RW_LOG(Error, "key store: quota batch not applied: %s", why.c_str());
    return;
  }
  if (states->empty()) return;
  std::shared_ptr<const std::vector<QuotaState>> shared = std::move(states);
  for (uint32_t shard = 0; shard < mailboxes_->shard_count(); ++shard) {
    send(shard, QuotaStateMessage{shared});
  }
}

void StoreThread::send(uint32_t to, ShardMessageBody body) {
  std::deque<ShardMessageBody>& queue = outboxes_[to];
  if (queue.empty()) {
    ShardMessage m;
    m.body = std::move(body);
    if (mailboxes_->post(mailboxes_->store(), to, std::move(m), nullptr)) return;
    body = std::move(m.body);  // a refused post leaves the message untouched
  }
  if (queue.size() >= kMaxOutbox && std::holds_alternative<QuotaStateMessage>(body)) {
    return;  // a later batch carries newer figures
  }
  queue.push_back(std::move(body));
  ++queued_;
}

void StoreThread::flush_outbox() {
  // One queue per shard: a shard that is slow to drain holds up only its own answers.
  for (uint32_t to = 0; to < outboxes_.size() && queued_ > 0; ++to) {
    std::deque<ShardMessageBody>& queue = outboxes_[to];
    while (!queue.empty()) {
      ShardMessage m;
      m.body = std::move(queue.front());
      if (!mailboxes_->post(mailboxes_->store(), to, std::move(m), nullptr)) {
        queue.front() = std::move(m.body);
        break;
      }
      queue.pop_front();
      --queued_;
    }
  }
}

}  // namespace ringway
