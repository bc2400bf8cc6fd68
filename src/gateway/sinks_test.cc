#include "gateway/sinks.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "core/config.h"
#include "core/http_server.h"
#include "core/metrics.h"
#include "core/spool.h"

namespace hakone::gateway {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/hakone-sinks-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

Result<std::vector<SinkConfig>> Parse(const std::string& toml, Status* finish = nullptr) {
  auto cfg = Config::LoadString(toml);
  if (!cfg.ok()) return cfg.status();
  auto r = ParseSinkConfigs(cfg->Section("gateway"));
  if (finish) *finish = cfg->Finish();
  return r;
}

TEST(SinkConfigTest, DefaultsAndNames) {
  TempDir dir;
  std::string tok = dir.path + "/token";
  std::ofstream(tok) << "s3cret\n";
  std::string url_file = dir.path + "/url";
  std::ofstream(url_file) << "postgresql://audit:pw@127.0.0.1:5432/audit\n";
  Status finish;
  auto r = Parse(R"(
[gateway]
[[gateway.sinks]]
type = "postgres"
url_file = ")" + url_file + R"("
on_full = "drop_oldest"
[[gateway.sinks]]
type = "elasticsearch"
url = "http://127.0.0.1:9200"
index = "audit-prod"
batch = 100
batch_time = "250ms"
backoff_min = "50ms"
backoff_max = "5s"
token_file = ")" + tok + R"("
[[gateway.sinks]]
name = "search"
type = "http"
url = "http://127.0.0.1:9201/"
)", &finish);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(finish.ok()) << finish.ToString();
  ASSERT_EQ(r->size(), 3u);
  const SinkConfig& pg = (*r)[0];
  EXPECT_EQ(pg.name, "postgres-1");
  EXPECT_EQ(pg.type, "postgres");
  EXPECT_EQ(pg.url, "postgresql://audit:pw@127.0.0.1:5432/audit");
  EXPECT_EQ(pg.table, "audit_events");
  EXPECT_EQ(pg.batch, 500u);
  EXPECT_EQ(pg.batch_time, 1000ms);
  EXPECT_EQ(pg.backoff_min, 200ms);
  EXPECT_EQ(pg.backoff_max, 30000ms);
  EXPECT_TRUE(pg.headers.empty());
  const SinkConfig& es = (*r)[1];
  EXPECT_EQ(es.name, "elasticsearch-2");
  EXPECT_EQ(es.index, "audit-prod");
  EXPECT_EQ(es.batch, 100u);
  EXPECT_EQ(es.batch_time, 250ms);
  EXPECT_EQ(es.backoff_min, 50ms);
  EXPECT_EQ(es.backoff_max, 5000ms);
  ASSERT_EQ(es.headers.size(), 1u);
  EXPECT_EQ(es.headers[0].first, "Authorization");
  EXPECT_EQ(es.headers[0].second, "Bearer s3cret");
  EXPECT_EQ((*r)[2].name, "search");
  EXPECT_EQ((*r)[2].type, "http");
}

TEST(SinkConfigTest, NoSinks) {
  auto r = Parse("[gateway]\nlisten = \"127.0.0.1:0\"\n");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

// Each case: the sink table's body, and the text the error must contain.
struct BadCase {
  std::string body;
  std::string error;
};

TEST(SinkConfigTest, ErrorsNameKeyAndIndex) {
  const BadCase cases[] = {
      {"type = \"kafka\"\nurl = \"http://x:1\"",
       "config: [gateway.sinks[0]] type: must be postgres, elasticsearch or http"},
      {"url = \"http://x:1\"", "config: [gateway.sinks[0]] type: is required"},
      {"type = 5", "config: [gateway.sinks[0]] type: must be a string"},
      {"type = \"http\"\nurl = 5", "config: [gateway.sinks[0]] url: must be a string"},
      {"type = \"postgres\"", "config: [gateway.sinks[0]] url: is required"},
      {"type = \"postgres\"\nurl = \"http://x:1\"", "config: [gateway.sinks[0]] url: must be a postgresql:// URL"},
      {"type = \"http\"\nurl = \"ftp://x\"", "config: [gateway.sinks[0]] url:"},
      {"type = \"http\"\nurl = \"https://x:9200\"", "config: [gateway.sinks[0]] url: must be an http:// URL"},
      {"type = \"postgres\"\nurl = \"postgresql://h/db\"\ntable = \"audit; DROP TABLE x\"",
       "config: [gateway.sinks[0]] table: must be a plain identifier"},
      {"type = \"postgres\"\nurl = \"postgresql://h/db\"\ntable = \"1abc\"", "config: [gateway.sinks[0]] table:"},
      {"type = \"http\"\nurl = \"http://h:1\"\nindex = \"Audit\"", "config: [gateway.sinks[0]] index:"},
      {"type = \"http\"\nurl = \"http://h:1\"\nbatch = 0", "config: [gateway.sinks[0]] batch: must be between 1 and 100000"},
      {"type = \"http\"\nurl = \"http://h:1\"\nbatch = \"many\"", "config: [gateway.sinks[0]] batch: must be an integer"},
      {"type = \"http\"\nurl = \"http://h:1\"\nbackoff_min = \"2s\"\nbackoff_max = \"1s\"",
       "config: [gateway.sinks[0]] backoff_max: must not be less than backoff_min"},
      {"type = \"http\"\nurl = \"http://h:1\"\nbatch_time = \"soon\"", "config: [gateway.sinks[0]] batch_time: must be a duration"},
      {"type = \"http\"\nurl = \"http://h:1\"\nbackoff_max = true", "config: [gateway.sinks[0]] backoff_max: must be a duration"},
      {"type = \"http\"\nurl = \"http://h:1\"\ntoken_file = \"/nonexistent/token\"",
       "config: [gateway.sinks[0]] token_file: cannot read /nonexistent/token"},
      {"type = \"postgres\"\nurl_file = \"/nonexistent/url\"", "config: [gateway.sinks[0]] url_file: cannot read"},
      {"type = \"http\"\nurl = \"http://h:1\"\nurl_file = \"/x\"", "config: [gateway.sinks[0]] url_file: set either url or url_file"},
      {"type = \"http\"\nurl = \"http://h:1\"\non_full = \"explode\"", "config: [gateway.sinks[0]] on_full: must be block or drop_oldest"},
      {"type = \"http\"\nurl = \"http://h:1\"\nname = \"a b\"", "config: [gateway.sinks[0]] name:"},
  };
  for (const auto& c : cases) {
    auto r = Parse("[gateway]\n[[gateway.sinks]]\n" + c.body + "\n");
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_NE(r.status().message().find(c.error), std::string::npos) << c.body << "\n  got: " << r.status().message();
  }
}

TEST(SinkConfigTest, SecondSinkIndexAndDuplicateNames) {
  auto r = Parse(R"(
[gateway]
[[gateway.sinks]]
type = "http"
url = "http://h:1"
name = "es"
[[gateway.sinks]]
type = "http"
url = "http://h:2"
name = "es"
)");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("config: [gateway.sinks[1]] name: \"es\" is used by another sink"), std::string::npos)
      << r.status().message();
}

TEST(SinkConfigTest, UnknownKeyReportedByFinishWithLine) {
  Status finish;
  auto r = Parse("[gateway]\n[[gateway.sinks]]\ntype = \"http\"\nurl = \"http://h:1\"\ntabel = \"x\"\n", &finish);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_FALSE(finish.ok());
  EXPECT_NE(finish.message().find("tabel"), std::string::npos) << finish.message();
}

TEST(SinkConfigTest, ErrorsAlsoRecordedWithLine) {
  Status finish;
  auto r = Parse("[gateway]\n[[gateway.sinks]]\ntype = \"kafka\"\n", &finish);
  ASSERT_FALSE(r.ok());
  ASSERT_FALSE(finish.ok());
  EXPECT_NE(finish.message().find("type: must be postgres, elasticsearch or http"), std::string::npos);
  EXPECT_NE(finish.message().find("(line 3)"), std::string::npos) << finish.message();
}

// ---------------------------------------------------------------------------------------------
// _bulk sink against an in-process fake
// ---------------------------------------------------------------------------------------------

std::string Event(int seq, const std::string& user = "alice", const std::string& time = "2024-05-10T12:00:00.123Z") {
  json::object o;
  o["seq"] = seq;
  o["instance"] = "gw-1";
  o["time"] = time;
  o["user"] = user;
  o["method"] = "POST";
  o["path"] = "/candidates/" + std::to_string(seq);
  o["route"] = "/candidates/{id}";
  o["status"] = 200;
  o["client_ip"] = "203.0.113.7";
  o["hash"] = "h" + std::to_string(seq);
  return json::serialize(o);
}

struct BulkRequest {
  std::string body;
  std::string content_type;
  std::string authorization;
  std::string target;
  std::vector<std::string> ids;  // the _id of every action line, in order
};

// An Elasticsearch _bulk endpoint: records every request; `respond` (default: all created)
// decides the answer from the request's ids and the 0-based request number.
class FakeBulk {
 public:
  using Responder = std::function<HttpResponse(const BulkRequest&, int n)>;

  FakeBulk() : server_(io_, HttpServer::Options{}) {
    server_.Route("POST", "/_bulk", [this](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      co_return Handle(req);
    });
    Status st = server_.Listen(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    EXPECT_TRUE(st.ok()) << st.ToString();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~FakeBulk() {
    server_.Stop();
    io_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.local_endpoint().port()); }
  void SetResponder(Responder r) {
    std::lock_guard lk(mu_);
    respond_ = std::move(r);
  }
  std::vector<BulkRequest> requests() {
    std::lock_guard lk(mu_);
    return requests_;
  }
  size_t count() {
    std::lock_guard lk(mu_);
    return requests_.size();
  }

  static HttpResponse AllCreated(const BulkRequest& r) {
    json::array items;
    for (auto& id : r.ids) items.push_back(json::object{{"index", json::object{{"_id", id}, {"status", 201}}}});
    return HttpResponse::Json(200, json::serialize(json::object{{"took", 1}, {"errors", false}, {"items", items}}));
  }

 private:
  HttpResponse Handle(HttpRequest& req) {
    BulkRequest r;
    r.body = req.body;
    r.content_type = std::string(req.Header("Content-Type"));
    r.authorization = std::string(req.Header("Authorization"));
    r.target = req.target;
    size_t pos = 0;
    int line = 0;
    while (pos < r.body.size()) {
      size_t nl = r.body.find('\n', pos);
      if (nl == std::string::npos) break;
      if (line++ % 2 == 0) {
        std::error_code ec;
        json::value v = json::parse(std::string_view(r.body).substr(pos, nl - pos), ec);
        if (!ec && v.is_object() && v.as_object().contains("index")) {
          auto& a = v.as_object()["index"].as_object();
          if (auto* id = a.if_contains("_id"); id && id->is_string()) r.ids.emplace_back(id->as_string());
        }
      }
      pos = nl + 1;
    }
    std::lock_guard lk(mu_);
    requests_.push_back(r);
    int n = static_cast<int>(requests_.size()) - 1;
    return respond_ ? respond_(r, n) : AllCreated(r);
  }

  asio::io_context io_;
  HttpServer server_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<BulkRequest> requests_;
  Responder respond_;
};

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

uint64_t CounterValue(const std::string& metric, const std::string& sink) {
  return metrics::Registry::Global().AddCounter(metric, "", {"sink"})->WithLabels({sink})->Value();
}
double GaugeValue(const std::string& metric, const std::string& sink) {
  return metrics::Registry::Global().AddGauge(metric, "", {"sink"})->WithLabels({sink})->Value();
}

class BulkSinkTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenSpool(); }

  void OpenSpool() {
    SpoolOptions o;
    o.dir = dir_.path + "/spool";
    o.fsync = false;
    o.flush_interval = 5ms;
    auto s = Spool::Open(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    spool_ = std::move(*s);
  }

  void Append(int from, int to) {
    for (int i = from; i <= to; ++i) {
      auto seq = spool_->Append(Event(i));
      ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    }
    ASSERT_TRUE(spool_->Sync().ok());
  }

  SinkConfig Config(const std::string& name) {
    SinkConfig c;
    c.name = name;
    c.type = "elasticsearch";
    c.url = fake_.url();
    c.batch = 100;
    c.batch_time = 30ms;
    c.backoff_min = 10ms;
    c.backoff_max = 50ms;
    c.timeout = 5s;
    return c;
  }

  std::unique_ptr<Sink> Start(const SinkConfig& c) {
    auto s = StartSink(io_, c, spool_.get());
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // The consumer's committed position, read by reopening it (the sink must be stopped).
  uint64_t Committed(const std::string& name) {
    auto r = spool_->OpenReader("sink-" + name);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? (*r)->committed() : 0;
  }

  TempDir dir_;
  asio::io_context io_;
  FakeBulk fake_;
  std::unique_ptr<Spool> spool_;
};

TEST_F(BulkSinkTest, ShipsNdjsonWithIdempotentIdsAndCommits) {
  const std::string name = "es-shape";
  SinkConfig c = Config(name);
  c.headers.emplace_back("Authorization", "Bearer tok");
  Append(1, 5);
  auto sink = Start(c);
  ASSERT_TRUE(sink);
  EXPECT_EQ(sink->name(), name);
  ASSERT_TRUE(WaitFor([&] { return CounterValue("hakone_sink_shipped_total", name) == 5; }));
  ASSERT_TRUE(WaitFor([&] { return GaugeValue("hakone_sink_lag_records", name) == 0; }));
  EXPECT_EQ(GaugeValue("hakone_sink_up", name), 1);
  sink->Stop();
  sink->Stop();  // idempotent

  auto reqs = fake_.requests();
  ASSERT_FALSE(reqs.empty());
  std::vector<std::string> ids;
  std::string all;
  for (auto& r : reqs) {
    EXPECT_EQ(r.content_type, "application/x-ndjson");
    EXPECT_EQ(r.authorization, "Bearer tok");
    EXPECT_EQ(r.target, "/_bulk");
    ids.insert(ids.end(), r.ids.begin(), r.ids.end());
    all += r.body;
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"gw-1-1", "gw-1-2", "gw-1-3", "gw-1-4", "gw-1-5"}));
  std::string expected;
  for (int i = 1; i <= 5; ++i) {
    expected += "{\"index\":{\"_index\":\"audit\",\"_id\":\"gw-1-" + std::to_string(i) + "\"}}\n" + Event(i) + "\n";
  }
  EXPECT_EQ(all, expected);
  EXPECT_EQ(Committed(name), 5u);

  // Started again from its committed position: nothing is sent twice; new records are.
  auto again = Start(c);
  ASSERT_TRUE(again);
  Append(6, 6);
  ASSERT_TRUE(WaitFor([&] { return CounterValue("hakone_sink_shipped_total", name) == 6; }));
  again->Stop();
  reqs = fake_.requests();
  EXPECT_EQ(reqs.back().ids, (std::vector<std::string>{"gw-1-6"}));
}

TEST_F(BulkSinkTest, RetriesAfter503AndLogsOncePerStreak) {
  const std::string name = "es-503";
  fake_.SetResponder([](const BulkRequest& r, int n) {
    if (n < 2) return HttpResponse::Error(503, "unavailable");
    return FakeBulk::AllCreated(r);
  });
  Append(1, 3);
  auto sink = Start(Config(name));
  ASSERT_TRUE(sink);
  ASSERT_TRUE(WaitFor([&] { return CounterValue("hakone_sink_shipped_total", name) == 3; }));
  sink->Stop();
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 3u);
  // Each retry sends the same documents with the same ids.
  EXPECT_EQ(reqs[0].body, reqs[1].body);
  EXPECT_EQ(reqs[1].body, reqs[2].body);
  EXPECT_EQ(reqs[2].ids, (std::vector<std::string>{"gw-1-1", "gw-1-2", "gw-1-3"}));
  EXPECT_EQ(CounterValue("hakone_sink_errors_total", name), 2u);
  EXPECT_EQ(GaugeValue("hakone_sink_up", name), 1);
  EXPECT_EQ(Committed(name), 3u);
}

TEST_F(BulkSinkTest, PerItemErrorsRetryTransientAndSkipRejected) {
  const std::string name = "es-items";
  // gw-1-2: 429 the first time; gw-1-3: a mapping error (permanent); the rest: created.
  fake_.SetResponder([](const BulkRequest& r, int n) {
    json::array items;
    bool errors = false;
    for (auto& id : r.ids) {
      json::object res{{"_index", "audit"}, {"_id", id}};
      if (id == "gw-1-2" && n == 0) {
        res["status"] = 429;
        res["error"] = json::object{{"type", "es_rejected_execution_exception"}, {"reason", "queue full"}};
        errors = true;
      } else if (id == "gw-1-3") {
        res["status"] = 400;
        res["error"] = json::object{{"type", "mapper_parsing_exception"}, {"reason", "failed to parse field [status]"}};
        errors = true;
      } else {
        res["status"] = 201;
      }
      items.push_back(json::object{{"index", res}});
    }
    return HttpResponse::Json(200, json::serialize(json::object{{"took", 3}, {"errors", errors}, {"items", items}}));
  });
  Append(1, 4);
  auto sink = Start(Config(name));
  ASSERT_TRUE(sink);
  ASSERT_TRUE(WaitFor([&] { return CounterValue("hakone_sink_shipped_total", name) == 3; }));
  ASSERT_TRUE(WaitFor([&] { return GaugeValue("hakone_sink_lag_records", name) == 0; }));
  sink->Stop();
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].ids, (std::vector<std::string>{"gw-1-1", "gw-1-2", "gw-1-3", "gw-1-4"}));
  EXPECT_EQ(reqs[1].ids, (std::vector<std::string>{"gw-1-2"}));  // only the transient failure again
  EXPECT_EQ(reqs[1].body, "{\"index\":{\"_index\":\"audit\",\"_id\":\"gw-1-2\"}}\n" + Event(2) + "\n");
  EXPECT_EQ(CounterValue("hakone_sink_rejected_total", name), 1u);
  EXPECT_EQ(CounterValue("hakone_sink_errors_total", name), 1u);
  EXPECT_EQ(Committed(name), 4u);
}

TEST_F(BulkSinkTest, DownDestinationKeepsRecordsAndRedeliversSameIds) {
  const std::string name = "es-down";
  fake_.SetResponder([](const BulkRequest&, int) { return HttpResponse::Error(503, "down"); });
  SinkConfig c = Config(name);
  c.backoff_min = 20ms;
  c.backoff_max = 20s;
  Append(1, 3);
  auto sink = Start(c);
  ASSERT_TRUE(sink);
  ASSERT_TRUE(WaitFor([&] { return fake_.count() >= 2; }));
  EXPECT_EQ(GaugeValue("hakone_sink_up", name), 0);
  EXPECT_EQ(GaugeValue("hakone_sink_lag_records", name), 3);
  // Appending never waits for the sink.
  auto t0 = std::chrono::steady_clock::now();
  Append(4, 50);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  // Stop interrupts the backoff at once.
  t0 = std::chrono::steady_clock::now();
  sink->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(Committed(name), 0u);
  std::vector<std::string> first_ids = fake_.requests().front().ids;

  // Back up: a new sink (as after a restart) sends the same documents under the same ids.
  fake_.SetResponder([](const BulkRequest& r, int) { return FakeBulk::AllCreated(r); });
  size_t before = fake_.count();
  auto again = Start(c);
  ASSERT_TRUE(again);
  ASSERT_TRUE(WaitFor([&] { return CounterValue("hakone_sink_shipped_total", name) == 50; }));
  again->Stop();
  auto reqs = fake_.requests();
  ASSERT_GT(reqs.size(), before);
  std::vector<std::string> redelivered(reqs[before].ids.begin(), reqs[before].ids.begin() + first_ids.size());
  EXPECT_EQ(redelivered, first_ids);
  EXPECT_EQ(Committed(name), 50u);
}

TEST_F(BulkSinkTest, InvalidRecordsAreSkippedAndCounted) {
  const std::string name = "es-invalid";
  ASSERT_TRUE(spool_->Append("not json").ok());
  ASSERT_TRUE(spool_->Append("{\"seq\":2,\"time\":\"2024-05-10T12:00:00Z\"}").ok());  // no instance
  ASSERT_TRUE(spool_->Append("{\"seq\":3,\"instance\":\"gw-1\",\"time\":\"yesterday\"}").ok());
  Append(4, 4);
  auto sink = Start(Config(name));
  ASSERT_TRUE(sink);
  ASSERT_TRUE(WaitFor([&] { return CounterValue("hakone_sink_shipped_total", name) == 1; }));
  ASSERT_TRUE(WaitFor([&] { return GaugeValue("hakone_sink_lag_records", name) == 0; }));
  sink->Stop();
  EXPECT_EQ(CounterValue("hakone_sink_rejected_total", name), 3u);
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].ids, (std::vector<std::string>{"gw-1-4"}));
}

TEST_F(BulkSinkTest, MultiLineEventIsSentOnOneLine) {
  const std::string name = "es-multiline";
  ASSERT_TRUE(spool_->Append("{\n \"seq\": 1,\n \"instance\": \"gw-1\",\n \"time\": \"2024-05-10T12:00:00Z\"\n}").ok());
  auto sink = Start(Config(name));
  ASSERT_TRUE(sink);
  ASSERT_TRUE(WaitFor([&] { return CounterValue("hakone_sink_shipped_total", name) == 1; }));
  sink->Stop();
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].body,
            "{\"index\":{\"_index\":\"audit\",\"_id\":\"gw-1-1\"}}\n"
            "{\"seq\":1,\"instance\":\"gw-1\",\"time\":\"2024-05-10T12:00:00Z\"}\n");
}

TEST_F(BulkSinkTest, TooLargeRequestsAreSplit) {
  const std::string name = "es-413";
  // The endpoint takes at most 2 documents per request.
  fake_.SetResponder([](const BulkRequest& r, int) {
    if (r.ids.size() > 2) return HttpResponse::Error(413, "too large");
    return FakeBulk::AllCreated(r);
  });
  Append(1, 5);
  SinkConfig c = Config(name);
  c.batch_time = 200ms;  // one batch of 5
  auto sink = Start(c);
  ASSERT_TRUE(sink);
  ASSERT_TRUE(WaitFor([&] { return CounterValue("hakone_sink_shipped_total", name) == 5; }));
  sink->Stop();
  std::vector<std::string> ids;
  for (auto& r : fake_.requests()) {
    if (r.ids.size() <= 2) ids.insert(ids.end(), r.ids.begin(), r.ids.end());
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"gw-1-1", "gw-1-2", "gw-1-3", "gw-1-4", "gw-1-5"}));
  EXPECT_EQ(CounterValue("hakone_sink_rejected_total", name), 0u);
  EXPECT_EQ(Committed(name), 5u);
}

TEST_F(BulkSinkTest, StartRejectsBadConfigAndSecondReader) {
  SinkConfig c = Config("es-bad");
  c.type = "kafka";
  EXPECT_FALSE(StartSink(io_, c, spool_.get()).ok());
  c = Config("es-bad");
  c.url = "https://127.0.0.1:1";
  EXPECT_FALSE(StartSink(io_, c, spool_.get()).ok());
  c = Config("es-bad");
  c.type = "postgres";
  c.url = "postgresql://127.0.0.1:1/x";
  c.table = "x; drop";
  EXPECT_EQ(StartSink(io_, c, spool_.get()).status().code(), StatusCode::kInvalidArgument);
  auto one = Start(Config("es-dup"));
  ASSERT_TRUE(one);
  auto two = StartSink(io_, Config("es-dup"), spool_.get());
  EXPECT_FALSE(two.ok());
  one->Stop();
}

}  // namespace
}  // namespace hakone::gateway
