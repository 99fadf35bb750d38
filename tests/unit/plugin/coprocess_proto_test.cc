// The coprocess messages must be wire-compatible with Tyk's: the example of
// COPROCESS.md §1.1 encodes to the same bytes, and every message has exactly the
// fields, numbers and types of the protocol's tables.

#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/arena.h>
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include "coprocess_object.pb.h"

namespace ringway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

TEST(CoprocessProto, EncodesTheProtocolsExampleByteForByte) {
  // Object{hook_type=CustomKeyCheck, hook_name="x", session{key_id="k",
  // post_expiry_grace_period=-1}, metadata{token:"t"}}.
  google::protobuf::Arena arena;  // messages on the hot path live in arenas
  auto* object = google::protobuf::Arena::CreateMessage<coprocess::Object>(&arena);
  object->set_hook_type(coprocess::CustomKeyCheck);
  object->set_hook_name("x");
  object->mutable_session()->set_key_id("k");
  object->mutable_session()->set_post_expiry_grace_period(-1);
  (*object->mutable_metadata())["token"] = "t";
  EXPECT_EQ(hex(object->SerializeAsString()),
            "0804" "120178" "2210" "8202016b" "9002ffffffffffffffffff01" "2a0a"
            "0a05746f6b656e" "120174");

  coprocess::Object back;
  ASSERT_TRUE(back.ParseFromString(object->SerializeAsString()));
  EXPECT_EQ(back.hook_type(), coprocess::CustomKeyCheck);
  EXPECT_EQ(back.session().post_expiry_grace_period(), -1);
  EXPECT_EQ(back.metadata().at("token"), "t");
}

TEST(CoprocessProto, HookTypeNumbers) {
  EXPECT_EQ(coprocess::Unknown, 0);
  EXPECT_EQ(coprocess::Pre, 1);
  EXPECT_EQ(coprocess::Post, 2);
  EXPECT_EQ(coprocess::PostKeyAuth, 3);
  EXPECT_EQ(coprocess::CustomKeyCheck, 4);
  EXPECT_EQ(coprocess::Response, 5);
  EXPECT_EQ(coprocess::HookType_descriptor()->value_count(), 6);
}

struct Field {
  const char* name;
  int number;
  FieldDescriptor::Type type;
  bool repeated;
};

// Every field of |message|, and no other.
void expect_fields(const Descriptor* message, const std::vector<Field>& fields) {
  SCOPED_TRACE(message->full_name());
  EXPECT_EQ(message->field_count(), static_cast<int>(fields.size()));
  for (const Field& f : fields) {
    const FieldDescriptor* d = message->FindFieldByName(f.name);
    ASSERT_NE(d, nullptr) << f.name;
    EXPECT_EQ(d->number(), f.number) << f.name;
    EXPECT_EQ(d->type(), f.type) << f.name;
    EXPECT_EQ(d->is_repeated(), f.repeated) << f.name;
  }
}

constexpr auto kString = FieldDescriptor::TYPE_STRING;
constexpr auto kBytes = FieldDescriptor::TYPE_BYTES;
constexpr auto kInt64 = FieldDescriptor::TYPE_INT64;
constexpr auto kInt32 = FieldDescriptor::TYPE_INT32;
constexpr auto kDouble = FieldDescriptor::TYPE_DOUBLE;
constexpr auto kBool = FieldDescriptor::TYPE_BOOL;
constexpr auto kMessage = FieldDescriptor::TYPE_MESSAGE;  // maps are repeated entries
constexpr auto kEnum = FieldDescriptor::TYPE_ENUM;

TEST(CoprocessProto, MessagesHaveTheProtocolsFieldNumbers) {
  EXPECT_EQ(coprocess::Object::descriptor()->file()->package(), "coprocess");
  expect_fields(coprocess::Object::descriptor(),
                {{"hook_type", 1, kEnum, false}, {"hook_name", 2, kString, false},
                 {"request", 3, kMessage, false}, {"session", 4, kMessage, false},
                 {"metadata", 5, kMessage, true}, {"spec", 6, kMessage, true},
                 {"response", 7, kMessage, false}});
  expect_fields(coprocess::Event::descriptor(), {{"payload", 1, kString, false}});
  expect_fields(coprocess::EventReply::descriptor(), {});
  expect_fields(coprocess::StringSlice::descriptor(), {{"items", 1, kString, true}});
  expect_fields(coprocess::MiniRequestObject::descriptor(),
                {{"headers", 1, kMessage, true}, {"set_headers", 2, kMessage, true},
                 {"delete_headers", 3, kString, true}, {"body", 4, kString, false},
                 {"url", 5, kString, false}, {"params", 6, kMessage, true},
                 {"add_params", 7, kMessage, true}, {"extended_params", 8, kMessage, true},
                 {"delete_params", 9, kString, true}, {"return_overrides", 10, kMessage, false},
                 {"method", 11, kString, false}, {"request_uri", 12, kString, false},
                 {"scheme", 13, kString, false}, {"raw_body", 14, kBytes, false}});
  expect_fields(coprocess::ReturnOverrides::descriptor(),
                {{"response_code", 1, kInt32, false}, {"response_error", 2, kString, false},
                 {"headers", 3, kMessage, true}, {"override_error", 4, kBool, false},
                 {"response_body", 5, kString, false}});
  expect_fields(coprocess::ResponseObject::descriptor(),
                {{"status_code", 1, kInt32, false}, {"raw_body", 2, kBytes, false},
                 {"body", 3, kString, false}, {"headers", 4, kMessage, true},
                 {"multivalue_headers", 5, kMessage, true}});
  expect_fields(coprocess::Header::descriptor(),
                {{"key", 1, kString, false}, {"values", 2, kString, true}});
  expect_fields(
      coprocess::SessionState::descriptor(),
      {{"last_check", 1, kInt64, false}, {"allowance", 2, kDouble, false},
       {"rate", 3, kDouble, false}, {"per", 4, kDouble, false},
       {"expires", 5, kInt64, false}, {"quota_max", 6, kInt64, false},
       {"quota_renews", 7, kInt64, false}, {"quota_remaining", 8, kInt64, false},
       {"quota_renewal_rate", 9, kInt64, false}, {"access_rights", 10, kMessage, true},
       {"org_id", 11, kString, false}, {"oauth_client_id", 12, kString, false},
       {"oauth_keys", 13, kMessage, true}, {"basic_auth_data", 14, kMessage, false},
       {"jwt_data", 15, kMessage, false}, {"hmac_enabled", 16, kBool, false},
       {"hmac_secret", 17, kString, false}, {"is_inactive", 18, kBool, false},
       {"apply_policy_id", 19, kString, false}, {"data_expires", 20, kInt64, false},
       {"monitor", 21, kMessage, false}, {"enable_detailed_recording", 22, kBool, false},
       {"metadata", 23, kMessage, true}, {"tags", 24, kString, true},
       {"alias", 25, kString, false}, {"last_updated", 26, kString, false},
       {"id_extractor_deadline", 27, kInt64, false}, {"session_lifetime", 28, kInt64, false},
       {"apply_policies", 29, kString, true}, {"certificate", 30, kString, false},
       {"max_query_depth", 31, kInt64, false}, {"key_id", 32, kString, false},
       {"post_expiry_action", 33, kString, false},
       {"post_expiry_grace_period", 34, kInt64, false}});
  expect_fields(coprocess::AccessDefinition::descriptor(),
                {{"api_name", 1, kString, false}, {"api_id", 2, kString, false},
                 {"versions", 3, kString, true}, {"allowed_urls", 4, kMessage, true}});
  expect_fields(coprocess::AccessSpec::descriptor(),
                {{"url", 1, kString, false}, {"methods", 2, kString, true}});
  expect_fields(coprocess::BasicAuthData::descriptor(),
                {{"password", 1, kString, false}, {"hash", 2, kString, false}});
  expect_fields(coprocess::JWTData::descriptor(), {{"secret", 1, kString, false}});
  expect_fields(coprocess::Monitor::descriptor(), {{"trigger_limits", 1, kDouble, true}});
}

TEST(CoprocessProto, MapsAreStringToStringOrAccessDefinition) {
  const FieldDescriptor* spec = coprocess::Object::descriptor()->FindFieldByName("spec");
  ASSERT_TRUE(spec->is_map());
  EXPECT_EQ(spec->message_type()->FindFieldByName("key")->number(), 1);
  EXPECT_EQ(spec->message_type()->FindFieldByName("value")->type(), kString);
  const FieldDescriptor* rights =
      coprocess::SessionState::descriptor()->FindFieldByName("access_rights");
  ASSERT_TRUE(rights->is_map());
  EXPECT_EQ(rights->message_type()->FindFieldByName("value")->message_type(),
            coprocess::AccessDefinition::descriptor());
}

TEST(CoprocessProto, TheServiceHasTykMethodPaths) {
  const auto* service =
      coprocess::Object::descriptor()->file()->FindServiceByName("Dispatcher");
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->full_name(), "coprocess.Dispatcher");
  ASSERT_NE(service->FindMethodByName("Dispatch"), nullptr);
  EXPECT_EQ(service->FindMethodByName("Dispatch")->input_type(),
            coprocess::Object::descriptor());
  ASSERT_NE(service->FindMethodByName("DispatchEvent"), nullptr);
  EXPECT_EQ(service->FindMethodByName("DispatchEvent")->output_type(),
            coprocess::EventReply::descriptor());
}

}  // namespace
}  // namespace ringway
