#include "tls/crypto.h"

#include <string>

#include <gtest/gtest.h>

namespace ringway {
namespace {

std::string hex(const Sha256Digest& d) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : d) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

// Decodes |in|; "<invalid>" when refused.
std::string decode(std::string_view in, size_t max_out = 64) {
  uint8_t buf[64];
  size_t n = 0;
  if (!base64_decode(in, buf, max_out, &n)) return "<invalid>";
  return std::string(reinterpret_cast<const char*>(buf), n);
}

TEST(Crypto, Sha256OfPartsIsTheHashOfTheirConcatenation) {
  // FIPS 180-2 test vector.
  EXPECT_EQ(hex(sha256({"abc"})),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256({"a", "", "bc"}), sha256({"abc"}));
  EXPECT_EQ(hex(sha256({})),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Crypto, Base64DecodesRfc4648Vectors) {
  // RFC 4648 §10.
  EXPECT_EQ(decode(""), "");
  EXPECT_EQ(decode("Zg=="), "f");
  EXPECT_EQ(decode("Zm8="), "fo");
  EXPECT_EQ(decode("Zm9v"), "foo");
  EXPECT_EQ(decode("Zm9vYg=="), "foob");
  EXPECT_EQ(decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(decode("Zm9vYmFy"), "foobar");
  EXPECT_EQ(decode("YWxpY2U6cGFzcw=="), "alice:pass");
}

TEST(Crypto, Base64IsStrict) {
  for (const char* bad : {"Zg", "Zg=", "Zm9", "Z===", "====", "Zg==Zg==", "Zm 9v", " Zm9v",
                          "Zm9v\n", "Zm9-", "Zm9_", "Zg=a", "!!!!"}) {
    EXPECT_EQ(decode(bad), "<invalid>") << bad;
  }
  EXPECT_EQ(decode("Zm9vYmFy", 5), "<invalid>");  // does not fit
  EXPECT_EQ(decode("Zm9vYmFy", 6), "foobar");
}

TEST(Crypto, RandomBytesAndHelpers) {
  uint8_t a[32] = {}, b[32] = {};
  ASSERT_TRUE(random_bytes(a, sizeof(a)));
  ASSERT_TRUE(random_bytes(b, sizeof(b)));
  EXPECT_FALSE(constant_time_equal(a, b, sizeof(a)));
  EXPECT_TRUE(constant_time_equal(a, a, sizeof(a)));
  secure_zero(a, sizeof(a));
  uint8_t zero[32] = {};
  EXPECT_TRUE(constant_time_equal(a, zero, sizeof(a)));
}

}  // namespace
}  // namespace ringway
