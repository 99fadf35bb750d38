// What a hook is sent, how its reply changes the request, and the return-override
// matrix of COPROCESS.md §2.3.

#include "plugin/hook_mapping.h"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace ringway {
namespace {

std::string header(const RequestHead& head, std::string_view name) {
  const Header* h = find_header(head.headers, name);
  return h ? h->value.str() : "<none>";
}

TEST(HookMapping, CanonicalHeaderKeysAsGo) {
  EXPECT_EQ(canonical_header_key("content-type"), "Content-Type");
  EXPECT_EQ(canonical_header_key("x-api-key"), "X-Api-Key");
  EXPECT_EQ(canonical_header_key("AUTHORIZATION"), "Authorization");
  EXPECT_EQ(canonical_header_key("x--y"), "X--Y");
  EXPECT_EQ(canonical_header_key("grpc-timeout"), "Grpc-Timeout");
  EXPECT_EQ(canonical_header_key("bad header"), "bad header");  // not a token: unchanged
}

TEST(HookMapping, BuildsTheRequestAsTykSendsIt) {
  RequestHead head;
  head.method = "POST";
  head.authority = "api.example.com";
  head.path = "/orders/1?a=1&b=x%20y&a=2&flag";
  head.headers = {{"content-type", "application/json"},
                  {"x-api-key", "k1"},
                  {"x-api-key", "k2"}};
  coprocess::MiniRequestObject o;
  build_mini_request(head, "https", "{\"n\":1}", &o);
  EXPECT_EQ(o.headers().at("Content-Type"), "application/json");
  EXPECT_EQ(o.headers().at("X-Api-Key"), "k1");  // the first value
  EXPECT_EQ(o.headers().at("Host"), "api.example.com");
  EXPECT_EQ(o.url(), "/orders/1?a=1&b=x%20y&a=2&flag");
  EXPECT_EQ(o.request_uri(), o.url());
  EXPECT_EQ(o.method(), "POST");
  EXPECT_EQ(o.scheme(), "https");
  EXPECT_EQ(o.params().at("a"), "1");
  EXPECT_EQ(o.params().at("b"), "x y");
  EXPECT_EQ(o.params().at("flag"), "");
  EXPECT_EQ(o.raw_body(), "{\"n\":1}");
  EXPECT_EQ(o.body(), "{\"n\":1}");
  EXPECT_EQ(o.return_overrides().response_code(), -1);
  EXPECT_EQ(o.set_headers_size(), 0);

  coprocess::MiniRequestObject binary;
  build_mini_request(head, "http", std::string("\xff\xfe\x00", 3), &binary);
  EXPECT_EQ(binary.raw_body(), std::string("\xff\xfe\x00", 3));
  EXPECT_EQ(binary.body(), "");  // not UTF-8 text
}

TEST(HookMapping, AppliesHeaderParamUrlMethodAndBodyChanges) {
  RequestHead head;
  head.method = "GET";
  head.path = "/orders/1?drop=x&keep=1&added=old";
  head.headers = {{"x-remove-me", "1"}, {"x-keep", "2"}, {"testheader", "old"}};
  coprocess::MiniRequestObject reply;
  reply.set_url("/rewritten/orders/1?drop=x&keep=1&added=old");
  reply.set_method("PUT");
  reply.add_delete_headers("X-Remove-Me");
  (*reply.mutable_set_headers())["Testheader"] = "testvalue";
  (*reply.mutable_set_headers())["X-New"] = "n";
  reply.add_delete_params("drop");
  (*reply.mutable_add_params())["added"] = "new value";
  (*reply.mutable_add_params())["b"] = "2";
  reply.set_raw_body("plugin body");
  std::string body = "original";
  std::string error;
  ASSERT_TRUE(apply_request_changes(reply, head, &body, true, &error)) << error;
  EXPECT_EQ(head.method, "PUT");
  EXPECT_EQ(head.path, "/rewritten/orders/1?keep=1&added=new+value&b=2");
  EXPECT_EQ(header(head, "x-remove-me"), "<none>");
  EXPECT_EQ(header(head, "x-keep"), "2");
  EXPECT_EQ(header(head, "testheader"), "testvalue");
  EXPECT_EQ(header(head, "x-new"), "n");
  EXPECT_EQ(body, "plugin body");
  EXPECT_EQ(head.content_length, 11);
}

TEST(HookMapping, AnEchoedRequestChangesNothing) {
  RequestHead head;
  head.method = "GET";
  head.path = "/a?z=1&a=%2F";
  head.headers = {{"x", "1"}};
  coprocess::MiniRequestObject sent;
  build_mini_request(head, "http", "", &sent);
  std::string body = "streamed";
  std::string error;
  ASSERT_TRUE(apply_request_changes(sent, head, &body, /*replace_body=*/false, &error));
  EXPECT_EQ(head.path, "/a?z=1&a=%2F");  // the query keeps its bytes
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(body, "streamed");
}

TEST(HookMapping, AMissingUrlIsAnError) {
  RequestHead head;
  head.path = "/a";
  coprocess::MiniRequestObject reply;  // a plugin that did not echo the request
  std::string body, error;
  EXPECT_FALSE(apply_request_changes(reply, head, &body, true, &error));
  EXPECT_NE(error.find("url"), std::string::npos);
  reply.set_url("http://elsewhere/");
  EXPECT_FALSE(apply_request_changes(reply, head, &body, true, &error));
  EXPECT_EQ(head.path, "/a");
}

// COPROCESS.md §2.3, TestResponseOverride: X-Foo: Bar always present.
TEST(HookMapping, ReturnOverrideMatrix) {
  auto make = [](int code, bool override_error, const char* error, const char* body) {
    coprocess::ReturnOverrides o;
    o.set_response_code(code);
    o.set_override_error(override_error);
    o.set_response_error(error);
    o.set_response_body(body);
    (*o.mutable_headers())["X-Foo"] = "Bar";
    return o;
  };
  OverrideReply r = decide_override(make(200, false, "{\"foo\": \"bar\"}", ""));
  EXPECT_TRUE(r.active);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"foo\": \"bar\"}");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].name.str(), "x-foo");
  EXPECT_EQ(r.headers[0].value.str(), "Bar");
  EXPECT_EQ(decide_override(make(200, true, "", "foobar")).body, "foobar");
  for (int code : {400, 401}) {
    OverrideReply templated = decide_override(make(code, false, "", "nope"));
    EXPECT_EQ(templated.status, code);
    EXPECT_EQ(nlohmann::json::parse(templated.body), nlohmann::json::parse(R"({"error":"nope"})"));
    EXPECT_EQ(templated.body, "{\n    \"error\": \"nope\"\n}");
    OverrideReply raw = decide_override(make(code, true, "raw error", ""));
    EXPECT_EQ(raw.body, "raw error");
    EXPECT_EQ(decide_override(make(code, true, "", "raw body")).body, "raw body");
  }
  EXPECT_EQ(decide_override(make(403, false, "", "")).body,
            "{\n    \"error\": \"Key not authorised\"\n}");
  EXPECT_FALSE(decide_override(make(-1, false, "x", "y")).active);
  EXPECT_FALSE(decide_override(make(0, false, "x", "y")).active);
  EXPECT_FALSE(decide_override(coprocess::ReturnOverrides()).active);  // absent
}

TEST(HookMapping, SessionsRoundTrip) {
  SessionState s;
  s.rate = 10;
  s.per = 60;
  s.expires = 1900000000;
  s.quota_max = 100;
  s.quota_remaining = 40;
  s.quota_renews = 1800000000;
  s.quota_renewal_rate = 3600;
  s.access_rights["orders"] = AccessDefinition{"Orders", "orders", {"Default"}};
  s.org_id = "org1";
  s.is_inactive = true;
  s.alias = "bob";
  s.tags = {"a", "b"};
  s.meta_data = R"({"team": "x", "level": 3, "nested": {"k": [1]}})";
  coprocess::SessionState p;
  to_coprocess_session(s, "key-1", &p);
  EXPECT_EQ(p.key_id(), "key-1");
  EXPECT_EQ(p.metadata().at("team"), "x");
  EXPECT_EQ(p.metadata().at("level"), "3");              // JSON-encoded
  EXPECT_EQ(p.metadata().at("nested"), "{\"k\":[1]}");  // JSON-encoded
  EXPECT_EQ(p.access_rights().at("orders").api_name(), "Orders");
  SessionState back;
  from_coprocess_session(p, &back);
  EXPECT_EQ(back.rate, 10);
  EXPECT_EQ(back.per, 60);
  EXPECT_EQ(back.expires, 1900000000);
  EXPECT_EQ(back.quota_max, 100);
  EXPECT_EQ(back.quota_remaining, 40);
  EXPECT_EQ(back.quota_renews, 1800000000);
  EXPECT_EQ(back.quota_renewal_rate, 3600);
  EXPECT_EQ(back.access_rights.at("orders").versions, std::vector<std::string>{"Default"});
  EXPECT_EQ(back.org_id, "org1");
  EXPECT_TRUE(back.is_inactive);
  EXPECT_EQ(back.alias, "bob");
  EXPECT_EQ(back.tags, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(nlohmann::json::parse(back.meta_data)["team"], "x");
}

}  // namespace
}  // namespace ringway
