// `_bulk` bodies streamed through `hakone serve` (issue 3: bodies of at least 100 MB, gzip):
// a >= 100 MiB chunked body generated on the fly with the server's peak RSS (VmHWM) checked,
// a client that disconnects mid-body, a malformed line in the middle, a malformed action line
// in a large body, gzip streamed in pieces, and a corrupt gzip stream.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "es_util.h"

namespace hakone::testing {
namespace {
namespace json = boost::json;

// A blocking loopback HTTP/1.1 client that streams a request body (chunked or with a declared
// Content-Length) and reads one Content-Length-framed response.
class StreamClient {
 public:
  explicit StreamClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{300, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  ~StreamClient() { Close(); }
  bool ok() const { return ok_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool Send(std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      s.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  bool Chunk(std::string_view data) {
    char hex[32];
    std::snprintf(hex, sizeof hex, "%zx\r\n", data.size());
    return Send(hex) && Send(data) && Send("\r\n");
  }

  struct Resp {
    int status = 0;
    std::string head, body;
  };
  std::optional<Resp> Read() {
    std::string buf;
    char tmp[1 << 16];
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return std::nullopt;
      buf.append(tmp, static_cast<size_t>(n));
    }
    Resp r;
    r.head = buf.substr(0, end);
    r.status = std::atoi(r.head.substr(9, 3).c_str());
    std::string lower = r.head;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto p = lower.find("content-length:");
    if (p == std::string::npos) return std::nullopt;
    size_t len = std::stoull(lower.substr(p + 15));
    r.body = buf.substr(end + 4);
    r.body.reserve(len);
    while (r.body.size() < len) {
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return std::nullopt;
      r.body.append(tmp, static_cast<size_t>(n));
    }
    return r;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

// One generated log document (about 190 bytes of source), its action line with an explicit id
// when `ids`.
std::string DocLines(uint64_t i, bool ids) {
  static const char* kWords[] = {"refused", "timeout", "candidate", "interview", "offer", "応募", "面接", "採用", "pipeline", "retry"};
  std::string action = ids ? "{\"index\":{\"_id\":\"d" + std::to_string(i) + "\"}}\n" : "{\"index\":{}}\n";
  std::string msg;
  for (int w = 0; w < 12; w++) {
    if (w) msg += ' ';
    msg += kWords[(i * 7 + static_cast<uint64_t>(w) * 3) % 10];
  }
  return action + "{\"@timestamp\":\"2026-11-27T00:" + std::to_string(10 + i % 50) + ":00Z\",\"level\":\"" +
         (i % 5 == 0 ? "error" : "info") + "\",\"service\":\"svc" + std::to_string(i % 8) + "\",\"n\":" + std::to_string(i) +
         ",\"msg\":\"" + msg + "\"}\n";
}

// VmHWM (peak resident set) of a process in bytes; 0 if unreadable.
uint64_t PeakRss(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

uint64_t Count(EsServer& es, const std::string& index, const std::string& query = "") {
  EsReply r = es.Call("GET", "/" + index + "/_count" + query);
  if (r.status != 200 || !r.json.is_object()) return UINT64_MAX;
  return r.json.at("count").to_number<uint64_t>();
}

size_t Occurrences(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) n++;
  return n;
}

class EsBulkStreamTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(es.Start()) << es.Log(); }
  EsServer es;
};

// Sends `target` bytes of generated documents as one chunked _bulk to /{index}/_bulk; returns
// the number of documents (0 on a failure, reported).
uint64_t StreamBulk(int port, const std::string& index, uint64_t target, uint64_t* sent_bytes) {
  StreamClient c(port);
  EXPECT_TRUE(c.ok());
  EXPECT_TRUE(c.Send("POST /" + index + "/_bulk HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"));
  uint64_t sent = 0, docs = 0;
  std::string chunk;
  while (sent < target) {
    chunk.clear();
    while (chunk.size() < (256u << 10)) chunk += DocLines(docs++, false);
    if (!c.Chunk(chunk)) {
      ADD_FAILURE() << "the server stopped reading after " << sent << " bytes";
      return 0;
    }
    sent += chunk.size();
  }
  EXPECT_TRUE(c.Send("0\r\n\r\n"));
  auto r = c.Read();
  if (!r.has_value() || r->status != 200) {
    ADD_FAILURE() << "no 200: " << (r ? r->body.substr(0, 2000) : "no response");
    return 0;
  }
  // Every item answered, in one piece, no errors.
  EXPECT_NE(r->body.find("\"errors\":false"), std::string::npos) << r->body.substr(0, 300);
  EXPECT_EQ(r->body.find("\"errors\":true"), std::string::npos);
  EXPECT_EQ(Occurrences(r->body, "\"status\":201"), docs);
  EXPECT_EQ(r->body.substr(r->body.size() - 3), "}]}");
  json::value v = json::parse(r->body);
  EXPECT_EQ(v.at("items").as_array().size(), docs);
  *sent_bytes = sent;
  return docs;
}

TEST_F(EsBulkStreamTest, HundredMebibyteChunkedBodyWithBoundedMemory) {
  constexpr uint64_t kTarget = 100ull << 20;
  uint64_t idle = PeakRss(es.pid());
  ASSERT_GT(idle, 0u);
  // First the same amount of documents in 1 MiB requests: what the store itself needs for them
  // (head, indexes, allocator arenas) without any large request.
  uint64_t small_sent = 0, small_docs = 0;
  while (small_sent < kTarget) {
    uint64_t s = 0;
    uint64_t d = StreamBulk(es.port(), "warm", 1u << 20, &s);
    ASSERT_GT(d, 0u);
    small_docs += d;
    small_sent += s;
  }
  uint64_t warm = PeakRss(es.pid());
  uint64_t sent = 0;
  uint64_t docs = StreamBulk(es.port(), "big", kTarget, &sent);
  ASSERT_GT(docs, 0u);
  uint64_t peak = PeakRss(es.pid());
  ASSERT_EQ(es.Call("POST", "/_refresh").status, 200);
  EXPECT_EQ(Count(es, "warm"), small_docs);
  EXPECT_EQ(Count(es, "big"), docs);
  EsReply errors = es.Call("POST", "/big/_count", R"({"query":{"match":{"level":"error"}}})");
  ASSERT_EQ(errors.status, 200) << errors.body;
  EXPECT_EQ(errors.json.at("count").to_number<uint64_t>(), (docs + 4) / 5);
  // The body never sat in memory: one 100 MiB request costs little more than the same
  // documents in 1 MiB requests (a buffered body plus its item results would add ~190 MiB).
  // "Little more" is up to half the body: the big request fills a second stream's in-memory head
  // and block cache next to the first one's (measured: +25 to +35 MiB for 100 MiB).
  std::cerr << "body " << sent << " bytes, " << docs << " docs; server VmHWM idle " << idle / 1048576 << " MiB, after "
            << small_docs << " docs in 1 MiB requests " << warm / 1048576 << " MiB, after the 100 MiB request " << peak / 1048576
            << " MiB\n";
  EXPECT_LT(peak, warm + sent / 2) << "peak RSS " << peak << " (" << warm << " before) for a body of " << sent;
}

TEST_F(EsBulkStreamTest, ClientDisconnectMidBodyAcknowledgesNothingHalfWritten) {
  // Declares 64 MiB, sends ~6 MiB of complete documents and then half of the next one, and
  // goes away.
  StreamClient c(es.port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.Send("POST /cut/_bulk HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: " +
                     std::to_string(64u << 20) + "\r\n\r\n"));
  uint64_t docs = 0, sent = 0;
  std::string chunk;
  while (sent < (6u << 20)) {
    chunk.clear();
    while (chunk.size() < (64u << 10)) chunk += DocLines(docs++, true);
    ASSERT_TRUE(c.Send(chunk));
    sent += chunk.size();
  }
  std::string last = DocLines(docs, true);
  ASSERT_TRUE(c.Send(last.substr(0, last.size() - 20)));  // the source line cut short
  c.Close();
  // The server stays healthy and answers other requests while and after it notices.
  EXPECT_EQ(es.Call("GET", "/_cluster/health").status, 200);
  bool logged = false;
  for (int i = 0; i < 100 && !logged; i++) {
    logged = es.Log().find("_bulk body not received whole") != std::string::npos;
    if (!logged) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(logged) << es.Log();
  ASSERT_EQ(es.Call("POST", "/_refresh").status, 200);
  uint64_t stored = Count(es, "cut");
  EXPECT_LE(stored, docs);
  // Whatever was stored is whole documents from the start of the body; the cut one is not there.
  EXPECT_EQ(es.Call("GET", "/cut/_doc/d" + std::to_string(docs)).status, 404);
  if (stored > 0 && stored != UINT64_MAX) {
    EsReply first = es.Call("GET", "/cut/_doc/d0");
    EXPECT_EQ(first.status, 200);
    EsReply lastdoc = es.Call("GET", "/cut/_doc/d" + std::to_string(stored - 1));
    ASSERT_EQ(lastdoc.status, 200) << "stored " << stored;
    EXPECT_EQ(lastdoc.json.at_pointer("/_source/n").to_number<uint64_t>(), stored - 1);
  }
  // A new _bulk on the same index works.
  EsReply again = es.Call("POST", "/cut/_bulk?refresh=true", DocLines(docs, true));
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(es.Call("GET", "/cut/_doc/d" + std::to_string(docs)).status, 200);
}

TEST_F(EsBulkStreamTest, MalformedLinesInTheMiddle) {
  // Bad sources in the middle of a large chunked body: per-item errors, in order, the rest
  // indexed.
  StreamClient c(es.port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.Send("POST /mid/_bulk?refresh=wait_for HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  constexpr uint64_t kDocs = 30000;  // ~6 MiB
  std::string chunk;
  for (uint64_t i = 0; i < kDocs; i++) {
    if (i == 12345) chunk += "{\"index\":{\"_id\":\"d12345\"}}\nthis is not json\n";
    else if (i == 20000) chunk += "{\"index\":{\"_id\":\"d20000\"}}\n{\"broken\": \n";
    else chunk += DocLines(i, true);
    if (chunk.size() > 100000) {
      ASSERT_TRUE(c.Chunk(chunk));
      chunk.clear();
    }
  }
  ASSERT_TRUE(c.Chunk(chunk));
  ASSERT_TRUE(c.Send("0\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 500);
  json::value v = json::parse(r->body);
  EXPECT_TRUE(v.at("errors").as_bool());
  const auto& items = v.at("items").as_array();
  ASSERT_EQ(items.size(), kDocs);
  for (uint64_t i = 0; i < kDocs; i++) {
    const auto& it = items[i].at("index");
    ASSERT_EQ(it.at("_id").as_string(), "d" + std::to_string(i));
    int status = it.at("status").to_number<int>();
    if (i == 12345 || i == 20000) {
      EXPECT_EQ(status, 400) << i;
      EXPECT_EQ(it.at_pointer("/error/type").as_string(), "mapper_parsing_exception") << json::serialize(it);
    } else {
      ASSERT_EQ(status, 201) << i << " " << json::serialize(it);
    }
  }
  EXPECT_EQ(Count(es, "mid"), kDocs - 2);
  EXPECT_EQ(es.Call("GET", "/mid/_doc/d12345").status, 404);
  EXPECT_EQ(es.Call("GET", "/mid/_doc/d29999").status, 200);

  // A malformed action line after ~3 MiB of a ~6 MiB body: the whole request is a 400 that
  // the client, still sending, receives; items before it were written in earlier batches.
  StreamClient d(es.port());
  ASSERT_TRUE(d.Send("POST /mid2/_bulk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  chunk.clear();
  for (uint64_t i = 0; i < kDocs; i++) {
    chunk += i == 15000 ? "{\"index\": nonsense}\n{}\n" : DocLines(i, true);
    if (chunk.size() > 100000) {
      ASSERT_TRUE(d.Chunk(chunk));
      chunk.clear();
    }
  }
  ASSERT_TRUE(d.Chunk(chunk));
  ASSERT_TRUE(d.Send("0\r\n\r\n"));
  r = d.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("Malformed action/metadata line [30001]"), std::string::npos) << r->body;
  EXPECT_EQ(es.Call("GET", "/_cluster/health").status, 200);
}

TEST_F(EsBulkStreamTest, GzipStreamedInPiecesAndCorruptGzip) {
  std::string plain;
  uint64_t docs = 0;
  while (plain.size() < (24u << 20)) plain += DocLines(docs++, false);
  std::string gz = Gzip(plain);
  StreamClient c(es.port());
  ASSERT_TRUE(c.Send("POST /gzs/_bulk?refresh=wait_for HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                     "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"));
  for (size_t p = 0; p < gz.size(); p += 7777) ASSERT_TRUE(c.Chunk(std::string_view(gz).substr(p, 7777)));
  ASSERT_TRUE(c.Send("0\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 500);
  EXPECT_EQ(r->body.find("\"errors\":true"), std::string::npos);
  EXPECT_EQ(Occurrences(r->body, "\"status\":201"), docs);
  EXPECT_EQ(Count(es, "gzs"), docs);

  // Corrupted in the middle: 400 naming the gzip problem; truncated gzip: 400 too.
  std::string bad = gz;
  for (size_t i = bad.size() / 2; i < bad.size() / 2 + 64; i++) bad[i] = static_cast<char>(bad[i] ^ 0x5a);
  EsReply b = es.Call("POST", "/gzbad/_bulk", bad, {{"Content-Type", "application/x-ndjson"}, {"Content-Encoding", "gzip"}});
  EXPECT_EQ(b.status, 400) << b.body.substr(0, 300);
  // Deflate notices corruption at once or only through the garbage it produces (or the CRC).
  EXPECT_TRUE(b.body.find("gzip") != std::string::npos || b.body.find("Malformed action/metadata line") != std::string::npos)
      << b.body.substr(0, 300);
  std::string bad_header = gz;
  bad_header[0] = 'x';  // not a gzip magic number
  EsReply h = es.Call("POST", "/gzbad/_bulk", bad_header, {{"Content-Type", "application/x-ndjson"}, {"Content-Encoding", "gzip"}});
  EXPECT_EQ(h.status, 400) << h.body.substr(0, 300);
  EXPECT_NE(h.body.find("corrupt gzip request body"), std::string::npos) << h.body.substr(0, 300);
  EsReply t = es.Call("POST", "/gztrunc/_bulk", gz.substr(0, gz.size() - 100),
                      {{"Content-Type", "application/x-ndjson"}, {"Content-Encoding", "gzip"}});
  EXPECT_EQ(t.status, 400) << t.body.substr(0, 300);
  EXPECT_NE(t.body.find("truncated gzip"), std::string::npos) << t.body.substr(0, 300);
  EXPECT_EQ(es.Call("GET", "/_cluster/health").status, 200);
}

}  // namespace
}  // namespace hakone::testing
