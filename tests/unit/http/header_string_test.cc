#include "http/header_string.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include "http/message.h"

namespace ringway {
namespace {

// Decodes a request made by a real nghttp2 client with a real server session and
// keeps every regular header as rcbuf references, as the gateway's codec does.
HeaderList decode_with_nghttp2() {
  HeaderList kept;
  nghttp2_session_callbacks* cb;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_header_callback2(
      cb, [](nghttp2_session*, const nghttp2_frame*, nghttp2_rcbuf* name, nghttp2_rcbuf* value,
             uint8_t, void* user_data) {
        auto* out = static_cast<HeaderList*>(user_data);
        nghttp2_vec n = nghttp2_rcbuf_get_buf(name);
        if (n.len > 0 && n.base[0] != ':') {
          out->push_back(Header{HeaderString::from_rcbuf(name), HeaderString::from_rcbuf(value)});
        }
        return 0;
      });
  nghttp2_session* client;
  nghttp2_session* server;
  nghttp2_session_client_new(&client, cb, nullptr);
  nghttp2_session_server_new(&server, cb, &kept);
  std::vector<nghttp2_nv> nva;
  auto nv = [](const char* n, const char* v) {
    return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(n)),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(v)), strlen(n), strlen(v),
                      NGHTTP2_NV_FLAG_NONE};
  };
  nva = {nv(":method", "GET"), nv(":scheme", "http"), nv(":authority", "a"),
         nv(":path", "/"), nv("x-one", "first value"), nv("x-two-bin", "AAEC")};
  nghttp2_submit_settings(client, NGHTTP2_FLAG_NONE, nullptr, 0);  // the preface needs it
  nghttp2_submit_request(client, nullptr, nva.data(), nva.size(), nullptr, nullptr);
  std::string wire;
  const uint8_t* data;
  ssize_t n;
  while ((n = nghttp2_session_mem_send(client, &data)) > 0) {
    wire.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  ssize_t rv = nghttp2_session_mem_recv(server, reinterpret_cast<const uint8_t*>(wire.data()),
                                        wire.size());
  EXPECT_EQ(rv, static_cast<ssize_t>(wire.size())) << nghttp2_strerror(static_cast<int>(rv));
  nghttp2_session_del(client);
  nghttp2_session_del(server);  // the kept references outlive the session
  nghttp2_session_callbacks_del(cb);
  return kept;
}

TEST(HeaderString, OwnedTextBehavesLikeAString) {
  HeaderString s("abc");
  EXPECT_EQ(s, "abc");
  EXPECT_FALSE(s.is_rcbuf());
  s += "def";
  EXPECT_EQ(s.view(), "abcdef");
  s = std::string("x");
  EXPECT_EQ(s.size(), 1u);
  EXPECT_TRUE(HeaderString().empty());
}

TEST(HeaderString, KeepsNghttp2BytesByReferenceBeyondTheSession) {
  HeaderList kept = decode_with_nghttp2();
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_TRUE(kept[0].name.is_rcbuf());
  EXPECT_TRUE(kept[0].value.is_rcbuf());
  EXPECT_EQ(kept[0].name, "x-one");
  EXPECT_EQ(kept[0].value, "first value");
  EXPECT_EQ(kept[1].name, "x-two-bin");
  EXPECT_EQ(kept[1].value, "AAEC");
}

TEST(HeaderString, CopiesShareAndRewritesDetach) {
  HeaderList kept = decode_with_nghttp2();
  HeaderList copy = kept;  // shares the rcbufs
  EXPECT_TRUE(copy[0].value.is_rcbuf());
  EXPECT_EQ(copy[0].value.data(), kept[0].value.data());
  copy[0].value += ", second";  // becomes owned text; the original is untouched
  EXPECT_FALSE(copy[0].value.is_rcbuf());
  EXPECT_EQ(copy[0].value, "first value, second");
  EXPECT_EQ(kept[0].value, "first value");
  copy[1].value = "replaced";
  EXPECT_EQ(copy[1].value, "replaced");
  EXPECT_EQ(kept[1].value, "AAEC");
  kept.clear();  // the copies keep their own references
  EXPECT_EQ(copy[0].name, "x-one");
}

}  // namespace
}  // namespace ringway
