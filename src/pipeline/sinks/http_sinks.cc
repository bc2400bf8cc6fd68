// Sinks that speak HTTP: `elasticsearch` (_bulk to Elasticsearch/OpenSearch), `store` (hakone's
// event store: in-process in monolithic mode, or _bulk to `hakone serve`), and `slack` (alert
// rules posting to incoming webhooks).
#include <zlib.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

#include "core/http_client.h"
#include "core/log.h"
#include "core/units.h"
#include "pipeline/alerts.h"
#include "pipeline/component.h"
#include "pipeline/parse.h"
#include "store/event_store.h"
#include "store/local.h"

namespace hakone::pipeline {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string Gzip(std::string_view in) {
  z_stream z;
  std::memset(&z, 0, sizeof z);
  deflateInit2(&z, 3, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

uint64_t Fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// An id stable across retries of the same spooled record: a retried _bulk `create` then gets 409
// instead of a duplicate document.
std::string EventId(const Event& e, size_t path_index) {
  uint64_t h = Fnv1a(e.message, Fnv1a(e.source, Fnv1a(e.env)));
  h ^= static_cast<uint64_t>(e.ts_ns) * 0x9E3779B97F4A7C15ull;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%016llx-%llx-%zu", static_cast<unsigned long long>(h), static_cast<unsigned long long>(e.seq),
                path_index);
  return buf;
}

// "logs-{env}-%Y.%m.%d": {env} {source} and strftime fields of the event time (UTC).
std::string IndexName(const std::string& pattern, const Event& e) {
  std::string p = pattern;
  for (auto [k, v] : {std::pair<std::string, const std::string*>{"{env}", &e.env}, {"{source}", &e.source}}) {
    size_t pos;
    while ((pos = p.find(k)) != std::string::npos) p.replace(pos, k.size(), *v);
  }
  if (p.find('%') == std::string::npos) return p;
  time_t t = static_cast<time_t>(e.ts_ns / 1000000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[512];
  size_t n = std::strftime(buf, sizeof buf, p.c_str(), &tm);
  return n ? std::string(buf, n) : p;
}

std::string ReadSecretFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// --- elasticsearch / store over HTTP ----------------------------------------------------------

struct BulkSinkConfig : SinkConfig {
  std::string kind;                         // "elasticsearch" or "store" (for messages and defaults)
  std::string url;                          // http://host:port of the cluster (store: of `hakone serve`; empty = in-process)
  std::string index = "logs-{env}-%Y.%m.%d";  // index name pattern: {env}, {source}, strftime of the event time (UTC)
  std::string action = "create";            // create (idempotent with generated ids) | index
  bool generate_ids = true;                 // derive _id from the record so that retries do not duplicate
  std::string username;                     // basic auth
  std::string password;                     // basic auth (or password_file)
  std::string password_file;                // file holding the password
  std::string api_key;                      // "Authorization: ApiKey <api_key>" (or api_key_file)
  std::string api_key_file;
  bool gzip = false;                        // gzip the request body
  std::chrono::nanoseconds timeout = 30s;   // per request
  std::string dead_letter_dir;              // with dead_letter = "file": items rejected for good (4xx) are appended here as NDJSON; empty = <data_dir>/dead-letter

  Status Validate() const override {
    if (kind == "elasticsearch" && url.empty()) return Status::InvalidArgument("url is required");
    if (!url.empty() && url.rfind("http://", 0) != 0) return Status::InvalidArgument("url must start with http://");
    if (action != "create" && action != "index") return Status::InvalidArgument("action must be create or index");
    if (index.empty()) return Status::InvalidArgument("index must not be empty");
    if (!api_key.empty() && !username.empty()) return Status::InvalidArgument("give username/password or api_key, not both");
    return Status::Ok();
  }
  Result<std::unique_ptr<Sink>> Build(const SinkContext& ctx) const override;
  std::string Describe() const override {
    return (url.empty() ? std::string("in-process") : url) + " index=" + index + " action=" + action + (gzip ? " gzip" : "");
  }
};

class BulkSink : public Sink {
 public:
  BulkSink(BulkSinkConfig c, SinkContext ctx) : c_(std::move(c)), ctx_(std::move(ctx)) {
    if (!c_.password_file.empty()) c_.password = ReadSecretFile(c_.password_file);
    if (!c_.api_key_file.empty()) c_.api_key = ReadSecretFile(c_.api_key_file);
    if (c_.dead_letter_dir.empty()) c_.dead_letter_dir = ctx_.data_dir + "/dead-letter";
  }

  // Builds the dead-letter archive (if configured). Errors: the archive sink's Build errors.
  Status Init() {
    if (!ctx_.dead_letter) return Status::Ok();
    auto d = ctx_.dead_letter();
    if (!d.ok()) return d.status().WithContext("dead_letter");
    dl_ = std::move(*d);
    return Status::Ok();
  }

  // Dead letters sit in the archive's open objects until it closes them (max_age / max_size):
  // until then this sink's spool position is not committed, so a crash re-delivers them.
  Status Flush(bool force) override { return dl_ ? dl_->Flush(force) : Status::Ok(); }
  bool Pending() const override { return dl_ && dl_->Pending(); }

  Status Write(std::vector<Event>& batch) override {
    if (c_.url.empty()) return WriteInProcess(batch);
    std::string body;
    std::vector<std::string> ids(batch.size());
    for (size_t i = 0; i < batch.size(); i++) {
      auto& e = batch[i];
      std::string ix = IndexName(c_.index, e);
      if (!e.fields.empty())
        if (auto* v = e.fields.if_contains("_index"); v && v->is_string()) {
          ix.assign(v->as_string());
        }
      body += "{\"" + c_.action + "\":{\"_index\":" + boost::json::serialize(boost::json::value(ix));
      if (c_.generate_ids) {
        ids[i] = EventId(e, 0);
        body += ",\"_id\":\"" + ids[i] + "\"";
      }
      body += "}}\n";
      Event copy;
      const Event* src = &e;
      if (!e.fields.empty() && e.fields.contains("_index")) {
        copy = e;
        copy.fields.erase("_index");
        src = &copy;
      }
      FormatEventJson(*src, &body);
      body += '\n';
    }
    std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/x-ndjson"}};
    if (!c_.api_key.empty()) headers.emplace_back("Authorization", "ApiKey " + c_.api_key);
    std::string url = c_.url;
    while (!url.empty() && url.back() == '/') url.pop_back();
    url += "/_bulk";
    if (!c_.username.empty()) url.insert(7, c_.username + ":" + c_.password + "@");
    if (c_.gzip) {
      body = Gzip(body);
      headers.emplace_back("Content-Encoding", "gzip");
    }
    auto r = HttpFetch("POST", url, headers, std::move(body), std::chrono::duration_cast<std::chrono::milliseconds>(c_.timeout));
    if (!r.ok()) return r.status().WithContext(c_.kind);
    if (r->status == 429 || r->status >= 500)
      return Status::Unavailable(c_.kind + ": HTTP " + std::to_string(r->status) + ": " + r->body.substr(0, 200));
    if (r->status < 200 || r->status >= 300) {
      // The whole request was refused (bad auth, bad URL): retrying as is will not help, but
      // dropping would lose data; keep retrying with backoff and say why.
      return Status::Unavailable(c_.kind + ": HTTP " + std::to_string(r->status) + ": " + r->body.substr(0, 300));
    }
    boost::system::error_code ec;
    auto v = boost::json::parse(r->body, ec);
    if (ec || !v.is_object()) return Status::Unavailable(c_.kind + ": _bulk response is not JSON");
    auto& o = v.as_object();
    if (auto* errs = o.if_contains("errors"); errs && errs->is_bool() && !errs->as_bool()) {
      batch.clear();
      return Status::Ok();
    }
    auto* items = o.if_contains("items");
    if (!items || !items->is_array() || items->as_array().size() != batch.size())
      return Status::Unavailable(c_.kind + ": _bulk response items do not match the request");
    std::vector<Event> retry, dead;
    std::vector<std::pair<int, std::string>> why;
    std::string first_error;
    for (size_t i = 0; i < batch.size(); i++) {
      const auto& it = items->as_array()[i];
      int status = 500;
      std::string reason;
      if (it.is_object() && !it.as_object().empty()) {
        const auto& inner = it.as_object().begin()->value();
        if (inner.is_object()) {
          if (auto* s = inner.as_object().if_contains("status"); s && s->is_number()) status = static_cast<int>(s->to_number<int64_t>());
          if (auto* e = inner.as_object().if_contains("error")) reason = boost::json::serialize(*e);
        }
      }
      if (status < 300 || (status == 409 && c_.action == "create")) continue;  // 409: delivered by an earlier try
      if (status == 429 || status >= 500) {
        retry.push_back(std::move(batch[i]));
        continue;
      }
      if (first_error.empty()) first_error = reason;
      dead.push_back(std::move(batch[i]));
      why.emplace_back(status, reason);
    }
    return Finish(batch, retry, dead, why, first_error);
  }

 private:
  Status WriteInProcess(std::vector<Event>& batch) {
    store::EventStore* st = ctx_.store ? ctx_.store : store::ProcessStore();
    if (!st) return Status::Unavailable("store: the in-process store is not open (run under `hakone serve` or set url)");
    std::vector<store::WriteItem> items;
    items.reserve(batch.size());
    for (auto& e : batch) {
      store::WriteItem w;
      w.op = c_.action == "create" ? store::WriteItem::Op::kCreate : store::WriteItem::Op::kIndex;
      w.stream = IndexName(c_.index, e);
      if (c_.generate_ids) w.id = EventId(e, 0);
      if (auto* v = e.fields.if_contains("_index"); v && v->is_string()) {
        w.stream.assign(v->as_string());
        Event copy = e;
        copy.fields.erase("_index");
        FormatEventJson(copy, &w.source_json);
      } else {
        FormatEventJson(e, &w.source_json);
      }
      items.push_back(std::move(w));
    }
    std::vector<store::WriteResult> res;
    // Write() returns once every accepted item is fdatasync'd in the store's WAL: only then does
    // the runner acknowledge (commit) the batch in the spool.
    HAKONE_RETURN_IF_ERROR(st->Write(items, &res).WithContext("store"));
    if (res.size() != batch.size()) return Status::Internal("store: Write returned " + std::to_string(res.size()) + " results for " + std::to_string(batch.size()) + " items");
    std::vector<Event> retry, dead;
    std::vector<std::pair<int, std::string>> why;
    std::string first_error;
    for (size_t i = 0; i < batch.size(); i++) {
      auto& ws = res[i].status;
      if (ws.ok() || ws.code() == StatusCode::kAlreadyExists) continue;  // AlreadyExists: an earlier try delivered it
      if (ws.code() == StatusCode::kInvalidArgument) {
        if (first_error.empty()) first_error = ws.message();
        dead.push_back(std::move(batch[i]));
        why.emplace_back(400, boost::json::serialize(boost::json::value(ws.message())));
      } else {
        retry.push_back(std::move(batch[i]));
      }
    }
    return Finish(batch, retry, dead, why, first_error);
  }

  // The dead-letter record: the event, its `source` kept as a field, the archive stream
  // "dead-letter/<sink>" and a `_dead_letter` field saying who refused it and why.
  Event MarkDead(Event e, int status, const std::string& reason_json) const {
    boost::json::object why;
    why["sink"] = ctx_.name;
    why["status"] = status;
    boost::system::error_code ec;
    auto r = reason_json.empty() ? boost::json::value() : boost::json::parse(reason_json, ec);
    why["error"] = ec ? boost::json::value(reason_json) : r;
    if (!e.fields.contains("source")) e.fields["source"] = e.source;
    e.fields["_dead_letter"] = std::move(why);
    e.source = "dead-letter/" + ctx_.name;
    return e;
  }

  // Ends a Write: dead letters to the archive (or the file), retriable items left in `batch`.
  // `dead` holds the refused events as they were; if they cannot be dead-lettered they stay in
  // the batch (sent, refused and dead-lettered again on the retry).
  Status Finish(std::vector<Event>& batch, std::vector<Event>& retry, std::vector<Event>& dead,
                const std::vector<std::pair<int, std::string>>& why, const std::string& first_error) {
    if (!dead.empty()) {
      std::vector<Event> marked;
      marked.reserve(dead.size());
      for (size_t i = 0; i < dead.size(); i++) marked.push_back(MarkDead(dead[i], why[i].first, why[i].second));
      Status st = dl_ ? dl_->Write(marked) : DeadLetterFile(marked);
      if (!st.ok()) {
        log::Warn(c_.kind + ": dead-lettering failed", {{"sink", ctx_.name}, {"error", st.ToString()}});
        for (auto& e : dead) retry.push_back(std::move(e));
        batch = std::move(retry);
        return st.WithContext(c_.kind + ": dead letters");
      }
      log::Warn(c_.kind + ": items rejected for good, dead-lettered",
                {{"sink", ctx_.name}, {"count", dead.size()}, {"first_error", first_error},
                 {"to", dl_ ? std::string("archive") : c_.dead_letter_dir}});
    }
    batch = std::move(retry);
    if (!batch.empty()) return Status::Unavailable(c_.kind + ": " + std::to_string(batch.size()) + " item(s) to retry");
    return Status::Ok();
  }

  // dead_letter = "file": appends the records to <dead_letter_dir>/<env>/<sink>.ndjson, fsync'd.
  Status DeadLetterFile(const std::vector<Event>& events) {
    std::string dir = c_.dead_letter_dir + "/" + ctx_.env;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IOError("cannot create " + dir + ": " + ec.message());
    std::string lines;
    for (auto& e : events) {
      FormatEventJson(e, &lines);
      lines += "\n";
    }
    std::string path = dir + "/" + ctx_.name + ".ndjson";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return Status::FromErrno("open " + path, errno);
    const char* p = lines.data();
    size_t n = lines.size();
    while (n > 0) {
      ssize_t w = ::write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        int err = errno;
        ::close(fd);
        return Status::FromErrno("write " + path, err);
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    int rc = ::fdatasync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return Status::FromErrno("fdatasync " + path, err);
    return Status::Ok();
  }

  BulkSinkConfig c_;
  SinkContext ctx_;
  std::unique_ptr<Sink> dl_;  // the dead-letter archive, or null (file)
};

Result<std::unique_ptr<Sink>> BulkSinkConfig::Build(const SinkContext& ctx) const {
  if (kind == "store" && url.empty() && !ctx.store && !store::ProcessStore())
    return Status::InvalidArgument("store: set url (http://host:port of `hakone serve`) or run the agent inside `hakone serve` with a store");
  auto s = std::make_unique<BulkSink>(*this, ctx);
  HAKONE_RETURN_IF_ERROR(s->Init());
  return std::unique_ptr<Sink>(std::move(s));
}

std::unique_ptr<SinkConfig> ReadBulk(const ConfigSection& s, const std::string& kind) {
  auto c = std::make_unique<BulkSinkConfig>();
  c->kind = kind;
  if (kind == "store") c->index = "logs-{env}";
  c->url = s.String("url", "");
  c->index = s.String(kind == "store" ? "stream" : "index", c->index);
  c->action = s.String("action", c->action);
  c->generate_ids = s.Bool("generate_ids", c->generate_ids);
  c->username = s.String("username", "");
  c->password = s.String("password", "");
  c->password_file = s.String("password_file", "");
  c->api_key = s.String("api_key", "");
  c->api_key_file = s.String("api_key_file", "");
  c->gzip = s.Bool("gzip", false);
  c->timeout = s.Duration("timeout", c->timeout);
  c->dead_letter_dir = s.String("dead_letter_dir", "");
  return c;
}

// --- slack -----------------------------------------------------------------------------------

struct SlackRule {
  std::string name;             // shown in the alert; required
  std::string query;            // events that count (parse.h's query language); "" = every event
  int64_t threshold = 0;        // > 0: alert when more than this many match within `window`
  std::chrono::nanoseconds window = std::chrono::minutes(5);  // threshold window
  std::chrono::nanoseconds absence{0};  // > 0: alert when nothing matched for this long (a heartbeat)
  std::string group_by;         // match rules: one alert per value of this field
  std::chrono::nanoseconds rate_limit = std::chrono::minutes(10);  // at most one alert per rule (and group) per this
  std::shared_ptr<Query> q;
};

struct SlackSinkConfig : SinkConfig {
  std::string webhook_url;       // the incoming webhook (or webhook_url_file)
  std::string webhook_url_file;  // a file holding it (Kubernetes secret)
  std::map<std::string, std::string> webhooks;  // per env: { prod = "https://hooks...", dev = "..." } (wins over webhook_url)
  std::string console_url;       // base URL of the console; alerts link to its log search
  int64_t samples = 3;           // sample lines per alert
  std::vector<SlackRule> rules;  // [{ name, query, threshold, window, absence, group_by, rate_limit }]
  std::chrono::nanoseconds timeout = 10s;  // per webhook request

  Status Validate() const override {
    if (webhook_url.empty() && webhook_url_file.empty() && webhooks.empty())
      return Status::InvalidArgument("webhook_url, webhook_url_file or webhooks is required");
    if (rules.empty()) return Status::InvalidArgument("rules is required");
    for (auto& r : rules) {
      if (r.name.empty()) return Status::InvalidArgument("rules: every rule needs a name");
      auto q = Query::Parse(r.query);
      if (!q.ok()) return Status::InvalidArgument("rules." + r.name + ": " + q.status().message());
      if (r.threshold > 0 && r.absence.count() > 0) return Status::InvalidArgument("rules." + r.name + ": threshold and absence exclude each other");
      if (r.window.count() <= 0) return Status::InvalidArgument("rules." + r.name + ": window must be > 0");
    }
    return Status::Ok();
  }
  Result<std::unique_ptr<Sink>> Build(const SinkContext& ctx) const override;
  std::string Describe() const override {
    std::string d = std::to_string(rules.size()) + " rule(s):";
    for (auto& r : rules) d += " " + r.name;
    return d;
  }
};

class SlackSink : public Sink {
 public:
  SlackSink(SlackSinkConfig c, SinkContext ctx) : c_(std::move(c)), ctx_(std::move(ctx)) {
    auto it = c_.webhooks.find(ctx_.env);
    if (it != c_.webhooks.end()) url_ = it->second;
    else if (!c_.webhook_url.empty()) url_ = c_.webhook_url;
    else if (!c_.webhook_url_file.empty()) url_ = ReadSecretFile(c_.webhook_url_file);
    for (auto& r : c_.rules) {
      state_[r.name].last_seen = Clock::now();
      if (ctx_.alerts) ctx_.alerts->Register({ctx_.env, r.name, r.query, r.threshold, r.window, r.absence});
    }
  }

  Status Write(std::vector<Event>& batch) override {
    auto now = Clock::now();
    for (auto& e : batch) {
      for (auto& r : c_.rules) {
        if (!r.q->Matches(e)) continue;
        auto& st = state_[r.name];
        st.last_seen = now;
        std::string line = e.message.substr(0, 300);
        if (r.threshold > 0) {
          st.hits.push_back(now);
          if (st.samples.size() >= static_cast<size_t>(c_.samples)) st.samples.pop_front();
          st.samples.push_back(line);
        } else if (r.absence.count() == 0) {
          std::string group;
          if (!r.group_by.empty() && !e.fields.empty())
            if (auto* v = LookupField(e.fields, r.group_by)) group = v->is_string() ? std::string(v->as_string()) : boost::json::serialize(*v);
          auto& g = st.groups[group];
          g.count++;
          if (g.samples.size() < static_cast<size_t>(c_.samples)) g.samples.push_back(line);
        }
      }
    }
    return Status::Ok();
  }

  Status Flush(bool force) override {
    Evaluate();
    while (!outbox_.empty()) {
      if (url_.empty()) {
        log::Error("slack: no webhook for env", {{"sink", ctx_.name}, {"env", ctx_.env}});
        outbox_.clear();
        break;
      }
      auto r = HttpFetch("POST", url_, {{"Content-Type", "application/json"}}, outbox_.front(),
                         std::chrono::duration_cast<std::chrono::milliseconds>(c_.timeout));
      if (!r.ok()) return r.status().WithContext("slack");
      if (r->status == 429 || r->status >= 500) return Status::Unavailable("slack: HTTP " + std::to_string(r->status));
      if (r->status >= 300) log::Error("slack: webhook refused the alert", {{"status", r->status}, {"body", r->body.substr(0, 200)}});
      outbox_.pop_front();
    }
    return Status::Ok();
  }

  bool Pending() const override {
    if (!outbox_.empty()) return true;
    for (auto& [n, st] : state_)
      if (!st.groups.empty()) return true;  // counted matches not yet alerted
    return false;
  }

 private:
  struct Group {
    int64_t count = 0;
    std::vector<std::string> samples;
  };
  struct RuleState {
    std::deque<Clock::time_point> hits;
    std::deque<std::string> samples;
    Clock::time_point last_seen;
    bool firing = false;
    std::map<std::string, Group> groups;
    std::map<std::string, Clock::time_point> last_sent;  // per group
  };

  void Evaluate() {
    auto now = Clock::now();
    for (auto& r : c_.rules) {
      auto& st = state_[r.name];
      if (r.threshold > 0) {
        while (!st.hits.empty() && now - st.hits.front() > r.window) st.hits.pop_front();
        int64_t n = static_cast<int64_t>(st.hits.size());
        if (!st.firing && n > r.threshold && Allowed(r, st, "")) {
          st.firing = true;
          Post(r, ":rotating_light: [" + ctx_.env + "] " + r.name + ": " + std::to_string(n) + " matches in " +
                      FormatDuration(r.window) + " (threshold " + std::to_string(r.threshold) + ")",
               n, std::vector<std::string>(st.samples.begin(), st.samples.end()), "firing");
        } else if (st.firing && n <= r.threshold) {
          st.firing = false;
          Post(r, ":white_check_mark: [" + ctx_.env + "] " + r.name + " resolved: " + std::to_string(n) + " matches in " +
                      FormatDuration(r.window),
               n, {}, "resolved");
        }
      } else if (r.absence.count() > 0) {
        auto quiet = now - st.last_seen;
        if (!st.firing && quiet >= r.absence) {
          st.firing = true;
          Post(r, ":warning: [" + ctx_.env + "] " + r.name + ": nothing matched for " + FormatDuration(r.absence), 0, {}, "firing");
        } else if (st.firing && quiet < r.absence) {
          st.firing = false;
          Post(r, ":white_check_mark: [" + ctx_.env + "] " + r.name + " resolved: matching events are back", 0, {}, "resolved");
        }
      } else {
        for (auto it = st.groups.begin(); it != st.groups.end();) {
          if (!Allowed(r, st, it->first)) {
            ++it;
            continue;
          }
          std::string title = ":rotating_light: [" + ctx_.env + "] " + r.name + (it->first.empty() ? "" : " (" + it->first + ")") +
                              ": " + std::to_string(it->second.count) + " match(es)";
          Post(r, title, it->second.count, it->second.samples, "firing");
          st.last_sent[it->first] = now;
          it = st.groups.erase(it);
        }
      }
    }
  }

  bool Allowed(const SlackRule& r, RuleState& st, const std::string& group) {
    auto it = st.last_sent.find(group);
    if (it != st.last_sent.end() && Clock::now() - it->second < r.rate_limit) return false;
    st.last_sent[group] = Clock::now();
    return true;
  }

  void Post(const SlackRule& r, const std::string& title, int64_t count, const std::vector<std::string>& samples,
            const std::string& state) {
    boost::json::array blocks;
    blocks.push_back({{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", "*" + title + "*"}}}});
    boost::json::array fields;
    fields.push_back({{"type", "mrkdwn"}, {"text", "*env*\n" + ctx_.env}});
    fields.push_back({{"type", "mrkdwn"}, {"text", "*rule*\n" + r.name}});
    fields.push_back({{"type", "mrkdwn"}, {"text", "*count*\n" + std::to_string(count)}});
    fields.push_back({{"type", "mrkdwn"}, {"text", "*state*\n" + state}});
    blocks.push_back({{"type", "section"}, {"fields", fields}});
    if (!samples.empty()) {
      std::string s = "```";
      for (auto& l : samples) s += l + "\n";
      s += "```";
      blocks.push_back({{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", s}}}});
    }
    if (!c_.console_url.empty()) {
      std::string q = r.query;
      std::string link = c_.console_url + "/ui/logs?env=" + ctx_.env + "&q=";
      for (unsigned char ch : q) {
        if (std::isalnum(ch)) link.push_back(static_cast<char>(ch));
        else {
          char b[4];
          std::snprintf(b, sizeof b, "%%%02X", ch);
          link += b;
        }
      }
      blocks.push_back({{"type", "context"}, {"elements", {{{"type", "mrkdwn"}, {"text", "<" + link + "|Search the logs>"}}}}});
    }
    boost::json::object msg{{"text", title}, {"blocks", blocks}};
    outbox_.push_back(boost::json::serialize(msg));
    if (ctx_.alerts) ctx_.alerts->Report(ctx_.env, r.name, state, count, samples, title, NowNs());
  }

  SlackSinkConfig c_;
  SinkContext ctx_;
  std::string url_;
  std::map<std::string, RuleState> state_;
  std::deque<std::string> outbox_;
};

Result<std::unique_ptr<Sink>> SlackSinkConfig::Build(const SinkContext& ctx) const {
  SlackSinkConfig c = *this;
  for (auto& r : c.rules) {
    auto q = Query::Parse(r.query);
    if (!q.ok()) return q.status();
    r.q = *q;
  }
  return std::unique_ptr<Sink>(new SlackSink(std::move(c), ctx));
}

}  // namespace

std::unique_ptr<SinkConfig> ReadElasticsearchSink(const ConfigSection& s) { return ReadBulk(s, "elasticsearch"); }
std::unique_ptr<SinkConfig> ReadStoreSink(const ConfigSection& s) { return ReadBulk(s, "store"); }

std::unique_ptr<SinkConfig> ReadSlackSink(const ConfigSection& s) {
  auto c = std::make_unique<SlackSinkConfig>();
  c->webhook_url = s.String("webhook_url", "");
  c->webhook_url_file = s.String("webhook_url_file", "");
  auto wh = s.Section("webhooks");
  for (auto& k : wh.Keys()) c->webhooks[k] = wh.String(k, "");
  c->console_url = s.String("console_url", "");
  c->samples = s.Int("samples", c->samples);
  c->timeout = s.Duration("timeout", c->timeout);
  for (auto& rs : s.SectionArray("rules")) {
    SlackRule r;
    r.name = rs.String("name", "");
    r.query = rs.String("query", "");
    r.threshold = rs.Int("threshold", 0);
    r.window = rs.Duration("window", r.window);
    r.absence = rs.Duration("absence", r.absence);
    r.group_by = rs.String("group_by", "");
    r.rate_limit = rs.Duration("rate_limit", r.rate_limit);
    c->rules.push_back(std::move(r));
  }
  return c;
}

}  // namespace hakone::pipeline
