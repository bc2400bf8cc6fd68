#include "demo/alerts.h"

#include <boost/json.hpp>
#include <ctime>
#include <deque>
#include <fstream>
#include <mutex>

#include "core/http_server.h"
#include "core/log.h"
#include "core/units.h"

namespace hakone::demo {
namespace {

namespace json = boost::json;

std::string FormatWindow(std::chrono::seconds s) {
  if (s.count() % 3600 == 0) return std::to_string(s.count() / 3600) + "h";
  if (s.count() % 60 == 0) return std::to_string(s.count() / 60) + "m";
  return std::to_string(s.count()) + "s";
}

struct Entry {
  std::chrono::system_clock::time_point time;
  SlackAlert a;
};

json::object EntryJson(const Entry& e) {
  return json::object{{"time", FormatIsoTime(e.time)}, {"env", e.a.env}, {"rule", e.a.rule}, {"state", e.a.state},
                      {"count", e.a.count}, {"text", e.a.text}};
}

class AlertBoard : public Component {
 public:
  AlertBoard(Runtime& rt, AlertBoardOptions o, asio::ip::tcp::endpoint ep)
      : o_(std::move(o)), ep_(ep), server_(rt.io(), HttpServer::Options{.max_body = 1 << 20, .server_name = "hakone-demo-alerts"}) {
    server_.Route("POST", "/slack/*", [this](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      auto a = ParseSlackAlert(req.body);
      if (!a.ok()) co_return HttpResponse::Error(400, a.status().message());
      Add(Entry{std::chrono::system_clock::now(), std::move(*a)}, true);
      co_return HttpResponse::Text(200, "ok");
    });
    server_.Route("GET", "/alerts", [this](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, Snapshot());
    });
    server_.Route("GET", "/healthz", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, R"({"status":"ok"})");
    });
  }
  std::string name() const override { return "alerts"; }

  Status Start() override {
    if (!o_.history_path.empty()) {
      std::ifstream in(o_.history_path);
      std::string line;
      int bad = 0;
      while (std::getline(in, line)) {
        boost::system::error_code ec;
        json::value v = json::parse(line, ec);
        if (ec || !v.is_object()) {
          ++bad;
          continue;
        }
        auto& o = v.as_object();
        Entry e;
        auto* t = o.if_contains("t");
        auto* m = o.if_contains("msg");
        if (!t || !t->is_int64() || !m || !m->is_string()) {
          ++bad;
          continue;
        }
        auto a = ParseSlackAlert(m->as_string());
        if (!a.ok()) {
          ++bad;
          continue;
        }
        e.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(t->as_int64()));
        e.a = std::move(*a);
        Add(std::move(e), false);
      }
      if (bad) log::Warn("alerts: skipped unreadable history lines", {{"path", o_.history_path}, {"lines", bad}});
      out_.open(o_.history_path, std::ios::app);
      if (!out_) return Status::IOError("alerts: cannot open " + o_.history_path);
    }
    HAKONE_RETURN_IF_ERROR(server_.Listen(ep_));
    return Status::Ok();
  }
  void Stop() override { server_.Stop(); }

 private:
  void Add(Entry e, bool persist) {
    std::lock_guard lk(mu_);
    if (persist && out_.is_open()) {
      json::object line{{"t", std::chrono::duration_cast<std::chrono::milliseconds>(e.time.time_since_epoch()).count()},
                        {"msg", Reencode(e.a)}};
      out_ << json::serialize(line) << '\n';
      out_.flush();
    }
    history_.push_front(std::move(e));
    while (history_.size() > 1000) history_.pop_back();
  }
  // Stored as a message the parser reads back (the same fields the slack sink sends).
  static std::string Reencode(const SlackAlert& a) {
    json::array fields;
    fields.push_back(json::object{{"type", "mrkdwn"}, {"text", "*env*\n" + a.env}});
    fields.push_back(json::object{{"type", "mrkdwn"}, {"text", "*rule*\n" + a.rule}});
    fields.push_back(json::object{{"type", "mrkdwn"}, {"text", "*count*\n" + std::to_string(a.count)}});
    fields.push_back(json::object{{"type", "mrkdwn"}, {"text", "*state*\n" + a.state}});
    json::array blocks;
    blocks.push_back(json::object{{"type", "section"}, {"fields", std::move(fields)}});
    return json::serialize(json::object{{"text", a.text}, {"blocks", std::move(blocks)}});
  }

  std::string Snapshot() {
    std::lock_guard lk(mu_);
    auto now = std::chrono::system_clock::now();
    json::array rules;
    for (const auto& r : o_.rules) {
      const Entry* last = nullptr;
      for (const auto& e : history_) {
        if (e.a.env == r.env && e.a.rule == r.name) {
          last = &e;
          break;
        }
      }
      const Entry* last_fired = nullptr;
      for (const auto& e : history_) {
        if (e.a.env == r.env && e.a.rule == r.name && e.a.state == "firing") {
          last_fired = &e;
          break;
        }
      }
      bool firing = last && last->a.state == "firing" && (r.threshold > 0 || now - last->time < r.window);
      json::object o{{"env", r.env}, {"name", r.name}, {"query", r.query}, {"threshold", r.threshold},
                     {"window", FormatWindow(r.window)}, {"state", firing ? "firing" : "ok"}};
      if (last_fired) o["last_fired"] = FormatIsoTime(last_fired->time);
      rules.push_back(std::move(o));
    }
    json::array hist;
    for (const auto& e : history_) {
      if (hist.size() >= 200) break;
      hist.push_back(EntryJson(e));
    }
    return json::serialize(json::object{{"rules", std::move(rules)}, {"history", std::move(hist)}});
  }

  AlertBoardOptions o_;
  asio::ip::tcp::endpoint ep_;
  HttpServer server_;
  std::mutex mu_;
  std::deque<Entry> history_;  // newest first
  std::ofstream out_;
};

}  // namespace

Result<SlackAlert> ParseSlackAlert(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return Status::InvalidArgument("not a Slack message: " + ec.message());
  if (!v.is_object()) return Status::InvalidArgument("not a Slack message: not a JSON object");
  SlackAlert a;
  auto& o = v.as_object();
  if (auto* t = o.if_contains("text"); t && t->is_string()) a.text = std::string(t->as_string());
  auto* blocks = o.if_contains("blocks");
  if (!blocks || !blocks->is_array()) return Status::InvalidArgument("not a Slack message: no blocks");
  for (const auto& b : blocks->as_array()) {
    if (!b.is_object()) continue;
    auto* fields = b.as_object().if_contains("fields");
    if (!fields || !fields->is_array()) continue;
    for (const auto& f : fields->as_array()) {
      if (!f.is_object()) continue;
      auto* text = f.as_object().if_contains("text");
      if (!text || !text->is_string()) continue;
      std::string_view s = text->as_string();
      // "*name*\nvalue"
      if (s.size() < 3 || s[0] != '*') continue;
      size_t end = s.find("*\n", 1);
      if (end == std::string_view::npos) continue;
      std::string_view name = s.substr(1, end - 1), value = s.substr(end + 2);
      if (name == "env") a.env = value;
      else if (name == "rule") a.rule = value;
      else if (name == "state") a.state = value;
      else if (name == "count") {
        try {
          a.count = std::stoll(std::string(value));
        } catch (...) {
          return Status::InvalidArgument("not a Slack alert: count '" + std::string(value) + "' is not a number");
        }
      }
    }
  }
  if (a.env.empty() || a.rule.empty()) return Status::InvalidArgument("not a Slack alert: no env or rule field");
  if (a.state.empty()) a.state = "firing";
  return a;
}

Result<std::unique_ptr<Component>> MakeAlertBoard(Runtime& rt, AlertBoardOptions o) {
  auto ep = ParseEndpoint(o.listen);
  if (!ep.ok()) return Status::InvalidArgument("alerts: listen " + o.listen + ": " + ep.status().message());
  return std::unique_ptr<Component>(new AlertBoard(rt, std::move(o), *ep));
}

}  // namespace hakone::demo
