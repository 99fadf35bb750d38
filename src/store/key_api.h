#pragma once
// Tyk's key API (/tyk/keys/...) as operations on a KeyStore, with Tyk's response
// bodies. The admin listener turns HTTP requests into KeyApiRequests; the store
// thread runs them (hashing new passwords on its bcrypt workers first) and returns a
// KeyApiResponse. A change names the key it touched (|subject|) so every shard can
// drop what it cached about it before the caller gets the answer.

#include <cstdint>
#include <string>

#include "store/key_hash.h"
#include "store/key_store.h"
#include "store/session.h"

namespace ringway {

enum class KeyApiOp : uint8_t {
  kCreate,  // POST /tyk/keys/create: a generated key
  kAdd,     // POST /tyk/keys/{key}: a named key or Basic-auth user (replaces)
  kGet,     // GET /tyk/keys/{key}
  kUpdate,  // PUT /tyk/keys/{key}: must exist
  kDelete,  // DELETE /tyk/keys/{key}
  kList,    // GET /tyk/keys
};

struct KeyApiRequest {
  uint64_t id = 0;  // the asking shard's request number
  KeyApiOp op = KeyApiOp::kGet;
  std::string key;      // as in the path (a hash when |hashed|)
  bool hashed = false;  // ?hashed=true: |key| is the key's hash
  bool suppress_reset = false;  // ?suppress_reset=1: keep the quota counters
  SessionState session;  // kCreate, kAdd, kUpdate
};

struct KeyApiResponse {
  uint64_t id = 0;
  int status = 200;
  std::string body;  // JSON
  bool changed = false;  // a key was written or removed: invalidate |subject|
  KeyDigest subject{};
};

// basic_auth_data.password given in clear (hash_type not "bcrypt") must be hashed
// before run_key_api (on a bcrypt worker); a declared bcrypt hash must be valid.
bool key_api_needs_password_hash(const KeyApiRequest& request);

// Runs |request| against |store| at |now_unix|. Passwords are already hashed.
KeyApiResponse run_key_api(KeyStore& store, const KeyApiRequest& request, int64_t now_unix);

// {"status": "error", "message": ...} as Tyk's API answers errors.
std::string key_api_error_body(std::string_view message);

}  // namespace ringway
