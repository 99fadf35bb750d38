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

// Messages kept for shards whose mailbox is full; beyond, quota updates are dropped
// (the next batch carries newer figures) — answers to lookups and key API calls are
// bounded by what the shards may have outstanding.
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
    : config_(config), mailboxes_(mailboxes), pool_(config.bcrypt_workers, config.bcrypt_queue) {}

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
  const uint32_t self = mailboxes_->store();
  while (!stopping_.load()) {
    pollfd fds[2] = {{event_fd_, POLLIN, 0}, {pool_.event_fd(), POLLIN, 0}};
    int rc = poll(fds, 2, outbox_.empty() ? -1 : kOutboxRetryMs);
    if (rc < 0 && errno != EINTR) {
      RW_LOG(Error, "key store thread: poll: %s", strerror(errno));
      return;
    }
    if (fds[0].revents & POLLIN) {
      uint64_t value = 0;
      ssize_t n = read(event_fd_, &value, sizeof(value));
      (void)n;
    }
    mailboxes_->clear_wake(self);
    mailboxes_->drain(self, [this](ShardMessage&& m) { handle(std::move(m)); });
    if (fds[1].revents & POLLIN) pool_.run_completions();
    flush_outbox();
  }
}

void StoreThread::handle(ShardMessage&& message) {
  const uint32_t from = message.from;
  if (auto* m = std::get_if<KeyLookupMessage>(&message.body)) {
    if (m->lookup) on_lookup(from, *m->lookup);
  } else if (auto* m = std::get_if<KeyApiMessage>(&message.body)) {
    if (m->request) on_key_api(from, std::move(m->request));
  } else if (auto* m = std::get_if<QuotaUsageMessage>(&message.body)) {
    if (m->usage) on_quota_usage(*m->usage);
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
  } else if (r == StoreResult::kNotFound || (lookup.basic && !session->is_basic_user())) {
    // A token key presented as a Basic user is no user at all.
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
    auto verified = std::make_shared<bool>(false);
    std::string password = std::move(lookup.password);
    std::string hash = session->basic_auth_data.password;
    KeyLookupResult* pending = result.release();
    bool queued = pool_.submit(BcryptPool::Job{
        [verified, password = std::move(password), hash = std::move(hash)] {
          *verified = bcrypt_verify(password, hash);
        },
        [this, from, pending, verified, session, digest] {
          std::unique_ptr<KeyLookupResult> done(pending);
          stats_.password_checks.fetch_add(1, std::memory_order_relaxed);
          remember(digest, *verified, steady_ms());
          if (*verified) {
            done->outcome = LookupOutcome::kFound;
            done->session = session;
          } else {
            done->outcome = LookupOutcome::kWrongPassword;
          }
          send(from, KeyLookupReplyMessage{std::move(done)});
        }});
    if (queued) return;
    result.reset(pending);
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
  auto finish = [this, from](KeyApiRequest& req) {
    auto response = std::make_unique<KeyApiResponse>(
        run_key_api(*store_, req, static_cast<int64_t>(time(nullptr))));
    if (response->status >= 500) {
      stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
      RW_LOG(Error, "key API: %s", response->body.c_str());
    }
    send(from, KeyApiReplyMessage{std::move(response)});
  };
  if (!key_api_needs_password_hash(*request)) {
    finish(*request);
    return;
  }
  // The password is hashed on a worker, then the write happens here.
  KeyApiRequest* req = request.release();
  auto hash = std::make_shared<std::string>();
  auto error = std::make_shared<std::string>();
  int cost = static_cast<int>(config_.bcrypt_cost);
  bool queued = pool_.submit(BcryptPool::Job{
      [req, hash, error, cost] {
        *hash = bcrypt_hash(req->session.basic_auth_data.password, cost, error.get());
      },
      [this, from, req, hash, error, finish] {
        std::unique_ptr<KeyApiRequest> owned(req);
        if (hash->empty()) {
          auto response = std::make_unique<KeyApiResponse>();
          response->id = owned->id;
          response->status = 500;
          response->body = key_api_error_body("password hashing failed: " + *error);
          send(from, KeyApiReplyMessage{std::move(response)});
          return;
        }
        owned->session.basic_auth_data.password = std::move(*hash);
        owned->session.basic_auth_data.hash_type = "bcrypt";
        finish(*owned);
      }});
  if (queued) return;
  std::unique_ptr<KeyApiRequest> owned(req);
  auto response = std::make_unique<KeyApiResponse>();
  response->id = owned->id;
  response->status = 503;
  response->body = key_api_error_body("password hashing is busy (bcrypt_queue); try again");
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
  if (outbox_.empty()) {
    ShardMessage m;
    m.body = std::move(body);
    if (mailboxes_->post(mailboxes_->store(), to, std::move(m), nullptr)) return;
    body = std::move(m.body);
  }
  if (outbox_.size() >= kMaxOutbox && std::holds_alternative<QuotaStateMessage>(body)) {
    return;  // a later batch carries newer figures
  }
  outbox_.emplace_back(to, std::move(body));
}

void StoreThread::flush_outbox() {
  while (!outbox_.empty()) {
    ShardMessage m;
    m.body = std::move(outbox_.front().second);
    if (!mailboxes_->post(mailboxes_->store(), outbox_.front().first, std::move(m), nullptr)) {
      outbox_.front().second = std::move(m.body);
      return;
    }
    outbox_.pop_front();
  }
}

}  // namespace ringway
