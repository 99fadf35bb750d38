#include "store/password.h"

#include <stdio.h>
#include <sys/wait.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace ringway {
namespace {

// Cost 4 (bcrypt's minimum) keeps each hash well under a millisecond or so.
constexpr int kFastCost = 4;

// Made once with the real tools (kept so the test also checks stable known values):
//   mkpasswd -m bcrypt -R 5 'correct horse'
constexpr const char* kMkpasswdHash =
    "$2b$05$DyoIVLLi8L8yQEgoKr/Xb.ssC32oHUtBzjVeCFmE0hZRRCCEndRBC";
//   htpasswd -bnBC 5 user 'battery staple'   (printed "user:" before the hash)
constexpr const char* kHtpasswdHash =
    "$2y$05$jOBzQaNIHG/dbudTuqZHgu5nXo08h5Xk131I7u1LQXVG3WlhuYrY2";
//   mkpasswd -m bcrypt-a -R 5 'tyk-user'
constexpr const char* kMkpasswd2aHash =
    "$2a$05$1ks3/WgfqLUBczWJYVkt.uhmSaLPAZuwLvPAVRouv8pDogUUlLrl.";

TEST(Bcrypt, HashAndVerify) {
  std::string error;
  std::string hash = bcrypt_hash("s3cret", kFastCost, &error);
  ASSERT_FALSE(hash.empty()) << error;
  EXPECT_EQ(hash.size(), 60u);
  EXPECT_EQ(hash.substr(0, 7), "$2b$04$");
  EXPECT_TRUE(is_bcrypt_hash(hash));
  EXPECT_TRUE(bcrypt_verify("s3cret", hash));
  EXPECT_FALSE(bcrypt_verify("s3cret ", hash));
  EXPECT_FALSE(bcrypt_verify("S3cret", hash));
  EXPECT_FALSE(bcrypt_verify("", hash));
}

TEST(Bcrypt, SaltIsRandom) {
  std::string error;
  std::string a = bcrypt_hash("same", kFastCost, &error);
  std::string b = bcrypt_hash("same", kFastCost, &error);
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  EXPECT_NE(a, b);
  EXPECT_TRUE(bcrypt_verify("same", a));
  EXPECT_TRUE(bcrypt_verify("same", b));
}

TEST(Bcrypt, CostIsInTheHash) {
  std::string error;
  std::string hash = bcrypt_hash("pw", 5, &error);
  ASSERT_FALSE(hash.empty()) << error;
  EXPECT_EQ(hash.substr(0, 7), "$2b$05$");
}

TEST(Bcrypt, EmptyPassword) {
  std::string error;
  std::string hash = bcrypt_hash("", kFastCost, &error);
  ASSERT_FALSE(hash.empty()) << error;
  EXPECT_TRUE(bcrypt_verify("", hash));
  EXPECT_FALSE(bcrypt_verify("x", hash));
}

TEST(Bcrypt, BinaryAndUtf8Passwords) {
  std::string error;
  const std::string password = "p\xc3\xa4ss\xff\x01\x7f";
  std::string hash = bcrypt_hash(password, kFastCost, &error);
  ASSERT_FALSE(hash.empty()) << error;
  EXPECT_TRUE(bcrypt_verify(password, hash));
  EXPECT_FALSE(bcrypt_verify("p\xc3\xa4ss", hash));
}

TEST(Bcrypt, NulByteRefused) {
  std::string error;
  const std::string with_nul("ab\0cd", 5);
  EXPECT_EQ(bcrypt_hash(with_nul, kFastCost, &error), "");
  EXPECT_NE(error.find("NUL"), std::string::npos) << error;
  // "ab\0cd" must not match the hash of "ab" (C strings would stop at the NUL).
  std::string hash = bcrypt_hash("ab", kFastCost, &error);
  ASSERT_FALSE(hash.empty()) << error;
  EXPECT_TRUE(bcrypt_verify("ab", hash));
  EXPECT_FALSE(bcrypt_verify(with_nul, hash));
  EXPECT_FALSE(bcrypt_verify(std::string("ab\0", 3), hash));
}

TEST(Bcrypt, CostOutOfRange) {
  std::string error;
  EXPECT_EQ(bcrypt_hash("pw", 3, &error), "");
  EXPECT_NE(error.find("cost"), std::string::npos) << error;
  error.clear();
  EXPECT_EQ(bcrypt_hash("pw", 32, &error), "");
  EXPECT_NE(error.find("cost"), std::string::npos) << error;
  EXPECT_EQ(bcrypt_hash("pw", -1, nullptr), "");
}

TEST(Bcrypt, LongPasswords) {
  std::string error;
  const std::string max(72, 'a');
  std::string hash = bcrypt_hash(max, kFastCost, &error);
  ASSERT_FALSE(hash.empty()) << error;
  EXPECT_TRUE(bcrypt_verify(max, hash));
  EXPECT_FALSE(bcrypt_verify(std::string(71, 'a'), hash));
  // Hashing refuses what bcrypt would cut (as Go's bcrypt does).
  EXPECT_EQ(bcrypt_hash(std::string(73, 'a'), kFastCost, &error), "");
  EXPECT_NE(error.find("72"), std::string::npos) << error;
  // Verifying reads the first 72 bytes, as every bcrypt does (so hashes made by
  // htpasswd of long passwords keep working).
  EXPECT_TRUE(bcrypt_verify(std::string(100, 'a'), hash));
}

TEST(Bcrypt, NotBcryptHashes) {
  const std::string good = kMkpasswdHash;
  EXPECT_TRUE(is_bcrypt_hash(good));
  EXPECT_TRUE(is_bcrypt_hash(kHtpasswdHash));
  EXPECT_TRUE(is_bcrypt_hash(kMkpasswd2aHash));
  const std::vector<std::string> bad = {
      "",
      "correct horse",
      good.substr(0, 59),
      good + "A",
      "$2x$" + good.substr(4),  // the buggy-2x variant is not accepted
      "$2$05$" + good.substr(7),
      "$3b$" + good.substr(4),
      "$2b$5$" + good.substr(7),
      "$2b$03$" + good.substr(7),
      "$2b$32$" + good.substr(7),
      "$2b$ab$" + good.substr(7),
      "$2b$05" + good.substr(6, 1) + "!" + good.substr(8),
      good.substr(0, 30) + "*" + good.substr(31),
      good.substr(0, 30) + std::string(1, '\0') + good.substr(31),
      // Other crypt(3) schemes.
      "$6$saltsalt$JrSLn/"
      "JlZCKb4ZuZ4ZxVNgW3RymKMwVoX4d.3B1Z3F0fj3wq6jF8vN0D1i7Q8kYJhx0bQ8JrBFGW1j8YUW5QJ/",
      "$1$abc$3yMmhzqAd6ojvxkEe3Tjj/",
      "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7",
      "5f4dcc3b5aa765d61d8327deb882cf99",
  };
  for (const std::string& hash : bad) {
    EXPECT_FALSE(is_bcrypt_hash(hash)) << hash;
    EXPECT_FALSE(bcrypt_verify("correct horse", hash)) << hash;
  }
}

TEST(Bcrypt, FixedVectorsFromRealTools) {
  EXPECT_TRUE(bcrypt_verify("correct horse", kMkpasswdHash));
  EXPECT_FALSE(bcrypt_verify("correct horsf", kMkpasswdHash));
  EXPECT_TRUE(bcrypt_verify("battery staple", kHtpasswdHash));
  EXPECT_FALSE(bcrypt_verify("battery", kHtpasswdHash));
  EXPECT_TRUE(bcrypt_verify("tyk-user", kMkpasswd2aHash));
  EXPECT_FALSE(bcrypt_verify("tyk-user2", kMkpasswd2aHash));
  // One changed character of the stored hash refuses the right password.
  std::string tampered = kMkpasswdHash;
  tampered[59] = tampered[59] == 'C' ? 'D' : 'C';
  EXPECT_FALSE(bcrypt_verify("correct horse", tampered));
}

// Runs |command| and returns its stdout's first line; FAILs naming |package| when the
// program is missing.
bool run_tool(const std::string& command, const char* program, const char* package,
              std::string* line) {
  std::string check = std::string("command -v ") + program + " >/dev/null 2>&1";
  if (system(check.c_str()) != 0) {
    ADD_FAILURE() << program << " is missing: install the Debian package " << package
                  << " (scripts/install-deps installs it)";
    return false;
  }
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "popen(" << command << ") failed";
    return false;
  }
  char buf[512];
  line->clear();
  while (fgets(buf, sizeof(buf), pipe) != nullptr) line->append(buf);
  int status = pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << command << " failed with status " << status;
    return false;
  }
  size_t end = line->find_first_of("\r\n");
  if (end != std::string::npos) line->resize(end);
  return true;
}

// |text| as one single-quoted shell word.
std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

const char* const kToolPasswords[] = {"hunter2", "correct horse battery staple",
                                      "p@$$w0rd'\"`\\ \xc3\xa4"};

TEST(Bcrypt, HashesMadeByMkpasswd) {
  for (const char* password : kToolPasswords) {
    std::string hash;
    if (!run_tool("mkpasswd -m bcrypt -R 5 " + shell_quote(password), "mkpasswd", "whois",
                  &hash)) {
      return;
    }
    EXPECT_EQ(hash.substr(0, 7), "$2b$05$") << hash;
    EXPECT_TRUE(is_bcrypt_hash(hash)) << hash;
    EXPECT_TRUE(bcrypt_verify(password, hash)) << password << " " << hash;
    EXPECT_FALSE(bcrypt_verify(std::string(password) + "x", hash)) << hash;
  }
  // The obsolete $2a$ prefix, which older tools (and Go's bcrypt) write.
  std::string hash;
  if (!run_tool("mkpasswd -m bcrypt-a -R 5 'open sesame'", "mkpasswd", "whois", &hash)) return;
  EXPECT_EQ(hash.substr(0, 7), "$2a$05$") << hash;
  EXPECT_TRUE(bcrypt_verify("open sesame", hash)) << hash;
}

TEST(Bcrypt, HashesMadeByHtpasswd) {
  for (const char* password : kToolPasswords) {
    std::string line;
    if (!run_tool("htpasswd -bnBC 5 user " + shell_quote(password), "htpasswd", "apache2-utils",
                  &line)) {
      return;
    }
    ASSERT_EQ(line.substr(0, 5), "user:") << line;
    std::string hash = line.substr(5);
    EXPECT_EQ(hash.substr(0, 7), "$2y$05$") << hash;
    EXPECT_TRUE(is_bcrypt_hash(hash)) << hash;
    EXPECT_TRUE(bcrypt_verify(password, hash)) << password << " " << hash;
    EXPECT_FALSE(bcrypt_verify("hunter3", hash)) << hash;
  }
}

TEST(Bcrypt, ConcurrentVerifiesAreIndependent) {
  std::string error;
  std::string hash_a = bcrypt_hash("alpha", kFastCost, &error);
  std::string hash_b = bcrypt_hash("beta", kFastCost, &error);
  ASSERT_FALSE(hash_a.empty());
  ASSERT_FALSE(hash_b.empty());
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        bool a = (t + i) % 2 == 0;
        if (!bcrypt_verify(a ? "alpha" : "beta", a ? hash_a : hash_b)) ++wrong;
        if (bcrypt_verify(a ? "beta" : "alpha", a ? hash_a : hash_b)) ++wrong;
        std::string e;
        std::string h = bcrypt_hash(a ? "gamma" : "delta", kFastCost, &e);
        if (!bcrypt_verify(a ? "gamma" : "delta", h)) ++wrong;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace ringway
