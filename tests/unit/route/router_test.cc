#include "route/router.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ringway {
namespace {

ApiConfig make_api(std::string name, std::string listen_path,
                   std::vector<std::string> hosts = {}) {
  ApiConfig api;
  api.name = std::move(name);
  api.listen_path = std::move(listen_path);
  api.hosts = std::move(hosts);
  api.use_keyless = true;
  return api;
}

// Name of the matched API, or "-" when none matches.
std::string match_name(const Router& router, std::string_view host, std::string_view path) {
  const ApiConfig* api = router.match(host, path);
  return api ? api->name : "-";
}

TEST(ListenPathMatches, MatchesOnSegmentBoundaryOnly) {
  EXPECT_TRUE(listen_path_matches("/api", "/api"));
  EXPECT_TRUE(listen_path_matches("/api", "/api/"));
  EXPECT_TRUE(listen_path_matches("/api", "/api/x/y"));
  EXPECT_TRUE(listen_path_matches("/api", "/api?q=1"));
  EXPECT_FALSE(listen_path_matches("/api", "/apix"));
  EXPECT_FALSE(listen_path_matches("/api", "/ap"));
  EXPECT_FALSE(listen_path_matches("/api", "/API"));  // paths are case-sensitive
  EXPECT_FALSE(listen_path_matches("/api", "/other/api"));
}

TEST(ListenPathMatches, TrailingSlashMatchesEverythingUnderIt) {
  EXPECT_TRUE(listen_path_matches("/api/", "/api/"));
  EXPECT_TRUE(listen_path_matches("/api/", "/api/x"));
  EXPECT_TRUE(listen_path_matches("/api/", "/api/?q"));
  EXPECT_FALSE(listen_path_matches("/api/", "/api"));
  EXPECT_FALSE(listen_path_matches("/api/", "/apix/"));
}

TEST(ListenPathMatches, RootMatchesEverything) {
  EXPECT_TRUE(listen_path_matches("/", "/"));
  EXPECT_TRUE(listen_path_matches("/", "/anything/at/all"));
  EXPECT_TRUE(listen_path_matches("/", "/?q"));
  EXPECT_FALSE(listen_path_matches("/", "*"));
  EXPECT_FALSE(listen_path_matches("", "/"));
}

TEST(Router, PicksLongestListenPathPrefix) {
  std::vector<ApiConfig> apis = {make_api("root", "/"), make_api("api", "/api"),
                                 make_api("v1", "/api/v1"), make_api("v1users", "/api/v1/users")};
  Router router(apis);
  EXPECT_EQ(match_name(router, "h", "/api/v1/users/7"), "v1users");
  EXPECT_EQ(match_name(router, "h", "/api/v1/orders"), "v1");
  EXPECT_EQ(match_name(router, "h", "/api/v2"), "api");
  EXPECT_EQ(match_name(router, "h", "/api/v1usersx"), "api");  // not on a boundary of v1
  EXPECT_EQ(match_name(router, "h", "/other"), "root");
}

TEST(Router, MatchesOnSegmentBoundary) {
  std::vector<ApiConfig> apis = {make_api("api", "/api")};
  Router router(apis);
  EXPECT_EQ(match_name(router, "h", "/api"), "api");
  EXPECT_EQ(match_name(router, "h", "/api/x"), "api");
  EXPECT_EQ(match_name(router, "h", "/apix"), "-");
  EXPECT_EQ(match_name(router, "h", "/"), "-");
}

TEST(Router, MatchesPathWithQueryString) {
  std::vector<ApiConfig> apis = {make_api("api", "/api"), make_api("apiv", "/api/v")};
  Router router(apis);
  EXPECT_EQ(match_name(router, "h", "/api?x=1"), "api");
  EXPECT_EQ(match_name(router, "h", "/api?x=/api/v"), "api");
  EXPECT_EQ(match_name(router, "h", "/api/v?x=1"), "apiv");
}

TEST(Router, MatchesHostIgnoringPortAndCase) {
  std::vector<ApiConfig> apis = {make_api("shop", "/", {"shop.example.com", "[::1]", "10.0.0.1"})};
  Router router(apis);
  EXPECT_EQ(match_name(router, "shop.example.com", "/"), "shop");
  EXPECT_EQ(match_name(router, "Shop.Example.COM", "/"), "shop");
  EXPECT_EQ(match_name(router, "shop.example.com:8080", "/"), "shop");
  EXPECT_EQ(match_name(router, "SHOP.example.com.:443", "/"), "shop");
  EXPECT_EQ(match_name(router, "[::1]:8080", "/"), "shop");
  EXPECT_EQ(match_name(router, "[::1]", "/"), "shop");
  EXPECT_EQ(match_name(router, "10.0.0.1:80", "/"), "shop");
  EXPECT_EQ(match_name(router, "other.example.com", "/"), "-");
  EXPECT_EQ(match_name(router, "shop.example.com.evil", "/"), "-");
  EXPECT_EQ(match_name(router, "", "/"), "-");
}

TEST(Router, PrefersHostSpecificApiForEqualListenPath) {
  // The host-less API is listed first to show that order in the file does not decide.
  std::vector<ApiConfig> apis = {make_api("any", "/api"), make_api("a", "/api", {"a.com"}),
                                 make_api("b", "/api", {"b.com", "c.com"})};
  Router router(apis);
  EXPECT_EQ(match_name(router, "a.com", "/api/x"), "a");
  EXPECT_EQ(match_name(router, "C.com:81", "/api/x"), "b");
  EXPECT_EQ(match_name(router, "d.com", "/api/x"), "any");
  EXPECT_EQ(match_name(router, "", "/api/x"), "any");
}

TEST(Router, LongerListenPathWinsOverHostSpecificShorterOne) {
  std::vector<ApiConfig> apis = {make_api("site", "/", {"a.com"}), make_api("api", "/api")};
  Router router(apis);
  EXPECT_EQ(match_name(router, "a.com", "/api/x"), "api");
  EXPECT_EQ(match_name(router, "a.com", "/index.html"), "site");
  EXPECT_EQ(match_name(router, "b.com", "/index.html"), "-");
}

TEST(Router, ReturnsNullWithNoApis) {
  std::vector<ApiConfig> apis;
  Router router(apis);
  EXPECT_EQ(router.match("a.com", "/"), nullptr);
}

TEST(Router, HandlesFiftyApis) {
  std::vector<ApiConfig> apis;
  for (int i = 0; i < 50; ++i) {
    apis.push_back(make_api("api" + std::to_string(i), "/svc" + std::to_string(i)));
  }
  Router router(apis);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(match_name(router, "h", "/svc" + std::to_string(i) + "/x"), "api" + std::to_string(i));
  }
  EXPECT_EQ(match_name(router, "h", "/svc50"), "-");
}

ApiConfig rewrite_api(std::string listen_path, bool strip, std::string base_path) {
  ApiConfig api = make_api("api", std::move(listen_path));
  api.strip_listen_path = strip;
  api.target.base_path = std::move(base_path);
  return api;
}

TEST(UpstreamPath, KeepsPathWithoutStripOrBase) {
  ApiConfig api = rewrite_api("/api", false, "");
  EXPECT_EQ(upstream_path(api, "/api/users?id=7"), "/api/users?id=7");
  EXPECT_EQ(upstream_path(api, "/api"), "/api");
}

TEST(UpstreamPath, StripsListenPath) {
  ApiConfig api = rewrite_api("/api", true, "");
  EXPECT_EQ(upstream_path(api, "/api/users"), "/users");
  EXPECT_EQ(upstream_path(api, "/api/"), "/");
  EXPECT_EQ(upstream_path(api, "/api"), "/");
}

TEST(UpstreamPath, StripsListenPathEndingInSlash) {
  ApiConfig api = rewrite_api("/api/", true, "");
  EXPECT_EQ(upstream_path(api, "/api/users"), "/users");
  EXPECT_EQ(upstream_path(api, "/api/"), "/");
  EXPECT_EQ(upstream_path(api, "/api/?q=1"), "/?q=1");
}

TEST(UpstreamPath, StripsWithBasePath) {
  ApiConfig api = rewrite_api("/api", true, "/base");
  EXPECT_EQ(upstream_path(api, "/api/users"), "/base/users");
  EXPECT_EQ(upstream_path(api, "/api"), "/base/");
  EXPECT_EQ(upstream_path(api, "/api?q=1"), "/base/?q=1");
}

TEST(UpstreamPath, PrependsBasePathWithoutStrip) {
  ApiConfig api = rewrite_api("/api", false, "/base");
  EXPECT_EQ(upstream_path(api, "/api/users"), "/base/api/users");
  EXPECT_EQ(upstream_path(api, "/api?q=1"), "/base/api?q=1");
}

TEST(UpstreamPath, PreservesQueryString) {
  ApiConfig api = rewrite_api("/api", true, "");
  EXPECT_EQ(upstream_path(api, "/api/users?id=7&sort=asc"), "/users?id=7&sort=asc");
  EXPECT_EQ(upstream_path(api, "/api?id=7"), "/?id=7");
}

TEST(UpstreamPath, RootListenPathWithStripKeepsPath) {
  ApiConfig api = rewrite_api("/", true, "/v2");
  EXPECT_EQ(upstream_path(api, "/users"), "/v2/users");
  EXPECT_EQ(upstream_path(api, "/"), "/v2/");
}

}  // namespace
}  // namespace ringway
