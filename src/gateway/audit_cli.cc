#include "gateway/audit_cli.h"

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>

#include "core/flags.h"
#include "core/units.h"
#include "gateway/audit_chain.h"
#include "store/block.h"

namespace hakone::gateway {

namespace fs = std::filesystem;
namespace json = boost::json;

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// ---------------------------------------------------------------------------------------------
// Times

namespace {

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// "2024-05-01", "2024-05-01T09:00", "2024-05-01T09:00:00[.123]" as local time.
std::optional<int64_t> ParseLocalTime(std::string_view s) {
  if (s.size() < 10 || !AllDigits(s.substr(0, 4)) || s[4] != '-' || !AllDigits(s.substr(5, 2)) || s[7] != '-' ||
      !AllDigits(s.substr(8, 2))) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = std::stoi(std::string(s.substr(0, 4))) - 1900;
  tm.tm_mon = std::stoi(std::string(s.substr(5, 2))) - 1;
  tm.tm_mday = std::stoi(std::string(s.substr(8, 2)));
  int64_t frac_us = 0;
  if (s.size() > 10) {
    if ((s[10] != 'T' && s[10] != ' ') || s.size() < 16 || !AllDigits(s.substr(11, 2)) || s[13] != ':' ||
        !AllDigits(s.substr(14, 2))) {
      return std::nullopt;
    }
    tm.tm_hour = std::stoi(std::string(s.substr(11, 2)));
    tm.tm_min = std::stoi(std::string(s.substr(14, 2)));
    size_t pos = 16;
    if (s.size() > 16) {
      if (s[16] != ':' || s.size() < 19 || !AllDigits(s.substr(17, 2))) return std::nullopt;
      tm.tm_sec = std::stoi(std::string(s.substr(17, 2)));
      pos = 19;
      if (pos < s.size() && s[pos] == '.') {
        ++pos;
        int64_t scale = 100000;
        size_t start = pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          frac_us += (s[pos] - '0') * scale;
          scale /= 10;
          ++pos;
        }
        if (pos == start) return std::nullopt;
      }
    }
    if (pos != s.size()) return std::nullopt;
  }
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60) {
    return std::nullopt;
  }
  tm.tm_isdst = -1;
  time_t t = std::mktime(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  return static_cast<int64_t>(t) * 1000000 + frac_us;
}

}  // namespace

Result<int64_t> ParseSince(std::string_view text, int64_t now_us) {
  auto bad = [&] {
    return Status::InvalidArgument("'" + std::string(text) +
                                   "' is not a duration (90s, 15m, 1h, 7d) or a time (2024-05-01, "
                                   "2024-05-01T09:00:00Z, 2024-05-01T09:00:00+09:00)");
  };
  if (text.empty()) return bad();
  if (text == "now") return now_us;
  bool looks_like_time = text.find('-') != std::string_view::npos || text.find(':') != std::string_view::npos;
  if (!looks_like_time) {
    auto d = ParseDuration(text);
    if (!d.ok()) return bad();
    return now_us - std::chrono::duration_cast<std::chrono::microseconds>(*d).count();
  }
  auto r = store::ParseRfc3339Micros(text);
  if (r.ok()) return *r;
  if (auto l = ParseLocalTime(text)) return *l;
  return bad();
}

// ---------------------------------------------------------------------------------------------
// Queries

Result<store::AuditQuery> AuditQueryFromParams(const std::vector<std::pair<std::string, std::string>>& params,
                                               int64_t now_us) {
  store::AuditQuery q;
  for (const auto& [k, v] : params) {
    if (k == "user") {
      q.user = v;
    } else if (k == "since" || k == "until") {
      auto t = ParseSince(v, now_us);
      if (!t.ok()) return Status::InvalidArgument(k + ": " + t.status().message());
      (k == "since" ? q.since_us : q.until_us) = *t;
    } else if (k == "path") {
      q.path_glob = v;
    } else if (k == "method") {
      q.method = v;
    } else if (k == "status") {
      q.status = v;
    } else if (k == "ip") {
      q.ip_cidr = v;
    } else if (k == "limit") {
      if (!AllDigits(v) || v.size() > 9) return Status::InvalidArgument("limit: '" + v + "' is not a number (0 = no limit)");
      q.limit = static_cast<size_t>(std::stoull(v));
    } else if (k == "order") {
      if (v == "newest_first" || v == "desc") q.newest_first = true;
      else if (v == "oldest_first" || v == "asc") q.newest_first = false;
      else return Status::InvalidArgument("order: '" + v + "' must be newest_first or oldest_first");
    } else {
      return Status::InvalidArgument("unknown parameter '" + k + "' (user, since, until, path, method, status, ip, limit, order)");
    }
  }
  HAKONE_RETURN_IF_ERROR(store::ValidateAuditQuery(q));
  return q;
}

json::object AuditQueryToJson(const store::AuditQuery& q) {
  json::object o;
  if (q.user) o["user"] = *q.user;
  if (q.since_us) o["since"] = store::FormatRfc3339Micros(*q.since_us);
  if (q.until_us) o["until"] = store::FormatRfc3339Micros(*q.until_us);
  if (q.path_glob) o["path"] = *q.path_glob;
  if (q.method) o["method"] = *q.method;
  if (q.status) o["status"] = *q.status;
  if (q.ip_cidr) o["ip"] = *q.ip_cidr;
  o["limit"] = static_cast<uint64_t>(q.limit);
  o["order"] = q.newest_first ? "newest_first" : "oldest_first";
  return o;
}

namespace {

Status ParseInto(std::string_view line, json::array* out) {
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec || !v.is_object()) {
    json::object o;
    o["unparsable_event"] = line;
    out->push_back(std::move(o));
    return Status::Ok();
  }
  out->push_back(std::move(v));
  return Status::Ok();
}

}  // namespace

Result<json::array> SearchAudit(const store::AuditStore& st, const store::AuditQuery& q) {
  json::array out;
  HAKONE_RETURN_IF_ERROR(st.Query(q, [&](std::string_view line) {
    (void)ParseInto(line, &out);
    return true;
  }));
  return out;
}

Result<json::array> TimelineAudit(const store::AuditStore& st, store::AuditQuery q) {
  if (!q.user) return Status::InvalidArgument("user: required for a timeline");
  q.newest_first = false;
  return SearchAudit(st, q);
}

Result<std::vector<WhoRow>> WhoAudit(const store::AuditStore& st, const store::AuditQuery& q) {
  if (!q.path_glob) return Status::InvalidArgument("path: required (who touched which path?)");
  store::AuditQuery all = q;
  all.limit = 0;
  all.newest_first = false;
  std::map<std::string, WhoRow> rows;
  HAKONE_RETURN_IF_ERROR(st.Query(all, [&](std::string_view line) {
    std::string user = "?";
    std::string time;
    store::ForEachTopLevelMember(line, [&](std::string_view k, std::string_view v) {
      if (k == "user") user = store::JsonStringValue(v).value_or("?");
      else if (k == "time") time = store::JsonStringValue(v).value_or(std::string(v));
      return true;
    });
    int64_t t = store::EventTimeMicros(line);
    auto [it, inserted] = rows.try_emplace(user);
    WhoRow& r = it->second;
    if (inserted) {
      r.user = user;
      r.first_us = r.last_us = t;
      r.first_time = r.last_time = time;
    }
    ++r.count;
    if (t < r.first_us) {
      r.first_us = t;
      r.first_time = time;
    }
    if (t >= r.last_us) {
      r.last_us = t;
      r.last_time = time;
    }
    return true;
  }));
  std::vector<WhoRow> out;
  out.reserve(rows.size());
  for (auto& [u, r] : rows) out.push_back(std::move(r));
  std::sort(out.begin(), out.end(), [](const WhoRow& a, const WhoRow& b) {
    if (a.count != b.count) return a.count > b.count;
    return a.user < b.user;
  });
  if (q.limit && out.size() > q.limit) out.resize(q.limit);
  return out;
}

json::array WhoToJson(const std::vector<WhoRow>& rows) {
  json::array a;
  for (const auto& r : rows) {
    json::object o;
    o["user"] = r.user;
    o["count"] = r.count;
    o["first"] = r.first_time;
    o["last"] = r.last_time;
    a.push_back(std::move(o));
  }
  return a;
}

std::string AuditQueriesPath(const std::string& data_dir) {
  return (fs::path(store::AuditStoreDir(data_dir)) / "queries.jsonl").string();
}

std::string CurrentOsUser() {
  if (passwd* pw = ::getpwuid(::geteuid()); pw && pw->pw_name) return pw->pw_name;
  if (const char* u = std::getenv("USER"); u && *u) return u;
  return "uid:" + std::to_string(::geteuid());
}

Status RecordAuditQuery(const std::string& data_dir, std::string_view actor, std::string_view command,
                        const json::object& query) {
  std::string dir = store::AuditStoreDir(data_dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::NotFound("no audit log in " + data_dir);
  json::object o;
  o["time"] = store::FormatRfc3339Micros(NowMicros());
  o["actor"] = actor;
  o["os_user"] = CurrentOsUser();
  o["command"] = command;
  o["query"] = query;
  std::string line = json::serialize(o);
  line.push_back('\n');
  std::string path = AuditQueriesPath(data_dir);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  Status st = store::WriteAll(fd, line);
  if (st.ok() && ::fdatasync(fd) != 0) st = Status::FromErrno("fdatasync " + path, errno);
  ::close(fd);
  return st;
}

// ---------------------------------------------------------------------------------------------
// Table output

namespace {

// Display width of a UTF-8 string (East Asian wide characters count two columns).
size_t DisplayWidth(std::string_view s) {
  size_t w = 0;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t n;
    if (c < 0x80) {
      cp = c;
      n = 1;
    } else if ((c >> 5) == 6) {
      cp = c & 0x1f;
      n = 2;
    } else if ((c >> 4) == 14) {
      cp = c & 0x0f;
      n = 3;
    } else if ((c >> 3) == 30) {
      cp = c & 0x07;
      n = 4;
    } else {
      ++w;
      ++i;
      continue;
    }
    for (size_t k = 1; k < n && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    i += n;
    bool wide = (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) || (cp >= 0xAC00 && cp <= 0xD7A3) ||
                (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
                (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1FAFF) || (cp >= 0x20000 && cp <= 0x3FFFD);
    w += wide ? 2 : 1;
  }
  return w;
}

// Replaces control characters (which a logged request could use to drive a terminal) and
// cuts long cells.
std::string Cell(std::string s, size_t max_width = 80) {
  for (auto& c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  // Also C1 controls (U+0080..U+009F, encoded C2 80..C2 9F).
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (static_cast<unsigned char>(s[i]) == 0xC2 && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
      s.replace(i, 2, "?");
    }
  }
  if (DisplayWidth(s) > max_width) {
    std::string out;
    size_t i = 0;
    while (i < s.size() && DisplayWidth(out) < max_width - 3) {
      size_t n = 1;
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (c >= 0xF0) n = 4;
      else if (c >= 0xE0) n = 3;
      else if (c >= 0xC0) n = 2;
      out.append(s, i, n);
      i += n;
    }
    s = out + "...";
  }
  return s;
}

std::string FieldText(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return "-";
  const json::value& v = it->value();
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_double()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v.get_double());
    return buf;
  }
  return json::serialize(v);
}

std::string Table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t i = 0; i < header.size(); ++i) w[i] = DisplayWidth(header[i]);
  for (auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], DisplayWidth(r[i]));
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& r) {
    std::string l;
    for (size_t i = 0; i < r.size(); ++i) {
      l += r[i];
      if (i + 1 < r.size()) l.append(w[i] - DisplayWidth(r[i]) + 2, ' ');
    }
    out += l + "\n";
  };
  line(header);
  for (auto& r : rows) line(r);
  return out;
}

}  // namespace

std::string FormatEventTable(const std::vector<json::object>& events, bool with_user) {
  std::vector<std::string> header = {"TIME"};
  if (with_user) header.push_back("USER");
  for (const char* h : {"CLIENT_IP", "METHOD", "PATH", "STATUS", "TOTAL_MS"}) header.push_back(h);
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : events) {
    std::vector<std::string> r = {Cell(FieldText(e, "time"))};
    if (with_user) r.push_back(Cell(FieldText(e, "user"), 32));
    r.push_back(Cell(FieldText(e, "client_ip"), 40));
    r.push_back(Cell(FieldText(e, "method"), 10));
    r.push_back(Cell(FieldText(e, "path")));
    r.push_back(Cell(FieldText(e, "status"), 6));
    r.push_back(Cell(FieldText(e, "total_ms"), 12));
    rows.push_back(std::move(r));
  }
  return Table(header, rows);
}

// ---------------------------------------------------------------------------------------------
// The CLI

namespace {

constexpr const char* kDefaultDataDir = "./hakone-data";

void Usage(FILE* out) {
  std::fputs(
      "Usage: hakone audit <command> [flags]\n\n"
      "Search, verify and export the operation log that hakone gateway records.\n\n"
      "Commands:\n"
      "  verify      check the hash chain and the signed checkpoints (exit 1 names the first bad seq)\n"
      "  search      find events by user, time, path, method, status, client IP\n"
      "  timeline    what one user did, oldest first\n"
      "  who         which users touched a path (e.g. /candidates/123)\n"
      "  export-key  print the public key that verifies the checkpoints\n\n"
      "Run 'hakone audit <command> --help' for its flags.\n",
      out);
}

// The flags shared by search/timeline/who.
struct QueryFlags {
  std::string data_dir = kDefaultDataDir;
  std::string user, since, until, path, method, status, ip, actor;
  int64_t limit = 100;
  bool json_out = false;
};

int UsageError(const std::string& cmd, const std::string& msg) {
  std::fprintf(stderr, "hakone audit %s: %s\nRun 'hakone audit %s --help' for usage.\n", cmd.c_str(), msg.c_str(), cmd.c_str());
  return 2;
}

int Failure(const std::string& cmd, const std::string& msg) {
  std::fprintf(stderr, "hakone audit %s: %s\n", cmd.c_str(), msg.c_str());
  return 1;
}

// Builds the query from flags; returns an exit code >= 0 on a usage error.
int BuildQuery(const std::string& cmd, FlagSet& f, const QueryFlags& qf, store::AuditQuery* q) {
  int64_t now = NowMicros();
  if (f.WasSet("user")) q->user = qf.user;
  if (f.WasSet("path")) q->path_glob = qf.path;
  if (f.WasSet("method")) q->method = qf.method;
  if (f.WasSet("status")) q->status = qf.status;
  if (f.WasSet("ip")) q->ip_cidr = qf.ip;
  if (f.WasSet("since")) {
    auto t = ParseSince(qf.since, now);
    if (!t.ok()) return UsageError(cmd, "--since: " + t.status().message());
    q->since_us = *t;
  }
  if (f.WasSet("until")) {
    auto t = ParseSince(qf.until, now);
    if (!t.ok()) return UsageError(cmd, "--until: " + t.status().message());
    q->until_us = *t;
  }
  if (qf.limit < 0 || qf.limit > 100000000) return UsageError(cmd, "--limit: must be between 0 (no limit) and 100000000");
  q->limit = static_cast<size_t>(qf.limit);
  if (Status st = store::ValidateAuditQuery(*q); !st.ok()) {
    std::string m = st.message();
    // "status: ..." → "--status: ..."
    for (const char* name : {"user", "path", "method", "status", "ip", "since"}) {
      std::string p = std::string(name) + ":";
      if (m.rfind(p, 0) == 0) {
        m = "--" + m;
        break;
      }
    }
    return UsageError(cmd, m);
  }
  if (qf.data_dir.empty()) return UsageError(cmd, "--data-dir: must not be empty");
  return -1;
}

// Opens the store read-only and records the query. Returns an exit code >= 0 on failure.
int OpenAndRecord(const std::string& cmd, const QueryFlags& qf, const store::AuditQuery& q,
                  std::unique_ptr<store::AuditStore>* out) {
  store::AuditStoreOptions so;
  so.spool_dir = store::AuditSpoolDir(qf.data_dir);
  auto st = store::AuditStore::Open(store::AuditStoreDir(qf.data_dir), nullptr, so);
  if (!st.ok()) {
    if (st.status().code() == StatusCode::kNotFound)
      return Failure(cmd, "no audit log in " + qf.data_dir + " (is --data-dir the gateway's data directory?)");
    return Failure(cmd, st.status().message());
  }
  std::string actor = qf.actor.empty() ? CurrentOsUser() : qf.actor;
  if (Status rs = RecordAuditQuery(qf.data_dir, actor, cmd, AuditQueryToJson(q)); !rs.ok()) {
    return Failure(cmd, "refusing to run: every query of the operation log is recorded, and " +
                            AuditQueriesPath(qf.data_dir) + " could not be written (" + rs.message() + ")");
  }
  *out = std::move(*st);
  return -1;
}

void AddQueryFlags(FlagSet& f, QueryFlags& qf, bool user, bool path_required) {
  f.String("data-dir", &qf.data_dir, "DIR", "the gateway's data directory (default ./hakone-data)");
  if (user) f.String("user", &qf.user, "USER", "only this user (exact)");
  f.String("since", &qf.since, "WHEN", "from this time: 1h, 30m, 7d (ago) or ISO 8601 (2024-05-01T09:00:00+09:00)");
  f.String("until", &qf.until, "WHEN", "before this time (same forms as --since)");
  f.String("path", &qf.path, "GLOB",
           std::string(path_required ? "required: " : "") + "path or route glob; * matches anything (also /), ? one character");
  if (!path_required) {
    f.String("method", &qf.method, "METHOD", "only this HTTP method (GET, POST, ...)");
    f.String("status", &qf.status, "STATUS", "a status class (2xx, 4xx, 5xx) or code (404)");
    f.String("ip", &qf.ip, "CIDR", "client IP in these networks (10.0.0.0/8, 2001:db8::/32, 192.0.2.7; comma-separated)");
  }
  f.Int("limit", &qf.limit, "N",
        std::string(path_required ? "at most N users" : "at most N events") + " (default " + std::to_string(qf.limit) +
            "; 0 = all)");
  f.Bool("json", &qf.json_out, "print JSON lines instead of a table");
  f.String("actor", &qf.actor, "NAME", "who is asking, recorded in audit/queries.jsonl (default: the OS user)");
}

int RunSearch(int argc, char** argv, bool timeline) {
  std::string cmd = timeline ? "timeline" : "search";
  QueryFlags qf;
  std::vector<std::string> positional;
  FlagSet f("hakone audit " + cmd, timeline ? "Shows what one user did, oldest first." : "Searches the operation log, newest first.");
  if (timeline) {
    qf.limit = 1000;
    f.Positional(&positional, "USER");
  }
  AddQueryFlags(f, qf, !timeline, false);
  f.Epilog(timeline ? "Examples:\n"
                      "  hakone audit timeline alice --data-dir ./data --since 1d\n"
                      "  hakone audit timeline alice --data-dir ./data --since 2024-05-01 --until 2024-05-02 --json\n"
                    : "Examples:\n"
                      "  hakone audit search --data-dir ./data --user alice --since 1h\n"
                      "  hakone audit search --data-dir ./data --path '/candidates/*' --method POST --status 5xx\n"
                      "  hakone audit search --data-dir ./data --ip 10.0.0.0/8 --since 2024-05-01T09:00:00+09:00 --json\n");
  if (int rc = f.ParseOrExit(argc, argv, 2); rc >= 0) return rc;
  store::AuditQuery q;
  q.newest_first = !timeline;
  if (timeline) {
    if (positional.size() != 1) return UsageError(cmd, "expected exactly one USER (hakone audit timeline USER)");
    q.user = positional[0];
  }
  if (int rc = BuildQuery(cmd, f, qf, &q); rc >= 0) return rc;
  std::unique_ptr<store::AuditStore> st;
  if (int rc = OpenAndRecord(cmd, qf, q, &st); rc >= 0) return rc;
  std::vector<json::object> events;
  Status qs = st->Query(q, [&](std::string_view line) {
    if (qf.json_out) {
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fputc('\n', stdout);
      events.emplace_back();
      return true;
    }
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    events.push_back(!ec && v.is_object() ? std::move(v.as_object()) : json::object{});
    return true;
  });
  if (!qs.ok()) return Failure(cmd, qs.message());
  if (qf.json_out) return 0;
  if (events.empty()) {
    std::printf("no matching events\n");
    return 0;
  }
  std::fputs(FormatEventTable(events, !timeline).c_str(), stdout);
  std::printf("\n%zu event%s, %s", events.size(), events.size() == 1 ? "" : "s", timeline ? "oldest first" : "newest first");
  if (q.limit && events.size() >= q.limit) std::printf(" (limit %zu reached: raise --limit to see more)", q.limit);
  std::printf("\n");
  return 0;
}

int RunWho(int argc, char** argv) {
  std::string cmd = "who";
  QueryFlags qf;
  FlagSet f("hakone audit who", "Lists the users who touched a path: how many requests, first and last time.");
  AddQueryFlags(f, qf, false, true);
  f.Epilog(
      "Examples:\n"
      "  hakone audit who --path /candidates/123 --data-dir ./data\n"
      "  hakone audit who --path '/candidates/*' --data-dir ./data --since 7d --json\n");
  if (int rc = f.ParseOrExit(argc, argv, 2); rc >= 0) return rc;
  if (!f.WasSet("path")) return UsageError(cmd, "--path GLOB is required (e.g. --path /candidates/123)");
  store::AuditQuery q;
  if (int rc = BuildQuery(cmd, f, qf, &q); rc >= 0) return rc;
  std::unique_ptr<store::AuditStore> st;
  if (int rc = OpenAndRecord(cmd, qf, q, &st); rc >= 0) return rc;
  auto rows = WhoAudit(*st, q);
  if (!rows.ok()) return Failure(cmd, rows.status().message());
  if (qf.json_out) {
    for (const auto& v : WhoToJson(*rows)) std::printf("%s\n", json::serialize(v).c_str());
    return 0;
  }
  if (rows->empty()) {
    std::printf("nobody touched %s\n", Cell(qf.path).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> cells;
  for (const auto& r : *rows) {
    cells.push_back({Cell(r.user, 40), std::to_string(r.count), Cell(r.first_time), Cell(r.last_time)});
  }
  std::fputs(Table({"USER", "REQUESTS", "FIRST", "LAST"}, cells).c_str(), stdout);
  return 0;
}

int RunVerify(int argc, char** argv) {
  std::string data_dir = kDefaultDataDir, key_file;
  bool json_out = false;
  FlagSet f("hakone audit verify",
            "Checks that the operation log is intact: every event's hash, the chain of prev_hash links,\n"
            "seq continuity, and every signed checkpoint. Exit 0: intact; exit 1: names the first bad seq\n"
            "and why (altered, deleted, inserted, reordered, rewritten, truncated, bad checkpoint, damaged).");
  f.String("data-dir", &data_dir, "DIR", "the gateway's data directory (default ./hakone-data)");
  f.String("public-key", &key_file, "FILE",
           "verify checkpoints with this public key (PEM or hex) instead of the data directory's own;\n"
           "                            use a copy exported with export-key and kept elsewhere");
  f.Bool("json", &json_out, "print the report as JSON");
  f.Epilog(
      "Examples:\n"
      "  hakone audit verify --data-dir ./data\n"
      "  hakone audit export-key --data-dir ./data > audit.pub   # once, keep it safe\n"
      "  hakone audit verify --data-dir ./data --public-key audit.pub\n");
  if (int rc = f.ParseOrExit(argc, argv, 2); rc >= 0) return rc;
  if (data_dir.empty()) return UsageError("verify", "--data-dir: must not be empty");
  if (f.WasSet("public-key") && key_file.empty()) return UsageError("verify", "--public-key: must not be empty");
  VerifyReport r;
  Status st = VerifyAudit(data_dir, key_file, &r);
  if (!st.ok() && st.code() != StatusCode::kCorruption) return Failure("verify", st.message());
  if (json_out) {
    json::object o;
    o["intact"] = r.ok();
    o["events"] = r.events;
    o["first_seq"] = r.first_seq;
    o["last_seq"] = r.last_seq;
    o["checkpoints"] = r.checkpoints;
    o["last_checkpoint_seq"] = r.last_checkpoint_seq;
    o["last_checkpoint_time"] = r.last_checkpoint_time;
    o["unsigned_events"] = r.unsigned_events;
    if (!r.ok()) o["first_bad_seq"] = r.problems.front().seq;
    json::array ps;
    for (const auto& p : r.problems) {
      json::object po;
      po["seq"] = p.seq;
      po["kind"] = VerifyProblemKindName(p.kind);
      po["message"] = p.message;
      ps.push_back(std::move(po));
    }
    o["problems"] = std::move(ps);
    json::array notes;
    for (const auto& n : r.notes) notes.push_back(json::string(n));
    o["notes"] = std::move(notes);
    std::printf("%s\n", json::serialize(o).c_str());
    return r.ok() ? 0 : 1;
  }
  if (r.ok()) {
    std::printf("audit log intact: %llu event%s, %llu checkpoint%s", static_cast<unsigned long long>(r.events),
                r.events == 1 ? "" : "s", static_cast<unsigned long long>(r.checkpoints), r.checkpoints == 1 ? "" : "s");
    if (r.checkpoints > 0) {
      std::printf(" (last signed at seq %llu, time %s)", static_cast<unsigned long long>(r.last_checkpoint_seq),
                  r.last_checkpoint_time.c_str());
    }
    std::printf("\n");
    if (r.unsigned_events > 0) {
      std::printf("note: the %llu newest events (after seq %llu) are covered by the hash chain but not yet by a signed checkpoint\n",
                  static_cast<unsigned long long>(r.unsigned_events), static_cast<unsigned long long>(r.last_checkpoint_seq));
    }
    for (const auto& n : r.notes) std::printf("note: %s\n", n.c_str());
    return 0;
  }
  const auto& first = r.problems.front();
  std::printf("audit log NOT intact: first bad seq %llu: %s: %s\n", static_cast<unsigned long long>(first.seq),
              std::string(VerifyProblemKindName(first.kind)).c_str(), first.message.c_str());
  if (r.problems.size() > 1) {
    std::printf("%zu problems in all:\n", r.problems.size());
    size_t shown = 0;
    for (const auto& p : r.problems) {
      if (++shown > 20) {
        std::printf("  ... and %zu more (--json lists them all)\n", r.problems.size() - 20);
        break;
      }
      std::printf("  seq %llu: %s: %s\n", static_cast<unsigned long long>(p.seq),
                  std::string(VerifyProblemKindName(p.kind)).c_str(), p.message.c_str());
    }
  }
  std::printf("read %llu events (seq %llu..%llu), %llu valid checkpoints\n", static_cast<unsigned long long>(r.events),
              static_cast<unsigned long long>(r.first_seq), static_cast<unsigned long long>(r.last_seq),
              static_cast<unsigned long long>(r.checkpoints));
  return 1;
}

int RunExportKey(int argc, char** argv) {
  std::string data_dir = kDefaultDataDir;
  bool hex = false;
  FlagSet f("hakone audit export-key",
            "Prints the public key that verifies the audit checkpoints (PEM, as openssl reads it).\n"
            "Keep a copy away from the gateway host and pass it to 'hakone audit verify --public-key'.");
  f.String("data-dir", &data_dir, "DIR", "the gateway's data directory (default ./hakone-data)");
  f.Bool("hex", &hex, "print the 32-byte key as 64 hex digits instead of PEM");
  f.Epilog("Example:\n  hakone audit export-key --data-dir ./data > audit-ed25519.pub\n");
  if (int rc = f.ParseOrExit(argc, argv, 2); rc >= 0) return rc;
  std::string path = AuditPublicKeyPath(data_dir);
  FILE* fp = std::fopen(path.c_str(), "rb");
  if (!fp) return Failure("export-key", "no public key at " + path + " (has the gateway run with --data-dir " + data_dir + "?)");
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, fp)) > 0) text.append(buf, n);
  std::fclose(fp);
  auto pk = ParsePublicKey(text);
  if (!pk.ok()) return Failure("export-key", path + ": " + pk.status().message());
  if (hex) {
    static const char* d = "0123456789abcdef";
    std::string h;
    for (uint8_t b : *pk) {
      h.push_back(d[b >> 4]);
      h.push_back(d[b & 15]);
    }
    std::printf("%s\n", h.c_str());
  } else {
    std::fputs(PublicKeyPem(*pk).c_str(), stdout);
  }
  return 0;
}

}  // namespace

int RunAuditCli(int argc, char** argv) {
  if (argc < 2) {
    Usage(stderr);
    return 2;
  }
  std::string sub = argv[1];
  if (sub == "--help" || sub == "-h" || sub == "help") {
    Usage(stdout);
    return 0;
  }
  if (sub == "verify") return RunVerify(argc, argv);
  if (sub == "search") return RunSearch(argc, argv, false);
  if (sub == "timeline") return RunSearch(argc, argv, true);
  if (sub == "who") return RunWho(argc, argv);
  if (sub == "export-key") return RunExportKey(argc, argv);
  std::fprintf(stderr, "hakone audit: unknown command '%s' (verify, search, timeline, who, export-key)\n", sub.c_str());
  return 2;
}

}  // namespace hakone::gateway
