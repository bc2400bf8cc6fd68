#include "demo/crawl_runs.h"

#include <atomic>
#include <boost/json.hpp>
#include <condition_variable>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "core/http_server.h"
#include "core/log.h"
#include "core/sqlite.h"
#include "core/units.h"
#include "core/url.h"

namespace hakone::demo {
namespace {

namespace json = boost::json;

struct HostCounts {
  int64_t pages = 0, errors = 0, robots_status = 0;
  std::map<int64_t, int64_t> error_status;  // status -> count
};

}  // namespace

Result<std::string> CrawlRunRecord(const std::string& state_path, const std::string& table_path, const crawl::CrawlSummary& s) {
  HAKONE_ASSIGN_OR_RETURN(auto db, SqliteDb::Open(state_path, false));
  HAKONE_ASSIGN_OR_RETURN(auto st, db.Prepare("SELECT id, started_at, finished_at, status FROM runs ORDER BY id DESC LIMIT 1"));
  HAKONE_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("crawl: no run in " + state_path);
  json::object run;
  int64_t started = st.Int(1);
  run["id"] = std::to_string(st.Int(0));
  run["started"] = FormatIsoTime(std::chrono::system_clock::from_time_t(started), false);
  if (!st.IsNull(2)) run["finished"] = FormatIsoTime(std::chrono::system_clock::from_time_t(st.Int(2)), false);
  run["state"] = st.IsNull(3) ? (s.interrupted ? "interrupted" : "unfinished") : std::string(st.Text(3));
  run["pages"] = s.pages;
  run["unchanged"] = s.unchanged;
  run["errors"] = s.ErrorCount() + s.not_found;
  run["postings"] = s.postings;
  run["postings_invalid"] = s.postings_invalid;
  run["robots_denied"] = s.robots_denied;
  run["duration_s"] = s.duration_s;
  if (!s.fatal.empty()) run["fatal"] = s.fatal;

  std::map<std::string, HostCounts> hosts;
  {
    HAKONE_ASSIGN_OR_RETURN(auto h, db.Prepare("SELECT url, status FROM history WHERE fetched_at >= ?1"));
    HAKONE_RETURN_IF_ERROR(h.Bind(1, started));
    while (true) {
      HAKONE_ASSIGN_OR_RETURN(bool r, h.Step());
      if (!r) break;
      auto u = ParseUrl(h.Text(0));
      if (!u.ok()) continue;
      auto& c = hosts[u->HostPort()];
      int64_t code = h.IsNull(1) ? 0 : h.Int(1);
      if (code >= 200 && code < 400) ++c.pages;
      else {
        ++c.errors;
        ++c.error_status[code];
      }
    }
    HAKONE_ASSIGN_OR_RETURN(auto rb, db.Prepare("SELECT origin, status FROM robots"));
    while (true) {
      HAKONE_ASSIGN_OR_RETURN(bool r, rb.Step());
      if (!r) break;
      auto u = ParseUrl(std::string(rb.Text(0)) + "/");
      if (!u.ok()) continue;
      auto it = hosts.find(u->HostPort());
      if (it != hosts.end()) it->second.robots_status = rb.Int(1);
    }
  }
  // The state keeps successful fetches only: a run's failures (by kind, from its summary) are
  // attributed to its host when it crawled one host (exact), else shown per run only.
  json::object kinds;
  for (const auto& [kind, n] : s.errors) kinds[kind] = n;
  if (s.not_found) kinds["not_found"] = s.not_found;
  run["error_kinds"] = kinds;
  if (hosts.size() == 1) {
    auto& c = hosts.begin()->second;
    for (const auto& [kind, n] : s.errors) c.errors += n;
    c.errors += s.not_found;
  }
  json::array ha;
  for (const auto& [host, c] : hosts) {
    std::string status = "ok";
    if (c.errors) {
      status = "";
      for (const auto& [code, n] : c.error_status) {
        if (!status.empty()) status += ", ";
        status += (code ? "HTTP " + std::to_string(code) : std::string("no answer")) + " ×" + std::to_string(n);
      }
      if (hosts.size() == 1) {
        for (const auto& [kind, n] : kinds) {
          if (!status.empty()) status += ", ";
          status += std::string(kind) + " ×" + std::to_string(n.as_int64());
        }
      }
    }
    json::object o{{"host", host}, {"pages", c.pages}, {"errors", c.errors}, {"status", status}};
    if (c.robots_status) o["robots"] = c.robots_status >= 200 && c.robots_status < 300 ? "rules" : "HTTP " + std::to_string(c.robots_status);
    ha.push_back(std::move(o));
  }
  run["hosts"] = std::move(ha);

  json::array sample;
  if (!table_path.empty()) {
    HAKONE_ASSIGN_OR_RETURN(auto tdb, SqliteDb::Open(table_path, false));
    auto q = tdb.Prepare(
        "SELECT j.title, COALESCE(c.name, ''), j.url FROM crawl_jobs j LEFT JOIN crawl_companies c ON c.company_id = j.company_id"
        " WHERE j.last_seen >= ?1 ORDER BY j.url LIMIT 50");
    if (q.ok()) {  // no table yet: no posting was ever written
      HAKONE_RETURN_IF_ERROR(q->Bind(1, started));
      while (true) {
        HAKONE_ASSIGN_OR_RETURN(bool r, q->Step());
        if (!r) break;
        sample.push_back(json::object{{"title", q->Text(0)}, {"company", q->Text(1)}, {"url", q->Text(2)}});
      }
    }
  }
  run["postings_sample"] = std::move(sample);
  return json::serialize(run);
}

namespace {

class CrawlServiceImpl : public CrawlService {
 public:
  CrawlServiceImpl(Runtime& rt, CrawlServiceOptions o, asio::ip::tcp::endpoint ep)
      : o_(std::move(o)), ep_(ep), server_(rt.io(), HttpServer::Options{.server_name = "hakone-demo-crawl"}) {
    server_.Route("GET", "/api/crawl/runs", [this](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, List());
    });
    server_.Route("GET", "/api/crawl/runs/*", [this](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      std::string id = req.path.substr(std::string_view("/api/crawl/runs/").size());
      auto r = Get(id);
      if (!r) co_return HttpResponse::Error(404, "no crawl run " + id);
      co_return HttpResponse::Json(200, *r);
    });
    server_.Route("GET", "/healthz", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, R"({"status":"ok"})");
    });
  }
  ~CrawlServiceImpl() override { Stop(); }
  std::string name() const override { return "crawl"; }
  int finished_runs() const override { return finished_.load(); }

  Status Start() override {
    std::ifstream in(o_.runs_path);
    std::string line;
    while (std::getline(in, line)) {
      boost::system::error_code ec;
      json::value v = json::parse(line, ec);
      if (ec || !v.is_object() || !v.as_object().contains("id")) continue;
      records_.push_back(v.as_object());
    }
    out_.open(o_.runs_path, std::ios::app);
    if (!out_) return Status::IOError("crawl: cannot open " + o_.runs_path);
    HAKONE_RETURN_IF_ERROR(server_.Listen(ep_));
    thread_ = std::thread([this] { Loop(); });
    return Status::Ok();
  }
  void Stop() override {
    {
      std::lock_guard lk(mu_);
      stop_.store(true);
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    server_.Stop();
  }

 private:
  void Loop() {
    std::string table_path = o_.crawl.table.rfind("sqlite:", 0) == 0 ? o_.crawl.table.substr(7) : "";
    while (!stop_.load()) {
      {
        std::lock_guard lk(mu_);
        running_since_ = std::chrono::system_clock::now();
      }
      crawl::CrawlSummary s = crawl::RunCrawl(o_.crawl, &stop_);
      auto rec = CrawlRunRecord(o_.crawl.state_path, table_path, s);
      {
        std::lock_guard lk(mu_);
        running_since_.reset();
        if (rec.ok()) {
          boost::system::error_code ec;
          json::value v = json::parse(*rec, ec);
          if (!ec && v.is_object()) {
            // A resumed run ends with the same id: replace its record.
            std::string id(v.as_object()["id"].as_string());
            std::erase_if(records_, [&](const json::object& r) { return r.at("id").as_string() == id; });
            records_.push_back(v.as_object());
            out_ << *rec << '\n';
            out_.flush();
          }
        } else {
          log::Error("crawl: cannot record the run", {{"error", rec.status().ToString()}});
        }
      }
      log::Info("crawl: run finished", {{"pages", static_cast<long long>(s.pages)}, {"postings", static_cast<long long>(s.postings)},
                                        {"errors", static_cast<long long>(s.ErrorCount())}});
      finished_.fetch_add(1);
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, o_.interval, [this] { return stop_.load(); });
    }
  }

  std::string List() {
    std::lock_guard lk(mu_);
    json::array runs;
    if (running_since_) {
      runs.push_back(json::object{{"id", "current"}, {"started", FormatIsoTime(*running_since_, false)},
                                  {"state", "running"}, {"pages", 0}, {"errors", 0}, {"postings", 0}});
    }
    // Newest first; the records file keeps the last replaced record of a resumed run last.
    std::map<int64_t, const json::object*, std::greater<>> by_id;
    for (const auto& r : records_) {
      try {
        by_id[std::stoll(std::string(r.at("id").as_string()))] = &r;
      } catch (...) {
      }
    }
    for (const auto& [id, r] : by_id) {
      json::object o = *r;
      o.erase("hosts");
      o.erase("postings_sample");
      runs.push_back(std::move(o));
    }
    return json::serialize(json::object{{"runs", std::move(runs)}});
  }
  std::optional<std::string> Get(const std::string& id) {
    std::lock_guard lk(mu_);
    for (auto it = records_.rbegin(); it != records_.rend(); ++it)
      if (it->at("id").as_string() == id) return json::serialize(*it);
    return std::nullopt;
  }

  CrawlServiceOptions o_;
  asio::ip::tcp::endpoint ep_;
  HttpServer server_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> finished_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<json::object> records_;
  std::optional<std::chrono::system_clock::time_point> running_since_;
  std::ofstream out_;
};

}  // namespace

Result<std::unique_ptr<CrawlService>> MakeCrawlService(Runtime& rt, CrawlServiceOptions o) {
  auto ep = ParseEndpoint(o.listen);
  if (!ep.ok()) return Status::InvalidArgument("crawl: listen " + o.listen + ": " + ep.status().message());
  if (o.crawl.state_path.empty()) return Status::InvalidArgument("crawl: state_path is required");
  if (o.runs_path.empty()) return Status::InvalidArgument("crawl: runs_path is required");
  return std::unique_ptr<CrawlService>(new CrawlServiceImpl(rt, std::move(o), *ep));
}

}  // namespace hakone::demo
