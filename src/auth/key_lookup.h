#pragma once
// A shard's questions to the key store and the answers, carried by the mailboxes
// (the runtime implements KeyLookupBackend by posting to the store thread). The shard
// never blocks on them: the request waits in its filter.

#include <cstdint>
#include <memory>
#include <string>

#include "store/key_hash.h"
#include "store/session.h"

namespace ringway {

struct KeyLookup {
  uint64_t id = 0;       // the asking shard's lookup number
  KeyDigest subject{};   // digest of the key, or of the Basic-auth user name
  bool basic = false;    // check |password| against the user's bcrypt hash
  std::string password;  // Basic only
};

enum class LookupOutcome : uint8_t {
  kFound,          // |session| is the key's (password checked for Basic)
  kNotFound,       // no such key / user
  kWrongPassword,  // Basic: the user exists, the password does not match
  kUnavailable,    // the store failed, or the bcrypt queue is full: not cached
};

struct KeyLookupResult {
  uint64_t id = 0;
  LookupOutcome outcome = LookupOutcome::kUnavailable;
  std::shared_ptr<const SessionState> session;  // kFound
  std::string why;                              // kUnavailable
};

class KeyLookupBackend {
 public:
  // Sends |lookup| to the store; false when it cannot go now (mailbox full, or no
  // store runs). The answer comes back through KeyResolver::on_result.
  virtual bool post_lookup(KeyLookup&& lookup) = 0;

 protected:
  ~KeyLookupBackend() = default;
};

}  // namespace ringway
