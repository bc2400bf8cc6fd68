// kill -9 at any moment loses nothing that was acknowledged.
//
// A child process opens a spool and appends in a loop (single records and batches, segments
// rolling every 64 KiB) while a consumer thread reads, checks and commits; every seq acknowledged
// through WhenDurable() or Sync() is written to a pipe. The parent SIGKILLs the child after about
// a second, reopens the spool and checks that every acknowledged record is there and intact (or
// was committed by the consumer, which checked it), that the spool holds no corruption, and that
// it accepts new appends with the next seq. Three rounds on the same directory.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/log.h"
#include "core/spool.h"

namespace hakone {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kErrorMarker = ~uint64_t{0};

std::string Payload(uint64_t seq) {
  std::string s = "record " + std::to_string(seq) + " ";
  size_t n = static_cast<size_t>((seq * 2654435761u) % 1500);
  for (size_t i = 0; i < n; i++) s += static_cast<char>('a' + (seq + i) % 26);
  return s;
}

SpoolOptions Options(const std::string& dir) {
  SpoolOptions o;
  o.dir = dir;
  o.name = "kill_test";
  o.segment_bytes = 64 << 10;
  o.max_bytes = 64ull << 20;
  o.flush_interval = 50ms;
  o.fsync = true;
  return o;
}

void WriteSeq(int fd, uint64_t seq) {
  // 8 bytes <= PIPE_BUF: atomic even with the flusher and the main thread both writing.
  ssize_t w;
  do {
    w = ::write(fd, &seq, sizeof seq);
  } while (w < 0 && errno == EINTR);
}

[[noreturn]] void ChildMain(const std::string& dir, int ack_fd) {
  log::SetLevel(log::Level::kWarn);
  auto opened = Spool::Open(Options(dir));
  if (!opened.ok()) {
    WriteSeq(ack_fd, kErrorMarker);
    ::_exit(2);
  }
  std::unique_ptr<Spool> spool = std::move(opened).value();
  auto reader_r = spool->OpenReader("shipper");
  if (!reader_r.ok()) {
    WriteSeq(ack_fd, kErrorMarker);
    ::_exit(2);
  }
  std::unique_ptr<SpoolReader> reader = std::move(reader_r).value();

  // The consumer: checks every record it reads and commits every few batches.
  std::thread consumer([&] {
    int batches = 0;
    while (true) {
      auto got = reader->Read(256, 1 << 20, 20ms);
      if (!got.ok()) {
        WriteSeq(ack_fd, kErrorMarker);
        ::_exit(3);
      }
      for (auto& r : *got) {
        if (r.payload != Payload(r.seq)) {
          WriteSeq(ack_fd, kErrorMarker);
          ::_exit(4);
        }
      }
      if (!got->empty() && ++batches % 3 == 0) {
        if (!reader->Commit(got->back().seq).ok()) {
          WriteSeq(ack_fd, kErrorMarker);
          ::_exit(5);
        }
      }
    }
  });

  std::vector<std::string> payloads;
  std::vector<std::string_view> views;
  for (uint64_t i = 0;; i++) {
    uint64_t next = spool->last_seq() + 1;
    uint64_t seq;
    if (i % 4 == 3) {
      payloads.clear();
      views.clear();
      for (uint64_t k = 0; k < 1 + i % 7; k++) payloads.push_back(Payload(next + k));
      for (auto& p : payloads) views.push_back(p);
      auto r = spool->AppendBatch(views);
      if (!r.ok() || *r != next + payloads.size() - 1) {
        WriteSeq(ack_fd, kErrorMarker);
        ::_exit(6);
      }
      seq = *r;
    } else {
      auto r = spool->Append(Payload(next));
      if (!r.ok() || *r != next) {
        WriteSeq(ack_fd, kErrorMarker);
        ::_exit(6);
      }
      seq = *r;
    }
    if (i % 50 == 49) {
      if (!spool->Sync().ok()) {
        WriteSeq(ack_fd, kErrorMarker);
        ::_exit(7);
      }
      WriteSeq(ack_fd, seq);
    } else {
      spool->WhenDurable(seq, [ack_fd, seq](Status st) { WriteSeq(ack_fd, st.ok() ? seq : kErrorMarker); });
    }
    if (i % 4 == 0) std::this_thread::sleep_for(200us);  // bounded rate: let the consumer keep up
  }
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/hakone_spool_kill_XXXXXX";
    char* p = ::mkdtemp(tmpl);
    path_ = p ? p : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(SpoolKill, AcknowledgedRecordsSurviveSigkill) {
  log::SetLevel(log::Level::kWarn);
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string spool_dir = dir.path() + "/spool";
  uint64_t max_acked = 0;
  const std::chrono::milliseconds kill_after[] = {1000ms, 700ms, 1300ms};
  for (int round = 0; round < 3; round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      ChildMain(spool_dir, fds[1]);
    }
    ::close(fds[1]);

    // Collect acknowledgements until it is time to kill, then the ones already in the pipe.
    std::vector<uint64_t> acks;
    auto read_acks = [&](int timeout_ms) {
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return false;
      uint64_t buf[512];
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) return false;
      // Writes are 8 bytes and atomic, so reads of a multiple of 8 never split one.
      EXPECT_EQ(n % 8, 0);
      acks.insert(acks.end(), buf, buf + n / 8);
      return true;
    };
    auto deadline = std::chrono::steady_clock::now() + kill_after[round];
    while (std::chrono::steady_clock::now() < deadline) read_acks(10);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL) << "child exited by itself: " << wstatus;
    while (read_acks(0)) {
    }
    ::close(fds[0]);

    ASSERT_FALSE(acks.empty()) << "the child acknowledged nothing";
    ASSERT_EQ(std::count(acks.begin(), acks.end(), kErrorMarker), 0) << "the child reported an error";
    uint64_t round_max = *std::max_element(acks.begin(), acks.end());
    EXPECT_GT(round_max, max_acked);
    max_acked = std::max(max_acked, round_max);

    // Reopen: nothing acknowledged is missing, everything retained is intact and dense.
    auto opened = Spool::Open(Options(spool_dir));
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    std::unique_ptr<Spool> spool = std::move(opened).value();
    EXPECT_GE(spool->last_seq(), max_acked);
    EXPECT_EQ(spool->durable_seq(), spool->last_seq());

    uint64_t first_retained = 0, expect = 0, count = 0;
    bool intact = true;
    Status scan = Spool::Scan(spool_dir, 1, [&](const SpoolRecord& r) {
      if (first_retained == 0) first_retained = expect = r.seq;
      if (r.seq != expect || r.payload != Payload(r.seq)) {
        ADD_FAILURE() << "record " << r.seq << " (expected " << expect << ") is damaged or out of place";
        intact = false;
        return false;
      }
      expect++;
      count++;
      return true;
    });
    EXPECT_TRUE(scan.ok()) << scan.ToString();
    ASSERT_TRUE(intact);
    ASSERT_GT(count, 0u);
    EXPECT_EQ(expect - 1, spool->last_seq());

    auto reader_r = spool->OpenReader("shipper");
    ASSERT_TRUE(reader_r.ok()) << reader_r.status().ToString();
    auto reader = std::move(reader_r).value();
    uint64_t committed = reader->committed();
    // Records at or below `committed` were checked by the consumer and may be deleted; all the
    // others that were acknowledged must still be on disk.
    EXPECT_LE(first_retained, committed + 1) << "records after the consumer's position were lost";
    for (uint64_t a : acks) {
      if (a > committed) {
        ASSERT_GE(a, first_retained);
        ASSERT_LE(a, spool->last_seq());
      }
    }
    // The consumer resumes right after its position.
    auto got = reader->Read(10, 1 << 20, 0ms);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    if (committed < spool->last_seq()) {
      ASSERT_FALSE(got->empty());
      EXPECT_EQ(got->front().seq, committed + 1);
      EXPECT_EQ(got->front().payload, Payload(committed + 1));
    }

    // And the spool takes new appends, continuing the sequence.
    uint64_t next = spool->last_seq() + 1;
    auto a = spool->Append(Payload(next));
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(*a, next);
    ASSERT_TRUE(spool->Sync().ok());
    max_acked = std::max(max_acked, next);
    std::printf("round %d: %zu acks, max acked %llu, consumer at %llu, %llu records retained\n", round,
                acks.size(), static_cast<unsigned long long>(round_max), static_cast<unsigned long long>(committed),
                static_cast<unsigned long long>(count));
  }
}

}  // namespace
}  // namespace hakone
