#include "runtime/descriptor_reserve.h"

#include <cerrno>
#include <vector>

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace ringway {
namespace {

// A non-blocking listener on 127.0.0.1 and |clients| connections waiting on it.
struct Backlog {
  explicit Backlog(int clients) {
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    EXPECT_EQ(bind(listen_fd, reinterpret_cast<sockaddr*>(&a), len), 0);
    EXPECT_EQ(listen(listen_fd, 16), 0);
    EXPECT_EQ(getsockname(listen_fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    for (int i = 0; i < clients; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), len), 0);
      this->clients.push_back(fd);
    }
  }
  ~Backlog() {
    for (int fd : clients) close(fd);
    close(listen_fd);
  }
  // True when the gateway side closed client |i| (EOF or reset).
  bool closed(size_t i) const {
    char c;
    ssize_t n = recv(clients[i], &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }
  int listen_fd = -1;
  std::vector<int> clients;
};

TEST(DescriptorReserve, ShedsAtMostMaxAndSaysWhenTheBacklogIsEmpty) {
  Backlog b(3);
  DescriptorReserve reserve;
  ASSERT_TRUE(reserve.open());
  DescriptorReserve::ShedResult r = reserve.shed(b.listen_fd, 2);
  EXPECT_EQ(r.shed, 2u);
  EXPECT_FALSE(r.backlog_empty);
  EXPECT_EQ(r.error, 0);
  EXPECT_TRUE(reserve.held());
  EXPECT_TRUE(b.closed(0));
  EXPECT_TRUE(b.closed(1));
  r = reserve.shed(b.listen_fd, 2);
  EXPECT_EQ(r.shed, 1u);
  EXPECT_TRUE(r.backlog_empty);
  EXPECT_TRUE(b.closed(2));
  EXPECT_TRUE(reserve.held());
}

TEST(DescriptorReserve, AcceptsWhenTheDescriptorTableIsFull) {
  Backlog b(2);
  DescriptorReserve reserve;
  ASSERT_TRUE(reserve.open());
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  // Fill the table up to a low soft limit.
  rlimit low = saved;
  low.rlim_cur = 256;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> filler;
  for (int i = 0; i < 512; ++i) {
    int fd = dup(b.listen_fd);
    if (fd < 0) break;
    filler.push_back(fd);
  }
  EXPECT_EQ(accept4(b.listen_fd, nullptr, nullptr, SOCK_CLOEXEC), -1);
  EXPECT_EQ(errno, EMFILE);
  DescriptorReserve::ShedResult r = reserve.shed(b.listen_fd, 8);
  EXPECT_EQ(r.shed, 2u);
  EXPECT_TRUE(r.backlog_empty);
  EXPECT_TRUE(reserve.held());  // the slot it gave up came back
  for (int fd : filler) close(fd);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_TRUE(b.closed(0));
  EXPECT_TRUE(b.closed(1));
}

TEST(DescriptorReserve, WithoutTheReserveOutOfDescriptorsIsTheError) {
  Backlog b(1);
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 256;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> filler;
  for (int i = 0; i < 512; ++i) {
    int fd = dup(b.listen_fd);
    if (fd < 0) break;
    filler.push_back(fd);
  }
  DescriptorReserve reserve;  // never opened: the table was full
  EXPECT_FALSE(reserve.open());
  DescriptorReserve::ShedResult r = reserve.shed(b.listen_fd, 8);
  EXPECT_EQ(r.shed, 0u);
  EXPECT_FALSE(r.backlog_empty);
  EXPECT_EQ(r.error, EMFILE);
  EXPECT_FALSE(reserve.held());
  for (int fd : filler) close(fd);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_FALSE(b.closed(0));  // still waiting in the backlog
}

}  // namespace
}  // namespace ringway
