#include "http/path_normalize.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

// Counts allocations made through operator new, so the tests can check that
// normalising allocates nothing. The array forms call these by default.
namespace {
size_t g_allocations = 0;
}  // namespace

void* operator new(std::size_t size) {
  ++g_allocations;
  void* p = std::malloc(size ? size : 1);
  if (!p) std::abort();
  return p;
}
// GCC cannot tell that these pair with the operator new above.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace ringway {

std::ostream& operator<<(std::ostream& os, PathStatus s) {
  switch (s) {
    case PathStatus::kOk: return os << "kOk";
    case PathStatus::kInvalidEncoding: return os << "kInvalidEncoding";
    case PathStatus::kNotOriginForm: return os << "kNotOriginForm";
  }
  return os << "PathStatus(" << int(s) << ")";
}

namespace {

constexpr bool kMerge = true;
constexpr bool kKeep = false;  // merge_slashes off

struct Case {
  std::string_view in;
  bool merge;
  std::string_view out;  // for a status other than kOk: the untouched input
  PathStatus status;
  bool changed;
  bool encoded_slash;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << "\"" << c.in << "\" merge=" << c.merge << " -> \"" << c.out << "\"";
}

constexpr PathStatus kOk = PathStatus::kOk;
constexpr PathStatus kBad = PathStatus::kInvalidEncoding;
constexpr PathStatus kNotOrigin = PathStatus::kNotOriginForm;

// {input, merge_slashes, expected target, status, changed, encoded_slash}
const Case kCases[] = {
    // Fast path: nothing to do, nothing written.
    {"/", kMerge, "/", kOk, false, false},
    {"/helloworld.Greeter/SayHello", kMerge, "/helloworld.Greeter/SayHello", kOk, false, false},
    {"/api/v1/users/42?fields=name,email", kMerge, "/api/v1/users/42?fields=name,email", kOk,
     false, false},
    {"/a/", kMerge, "/a/", kOk, false, false},
    {"/.well-known/acme-challenge", kMerge, "/.well-known/acme-challenge", kOk, false, false},
    {"/a.b/.c/..d/d./d../...", kMerge, "/a.b/.c/..d/d./d../...", kOk, false, false},
    {"/a%20b", kMerge, "/a%20b", kOk, false, false},  // canonical reserved escape
    {"/%C3%A9", kMerge, "/%C3%A9", kOk, false, false},
    {"/a//b", kKeep, "/a//b", kOk, false, false},
    {"//", kKeep, "//", kOk, false, false},

    // Unreserved escapes are decoded, either case of hex.
    {"/%41", kMerge, "/A", kOk, true, false},
    {"/%61%7A%30%39", kMerge, "/az09", kOk, true, false},
    {"/%7e", kMerge, "/~", kOk, true, false},
    {"/%7E", kMerge, "/~", kOk, true, false},
    {"/%2d", kMerge, "/-", kOk, true, false},
    {"/%5f", kMerge, "/_", kOk, true, false},
    {"/a%2eb", kMerge, "/a.b", kOk, true, false},
    {"/x%2Ey", kMerge, "/x.y", kOk, true, false},
    {"/%5F%2D%2E%7E", kMerge, "/_-.~", kOk, true, false},

    // Other escapes stay encoded, hex upper-cased; a single decoding only.
    {"/%3a", kMerge, "/%3A", kOk, true, false},
    {"/%3A", kMerge, "/%3A", kOk, false, false},
    {"/%20", kMerge, "/%20", kOk, false, false},
    {"/%25", kMerge, "/%25", kOk, false, false},  // '%' is not unreserved
    {"/%252e%252e/secure", kMerge, "/%252e%252e/secure", kOk, false, false},
    {"/%2541", kMerge, "/%2541", kOk, false, false},
    {"/%c3%a9", kMerge, "/%C3%A9", kOk, true, false},
    {"/%Ab%aB", kMerge, "/%AB%AB", kOk, true, false},
    {"/%00", kMerge, "/%00", kOk, false, false},
    {"/%7f%ff", kMerge, "/%7F%FF", kOk, true, false},
    {"/a%3fb", kMerge, "/a%3Fb", kOk, true, false},  // an encoded '?' starts no query
    {"/a%23b", kMerge, "/a%23b", kOk, false, false},

    // Invalid escapes: an error, and the target is left as it was.
    {"/%", kMerge, "/%", kBad, false, false},
    {"/%4", kMerge, "/%4", kBad, false, false},
    {"/%zz", kMerge, "/%zz", kBad, false, false},
    {"/%g1", kMerge, "/%g1", kBad, false, false},
    {"/%1g", kMerge, "/%1g", kBad, false, false},
    {"/a%", kMerge, "/a%", kBad, false, false},
    {"/%%41", kMerge, "/%%41", kBad, false, false},
    {"/a%4?1", kMerge, "/a%4?1", kBad, false, false},  // the escape may not run into the query
    {"/a/../%41/%zz", kMerge, "/a/../%41/%zz", kBad, false, false},
    {"/%2F%", kMerge, "/%2F%", kBad, false, false},

    // Encoded slashes stay encoded and are reported.
    {"/a%2Fb", kMerge, "/a%2Fb", kOk, false, true},
    {"/a%2fb", kMerge, "/a%2Fb", kOk, true, true},
    {"/a%5Cb", kMerge, "/a%5Cb", kOk, false, true},
    {"/a%5cb", kMerge, "/a%5Cb", kOk, true, true},
    {"/a/b%2F../c", kMerge, "/a/b%2F../c", kOk, false, true},  // "b%2F.." is one segment
    {"/a%2Fb/../c", kMerge, "/c", kOk, true, false},  // removed with its segment
    {"/a%2Fb?x", kMerge, "/a%2Fb?x", kOk, false, true},
    {"/a?x=%2F", kMerge, "/a?x=%2F", kOk, false, false},  // the query is not the path
    {"/%2e%2e%2fsecure", kMerge, "/..%2Fsecure", kOk, true, true},
    {"/%5c../secure", kMerge, "/%5C../secure", kOk, true, true},

    // Backslashes become slashes.
    {"/a\\b", kMerge, "/a/b", kOk, true, false},
    {"/\\secure", kMerge, "/secure", kOk, true, false},
    {"/\\secure", kKeep, "//secure", kOk, true, false},
    {"/a\\..\\secure", kMerge, "/secure", kOk, true, false},
    {"/a\\.\\b\\", kMerge, "/a/b/", kOk, true, false},
    {"/a/..\\", kMerge, "/", kOk, true, false},

    // Merging slashes, on and off.
    {"//secure/", kMerge, "/secure/", kOk, true, false},
    {"//", kMerge, "/", kOk, true, false},
    {"/a///b//", kMerge, "/a/b/", kOk, true, false},
    {"/a///b//", kKeep, "/a///b//", kOk, false, false},
    {"/a//../b", kMerge, "/b", kOk, true, false},    // merged first: "/a/../b"
    {"/a//../b", kKeep, "/a/b", kOk, true, false},   // RFC: ".." removes the empty segment
    {"/..//x", kKeep, "//x", kOk, true, false},
    {"/a/.//b", kKeep, "/a//b", kOk, true, false},
    {"/a/.//b", kMerge, "/a/b", kOk, true, false},

    // Dot-segments.
    {"/.", kMerge, "/", kOk, true, false},
    {"/..", kMerge, "/", kOk, true, false},
    {"/../", kMerge, "/", kOk, true, false},
    {"/../..", kMerge, "/", kOk, true, false},
    {"/a/b/..", kMerge, "/a/", kOk, true, false},
    {"/a/b/.", kMerge, "/a/b/", kOk, true, false},
    {"/a/./b", kMerge, "/a/b", kOk, true, false},
    {"/a/../../../b", kMerge, "/b", kOk, true, false},
    {"/a/b/c/./../../g", kMerge, "/a/g", kOk, true, false},
    {"/a/b/../../..", kMerge, "/", kOk, true, false},
    {"/a/.../b", kMerge, "/a/.../b", kOk, false, false},  // "..." is an ordinary segment
    // "..;" is no dot-segment (RFC 3986); a backend that strips ";params" before
    // resolving (Tomcat) must be protected by its own config, as with Envoy.
    {"/..;/secure", kMerge, "/..;/secure", kOk, false, false},

    // Bypass attempts on "/secure/".
    {"/x/../secure/", kMerge, "/secure/", kOk, true, false},
    {"/%73ecure/", kMerge, "/secure/", kOk, true, false},
    {"//secure/", kMerge, "/secure/", kOk, true, false},
    {"/secure%2F..", kMerge, "/secure%2F..", kOk, false, true},
    {"/./secure", kMerge, "/secure", kOk, true, false},
    {"/secure/./", kMerge, "/secure/", kOk, true, false},
    {"/%2e%2e/secure", kMerge, "/secure", kOk, true, false},  // "/../secure" after decoding
    {"/a/%2E%2E/secure", kMerge, "/secure", kOk, true, false},
    {"/a/.%2e/secure", kMerge, "/secure", kOk, true, false},
    {"/%2e/secure", kMerge, "/secure", kOk, true, false},
    {"/a/%2e%2E", kMerge, "/", kOk, true, false},
    {"/public/..%2Fsecure", kMerge, "/public/..%2Fsecure", kOk, false, true},
    {"/public/%2e%2e%5csecure", kMerge, "/public/..%5Csecure", kOk, true, true},
    {"/public\\..\\secure", kMerge, "/secure", kOk, true, false},
    {"/public/.%2E\\secure", kMerge, "/secure", kOk, true, false},

    // Only the path is touched.
    {"/a/../b?x=/../y&z=%2e", kMerge, "/b?x=/../y&z=%2e", kOk, true, false},
    {"/a?b=%zz", kMerge, "/a?b=%zz", kOk, false, false},
    {"/a//b?c//d\\e/./f", kMerge, "/a/b?c//d\\e/./f", kOk, true, false},
    {"/%41?%41", kMerge, "/A?%41", kOk, true, false},
    {"/?", kMerge, "/?", kOk, false, false},
    {"/a/..?", kMerge, "/?", kOk, true, false},
    {"/./a?b?c/../d", kMerge, "/a?b?c/../d", kOk, true, false},
    {"/a/%2e%2e?%2e%2e", kMerge, "/?%2e%2e", kOk, true, false},

    // Not origin-form: untouched.
    {"*", kMerge, "*", kNotOrigin, false, false},
    {"http://example.com/a/../b", kMerge, "http://example.com/a/../b", kNotOrigin, false, false},
    {"", kMerge, "", kNotOrigin, false, false},
    {"a/../b", kMerge, "a/../b", kNotOrigin, false, false},
    {"?x", kMerge, "?x", kNotOrigin, false, false},
    {"%2F", kMerge, "%2F", kNotOrigin, false, false},
    {"\\secure", kMerge, "\\secure", kNotOrigin, false, false},
};

class NormalizeTable : public testing::TestWithParam<Case> {};

TEST_P(NormalizeTable, Normalises) {
  const Case& c = GetParam();
  std::string target(c.in);
  PathNormalizeResult r = normalize_request_path(target, PathNormalizeOptions{c.merge});
  EXPECT_EQ(r.status, c.status);
  EXPECT_EQ(target, c.out);
  EXPECT_EQ(r.changed, c.changed);
  EXPECT_EQ(r.encoded_slash, c.encoded_slash);
  // The table itself must agree with the meaning of |changed|.
  EXPECT_EQ(c.changed, c.in != c.out);
}

INSTANTIATE_TEST_SUITE_P(PathNormalize, NormalizeTable, testing::ValuesIn(kCases));

TEST(PathNormalize, DefaultOptionsMergeSlashes) {
  std::string target = "//a//b";
  EXPECT_EQ(normalize_request_path(target, {}).status, PathStatus::kOk);
  EXPECT_EQ(target, "/a/b");
}

// Neither the fast path nor the rewrite allocates; the fast path also keeps the
// buffer and its bytes.
TEST(PathNormalize, DoesNotAllocate) {
  // Longer than std::string's inline buffer, so a temporary copy would allocate.
  for (std::string_view in : {"/helloworld.Greeter/SayHello", "/a/./b/../c//d%41/longer/path?q=1",
                              "/%2e%2e/%73ecure\\x/more/segments/here", "/a%zz", "*"}) {
    std::string target(in);
    const char* data = target.data();
    size_t capacity = target.capacity();
    size_t before = g_allocations;
    PathNormalizeResult r = normalize_request_path(target, {});
    EXPECT_EQ(g_allocations, before) << in;
    EXPECT_EQ(target.data(), data) << in;
    EXPECT_EQ(target.capacity(), capacity) << in;
    if (!r.changed) {
      EXPECT_EQ(target, in);
    }
  }
  // The counter does see allocations (so the check above can fail).
  size_t before = g_allocations;
  std::string s = remove_dot_segments("/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z");
  EXPECT_GT(g_allocations, before);
}

// RFC 3986 §5.2.4: the algorithm's own examples, the dot-segment outcomes of §5.4,
// and its rules A-E on relative input.
struct DotCase {
  std::string_view in;
  std::string_view out;
};

std::ostream& operator<<(std::ostream& os, const DotCase& c) {
  return os << "\"" << c.in << "\" -> \"" << c.out << "\"";
}

const DotCase kDotCases[] = {
    {"/a/b/c/./../../g", "/a/g"},
    {"mid/content=5/../6", "mid/6"},
    {"/../g", "/g"},
    {"/./g", "/g"},
    {"/g.", "/g."},
    {"/.g", "/.g"},
    {"/g..", "/g.."},
    {"/..g", "/..g"},
    {"/b/c/./../g", "/b/g"},
    {"/b/c/./g/.", "/b/c/g/"},
    {"/b/c/g/./h", "/b/c/g/h"},
    {"/b/c/g/../h", "/b/c/h"},
    {"/b/c/g;x=1/./y", "/b/c/g;x=1/y"},
    {"/b/c/g;x=1/../y", "/b/c/y"},
    {"/b/c/../../../g", "/g"},
    {"/b/c/../../../../g", "/g"},
    {"/b/c/.", "/b/c/"},
    {"/b/c/..", "/b/"},
    {"/b/c/../..", "/"},
    {"/", "/"},
    {"", ""},
    {"/..", "/"},
    {"/.", "/"},
    {"/a//../b", "/a/b"},
    // Relative input (rules A and D).
    {"../g", "g"},
    {"./g", "g"},
    {"../../g", "g"},
    {".", ""},
    {"..", ""},
    {"./", ""},
    {"../", ""},
    {".././g", "g"},
    {"g/..", "/"},  // the algorithm as written: "/.." leaves "/" after "g" is removed
    {"a/b/../c", "a/c"},
};

class DotSegmentTable : public testing::TestWithParam<DotCase> {};

TEST_P(DotSegmentTable, Removes) {
  EXPECT_EQ(remove_dot_segments(GetParam().in), GetParam().out);
}

INSTANTIATE_TEST_SUITE_P(RemoveDotSegments, DotSegmentTable, testing::ValuesIn(kDotCases));

// RFC 3986 §5.4.1 and §5.4.2 with base "http://a/b/c/d;p?q", resolved on the path
// only (§5.2.2 and the merge of §5.2.3). References with a scheme or an authority
// ("g:h", "//g", "http:g") do not reach remove_dot_segments through a path and are
// left out.
std::string path_of(std::string_view ref) {
  return std::string(ref.substr(0, ref.find_first_of("?#")));
}

std::string resolve_path(std::string_view base_path, std::string_view ref_path) {
  if (ref_path.empty()) return std::string(base_path);
  if (ref_path[0] == '/') return remove_dot_segments(ref_path);
  std::string merged(base_path.substr(0, base_path.rfind('/') + 1));
  merged += ref_path;
  return remove_dot_segments(merged);
}

struct ResolveCase {
  std::string_view ref;
  std::string_view uri;  // the RFC's resolved URI
};

std::ostream& operator<<(std::ostream& os, const ResolveCase& c) {
  return os << "\"" << c.ref << "\" -> \"" << c.uri << "\"";
}

const ResolveCase kResolveCases[] = {
    // §5.4.1
    {"g", "http://a/b/c/g"},
    {"./g", "http://a/b/c/g"},
    {"g/", "http://a/b/c/g/"},
    {"/g", "http://a/g"},
    {"?y", "http://a/b/c/d;p?y"},
    {"g?y", "http://a/b/c/g?y"},
    {"#s", "http://a/b/c/d;p?q#s"},
    {"g#s", "http://a/b/c/g#s"},
    {"g?y#s", "http://a/b/c/g?y#s"},
    {";x", "http://a/b/c/;x"},
    {"g;x", "http://a/b/c/g;x"},
    {"g;x?y#s", "http://a/b/c/g;x?y#s"},
    {"", "http://a/b/c/d;p?q"},
    {".", "http://a/b/c/"},
    {"./", "http://a/b/c/"},
    {"..", "http://a/b/"},
    {"../", "http://a/b/"},
    {"../g", "http://a/b/g"},
    {"../..", "http://a/"},
    {"../../", "http://a/"},
    {"../../g", "http://a/g"},
    // §5.4.2
    {"../../../g", "http://a/g"},
    {"../../../../g", "http://a/g"},
    {"/./g", "http://a/g"},
    {"/../g", "http://a/g"},
    {"g.", "http://a/b/c/g."},
    {".g", "http://a/b/c/.g"},
    {"g..", "http://a/b/c/g.."},
    {"..g", "http://a/b/c/..g"},
    {"./../g", "http://a/b/g"},
    {"./g/.", "http://a/b/c/g/"},
    {"g/./h", "http://a/b/c/g/h"},
    {"g/../h", "http://a/b/c/h"},
    {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
    {"g;x=1/../y", "http://a/b/c/y"},
    {"g?y/./x", "http://a/b/c/g?y/./x"},
    {"g?y/../x", "http://a/b/c/g?y/../x"},
    {"g#s/./x", "http://a/b/c/g#s/./x"},
    {"g#s/../x", "http://a/b/c/g#s/../x"},
};

class Rfc3986Resolution : public testing::TestWithParam<ResolveCase> {};

TEST_P(Rfc3986Resolution, PathMatches) {
  const ResolveCase& c = GetParam();
  std::string_view uri = c.uri;
  ASSERT_EQ(uri.substr(0, 8), "http://a");
  EXPECT_EQ(resolve_path("/b/c/d;p", path_of(c.ref)), path_of(uri.substr(8)));
}

INSTANTIATE_TEST_SUITE_P(RemoveDotSegments, Rfc3986Resolution, testing::ValuesIn(kResolveCases));

// An independent, allocation-happy model of the contract, for the randomised test
// below: decode into a new string, then resolve dot-segments with a segment stack.
struct Model {
  PathStatus status = PathStatus::kOk;
  std::string target;
  bool encoded_slash = false;
};

int hex(char c) {
  std::string_view digits = "0123456789ABCDEF";
  size_t i = digits.find(static_cast<char>(c >= 'a' && c <= 'f' ? c - 32 : c));
  return i == std::string_view::npos ? -1 : static_cast<int>(i);
}

Model model(std::string_view in, bool merge) {
  Model m;
  if (in.empty() || in[0] != '/') {
    m.status = PathStatus::kNotOriginForm;
    m.target = in;
    return m;
  }
  std::string_view path = in.substr(0, in.find('?'));
  std::string_view query = in.substr(path.size());
  std::string decoded;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%') {
      if (i + 2 >= path.size() || hex(path[i + 1]) < 0 || hex(path[i + 2]) < 0) {
        m.status = PathStatus::kInvalidEncoding;
        m.target = in;
        return m;
      }
      char v = static_cast<char>(hex(path[i + 1]) * 16 + hex(path[i + 2]));
      if (std::isalnum(static_cast<unsigned char>(v)) || std::string_view("-._~").find(v) !=
                                                             std::string_view::npos) {
        decoded += v;
      } else {
        const char* up = "0123456789ABCDEF";
        decoded += {'%', up[hex(path[i + 1])], up[hex(path[i + 2])]};
      }
      i += 2;
    } else {
      decoded += path[i] == '\\' ? '/' : path[i];
    }
  }
  if (merge) {
    std::string merged;
    for (char c : decoded) {
      if (!(c == '/' && !merged.empty() && merged.back() == '/')) merged += c;
    }
    decoded = merged;
  }
  // Segments after the leading '/'; "." and ".." at the end leave an empty last one.
  std::vector<std::string> segments;
  std::vector<std::string> out;
  size_t start = 1;
  while (true) {
    size_t end = decoded.find('/', start);
    segments.push_back(decoded.substr(start, end == std::string::npos ? end : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  for (size_t i = 0; i < segments.size(); ++i) {
    bool last = i + 1 == segments.size();
    if (segments[i] == ".") {
      if (last) out.push_back("");
    } else if (segments[i] == "..") {
      if (!out.empty()) out.pop_back();
      if (last) out.push_back("");
    } else {
      out.push_back(segments[i]);
    }
  }
  std::string result;
  for (const std::string& s : out) result += "/" + s;
  if (result.empty()) result = "/";
  m.encoded_slash = result.find("%2F") != std::string::npos ||
                    result.find("%5C") != std::string::npos;
  m.target = result + std::string(query);
  return m;
}

bool has_dot_segment(std::string_view path) {
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '/') continue;
    std::string_view seg = path.substr(i + 1, path.find('/', i + 1) - (i + 1));
    if (seg == "." || seg == "..") return true;
  }
  return false;
}

// Short random targets built from pieces that matter to the normaliser, checked
// against the model and against invariants of a normalised path.
TEST(PathNormalize, MatchesModelOnRandomTargets) {
  const std::string_view pieces[] = {"/", "/", "/", ".", ".", "..", "\\", "%2e", "%2E", "%2f",
                                     "%5C", "%41", "%7e", "%3a", "%20", "%25", "?", "a", "Z", "%",
                                     "%4", "%zz", "2", "e"};
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<size_t> pick(0, std::size(pieces) - 1);
  std::uniform_int_distribution<size_t> length(0, 10);
  int invalid = 0;
  int unchanged = 0;
  int rewritten = 0;
  for (int n = 0; n < 50000; ++n) {
    std::string in = "/";
    for (size_t k = length(rng); k > 0; --k) in += pieces[pick(rng)];
    for (bool merge : {true, false}) {
      SCOPED_TRACE(testing::Message() << "\"" << in << "\" merge=" << merge);
      std::string target = in;
      PathNormalizeResult r = normalize_request_path(target, PathNormalizeOptions{merge});
      Model m = model(in, merge);
      ASSERT_EQ(r.status, m.status);
      ASSERT_EQ(target, m.target);
      ASSERT_EQ(r.changed, target != in);
      if (r.status != PathStatus::kOk) {
        ++invalid;
        continue;
      }
      ASSERT_EQ(r.encoded_slash, m.encoded_slash);
      ++(r.changed ? rewritten : unchanged);
      std::string_view path = std::string_view(target).substr(0, target.find('?'));
      ASSERT_FALSE(has_dot_segment(path));
      ASSERT_EQ(path.find('\\'), std::string_view::npos);
      if (merge) {
        ASSERT_EQ(path.find("//"), std::string_view::npos);
      }
      // Normalising again changes nothing.
      std::string again = target;
      PathNormalizeResult r2 = normalize_request_path(again, PathNormalizeOptions{merge});
      ASSERT_EQ(r2.status, PathStatus::kOk);
      ASSERT_FALSE(r2.changed);
      ASSERT_EQ(again, target);
      ASSERT_EQ(r2.encoded_slash, r.encoded_slash);
    }
  }
  // The generator reaches every outcome.
  printf("random targets: %d invalid, %d unchanged, %d rewritten\n", invalid, unchanged, rewritten);
  EXPECT_GT(invalid, 10000);
  EXPECT_GT(unchanged, 5000);
  EXPECT_GT(rewritten, 5000);
}

// remove_dot_segments against the segment-stack model on absolute paths.
TEST(RemoveDotSegments, MatchesModelOnRandomPaths) {
  const std::string_view alphabet = "//..ab";
  std::mt19937 rng(7);
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<size_t> length(0, 12);
  for (int n = 0; n < 20000; ++n) {
    std::string in = "/";
    for (size_t k = length(rng); k > 0; --k) in += alphabet[pick(rng)];
    ASSERT_EQ(remove_dot_segments(in), model(in, false).target) << in;
  }
}

}  // namespace
}  // namespace ringway
