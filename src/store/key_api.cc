#include "store/key_api.h"

#include <nlohmann/json.hpp>

#include "store/password.h"

namespace ringway {
namespace {

std::string modified_body(std::string_view key, std::string_view action,
                          std::string_view key_hash) {
  nlohmann::json j = {{"key", key}, {"status", "ok"}, {"action", action}};
  if (!key_hash.empty()) {
    // Tyk's field is key_hash; key_hashed is also sent for scripts written against
    // Ringway's first documentation of this reply.
    j["key_hash"] = key_hash;
    j["key_hashed"] = key_hash;
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

KeyApiResponse error(uint64_t id, int status, std::string_view message) {
  KeyApiResponse r;
  r.id = id;
  r.status = status;
  r.body = key_api_error_body(message);
  return r;
}

// Tyk starts a key's quota afresh when it is written (unless suppress_reset).
void reset_quota(SessionState& s, int64_t now_unix) {
  if (!s.has_quota()) return;
  s.quota_remaining = s.quota_max;
  s.quota_renews = s.quota_renewal_rate > 0 ? now_unix + s.quota_renewal_rate : 0;
}

}  // namespace

std::string key_api_error_body(std::string_view message) {
  nlohmann::json j = {{"status", "error"}, {"message", message}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool key_api_needs_password_hash(const KeyApiRequest& request) {
  if (request.op != KeyApiOp::kCreate && request.op != KeyApiOp::kAdd &&
      request.op != KeyApiOp::kUpdate) {
    return false;
  }
  const BasicAuthData& b = request.session.basic_auth_data;
  return !b.password.empty() && b.hash_type != "bcrypt";
}

KeyApiResponse run_key_api(KeyStore& store, const KeyApiRequest& request, int64_t now_unix) {
  std::string why;
  if (request.op == KeyApiOp::kList) {
    std::vector<std::string> hashes;
    if (store.list(&hashes, &why) != StoreResult::kOk) {
      return error(request.id, 500, "key store: " + why);
    }
    KeyApiResponse r;
    r.id = request.id;
    r.body = nlohmann::json({{"keys", hashes}}).dump();
    return r;
  }

  std::string key = request.key;
  if (request.op == KeyApiOp::kCreate) key = generate_key(request.session.org_id);
  std::string key_hash;
  KeyDigest digest{};
  if (request.hashed) {
    if (!parse_digest_hex(key, &digest)) {
      return error(request.id, 400, "a hashed key is 64 hex digits");
    }
    key_hash = digest_hex(digest);
  } else {
    if (key.empty()) return error(request.id, 400, "the key name is empty");
    digest = key_digest(key);
    key_hash = digest_hex(digest);
  }
  // Replies name the key as given (Tyk shows the hash when the key was given hashed).
  const std::string& shown = key;

  SessionState existing;
  StoreResult found = StoreResult::kNotFound;
  if (request.op != KeyApiOp::kCreate) {
    found = store.get(key_hash, &existing, &why);
    if (found == StoreResult::kError) return error(request.id, 500, "key store: " + why);
  }

  switch (request.op) {
    case KeyApiOp::kGet: {
      if (found != StoreResult::kOk) return error(request.id, 404, "Key not found");
      KeyApiResponse r;
      r.id = request.id;
      r.body = session_to_json(existing);
      return r;
    }
    case KeyApiOp::kDelete: {
      if (found != StoreResult::kOk) return error(request.id, 404, "Key not found");
      if (store.remove(key_hash, &why) == StoreResult::kError) {
        return error(request.id, 500, "key store: " + why);
      }
      KeyApiResponse r;
      r.id = request.id;
      r.body = modified_body(shown, "deleted", "");
      r.changed = true;
      r.subject = digest;
      return r;
    }
    case KeyApiOp::kCreate:
    case KeyApiOp::kAdd:
    case KeyApiOp::kUpdate: {
      if (request.op == KeyApiOp::kUpdate && found != StoreResult::kOk) {
        return error(request.id, 404, "Key not found");
      }
      SessionState session = request.session;
      const BasicAuthData& b = session.basic_auth_data;
      if (b.hash_type == "bcrypt" && !is_bcrypt_hash(b.password)) {
        return error(request.id, 400, "basic_auth_data.password is not a bcrypt hash");
      }
      if (!b.password.empty() && b.hash_type != "bcrypt") {
        // run_key_api's caller hashes clear passwords first.
        return error(request.id, 500, "password was not hashed");
      }
      if (request.suppress_reset && found == StoreResult::kOk) {
        // Tyk's suppress_reset: the key's live counters stay as they are.
        session.quota_remaining = existing.quota_remaining;
        session.quota_renews = existing.quota_renews;
      } else {
        reset_quota(session, now_unix);
      }
      session.date_created = found == StoreResult::kOk && existing.date_created != 0
                                 ? existing.date_created
                                 : now_unix;
      if (session.date_created == 0) session.date_created = now_unix;
      session.last_updated = now_unix;
      if (store.put(key_hash, session, &why) != StoreResult::kOk) {
        return error(request.id, 500, "key store: " + why);
      }
      KeyApiResponse r;
      r.id = request.id;
      r.body = modified_body(shown, request.op == KeyApiOp::kUpdate ? "modified" : "added",
                             key_hash);
      r.changed = true;
      r.subject = digest;
      return r;
    }
    case KeyApiOp::kList:
      break;
  }
  return error(request.id, 500, "unknown operation");
}

}  // namespace ringway
