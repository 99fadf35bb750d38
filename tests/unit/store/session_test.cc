#include "store/session.h"

#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "store/key_hash.h"

namespace ringway {
namespace {

using Json = nlohmann::json;

// A key body as Tyk's POST /tyk/keys takes it (fields Ringway does not model included).
constexpr const char* kTykKey = R"({
  "allowance": 1000, "rate": 1000, "per": 60, "expires": -1,
  "quota_max": -1, "quota_renews": 1449051461, "quota_remaining": -1,
  "quota_renewal_rate": 60,
  "access_rights": {"grpc-api": {"api_name": "grpc-api", "api_id": "grpc-api",
                                  "versions": ["Default"]}},
  "org_id": "default", "meta_data": {"team": "a"}, "tags": ["x"], "alias": "bob",
  "hmac_enabled": false, "throttle_interval": -1,
  "basic_auth_data": {"password": "", "hash_type": ""}
})";

SessionState parse_ok(const std::string& text) {
  SessionState s;
  std::string error;
  EXPECT_TRUE(parse_session_json(text, &s, &error)) << text << " -> " << error;
  return s;
}

std::string parse_error(const std::string& text) {
  SessionState s;
  std::string error;
  EXPECT_FALSE(parse_session_json(text, &s, &error)) << text;
  EXPECT_FALSE(error.empty()) << text;
  return error;
}

void expect_same(const SessionState& a, const SessionState& b) {
  EXPECT_EQ(a.allowance, b.allowance);
  EXPECT_EQ(a.rate, b.rate);
  EXPECT_EQ(a.per, b.per);
  EXPECT_EQ(a.expires, b.expires);
  EXPECT_EQ(a.quota_max, b.quota_max);
  EXPECT_EQ(a.quota_remaining, b.quota_remaining);
  EXPECT_EQ(a.quota_renews, b.quota_renews);
  EXPECT_EQ(a.quota_renewal_rate, b.quota_renewal_rate);
  ASSERT_EQ(a.access_rights.size(), b.access_rights.size());
  for (const auto& [api, def] : a.access_rights) {
    auto it = b.access_rights.find(api);
    ASSERT_NE(it, b.access_rights.end()) << api;
    EXPECT_EQ(def.api_name, it->second.api_name);
    EXPECT_EQ(def.api_id, it->second.api_id);
    EXPECT_EQ(def.versions, it->second.versions);
  }
  EXPECT_EQ(a.org_id, b.org_id);
  EXPECT_EQ(a.is_inactive, b.is_inactive);
  EXPECT_EQ(a.alias, b.alias);
  EXPECT_EQ(a.tags, b.tags);
  EXPECT_EQ(Json::parse(a.meta_data), Json::parse(b.meta_data));
  EXPECT_EQ(a.basic_auth_data.password, b.basic_auth_data.password);
  EXPECT_EQ(a.basic_auth_data.hash_type, b.basic_auth_data.hash_type);
  EXPECT_EQ(a.date_created, b.date_created);
  EXPECT_EQ(a.last_updated, b.last_updated);
  EXPECT_EQ(Json::parse(a.extra), Json::parse(b.extra));
}

TEST(SessionJson, ParsesTykKeyBody) {
  SessionState s = parse_ok(kTykKey);
  EXPECT_EQ(s.allowance, 1000);
  EXPECT_EQ(s.rate, 1000);
  EXPECT_EQ(s.per, 60);
  EXPECT_EQ(s.expires, -1);
  EXPECT_EQ(s.quota_max, -1);
  EXPECT_EQ(s.quota_remaining, -1);
  EXPECT_EQ(s.quota_renews, 1449051461);
  EXPECT_EQ(s.quota_renewal_rate, 60);
  ASSERT_EQ(s.access_rights.size(), 1u);
  const AccessDefinition& def = s.access_rights.at("grpc-api");
  EXPECT_EQ(def.api_name, "grpc-api");
  EXPECT_EQ(def.api_id, "grpc-api");
  EXPECT_EQ(def.versions, std::vector<std::string>{"Default"});
  EXPECT_EQ(s.org_id, "default");
  EXPECT_EQ(Json::parse(s.meta_data), Json::parse(R"({"team":"a"})"));
  EXPECT_EQ(s.tags, std::vector<std::string>{"x"});
  EXPECT_EQ(s.alias, "bob");
  EXPECT_FALSE(s.is_inactive);
  EXPECT_FALSE(s.is_basic_user());
  EXPECT_TRUE(s.has_rate_limit());
  EXPECT_FALSE(s.has_quota());
  EXPECT_EQ(Json::parse(s.extra), Json::parse(R"({"hmac_enabled":false,"throttle_interval":-1})"));
}

TEST(SessionJson, RoundTripKeepsEveryFieldAndUnknownOnes) {
  SessionState s = parse_ok(kTykKey);
  std::string text = session_to_json(s);
  SessionState back = parse_ok(text);
  expect_same(s, back);
  // The unknown fields are written back at the top level, as Tyk's GET shows them.
  Json j = Json::parse(text);
  EXPECT_EQ(j["hmac_enabled"], false);
  EXPECT_EQ(j["throttle_interval"], -1);
  EXPECT_EQ(j["meta_data"], Json::parse(R"({"team":"a"})"));
  EXPECT_EQ(session_to_json(back), text);
}

TEST(SessionJson, OutputHasEveryModelledField) {
  Json j = Json::parse(session_to_json(SessionState{}));
  for (const char* field :
       {"allowance", "rate", "per", "expires", "quota_max", "quota_remaining", "quota_renews",
        "quota_renewal_rate", "access_rights", "org_id", "is_inactive", "alias", "tags",
        "meta_data", "basic_auth_data", "date_created", "last_updated"}) {
    EXPECT_TRUE(j.contains(field)) << field;
  }
  EXPECT_TRUE(j["access_rights"].is_object());
  EXPECT_TRUE(j["meta_data"].is_object());
  EXPECT_TRUE(j["tags"].is_array());
  EXPECT_EQ(j["quota_max"], -1);
  EXPECT_EQ(j["basic_auth_data"], Json::parse(R"({"password":"","hash_type":""})"));
  EXPECT_EQ(j["date_created"], "1970-01-01T00:00:00Z");
  EXPECT_EQ(j["last_updated"], "0");
  // Whole numbers as Go writes float64.
  EXPECT_EQ(j.dump().find("0.0"), std::string::npos) << j.dump();
}

TEST(SessionJson, RoundTripOfAFullySetSession) {
  SessionState s;
  s.allowance = 2.5;
  s.rate = 0.1;
  s.per = 1;
  s.expires = 1893456000;
  s.quota_max = 100;
  s.quota_remaining = 42;
  s.quota_renews = 1700003600;
  s.quota_renewal_rate = 3600;
  s.access_rights["a"] = AccessDefinition{"API A", "a", {"v1", "v2"}};
  s.access_rights["b"] = AccessDefinition{"", "b", {}};
  s.org_id = "org1";
  s.is_inactive = true;
  s.alias = "caf\xc3\xa9 \"quoted\"";
  s.tags = {"t1", "t2", ""};
  s.meta_data = R"({"nested":{"list":[1,2.5,"x",null,true]}})";
  s.basic_auth_data = {"$2b$10$0123456789012345678901uABCDEFGHIJKLMNOPQRSTUVWXYZ01234", "bcrypt"};
  s.date_created = 1704164645;  // 2024-01-02T03:04:05Z
  s.last_updated = 1700000000;
  s.extra = R"({"hmac_enabled":true,"certificate":"","smoothing":{"enabled":false}})";
  std::string text = session_to_json(s);
  Json j = Json::parse(text);
  EXPECT_EQ(j["date_created"], "2024-01-02T03:04:05Z");
  EXPECT_EQ(j["last_updated"], "1700000000");
  EXPECT_EQ(j["allowance"], 2.5);
  EXPECT_EQ(j["per"], 1);
  EXPECT_EQ(j["certificate"], "");
  SessionState back = parse_ok(text);
  expect_same(s, back);
  EXPECT_EQ(session_to_json(back), text);
}

TEST(SessionJson, ModelledFieldsWinOverExtra) {
  SessionState s;
  s.rate = 5;
  s.extra = R"({"rate":"ten","other":1})";
  Json j = Json::parse(session_to_json(s));
  EXPECT_EQ(j["rate"], 5);
  EXPECT_EQ(j["other"], 1);
}

TEST(SessionJson, BadStoredTextsAreWrittenAsEmptyObjects) {
  SessionState s;
  s.meta_data = "not json";
  s.extra = "[1,2]";
  s.alias = "\xff\xfe";  // not UTF-8: replaced, never thrown
  Json j = Json::parse(session_to_json(s));
  EXPECT_EQ(j["meta_data"], Json::object());
  EXPECT_FALSE(j.contains("0"));
  EXPECT_TRUE(j["alias"].is_string());
}

TEST(SessionJson, EmptyObjectGivesDefaults) {
  SessionState s = parse_ok("{}");
  SessionState d;
  expect_same(s, d);
  EXPECT_EQ(s.meta_data, "{}");
  EXPECT_EQ(s.extra, "{}");
}

TEST(SessionJson, NullMeansAbsent) {
  SessionState s = parse_ok(
      R"({"rate":null,"expires":null,"quota_max":null,"access_rights":null,"org_id":null,
          "is_inactive":null,"tags":null,"meta_data":null,"basic_auth_data":null,
          "date_created":null,"last_updated":null,"unknown":null})");
  expect_same(s, SessionState{});
  EXPECT_EQ(s.meta_data, "{}");
  EXPECT_EQ(s.quota_max, -1);
  // Nulls inside nested objects too; a null access definition still names the API.
  s = parse_ok(R"({"access_rights":{"a":null,"b":{"api_id":null,"versions":null}},
                   "basic_auth_data":{"password":null}})");
  ASSERT_EQ(s.access_rights.size(), 2u);
  EXPECT_TRUE(s.grants("a"));
  EXPECT_EQ(s.access_rights.at("b").api_id, "");
  EXPECT_EQ(s.basic_auth_data.password, "");
}

TEST(SessionJson, NumbersAcceptedForEachType) {
  SessionState s = parse_ok(
      R"({"allowance":1.5,"rate":-2,"per":1e2,"expires":1.7e9,"quota_max":5.0,
          "quota_remaining":0,"quota_renews":9223372036854775807,"quota_renewal_rate":-1})");
  EXPECT_EQ(s.allowance, 1.5);
  EXPECT_EQ(s.rate, -2);
  EXPECT_EQ(s.per, 100);
  EXPECT_EQ(s.expires, 1700000000);
  EXPECT_EQ(s.quota_max, 5);
  EXPECT_EQ(s.quota_remaining, 0);
  EXPECT_EQ(s.quota_renews, INT64_MAX);
  EXPECT_EQ(s.quota_renewal_rate, -1);
  s = parse_ok(R"({"expires":-9223372036854775808})");
  EXPECT_EQ(s.expires, INT64_MIN);
}

TEST(SessionJson, IntegerFieldsRefuseFractionsAndOutOfRange) {
  EXPECT_EQ(parse_error(R"({"expires":1.5})"), "expires: expected an integer");
  EXPECT_EQ(parse_error(R"({"quota_max":9223372036854775808})"), "quota_max: expected an integer");
  EXPECT_EQ(parse_error(R"({"quota_remaining":1e19})"), "quota_remaining: expected an integer");
  EXPECT_EQ(parse_error(R"({"quota_renews":-1e300})"), "quota_renews: expected an integer");
  EXPECT_EQ(parse_error(R"({"quota_renewal_rate":100000000000000000000})"),
            "quota_renewal_rate: expected an integer");
}

TEST(SessionJson, WrongTypesNameTheField) {
  struct Case {
    const char* body;
    const char* error;
  };
  const Case cases[] = {
      {R"({"allowance":"1"})", "allowance: expected a number"},
      {R"({"rate":"ten"})", "rate: expected a number"},
      {R"({"per":true})", "per: expected a number"},
      {R"({"rate":[1]})", "rate: expected a number"},
      {R"({"expires":"1"})", "expires: expected an integer"},
      {R"({"quota_max":{}})", "quota_max: expected an integer"},
      {R"({"quota_remaining":false})", "quota_remaining: expected an integer"},
      {R"({"quota_renews":"x"})", "quota_renews: expected an integer"},
      {R"({"quota_renewal_rate":[]})", "quota_renewal_rate: expected an integer"},
      {R"({"access_rights":[]})", "access_rights: expected an object"},
      {R"({"access_rights":"a"})", "access_rights: expected an object"},
      {R"({"access_rights":{"a":1}})", "access_rights.a: expected an object"},
      {R"({"access_rights":{"a":{"api_name":1}}})", "access_rights.a.api_name: expected a string"},
      {R"({"access_rights":{"a":{"api_id":false}}})", "access_rights.a.api_id: expected a string"},
      {R"({"access_rights":{"a":{"versions":"v1"}}})",
       "access_rights.a.versions: expected an array of strings"},
      {R"({"access_rights":{"a":{"versions":["v1",2]}}})",
       "access_rights.a.versions[1]: expected a string"},
      {R"({"org_id":1})", "org_id: expected a string"},
      {R"({"is_inactive":"true"})", "is_inactive: expected a boolean"},
      {R"({"is_inactive":0})", "is_inactive: expected a boolean"},
      {R"({"alias":{}})", "alias: expected a string"},
      {R"({"tags":"x"})", "tags: expected an array of strings"},
      {R"({"tags":["a","b",3]})", "tags[2]: expected a string"},
      {R"({"tags":["a",null]})", "tags[1]: expected a string"},
      {R"({"meta_data":[]})", "meta_data: expected an object"},
      {R"({"meta_data":"{}"})", "meta_data: expected an object"},
      {R"({"basic_auth_data":"pw"})", "basic_auth_data: expected an object"},
      {R"({"basic_auth_data":{"password":1}})", "basic_auth_data.password: expected a string"},
      {R"({"basic_auth_data":{"hash_type":[]}})", "basic_auth_data.hash_type: expected a string"},
      {R"({"date_created":1704164645})", "date_created: expected an RFC 3339 time"},
      {R"({"date_created":"yesterday"})", "date_created: expected an RFC 3339 time"},
      {R"({"last_updated":true})", "last_updated: expected a decimal string of unix seconds"},
      {R"({"last_updated":"12a"})", "last_updated: expected a decimal string of unix seconds"},
      {R"({"last_updated":"-"})", "last_updated: expected a decimal string of unix seconds"},
      {R"({"last_updated":1.5})", "last_updated: expected an integer"},
  };
  for (const Case& c : cases) EXPECT_EQ(parse_error(c.body), c.error) << c.body;
}

TEST(SessionJson, ErrorLeavesOutputUntouched) {
  SessionState s;
  s.alias = "keep";
  std::string error;
  EXPECT_FALSE(parse_session_json(R"({"alias":"new","rate":"x"})", &s, &error));
  EXPECT_EQ(s.alias, "keep");
}

TEST(SessionJson, DateCreated) {
  struct Case {
    const char* text;
    int64_t unix_seconds;
  };
  const Case cases[] = {
      {"2024-01-02T03:04:05Z", 1704164645},
      {"2024-01-02t03:04:05z", 1704164645},
      {"2024-01-02T03:04:05.123456789Z", 1704164645},
      {"2024-01-02T05:04:05+02:00", 1704164645},
      {"2024-01-01T22:34:05-04:30", 1704164645},
      {"1970-01-01T00:00:00Z", 0},
      {"2024-02-29T00:00:00Z", 1709164800},
      {"1969-12-31T23:59:59Z", -1},
      // Go's zero time.Time, which Tyk writes for keys it never dated.
      {"0001-01-01T00:00:00Z", -62135596800},
  };
  for (const Case& c : cases) {
    std::string body = std::string(R"({"date_created":")") + c.text + "\"}";
    SessionState s = parse_ok(body);
    EXPECT_EQ(s.date_created, c.unix_seconds) << c.text;
  }
  // Written back in UTC with "Z".
  SessionState s = parse_ok(R"({"date_created":"2024-01-02T05:04:05.5+02:00"})");
  EXPECT_EQ(Json::parse(session_to_json(s))["date_created"], "2024-01-02T03:04:05Z");
  s = parse_ok(R"({"date_created":"0001-01-01T00:00:00Z"})");
  EXPECT_EQ(Json::parse(session_to_json(s))["date_created"], "0001-01-01T00:00:00Z");
  s.date_created = -1;
  EXPECT_EQ(Json::parse(session_to_json(s))["date_created"], "1969-12-31T23:59:59Z");

  for (const char* bad :
       {"2024-01-02", "2024-01-02T03:04:05", "2024-13-02T03:04:05Z", "2023-02-29T00:00:00Z",
        "2024-01-02T24:00:00Z", "2024-01-02T03:60:00Z", "2024-01-02T03:04:60Z",
        "2024-01-02T03:04:05.Z", "2024-01-02T03:04:05+2:00", "2024-01-02T03:04:05Zjunk",
        "24-01-02T03:04:05Z", ""}) {
    std::string body = std::string(R"({"date_created":")") + bad + "\"}";
    EXPECT_EQ(parse_error(body), "date_created: expected an RFC 3339 time") << bad;
  }
}

TEST(SessionJson, LastUpdatedStringOrNumber) {
  EXPECT_EQ(parse_ok(R"({"last_updated":"1700000000"})").last_updated, 1700000000);
  EXPECT_EQ(parse_ok(R"({"last_updated":1700000000})").last_updated, 1700000000);
  EXPECT_EQ(parse_ok(R"({"last_updated":""})").last_updated, 0);
  EXPECT_EQ(parse_ok(R"({"last_updated":"-5"})").last_updated, -5);
}

TEST(SessionJson, MalformedJsonGivesTheByte) {
  EXPECT_EQ(parse_error("{x"), "malformed JSON at byte 2");
  EXPECT_EQ(parse_error(R"({"rate":1,})"), "malformed JSON at byte 11");
  EXPECT_EQ(parse_error(R"({"rate":1)"), "malformed JSON at byte 9");
  EXPECT_EQ(parse_error(R"({"rate":1} x)"), "malformed JSON at byte 12");
  EXPECT_EQ(parse_error("{\"a\":\"\xff\"}"), "malformed JSON at byte 7");
  EXPECT_EQ(parse_error(R"({'rate':1})"), "malformed JSON at byte 2");
  EXPECT_EQ(parse_error(R"({"a":tru})"), "malformed JSON at byte 9");
  EXPECT_EQ(parse_error("{\"a\":1 /* comment */}"), "malformed JSON at byte 8");
}

TEST(SessionJson, EmbeddedNulIsMalformed) {
  std::string body("{\"a\":1}\0{", 9);
  EXPECT_EQ(parse_error(body), "malformed JSON at byte 8");
  std::string trailing("{}\0", 3);
  EXPECT_EQ(parse_error(trailing), "malformed JSON at byte 3");
  std::string leading("\0{}", 3);
  EXPECT_EQ(parse_error(leading).rfind("malformed JSON at byte ", 0), 0u);
  std::string in_string("{\"a\":\"x\0y\"}", 11);
  EXPECT_EQ(parse_error(in_string).rfind("malformed JSON at byte ", 0), 0u);
}

TEST(SessionJson, NonObjectBodies) {
  for (const char* body : {"[]", "[{}]", R"("x")", "1", "-1.5", "null", "true", " [ ] "}) {
    EXPECT_EQ(parse_error(body), "body: expected a JSON object") << body;
  }
}

TEST(SessionJson, EmptyBody) {
  EXPECT_EQ(parse_error(""), "body: empty (expected a JSON object)");
  EXPECT_EQ(parse_error(" \r\n\t"), "body: empty (expected a JSON object)");
}

TEST(SessionJson, HugeNumbers) {
  EXPECT_EQ(parse_error(R"({"rate":1e400})"), "number out of range at byte 13");
  EXPECT_EQ(parse_error(R"({"x":-1e400})"), "number out of range at byte 11");
  // Within double's range but not an integer field's.
  EXPECT_EQ(parse_error(R"({"expires":1e300})"), "expires: expected an integer");
  SessionState s = parse_ok(R"({"rate":1e300})");
  EXPECT_EQ(s.rate, 1e300);
  expect_same(parse_ok(session_to_json(s)), s);
  // Unknown fields keep big integers exactly.
  s = parse_ok(R"({"big":18446744073709551615})");
  EXPECT_EQ(Json::parse(session_to_json(s))["big"].get<uint64_t>(), UINT64_MAX);
}

TEST(SessionJson, DeeplyNestedJunkIsRefused) {
  std::string deep(100000, '[');
  EXPECT_EQ(parse_error(R"({"junk":)" + deep), "body: nested deeper than 64 levels");
  std::string deep_objects;
  for (int i = 0; i < 10000; ++i) deep_objects += R"({"a":)";
  EXPECT_EQ(parse_error(R"({"meta_data":)" + deep_objects), "body: nested deeper than 64 levels");
  // A reasonable depth is kept verbatim.
  std::string nested = std::string(30, '[') + std::string(30, ']');
  SessionState s = parse_ok(R"({"junk":)" + nested + "}");
  EXPECT_EQ(Json::parse(s.extra)["junk"], Json::parse(nested));
  EXPECT_EQ(Json::parse(session_to_json(s))["junk"], Json::parse(nested));
}

TEST(SessionJson, JunkValuesInUnknownFieldsAreKept) {
  SessionState s = parse_ok(
      R"({"a":{"b":[1,{"c":null}],"d":"\u00e9\n"},"e":-0.0,"f":[],"g":{},"h":"\ud83d\ude00"})");
  Json extra = Json::parse(s.extra);
  EXPECT_EQ(extra.size(), 5u);
  EXPECT_EQ(extra["a"]["d"], "\xc3\xa9\n");
  EXPECT_EQ(extra["h"], "\xf0\x9f\x98\x80");
  Json out = Json::parse(session_to_json(s));
  EXPECT_EQ(out["a"], extra["a"]);
  EXPECT_EQ(out["h"], extra["h"]);
}

TEST(SessionJson, DuplicateFieldsLastWins) {
  EXPECT_EQ(parse_ok(R"({"rate":1,"rate":2})").rate, 2);
}

TEST(SessionGrants, EmptyAccessRightsGrantEverything) {
  SessionState s;
  EXPECT_TRUE(s.grants("any"));
  EXPECT_TRUE(s.grants(""));
}

TEST(SessionGrants, NamedApisOnly) {
  SessionState s = parse_ok(R"({"access_rights":{"a":{"api_id":"a"},"b":{}}})");
  EXPECT_TRUE(s.grants("a"));
  EXPECT_TRUE(s.grants("b"));
  EXPECT_FALSE(s.grants("c"));
  EXPECT_FALSE(s.grants(""));
  EXPECT_FALSE(s.grants("A"));
  EXPECT_FALSE(s.grants(std::string_view("ab", 1).substr(0, 0)));
  EXPECT_TRUE(s.grants(std::string_view("ab", 1)));
}

// --- key_hash ---

TEST(KeyHash, KnownSha256Vectors) {
  EXPECT_EQ(hash_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hash_key(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hash_key("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // A NUL inside the key is hashed like any other byte.
  EXPECT_NE(hash_key(std::string_view("a\0b", 3)), hash_key("a"));
}

TEST(KeyHash, DigestAndHexAgree) {
  KeyDigest d = key_digest("abc");
  EXPECT_EQ(d[0], 0xba);
  EXPECT_EQ(d[31], 0xad);
  EXPECT_EQ(digest_hex(d), hash_key("abc"));
}

TEST(KeyHash, ParseDigestHex) {
  const std::string hex = hash_key("abc");
  KeyDigest d{};
  ASSERT_TRUE(parse_digest_hex(hex, &d));
  EXPECT_EQ(d, key_digest("abc"));
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(toupper(c));
  KeyDigest u{};
  ASSERT_TRUE(parse_digest_hex(upper, &u));
  EXPECT_EQ(u, d);

  KeyDigest untouched{};
  untouched[0] = 7;
  KeyDigest out = untouched;
  EXPECT_FALSE(parse_digest_hex("", &out));
  EXPECT_FALSE(parse_digest_hex(hex.substr(0, 63), &out));
  EXPECT_FALSE(parse_digest_hex(hex + "0", &out));
  EXPECT_FALSE(parse_digest_hex(hex.substr(0, 63) + "g", &out));
  EXPECT_FALSE(parse_digest_hex(" " + hex.substr(1), &out));
  EXPECT_FALSE(parse_digest_hex(std::string(63, '0') + std::string(1, '\0'), &out));
  EXPECT_EQ(out, untouched);
}

TEST(KeyHash, GenerateKeyFormatAndUniqueness) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string key = generate_key("");
    ASSERT_EQ(key.size(), 32u);
    EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos) << key;
    EXPECT_TRUE(seen.insert(key).second) << key;
  }
  std::string key = generate_key("5e9d9544a1dcd60001d0ed20");
  ASSERT_EQ(key.size(), 24u + 32u);
  EXPECT_EQ(key.substr(0, 24), "5e9d9544a1dcd60001d0ed20");
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef", 24), std::string::npos);
  EXPECT_NE(generate_key("org"), generate_key("org"));
}

}  // namespace
}  // namespace ringway

namespace ringway {
namespace {

TEST(SessionJson, AccessRightsKeepTheirOtherFields) {
  SessionState s;
  std::string error;
  ASSERT_TRUE(parse_session_json(
      R"({"access_rights": {"orders": {"api_id": "orders", "api_name": "Orders",
          "versions": ["Default"], "allowed_urls": [{"url": "/x", "methods": ["GET"]}],
          "limit": null}}})",
      &s, &error))
      << error;
  const AccessDefinition& def = s.access_rights.at("orders");
  EXPECT_EQ(def.api_name, "Orders");
  nlohmann::json back = nlohmann::json::parse(session_to_json(s))["access_rights"]["orders"];
  EXPECT_EQ(back["allowed_urls"],
            nlohmann::json::parse(R"([{"url": "/x", "methods": ["GET"]}])"));
  EXPECT_TRUE(back.contains("limit"));
  EXPECT_EQ(back["api_id"], "orders");
  EXPECT_EQ(back["versions"], nlohmann::json::parse(R"(["Default"])"));
}

}  // namespace
}  // namespace ringway
