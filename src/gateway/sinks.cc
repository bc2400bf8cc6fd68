#include "gateway/sinks.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "core/http_client.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/pg.h"
#include "core/url.h"

namespace hakone::gateway {
namespace json = boost::json;

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kMaxBatchBytes = 16 << 20;  // payload bytes per batch (at least one record)
constexpr milliseconds kReadSlice{100};      // bounds how long Stop() waits for a blocked Read
constexpr size_t kMaxTableName = 54;         // 63 (NAMEDATALEN - 1) minus "_y2024m05"

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

std::string Trim(std::string s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

Result<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromErrno("cannot read " + path, errno);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string v = Trim(ss.str());
  if (v.empty()) return Status::InvalidArgument(path + " is empty");
  for (char c : v) {
    if (c == '\r' || c == '\n' || c == '\0') return Status::InvalidArgument(path + " holds more than one line");
  }
  return v;
}

bool ValidTableName(std::string_view s) {
  if (s.empty() || s.size() > kMaxTableName) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// Elasticsearch index names: lowercase, no \ / * ? " < > | space , # :, not starting with - _ +,
// not "." or "..", at most 255 bytes.
bool ValidIndexName(std::string_view s) {
  if (s.empty() || s.size() > 255 || s == "." || s == "..") return false;
  if (s[0] == '-' || s[0] == '_' || s[0] == '+') return false;
  for (char c : s) {
    if (std::isupper(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) < 0x21) return false;
    if (std::string_view("\\/*?\"<>|,#:").find(c) != std::string_view::npos) return false;
  }
  return true;
}

// The spool consumer is "sink-<name>": [A-Za-z0-9._-]{1,64}.
bool ValidSinkName(std::string_view s) {
  if (s.empty() || s.size() > 59) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

bool IsPostgresUrl(std::string_view u) { return u.starts_with("postgresql://") || u.starts_with("postgres://"); }

// libpq options that bound how long a dead server (no FIN, e.g. a network partition) can block
// the sink, added to the URL unless it sets them itself.
std::string WithKeepalives(std::string url, milliseconds timeout) {
  auto add = [&](std::string_view key, const std::string& value) {
    if (url.find(std::string(key) + "=") != std::string::npos) return;
    url += url.find('?') == std::string::npos ? '?' : '&';
    url += std::string(key) + "=" + value;
  };
  add("keepalives_idle", "10");
  add("keepalives_interval", "5");
  add("keepalives_count", "3");
  add("tcp_user_timeout", std::to_string(timeout.count()));
  return url;
}

// The _bulk endpoint for a base URL: "http://h:9200" → "http://h:9200/_bulk"; a URL already
// ending in /_bulk is kept; a query string stays at the end.
std::string BulkUrl(const std::string& base) {
  std::string path = base, query;
  if (size_t q = base.find('?'); q != std::string::npos) {
    path = base.substr(0, q);
    query = base.substr(q);
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (!path.ends_with("/_bulk")) path += "/_bulk";
  return path + query;
}

}  // namespace

Result<std::vector<SinkConfig>> ParseSinkConfigs(const ConfigSection& gateway_section) {
  std::vector<SinkConfig> out;
  std::string first_error;
  auto note = [&](const ConfigSection& s, std::string_view key, const std::string& msg) {
    if (first_error.empty()) first_error = "config: [" + s.path() + "] " + std::string(key) + ": " + msg;
  };
  auto fail = [&](const ConfigSection& s, std::string_view key, const std::string& msg) {
    s.Fail(key, msg);
    note(s, key, msg);
  };
  // ConfigSection records type errors in the Config (reported by Finish with the line); the
  // helpers below notice them too, so that this function fails on them as well.
  auto str = [&](const ConfigSection& s, const char* key) -> std::optional<std::string> {
    auto v = s.OptString(key);
    if (!v && s.Has(key)) note(s, key, "must be a string");
    return v;
  };
  auto integer = [&](const ConfigSection& s, const char* key, int64_t def) {
    constexpr int64_t kBad = INT64_MIN;
    int64_t v = s.Int(key, kBad);
    if (v != kBad) return v;
    if (s.Has(key)) note(s, key, "must be an integer");
    return def;
  };
  auto ms = [&](const ConfigSection& s, const char* key, milliseconds def) {
    constexpr auto kBad = std::chrono::nanoseconds::min();
    auto v = s.Duration(key, kBad);
    if (v != kBad) return std::chrono::duration_cast<milliseconds>(v);
    if (s.Has(key)) note(s, key, "must be a duration such as \"200ms\" or \"5s\"");
    return def;
  };
  std::set<std::string> names;
  int i = 0;
  for (const ConfigSection& s : gateway_section.SectionArray("sinks")) {
    ++i;
    SinkConfig c;
    c.type = str(s, "type").value_or("");
    if (c.type != "postgres" && c.type != "elasticsearch" && c.type != "http") {
      fail(s, "type", c.type.empty() ? "is required: postgres, elasticsearch or http"
                                     : "must be postgres, elasticsearch or http, got \"" + c.type + "\"");
      continue;
    }
    c.name = str(s, "name").value_or(c.type + "-" + std::to_string(i));
    if (!ValidSinkName(c.name)) {
      fail(s, "name", "must be 1 to 59 characters of A-Z a-z 0-9 . _ -");
    } else if (!names.insert(c.name).second) {
      fail(s, "name", "\"" + c.name + "\" is used by another sink");
    }

    auto url = str(s, "url");
    auto url_file = str(s, "url_file");
    if (url && url_file) {
      fail(s, "url_file", "set either url or url_file, not both");
    } else if (url_file) {
      auto v = ReadSecretFile(*url_file);
      if (!v.ok()) fail(s, "url_file", v.status().message());
      else c.url = *v;
    } else if (url) {
      c.url = *url;
    }
    const char* url_key = url_file ? "url_file" : "url";
    if (c.url.empty()) {
      if (!url_file && !s.Has("url")) fail(s, "url", "is required");
    } else if (c.type == "postgres") {
      if (!IsPostgresUrl(c.url)) fail(s, url_key, "must be a postgresql:// URL");
    } else {
      auto pu = ParseUrl(BulkUrl(c.url));
      if (!pu.ok()) fail(s, url_key, pu.status().message());
      else if (pu->scheme != "http") fail(s, url_key, "must be an http:// URL (https is not supported yet)");
    }

    c.table = str(s, "table").value_or(c.table);
    if (!ValidTableName(c.table)) {
      fail(s, "table", "must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*, at most 54 characters)");
    }
    c.index = str(s, "index").value_or(c.index);
    if (!ValidIndexName(c.index)) {
      fail(s, "index", "must be a lowercase Elasticsearch index name without \\ / * ? \" < > | , # : or spaces");
    }
    int64_t batch = integer(s, "batch", static_cast<int64_t>(c.batch));
    if (batch < 1 || batch > 100000) fail(s, "batch", "must be between 1 and 100000");
    else c.batch = static_cast<size_t>(batch);
    c.batch_time = ms(s, "batch_time", c.batch_time);
    if (c.batch_time.count() < 0) fail(s, "batch_time", "must not be negative");
    c.backoff_min = ms(s, "backoff_min", c.backoff_min);
    c.backoff_max = ms(s, "backoff_max", c.backoff_max);
    if (c.backoff_min.count() < 1) fail(s, "backoff_min", "must be at least 1ms");
    if (c.backoff_max < c.backoff_min) fail(s, "backoff_max", "must not be less than backoff_min");
    c.timeout = ms(s, "timeout", c.timeout);
    if (c.timeout.count() < 1) fail(s, "timeout", "must be at least 1ms");

    if (auto tf = str(s, "token_file")) {
      if (c.type == "postgres") {
        fail(s, "token_file", "applies to elasticsearch and http sinks only (put credentials in the URL or url_file)");
      } else {
        auto tok = ReadSecretFile(*tf);
        if (!tok.ok()) fail(s, "token_file", tok.status().message());
        else c.headers.emplace_back("Authorization", "Bearer " + *tok);
      }
    }
    // The spool is shared by every consumer, so its policy when full is [gateway] on_full; a
    // sink table may repeat it (as in the sample config), it is checked but changes nothing here.
    if (auto of = str(s, "on_full"); of && *of != "block" && *of != "drop_oldest") {
      fail(s, "on_full", "must be block or drop_oldest");
    }
    s.Ignore("on_full");
    out.push_back(std::move(c));
  }
  if (!first_error.empty()) return Status::InvalidArgument(first_error);
  return out;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

struct UtcTime {
  int year = 0;
  unsigned month = 0;
  std::string text;  // "2024-05-31 23:59:59.123456+00": PostgreSQL reads it the same everywhere
};

int Digits(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// RFC 3339: YYYY-MM-DD('T'|'t'|' ')HH:MM:SS[.frac]('Z'|'z'|±HH:MM), normalised to UTC with
// microseconds (extra fraction digits are truncated, never rounded into the next month).
bool ParseRfc3339(std::string_view s, UtcTime* out) {
  using namespace std::chrono;
  int y = Digits(s, 0, 4), mo = Digits(s, 5, 2), d = Digits(s, 8, 2);
  int h = Digits(s, 11, 2), mi = Digits(s, 14, 2), se = Digits(s, 17, 2);
  if (y < 1 || mo < 0 || d < 0 || h < 0 || mi < 0 || se < 0) return false;
  if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':') {
    return false;
  }
  if (h > 23 || mi > 59 || se > 60) return false;
  size_t p = 19;
  int64_t micros = 0;
  if (p < s.size() && s[p] == '.') {
    ++p;
    size_t n = 0;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      if (n < 6) micros = micros * 10 + (s[p] - '0');
      ++n;
      ++p;
    }
    if (n == 0) return false;
    for (size_t k = n; k < 6; ++k) micros *= 10;
  }
  int offset_min = 0;
  if (p < s.size() && (s[p] == 'Z' || s[p] == 'z')) {
    ++p;
  } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
    int oh = Digits(s, p + 1, 2), om = Digits(s, p + 4, 2);
    if (oh < 0 || om < 0 || p + 3 >= s.size() || s[p + 3] != ':' || oh > 23 || om > 59) return false;
    offset_min = (s[p] == '+' ? 1 : -1) * (oh * 60 + om);
    p += 6;
  } else {
    return false;
  }
  if (p != s.size()) return false;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return false;
  sys_time<microseconds> tp = sys_days(ymd) + hours(h) + minutes(mi) + seconds(se) + microseconds(micros) -
                              minutes(offset_min);
  sys_days day_utc = floor<days>(tp);
  year_month_day u{day_utc};
  hh_mm_ss<microseconds> tod{tp - day_utc};
  if (static_cast<int>(u.year()) < 1 || static_cast<int>(u.year()) > 9999) return false;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02d:%02d:%02d.%06lld+00", static_cast<int>(u.year()),
                static_cast<unsigned>(u.month()), static_cast<unsigned>(u.day()), static_cast<int>(tod.hours().count()),
                static_cast<int>(tod.minutes().count()), static_cast<int>(tod.seconds().count()),
                static_cast<long long>(tod.subseconds().count()));
  out->year = static_cast<int>(u.year());
  out->month = static_cast<unsigned>(u.month());
  out->text = buf;
  return true;
}

// One spool record decoded as an audit event.
struct Event {
  uint64_t spool_seq = 0;
  std::string instance;
  int64_t seq = 0;
  std::string id;    // "<instance>-<seq>": the idempotent document id
  UtcTime time;
  json::object obj;  // the parsed event
  std::string line;  // the event as one line of JSON (the payload itself unless it had line breaks)
};

// Decodes a payload; on failure returns the reason (the record can never be shipped).
std::optional<std::string> DecodeEvent(const SpoolRecord& rec, Event* ev) {
  std::error_code ec;
  json::value v = json::parse(rec.payload, ec);
  if (ec) return "not valid JSON: " + ec.message();
  if (!v.is_object()) return "not a JSON object";
  json::object& o = v.as_object();
  auto* inst = o.if_contains("instance");
  if (!inst || !inst->is_string() || inst->as_string().empty()) return "no \"instance\" string";
  auto* seq = o.if_contains("seq");
  if (!seq) return "no \"seq\"";
  if (seq->is_int64() && seq->as_int64() >= 0) ev->seq = seq->as_int64();
  else if (seq->is_uint64() && seq->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) ev->seq = static_cast<int64_t>(seq->as_uint64());
  else return "\"seq\" is not a non-negative integer";
  auto* t = o.if_contains("time");
  if (!t || !t->is_string()) return "no \"time\" string";
  if (!ParseRfc3339(t->as_string(), &ev->time)) return "\"time\" is not an RFC 3339 timestamp";
  ev->spool_seq = rec.seq;
  ev->instance = std::string(inst->as_string());
  ev->id = ev->instance + "-" + std::to_string(ev->seq);
  if (rec.payload.find_first_of("\r\n") == std::string::npos) {
    ev->line = rec.payload;
  } else {
    ev->line = json::serialize(o);
  }
  ev->obj = std::move(o);
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

struct SinkMetrics {
  explicit SinkMetrics(const std::string& sink) {
    auto& r = metrics::Registry::Global();
    shipped = r.AddCounter("hakone_sink_shipped_total", "Audit events acknowledged by the sink's destination.", {"sink"})
                  ->WithLabels({sink});
    errors = r.AddCounter("hakone_sink_errors_total", "Failed attempts to ship a batch (each retry counts).", {"sink"})
                 ->WithLabels({sink});
    rejected = r.AddCounter("hakone_sink_rejected_total",
                            "Audit events skipped for good: refused by the destination or not valid events.", {"sink"})
                   ->WithLabels({sink});
    lag = r.AddGauge("hakone_sink_lag_records", "Spool records not yet committed by the sink.", {"sink"})->WithLabels({sink});
    up = r.AddGauge("hakone_sink_up", "1 while the latest attempt to reach the sink's destination succeeded.", {"sink"})
             ->WithLabels({sink});
  }
  metrics::Counter* shipped;
  metrics::Counter* errors;
  metrics::Counter* rejected;
  metrics::Gauge* lag;
  metrics::Gauge* up;
};

// ---------------------------------------------------------------------------------------------
// Destinations
// ---------------------------------------------------------------------------------------------

// What one attempt settled.
struct ShipResult {
  uint64_t acked = 0;
  uint64_t rejected = 0;
};

class Destination {
 public:
  virtual ~Destination() = default;
  // "postgresql://user@host/db" (no secrets), for logs.
  virtual std::string describe() const = 0;
  // One attempt (bounded by SinkConfig::timeout). Removes from `pending` the events it settled
  // (acknowledged or permanently rejected) and counts them in *res. OK: progress was made without
  // a retryable failure (the caller calls again at once while `pending` is not empty). An error:
  // retry after a backoff; `pending` holds what is still to send.
  virtual Status Ship(std::vector<Event>& pending, ShipResult* res) = 0;
  // Checks the destination at start (PostgreSQL: connects and creates the table). Bounded by
  // SinkConfig::timeout.
  virtual Status Probe() { return Status::Ok(); }
};

// PostgreSQL: one partitioned table, month partitions created on demand, one INSERT per batch.
class PgDestination : public Destination {
 public:
  explicit PgDestination(const SinkConfig& cfg) : cfg_(cfg), url_(WithKeepalives(cfg.url, cfg.timeout)) {}

  std::string describe() const override { return RedactPgUrl(cfg_.url) + " table " + cfg_.table; }

  Status Probe() override {
    Status st = Connect();
    if (!st.ok()) Reset();
    return st;
  }

  Status Ship(std::vector<Event>& pending, ShipResult* res) override {
    Status st = Connect();
    if (st.ok()) {
      std::set<std::pair<int, unsigned>> months;
      for (const Event& e : pending) months.emplace(e.time.year, e.time.month);
      for (auto [y, m] : months) {
        st = EnsurePartition(y, m);
        if (!st.ok()) break;
      }
    }
    if (st.ok()) {
      size_t rejected = 0;
      std::string first_reason;
      st = Insert(pending, 0, pending.size(), &rejected, &first_reason);
      if (st.ok()) {
        if (rejected) {
          log::Warn("sink: PostgreSQL rejected audit events; skipped",
                    {{"sink", cfg_.name}, {"count", static_cast<unsigned long>(rejected)}, {"first", first_reason}});
        }
        res->rejected += rejected;
        res->acked += pending.size() - rejected;
        pending.clear();
        return Status::Ok();
      }
    }
    Reset();
    return st;
  }

 private:
  // After a failure the connection may be broken, or the table or a partition dropped behind
  // our back: redo the set-up on the next attempt (cheap: only after a failure).
  void Reset() {
    partitions_.clear();
    ready_ = false;
    if (conn_ && !conn_->Ok()) conn_.reset();
  }

  static bool IsDataError(const Status& st) {
    return st.code() == StatusCode::kInvalidArgument && st.message().find("(SQLSTATE 22") != std::string::npos;
  }

  // Inserts pending[begin, end) in one statement. A data error (SQLSTATE class 22, e.g. a
  // character the database encoding cannot hold) is pinned down by bisection: the offending
  // events are rejected (*rejected), the others inserted. Any other error is returned.
  Status Insert(const std::vector<Event>& pending, size_t begin, size_t end, size_t* rejected, std::string* first_reason) {
    Status st = InsertRange(pending, begin, end);
    if (st.ok() || !IsDataError(st)) return st;
    if (end - begin == 1) {
      if ((*rejected)++ == 0) *first_reason = pending[begin].id + ": " + st.message().substr(0, 300);
      return Status::Ok();
    }
    size_t mid = begin + (end - begin) / 2;
    HAKONE_RETURN_IF_ERROR(Insert(pending, begin, mid, rejected, first_reason));
    return Insert(pending, mid, end, rejected, first_reason);
  }

  // Connects if needed and creates the table and its indexes once per connection.
  Status Connect() {
    if (conn_ && conn_->Ok() && ready_) return Status::Ok();
    if (!conn_ || !conn_->Ok()) {
      conn_.reset();
      // At most 10 s, so that Stop() (a graceful shutdown) is not held up by an unreachable host.
      auto secs = std::clamp(std::chrono::ceil<std::chrono::seconds>(cfg_.timeout), std::chrono::seconds(1), std::chrono::seconds(10));
      auto c = PgConn::Connect(url_, secs);
      if (!c.ok()) return c.status();
      conn_.emplace(std::move(*c));
    }
    ready_ = false;
    partitions_.clear();
    const std::string& t = cfg_.table;
    HAKONE_RETURN_IF_ERROR(conn_->Exec("SET statement_timeout = " + std::to_string(cfg_.timeout.count())));
    // Concurrent gateways may race on these; a failure is retried, and IF NOT EXISTS then wins.
    HAKONE_RETURN_IF_ERROR(conn_->Exec(
        "CREATE TABLE IF NOT EXISTS " + t +
        " (time timestamptz NOT NULL, instance text NOT NULL, seq bigint NOT NULL, \"user\" text, method text,"
        " path text, route text, status int, client_ip text, event jsonb NOT NULL,"
        " PRIMARY KEY (time, instance, seq)) PARTITION BY RANGE (time)"));
    HAKONE_RETURN_IF_ERROR(conn_->Exec("CREATE INDEX IF NOT EXISTS " + t + "_time_idx ON " + t + " (time)"));
    HAKONE_RETURN_IF_ERROR(conn_->Exec("CREATE INDEX IF NOT EXISTS " + t + "_user_time_idx ON " + t + " (\"user\", time)"));
    ready_ = true;
    return Status::Ok();
  }

  // Creates the partition for one month unless it exists. Skipped when the table is not
  // partitioned (created by hand); a clash with partitions of another shape (e.g. quarterly, made
  // by hand) is ignored: the INSERT then tells whether some partition takes the rows.
  Status EnsurePartition(int year, unsigned month) {
    char name[16];
    std::snprintf(name, sizeof name, "_y%04dm%02u", year, month);
    std::string part = cfg_.table + name;
    if (partitions_.count(part)) return Status::Ok();
    int ny = month == 12 ? year + 1 : year;
    unsigned nm = month == 12 ? 1 : month + 1;
    char from[40], to[40];
    std::snprintf(from, sizeof from, "%04d-%02u-01 00:00:00+00", year, month);
    std::snprintf(to, sizeof to, "%04d-%02u-01 00:00:00+00", ny, nm);
    const std::string& t = cfg_.table;
    HAKONE_RETURN_IF_ERROR(conn_->Exec(
        "DO $hakone$ BEGIN"
        " IF EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('" + t + "'))"
        " AND to_regclass('" + part + "') IS NULL THEN"
        "  BEGIN"
        "   CREATE TABLE IF NOT EXISTS " + part + " PARTITION OF " + t +
        "    FOR VALUES FROM ('" + from + "') TO ('" + to + "');"
        "  EXCEPTION WHEN duplicate_table OR unique_violation OR invalid_object_definition THEN NULL;"
        "  END;"
        " END IF;"
        " END $hakone$"));
    partitions_.insert(std::move(part));
    return Status::Ok();
  }

  // jsonb refuses \u0000 in strings: replace NUL characters (rare: they come from request data).
  static void StripNul(json::value& v) {
    if (v.is_string()) {
      json::string& s = v.as_string();
      if (std::find(s.begin(), s.end(), '\0') != s.end()) {
        std::string r;
        for (char c : s) {
          if (c == '\0') r += "\xEF\xBF\xBD";  // U+FFFD
          else r += c;
        }
        s = r;
      }
    } else if (v.is_array()) {
      for (auto& e : v.as_array()) StripNul(e);
    } else if (v.is_object()) {
      for (auto& kv : v.as_object()) StripNul(kv.value());
    }
  }

  static json::value TextOrNull(const json::object& o, std::string_view key) {
    auto* v = o.if_contains(key);
    if (!v || v->is_null()) return nullptr;
    if (v->is_string()) return *v;
    return json::value(json::serialize(*v));
  }

  static json::value IntOrNull(const json::object& o, std::string_view key) {
    auto* v = o.if_contains(key);
    if (v && v->is_int64() && v->as_int64() >= INT32_MIN && v->as_int64() <= INT32_MAX) return *v;
    if (v && v->is_uint64() && v->as_uint64() <= INT32_MAX) return *v;
    return nullptr;
  }

  Status InsertRange(const std::vector<Event>& pending, size_t begin, size_t end) {
    // The whole batch is one parameter (a JSON array of rows): one statement, one transaction.
    json::array rows;
    rows.reserve(end - begin);
    bool has_nul = false;
    for (size_t i = begin; i < end; ++i) {
      const Event& e = pending[i];
      has_nul = has_nul || e.line.find("\\u0000") != std::string::npos;
      json::object r;
      r["t"] = e.time.text;
      r["i"] = e.instance;
      r["s"] = e.seq;
      r["u"] = TextOrNull(e.obj, "user");
      r["m"] = TextOrNull(e.obj, "method");
      r["p"] = TextOrNull(e.obj, "path");
      r["r"] = TextOrNull(e.obj, "route");
      r["st"] = IntOrNull(e.obj, "status");
      r["ip"] = TextOrNull(e.obj, "client_ip");
      r["e"] = e.obj;
      rows.emplace_back(std::move(r));
    }
    json::value all(std::move(rows));
    if (has_nul) StripNul(all);
    const std::string& t = cfg_.table;
    std::vector<std::optional<std::string>> params;
    params.emplace_back(json::serialize(all));
    auto r = conn_->Query(
        "INSERT INTO " + t +
            " (time, instance, seq, \"user\", method, path, route, status, client_ip, event)"
            " SELECT (r->>'t')::timestamptz, r->>'i', (r->>'s')::bigint, r->>'u', r->>'m', r->>'p', r->>'r',"
            " (r->>'st')::int, r->>'ip', r->'e' FROM jsonb_array_elements($1::jsonb) AS r"
            " ON CONFLICT DO NOTHING",
        params);
    if (!r.ok()) return r.status();
    return Status::Ok();
  }

  SinkConfig cfg_;
  std::string url_;  // cfg_.url with keepalive options
  std::optional<PgConn> conn_;
  bool ready_ = false;                // the table and indexes exist (checked on this connection)
  std::set<std::string> partitions_;  // partitions known to exist on this connection
};

// An HTTP endpoint speaking the Elasticsearch _bulk API.
class BulkDestination : public Destination {
 public:
  explicit BulkDestination(const SinkConfig& cfg) : cfg_(cfg), url_(BulkUrl(cfg.url)) {
    auto pu = ParseUrl(url_);
    redacted_ = pu.ok() ? pu->Redacted() : "(bad url)";
    HttpClient::Options o;
    o.timeout = cfg.timeout;
    o.connect_timeout = std::min(cfg.timeout, milliseconds(5000));
    client_ = std::make_unique<HttpClient>(io_, o);
    headers_ = cfg.headers;
    headers_.emplace_back("Content-Type", "application/x-ndjson");
  }

  std::string describe() const override { return redacted_; }

  Status Ship(std::vector<Event>& pending, ShipResult* res) override {
    size_t n = std::min(pending.size(), max_docs_);
    std::string body;
    for (size_t i = 0; i < n; ++i) {
      body += "{\"index\":{\"_index\":";
      body += json::serialize(json::value(cfg_.index));
      body += ",\"_id\":";
      body += json::serialize(json::value(pending[i].id));
      body += "}}\n";
      body += pending[i].line;
      body += '\n';
    }
    auto resp = Post(std::move(body));
    if (!resp.ok()) return resp.status();
    int status = resp->status;
    if (status == 413) {
      if (n > 1) {
        // Not a failure: send smaller requests from now on (the caller calls again at once).
        max_docs_ = std::max<size_t>(1, n / 2);
        log::Info("sink: request too large, sending smaller requests",
                  {{"sink", cfg_.name}, {"max_docs", static_cast<unsigned long>(max_docs_)}});
        return Status::Ok();
      }
      res->rejected += 1;
      LogRejected(pending[0].id, 413, "request entity too large", 1);
      pending.erase(pending.begin());
      return Status::Ok();
    }
    if (status < 200 || status > 299) {
      return Status::Unavailable("HTTP " + std::to_string(status) + ": " + Snippet(resp->body));
    }
    std::error_code ec;
    json::value v = json::parse(resp->body, ec);
    const json::object* top = (!ec && v.is_object()) ? &v.as_object() : nullptr;
    if (!top) return Status::IOError("_bulk response is not a JSON object: " + Snippet(resp->body));
    auto* errors = top->if_contains("errors");
    if (errors && errors->is_bool() && !errors->as_bool()) {
      res->acked += n;
      pending.erase(pending.begin(), pending.begin() + static_cast<ptrdiff_t>(n));
      return Status::Ok();
    }
    auto* items = top->if_contains("items");
    if (!items || !items->is_array() || items->as_array().size() != n) {
      return Status::IOError("_bulk response with errors but without one item per document");
    }
    // Per item: 2xx acknowledged, 429/5xx retried, any other status rejected for good.
    std::vector<Event> retry;
    size_t rejected = 0, retried = 0;
    std::string first_rejected_id, first_reason, first_retry_reason;
    int first_status = 0;
    const json::array& arr = items->as_array();
    for (size_t i = 0; i < n; ++i) {
      int st = 0;
      std::string reason;
      if (arr[i].is_object() && !arr[i].as_object().empty()) {
        const json::value& inner = arr[i].as_object().begin()->value();
        if (inner.is_object()) {
          auto* s = inner.as_object().if_contains("status");
          if (s && s->is_int64()) st = static_cast<int>(s->as_int64());
          if (auto* e = inner.as_object().if_contains("error")) reason = ErrorReason(*e);
        }
      }
      if (st >= 200 && st <= 299) {
        res->acked += 1;
      } else if (st == 0 || st == 429 || st >= 500) {
        if (retried++ == 0) first_retry_reason = st ? std::to_string(st) + " " + reason : "item without status";
        retry.push_back(std::move(pending[i]));
      } else {
        if (rejected++ == 0) {
          first_rejected_id = pending[i].id;
          first_reason = reason;
          first_status = st;
        }
      }
    }
    res->rejected += rejected;
    if (rejected) LogRejected(first_rejected_id, first_status, first_reason, rejected);
    std::move(pending.begin() + static_cast<ptrdiff_t>(n), pending.end(), std::back_inserter(retry));
    pending = std::move(retry);
    if (retried) {
      return Status::Unavailable(std::to_string(retried) + " of " + std::to_string(n) +
                                 " documents to retry (first: " + first_retry_reason + ")");
    }
    return Status::Ok();
  }

 private:
  static std::string Snippet(std::string_view body) {
    std::string s(body.substr(0, 200));
    if (body.size() > 200) s += "...";
    return s;
  }

  static std::string ErrorReason(const json::value& e) {
    if (e.is_string()) return std::string(e.as_string());
    if (!e.is_object()) return Snippet(json::serialize(e));
    std::string out;
    if (auto* t = e.as_object().if_contains("type"); t && t->is_string()) out = std::string(t->as_string());
    if (auto* r = e.as_object().if_contains("reason"); r && r->is_string()) {
      out += (out.empty() ? "" : ": ") + Snippet(r->as_string());
    }
    return out;
  }

  void LogRejected(const std::string& id, int status, const std::string& reason, size_t count) {
    log::Warn("sink: destination rejected audit events; skipped",
              {{"sink", cfg_.name},
               {"count", static_cast<unsigned long>(count)},
               {"first_id", id},
               {"status", status},
               {"reason", reason}});
  }

  Result<HttpClient::Response> Post(std::string body) {
    std::optional<Result<HttpClient::Response>> out;
    auto fetch = [this, &out, body = std::move(body)]() mutable -> asio::awaitable<void> {
      out.emplace(co_await client_->Request("POST", url_, headers_, std::move(body), cfg_.timeout));
    };
    bool done = false;
    asio::co_spawn(io_, std::move(fetch), [&out, &done](std::exception_ptr e) {
      if (e && !out) out.emplace(Status::Internal("_bulk request failed with an exception"));
      done = true;
    });
    // Run only until this request has completed: idle pooled connections may keep work pending,
    // so io_.run() could block.
    while (!done) {
      if (io_.run_one() == 0) io_.restart();
    }
    if (!out) return Status::Internal("_bulk request ended without a result");
    return std::move(*out);
  }

  SinkConfig cfg_;
  std::string url_;
  std::string redacted_;
  asio::io_context io_;
  std::unique_ptr<HttpClient> client_;
  std::vector<std::pair<std::string, std::string>> headers_;
  size_t max_docs_ = SIZE_MAX;  // lowered when the endpoint answers 413
};

// ---------------------------------------------------------------------------------------------
// The sink: read, decode, ship with retries, commit
// ---------------------------------------------------------------------------------------------

class SinkImpl : public Sink {
 public:
  SinkImpl(const SinkConfig& cfg, Spool* spool, std::unique_ptr<SpoolReader> reader, std::unique_ptr<Destination> dest)
      : cfg_(cfg), spool_(spool), reader_(std::move(reader)), dest_(std::move(dest)), m_(cfg.name),
        rng_(std::random_device{}()) {
    // Unknown until the first attempt: not known to be down.
    m_.up->Set(1);
    UpdateLag();
    thread_ = std::thread([this] { Run(); });
  }

  ~SinkImpl() override { Stop(); }

  std::string name() const override { return cfg_.name; }

  void Stop() override {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    std::lock_guard jl(join_mu_);
    if (thread_.joinable()) thread_.join();
    reader_.reset();  // frees the consumer: a new sink of this name may open it
  }

 private:
  bool stopping() {
    std::lock_guard lk(mu_);
    return stop_;
  }

  // Sleeps for d unless Stop() is called; returns false when stopping.
  bool SleepFor(milliseconds d) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, d, [this] { return stop_; });
    return !stop_;
  }

  milliseconds NextBackoff() {
    int64_t cap = cfg_.backoff_max.count();
    int64_t d = cfg_.backoff_min.count();
    for (int i = 1; i < failures_ && d < cap; ++i) d *= 2;
    d = std::min(d, cap);
    // Jitter: a uniform delay in [d/2, d], so that gateways restarted together spread out.
    std::uniform_int_distribution<int64_t> dist(std::max<int64_t>(1, d / 2), std::max<int64_t>(1, d));
    return milliseconds(dist(rng_));
  }

  void UpdateLag() {
    uint64_t last = spool_->last_seq();
    uint64_t done = reader_->committed();
    m_.lag->Set(last > done ? static_cast<double>(last - done) : 0.0);
  }

  void OnFailure(const Status& st, std::string_view what) {
    m_.errors->Inc();
    m_.up->Set(0);
    UpdateLag();
    if (failures_++ == 0) {
      streak_start_ = Clock::now();
      log::Warn("sink: " + std::string(what) + " failed; retrying with backoff (logged once until it recovers)",
                {{"sink", cfg_.name}, {"destination", dest_->describe()}, {"error", st.ToString()}});
    } else {
      log::Debug("sink: retry failed", {{"sink", cfg_.name}, {"attempt", failures_}, {"error", st.ToString()}});
    }
  }

  void OnSuccess() {
    m_.up->Set(1);
    if (failures_ > 0) {
      auto down = std::chrono::duration_cast<milliseconds>(Clock::now() - streak_start_);
      log::Info("sink: recovered", {{"sink", cfg_.name},
                                    {"failed_attempts", failures_},
                                    {"down_ms", static_cast<long long>(down.count())}});
    }
    failures_ = 0;
  }

  // Reads up to cfg_.batch records: waits for the first, then up to batch_time for more.
  // Returns false when the thread should end (stopped, or the spool is closed).
  bool ReadBatch(std::vector<SpoolRecord>* recs) {
    size_t bytes = 0;
    std::optional<Clock::time_point> deadline;
    while (recs->size() < cfg_.batch && bytes < kMaxBatchBytes) {
      if (stopping()) return !recs->empty();
      milliseconds wait = kReadSlice;
      if (deadline) {
        auto left = std::chrono::duration_cast<milliseconds>(*deadline - Clock::now());
        if (left.count() <= 0) break;
        wait = std::min(wait, left);
      }
      auto r = reader_->Read(cfg_.batch - recs->size(), kMaxBatchBytes - bytes, wait);
      if (!r.ok()) {
        if (r.status().code() == StatusCode::kUnavailable) {
          log::Info("sink: spool closed; stopping", {{"sink", cfg_.name}});
          spool_closed_ = true;
          return false;
        }
        OnFailure(r.status(), "reading the spool");
        if (!SleepFor(NextBackoff())) return false;
        continue;
      }
      if (r->empty()) {
        UpdateLag();
        continue;
      }
      if (!deadline) deadline = Clock::now() + cfg_.batch_time;
      UpdateLag();
      for (auto& rec : *r) {
        bytes += rec.payload.size();
        recs->push_back(std::move(rec));
      }
    }
    return true;
  }

  void Run() {
    if (Status st = dest_->Probe(); st.ok()) OnSuccess();
    else OnFailure(st, "connecting");
    while (!spool_closed_) {
      std::vector<SpoolRecord> recs;
      if (!ReadBatch(&recs)) return;
      if (recs.empty()) {
        if (stopping()) return;
        continue;
      }
      uint64_t last_seq = recs.back().seq;
      std::vector<Event> pending;
      pending.reserve(recs.size());
      size_t bad = 0;
      std::string first_bad;
      for (const SpoolRecord& rec : recs) {
        Event ev;
        if (auto why = DecodeEvent(rec, &ev)) {
          if (bad++ == 0) first_bad = "spool seq " + std::to_string(rec.seq) + ": " + *why;
          continue;
        }
        pending.push_back(std::move(ev));
      }
      recs.clear();
      if (bad) {
        m_.rejected->Inc(bad);
        log::Warn("sink: skipped spool records that are not valid audit events",
                  {{"sink", cfg_.name}, {"count", static_cast<unsigned long>(bad)}, {"first", first_bad}});
      }
      // On Stop() with a batch in hand, make one last attempt only if the destination is up.
      bool last_chance = stopping();
      if (last_chance && failures_ > 0) return;
      while (!pending.empty()) {
        ShipResult res;
        Status st = dest_->Ship(pending, &res);
        m_.shipped->Inc(res.acked);
        m_.rejected->Inc(res.rejected);
        if (st.ok()) {
          OnSuccess();
          continue;
        }
        OnFailure(st, "shipping a batch");
        if (last_chance || stopping()) return;  // not committed: shipped again after a restart
        if (!SleepFor(NextBackoff())) return;
      }
      if (Status st = reader_->Commit(last_seq); !st.ok()) {
        // Not fatal: the records are shipped again after a restart, and dropped as duplicates.
        log::Error("sink: committing the spool position failed", {{"sink", cfg_.name}, {"error", st.ToString()}});
      }
      UpdateLag();
      if (last_chance) return;
    }
  }

  SinkConfig cfg_;
  Spool* spool_;
  std::unique_ptr<SpoolReader> reader_;
  std::unique_ptr<Destination> dest_;
  SinkMetrics m_;
  std::mt19937_64 rng_;
  int failures_ = 0;  // consecutive failed attempts (the sink thread only)
  Clock::time_point streak_start_;
  bool spool_closed_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::mutex join_mu_;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<Sink>> StartSink(asio::io_context& io, const SinkConfig& cfg, Spool* spool) {
  (void)io;
  if (!spool) return Status::InvalidArgument("sink " + cfg.name + ": no spool");
  if (!ValidSinkName(cfg.name)) return Status::InvalidArgument("sink name \"" + cfg.name + "\": must be 1 to 59 characters of A-Z a-z 0-9 . _ -");
  if (cfg.batch < 1) return Status::InvalidArgument("sink " + cfg.name + ": batch must be at least 1");
  if (cfg.backoff_min.count() < 1 || cfg.backoff_max < cfg.backoff_min) {
    return Status::InvalidArgument("sink " + cfg.name + ": need 1ms <= backoff_min <= backoff_max");
  }
  std::unique_ptr<Destination> dest;
  if (cfg.type == "postgres") {
    if (!IsPostgresUrl(cfg.url)) return Status::InvalidArgument("sink " + cfg.name + ": url must be a postgresql:// URL");
    if (!ValidTableName(cfg.table)) return Status::InvalidArgument("sink " + cfg.name + ": bad table name \"" + cfg.table + "\"");
    dest = std::make_unique<PgDestination>(cfg);
  } else if (cfg.type == "elasticsearch" || cfg.type == "http") {
    auto pu = ParseUrl(BulkUrl(cfg.url));
    if (!pu.ok()) return pu.status().WithContext("sink " + cfg.name + ": url");
    if (pu->scheme != "http") return Status::InvalidArgument("sink " + cfg.name + ": url must be http:// (https is not supported yet)");
    if (!ValidIndexName(cfg.index)) return Status::InvalidArgument("sink " + cfg.name + ": bad index name \"" + cfg.index + "\"");
    dest = std::make_unique<BulkDestination>(cfg);
  } else {
    return Status::InvalidArgument("sink " + cfg.name + ": type must be postgres, elasticsearch or http");
  }
  auto reader = spool->OpenReader("sink-" + cfg.name);
  if (!reader.ok()) return reader.status().WithContext("sink " + cfg.name);
  log::Info("sink started", {{"sink", cfg.name}, {"type", cfg.type}, {"destination", dest->describe()}});
  return std::unique_ptr<Sink>(new SinkImpl(cfg, spool, std::move(*reader), std::move(dest)));
}

}  // namespace hakone::gateway
