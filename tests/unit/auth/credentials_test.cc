#include "auth/credentials.h"

#include <cstdint>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <openssl/evp.h>

namespace ringway {
namespace {

// Encodes with the TLS library (the tests must not trust a base64 of their own).
std::string b64(std::string_view raw) {
  std::string out(raw.size() / 3 * 4 + 5, '\0');
  // size_t in BoringSSL, int in OpenSSL.
  auto n = EVP_EncodeBlock(reinterpret_cast<uint8_t*>(out.data()),
                           reinterpret_cast<const uint8_t*>(raw.data()),
                           static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

BasicParse parse(std::string_view value, BasicCredentials* out = nullptr) {
  BasicCredentials scratch;
  return parse_basic_authorization(value, out ? out : &scratch);
}

TEST(BasicAuth, ParsesTypicalHeader) {
  BasicCredentials c;
  ASSERT_EQ(parse("Basic dXNlcjpwYXNz", &c), BasicParse::kOk);
  EXPECT_EQ(c.user, "user");
  EXPECT_EQ(c.password, "pass");
  EXPECT_EQ(b64("user:pass"), "dXNlcjpwYXNz");  // the helper agrees with RFC 4648
}

TEST(BasicAuth, SchemeIsCaseInsensitive) {
  for (const char* value : {"basic dXNlcjpwYXNz", "BASIC dXNlcjpwYXNz", "bAsIc dXNlcjpwYXNz"}) {
    BasicCredentials c;
    ASSERT_EQ(parse(value, &c), BasicParse::kOk) << value;
    EXPECT_EQ(c.user, "user");
    EXPECT_EQ(c.password, "pass");
  }
}

TEST(BasicAuth, ManySpacesAndSurroundingSpaces) {
  for (const char* value : {"Basic    dXNlcjpwYXNz", "Basic dXNlcjpwYXNz   ",
                            "  Basic  dXNlcjpwYXNz  ", "Basic\tdXNlcjpwYXNz"}) {
    BasicCredentials c;
    ASSERT_EQ(parse(value, &c), BasicParse::kOk) << "[" << value << "]";
    EXPECT_EQ(c.user, "user");
    EXPECT_EQ(c.password, "pass");
  }
}

TEST(BasicAuth, PasswordKeepsEveryColonAfterTheFirst) {
  BasicCredentials c;
  ASSERT_EQ(parse("Basic " + b64("user:pa:ss:"), &c), BasicParse::kOk);
  EXPECT_EQ(c.user, "user");
  EXPECT_EQ(c.password, "pa:ss:");
  ASSERT_EQ(parse("Basic " + b64("u:::"), &c), BasicParse::kOk);
  EXPECT_EQ(c.user, "u");
  EXPECT_EQ(c.password, "::");
}

TEST(BasicAuth, EmptyPasswordIsAllowed) {
  BasicCredentials c;
  ASSERT_EQ(parse("Basic dXNlcjo=", &c), BasicParse::kOk);  // "user:"
  EXPECT_EQ(c.user, "user");
  EXPECT_EQ(c.password, "");
}

TEST(BasicAuth, Utf8AndBinaryBytesPassThrough) {
  BasicCredentials c;
  const std::string user = "j\xC3\xBCrgen";
  const std::string password = "p\xC3\xA4ssw\xC3\xB6rd\xE2\x82\xAC";
  ASSERT_EQ(parse("Basic " + b64(user + ":" + password), &c), BasicParse::kOk);
  EXPECT_EQ(c.user, user);
  EXPECT_EQ(c.password, password);
  EXPECT_EQ(b64(user + ":" + password), "asO8cmdlbjpww6Rzc3fDtnJk4oKs");

  const std::string with_nul("pass\0x", 6);
  ASSERT_EQ(parse("Basic " + b64("user:" + with_nul), &c), BasicParse::kOk);
  EXPECT_EQ(c.password, with_nul);
}

TEST(BasicAuth, PaddingVariantsDecode) {
  BasicCredentials c;
  ASSERT_EQ(parse("Basic YTpi", &c), BasicParse::kOk);  // "a:b", no padding needed
  EXPECT_EQ(c.user + "|" + c.password, "a|b");
  ASSERT_EQ(parse("Basic YWI6Yw==", &c), BasicParse::kOk);  // "ab:c", two '='
  EXPECT_EQ(c.user + "|" + c.password, "ab|c");
  ASSERT_EQ(parse("Basic YWI6Y2Q=", &c), BasicParse::kOk);  // "ab:cd", one '='
  EXPECT_EQ(c.user + "|" + c.password, "ab|cd");
}

TEST(BasicAuth, NoColon) {
  EXPECT_EQ(parse("Basic dXNlcnBhc3M="), BasicParse::kNoColon);  // "userpass"
  EXPECT_EQ(parse("Basic " + b64("u")), BasicParse::kNoColon);
}

TEST(BasicAuth, EmptyUser) {
  EXPECT_EQ(parse("Basic OnBhc3M="), BasicParse::kEmptyUser);  // ":pass"
  EXPECT_EQ(parse("Basic " + b64(":")), BasicParse::kEmptyUser);
  EXPECT_EQ(parse("Basic " + b64("::x")), BasicParse::kEmptyUser);
}

TEST(BasicAuth, BadBase64) {
  for (const char* value : {
           "Basic dXNlcjo",         // "user:" without its '='
           "Basic YWI6Yw",          // two '=' missing
           "Basic YWI6Yw=",         // one of two '=' missing
           "Basic dXNlcjpwYXNz=",   // padding where none belongs
           "Basic YWI6Yw===",       // too much padding
           "Basic Y===",            // '=' may pad at most two
           "Basic dX==cjpw",        // padding in the middle
           "Basic dXNl*jpw",        // not in the alphabet
           "Basic dXNl-jpw",        // URL-safe alphabet is not RFC 7617's
           "Basic dXNl_jpw",
           "Basic dXNl\ncjpw",      // whitespace inside the token
           "Basic dXNlcjpwYXNz\r",  // a stray CR is not trimmed
           "Basic ====",
           "Basic \xC3\xA4\xC3\xA4",
       }) {
    EXPECT_EQ(parse(value), BasicParse::kBadBase64) << value;
  }
}

TEST(BasicAuth, NotBasic) {
  for (const char* value : {
           "",
           "   ",
           "Basic",
           "Basic ",
           "Basic    ",
           "BasicdXNlcjpwYXNz",  // no space: not the Basic scheme
           "Bearer dXNlcjpwYXNz",
           "Digest dXNlcjpwYXNz",
           "Basi dXNlcjpwYXNz",
           "dXNlcjpwYXNz",
           "Basic dXNl cjpw",  // three words (Tyk: wrong format, not bad base64)
       }) {
    EXPECT_EQ(parse(value), BasicParse::kNotBasic) << "[" << value << "]";
  }
}

TEST(BasicAuth, LengthBound) {
  // Exactly kMaxBasicHeaderBytes is read: "Basic" and three spaces, then 4088 base64
  // characters (3066 bytes decoded).
  const std::string password(3064, 'p');
  const std::string at_limit = "Basic   " + b64("u:" + password);
  ASSERT_EQ(at_limit.size(), kMaxBasicHeaderBytes);
  BasicCredentials c;
  ASSERT_EQ(parse(at_limit, &c), BasicParse::kOk);
  EXPECT_EQ(c.user, "u");
  EXPECT_EQ(c.password, password);

  // One byte more is refused before anything else is looked at, even when it would be
  // well-formed once trimmed or is not Basic at all.
  EXPECT_EQ(parse(at_limit + " "), BasicParse::kTooLong);
  EXPECT_EQ(parse("Bearer " + std::string(kMaxBasicHeaderBytes, 'x')), BasicParse::kTooLong);
  EXPECT_EQ(parse(std::string(kMaxBasicHeaderBytes + 1, ' ')), BasicParse::kTooLong);
}

TEST(BasicAuth, OutputUntouchedOnFailure) {
  BasicCredentials c{"before", "secret"};
  for (const char* value : {"Basic dXNlcnBhc3M=", "Basic OnBhc3M=", "Basic dXNlcjo", "Bearer x"}) {
    EXPECT_NE(parse(value, &c), BasicParse::kOk);
    EXPECT_EQ(c.user, "before");
    EXPECT_EQ(c.password, "secret");
  }
}

TEST(BasicAuth, MessagesAreTyks) {
  EXPECT_STREQ(basic_parse_message(BasicParse::kNotBasic), "header not in basic auth format");
  EXPECT_STREQ(basic_parse_message(BasicParse::kBadBase64), "auth data not encoded correctly");
  EXPECT_STREQ(basic_parse_message(BasicParse::kNoColon), "values not in basic auth format");
  EXPECT_STREQ(basic_parse_message(BasicParse::kEmptyUser), "values not in basic auth format");
  EXPECT_STREQ(basic_parse_message(BasicParse::kTooLong), "header too long");
  EXPECT_STREQ(basic_parse_message(BasicParse::kOk), "");
}

TEST(ExtractToken, Table) {
  struct Case {
    std::string_view in;
    std::string_view want;
  };
  const Case cases[] = {
      {"Bearer abc", "abc"},
      {"bearer   abc", "abc"},
      {"BEARER abc", "abc"},
      {"BeArEr abc", "abc"},
      {"Bearer\tabc", "abc"},
      {"abc", "abc"},
      {"  abc  ", "abc"},
      {"  Bearer abc  ", "abc"},
      {"Bearer", ""},       // the scheme alone: no key sent
      {"Bearer   ", ""},
      {"bearer", ""},
      {"", ""},
      {"   ", ""},
      {"Bearerabc", "Bearerabc"},  // no separator: a bare key
      {"Bearer Bearer x", "Bearer x"},  // only one scheme is taken off
      {"Bear abc", "Bear abc"},
      {"Basic dXNlcjpwYXNz", "Basic dXNlcjpwYXNz"},
      {"Bearer a b", "a b"},
      {"5d8aaf6e1a2b4e9c8a1b2c3d4e5f6a7b", "5d8aaf6e1a2b4e9c8a1b2c3d4e5f6a7b"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(extract_token(c.in), c.want) << "[" << c.in << "]";
  }
}

TEST(ExtractToken, ViewsIntoTheInput) {
  const std::string header = "Bearer key123";
  std::string_view token = extract_token(header);
  EXPECT_EQ(token.data(), header.data() + 7);
}

}  // namespace
}  // namespace ringway
