// Every transform type: parse (json, logfmt, regex, nginx, apache, syslog), set, rename, remove,
// redact, filter, sample, timestamp. Each is a config struct (defaults, a comment per field),
// Validate() and Build(); ReadTransform() maps a type name to its reader.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/crc32c.h"
#include "core/redact.h"
#include "pipeline/component.h"
#include "pipeline/parse.h"

namespace hakone::pipeline {
namespace {

// Marks a parse failure: the raw message stays, `_parse_error` says why.
void MarkError(Event& e, const std::string& why) { e.fields["_parse_error"] = why; }

// Merges parsed fields into the event (under `target` when set).
void Merge(Event& e, boost::json::object&& parsed, const std::string& target) {
  if (!target.empty()) {
    e.fields[target] = std::move(parsed);
    return;
  }
  for (auto& kv : parsed) e.fields[kv.key()] = std::move(kv.value());
}

// The text a parser reads: `field` if set and a string, else the message.
const std::string_view InputText(const Event& e, const std::string& field, std::string* buf) {
  if (field.empty() || field == "message") {
    if (field == "message" && !e.fields.empty())
      if (auto* v = e.fields.if_contains("message"); v && v->is_string()) return v->as_string();
    return e.message;
  }
  const boost::json::value* v = e.fields.empty() ? nullptr : LookupField(e.fields, field);
  if (!v) return {};
  if (v->is_string()) return v->as_string();
  *buf = boost::json::serialize(*v);
  return *buf;
}

// --- parse ----------------------------------------------------------------------------------

struct ParseConfig : TransformConfig {
  std::string type;     // json | logfmt | regex | nginx | apache | syslog
  std::string field;    // field to parse; default: the message
  std::string target;   // put the parsed fields under this key; default: merge at the top level
  std::string pattern;  // regex only: a PCRE2 pattern with named captures (?<name>...)
  bool drop_message = false;  // remove the raw message text from the formatted output once parsed

  Status Validate() const override {
    if (type == "regex" && pattern.empty()) return Status::InvalidArgument("pattern is required for a regex transform");
    if (type != "regex" && !pattern.empty()) return Status::InvalidArgument("pattern is only for type = \"regex\"");
    if (type == "regex") {
      auto r = Regex::Compile(pattern);
      if (!r.ok()) return r.status();
    }
    return Status::Ok();
  }
  Result<std::unique_ptr<Transform>> Build(const BuildContext&) const override;
  std::string Describe() const override {
    std::string d = type;
    if (!field.empty()) d += " field=" + field;
    if (!pattern.empty()) d += " pattern=" + pattern;
    return d;
  }
};

class ParseTransform : public Transform {
 public:
  ParseTransform(ParseConfig c, std::shared_ptr<Regex> re) : c_(std::move(c)), re_(std::move(re)) {}
  bool Apply(Event& e) const override {
    std::string buf;
    std::string_view in = InputText(e, c_.field, &buf);
    boost::json::object out;
    Status st;
    if (c_.type == "json") {
      boost::system::error_code ec;
      auto v = boost::json::parse(in, ec);
      if (ec) st = Status::InvalidArgument("json: " + ec.message());
      else if (!v.is_object()) st = Status::InvalidArgument("json: not an object");
      else out = std::move(v.as_object());
    } else if (c_.type == "logfmt") {
      st = ParseLogfmt(in, &out);
    } else if (c_.type == "regex") {
      auto caps = re_->Captures(in);
      if (!caps) st = Status::InvalidArgument("regex: no match");
      else
        for (auto& [k, v] : *caps) out[k] = v;
    } else if (c_.type == "nginx" || c_.type == "apache") {
      st = ParseCombinedLog(in, &out);
    } else if (c_.type == "syslog") {
      SyslogMessage m;
      st = ParseSyslog(in, e.ingest_ns ? e.ingest_ns : NowNs(), &m);
      if (st.ok()) {
        SyslogToFields(m, &out);
        if (m.ts_ns) e.ts_ns = m.ts_ns;
      }
    }
    if (!st.ok()) {
      MarkError(e, st.message());
      return true;
    }
    Merge(e, std::move(out), c_.target);
    if (c_.drop_message && c_.field.empty() && !e.fields.contains("message")) e.fields["message"] = nullptr;
    return true;
  }

 private:
  ParseConfig c_;
  std::shared_ptr<Regex> re_;
};

Result<std::unique_ptr<Transform>> ParseConfig::Build(const BuildContext&) const {
  std::shared_ptr<Regex> re;
  if (type == "regex") {
    auto r = Regex::Compile(pattern);
    if (!r.ok()) return r.status();
    re = *r;
  }
  return std::unique_ptr<Transform>(new ParseTransform(*this, re));
}

// --- set / rename / remove -------------------------------------------------------------------

struct SetConfig : TransformConfig {
  std::vector<std::pair<std::string, std::string>> fields;  // field = value (strings)
  bool overwrite = true;  // false: keep a field that is already present
  Status Validate() const override {
    if (fields.empty()) return Status::InvalidArgument("fields = { name = \"value\" } is required");
    return Status::Ok();
  }
  Result<std::unique_ptr<Transform>> Build(const BuildContext&) const override;
  std::string Describe() const override { return std::to_string(fields.size()) + " field(s)"; }
};
class SetTransform : public Transform {
 public:
  explicit SetTransform(SetConfig c) : c_(std::move(c)) {}
  bool Apply(Event& e) const override {
    for (auto& [k, v] : c_.fields)
      if (c_.overwrite || !e.fields.contains(k)) e.fields[k] = v;
    return true;
  }
  SetConfig c_;
};
Result<std::unique_ptr<Transform>> SetConfig::Build(const BuildContext&) const {
  return std::unique_ptr<Transform>(new SetTransform(*this));
}

struct RenameConfig : TransformConfig {
  std::vector<std::pair<std::string, std::string>> fields;  // from = "to"
  Status Validate() const override {
    if (fields.empty()) return Status::InvalidArgument("fields = { from = \"to\" } is required");
    return Status::Ok();
  }
  Result<std::unique_ptr<Transform>> Build(const BuildContext&) const override;
  std::string Describe() const override { return std::to_string(fields.size()) + " field(s)"; }
};
class RenameTransform : public Transform {
 public:
  explicit RenameTransform(RenameConfig c) : c_(std::move(c)) {}
  bool Apply(Event& e) const override {
    for (auto& [from, to] : c_.fields) {
      auto it = e.fields.find(from);
      if (it == e.fields.end()) continue;
      boost::json::value v = std::move(it->value());
      e.fields.erase(it);
      e.fields[to] = std::move(v);
    }
    return true;
  }
  RenameConfig c_;
};
Result<std::unique_ptr<Transform>> RenameConfig::Build(const BuildContext&) const {
  return std::unique_ptr<Transform>(new RenameTransform(*this));
}

struct RemoveConfig : TransformConfig {
  std::vector<std::string> fields;  // names of top-level fields to remove
  Status Validate() const override {
    if (fields.empty()) return Status::InvalidArgument("fields = [\"name\", ...] is required");
    return Status::Ok();
  }
  Result<std::unique_ptr<Transform>> Build(const BuildContext&) const override;
  std::string Describe() const override { return std::to_string(fields.size()) + " field(s)"; }
};
class RemoveTransform : public Transform {
 public:
  explicit RemoveTransform(RemoveConfig c) : c_(std::move(c)) {}
  bool Apply(Event& e) const override {
    for (auto& f : c_.fields) e.fields.erase(f);
    return true;
  }
  RemoveConfig c_;
};
Result<std::unique_ptr<Transform>> RemoveConfig::Build(const BuildContext&) const {
  return std::unique_ptr<Transform>(new RemoveTransform(*this));
}

// --- redact ----------------------------------------------------------------------------------

struct RedactConfig : TransformConfig {
  std::vector<std::string> fields;  // secret field names (word matching, see core/redact.h); default: redact.h's list
  Status Validate() const override { return Status::Ok(); }
  Result<std::unique_ptr<Transform>> Build(const BuildContext&) const override;
  std::string Describe() const override { return fields.empty() ? "default fields" : std::to_string(fields.size()) + " field(s)"; }
};
class RedactTransform : public Transform {
 public:
  explicit RedactTransform(RedactOptions o) : r_(std::move(o)) {}
  bool Apply(Event& e) const override {
    e.message = r_.RedactText(e.message);
    if (!e.fields.empty()) {
      bool bad = false;
      std::string j = r_.RedactJson(boost::json::serialize(e.fields), &bad);
      boost::system::error_code ec;
      auto v = boost::json::parse(j, ec);
      if (!ec && v.is_object()) e.fields = std::move(v.as_object());
    }
    return true;
  }
  Redactor r_;
};
Result<std::unique_ptr<Transform>> RedactConfig::Build(const BuildContext&) const {
  RedactOptions o;
  if (!fields.empty()) o.fields = fields;
  return std::unique_ptr<Transform>(new RedactTransform(std::move(o)));
}

// --- filter ----------------------------------------------------------------------------------

struct FilterConfig : TransformConfig {
  std::string condition;  // query (see parse.h's Query): events that match are kept
  bool invert = false;    // true: drop the events that match instead
  Status Validate() const override {
    if (condition.empty()) return Status::InvalidArgument("condition is required");
    auto q = Query::Parse(condition);
    return q.ok() ? Status::Ok() : q.status();
  }
  Result<std::unique_ptr<Transform>> Build(const BuildContext&) const override;
  std::string Describe() const override { return (invert ? "drop " : "keep ") + condition; }
};
class FilterTransform : public Transform {
 public:
  FilterTransform(std::shared_ptr<Query> q, bool invert) : q_(std::move(q)), invert_(invert) {}
  bool Apply(Event& e) const override { return q_->Matches(e) != invert_; }
  std::shared_ptr<Query> q_;
  bool invert_;
};
Result<std::unique_ptr<Transform>> FilterConfig::Build(const BuildContext&) const {
  auto q = Query::Parse(condition);
  if (!q.ok()) return q.status();
  return std::unique_ptr<Transform>(new FilterTransform(*q, invert));
}

// --- sample ----------------------------------------------------------------------------------

struct SampleConfig : TransformConfig {
  int64_t rate = 10;       // keep 1 in `rate` events
  std::string key_field;   // hash this field (default: the message) so the choice is stable across retries
  std::string exclude;     // query: matching events are always kept (e.g. "level:error")
  Status Validate() const override {
    if (rate < 1) return Status::InvalidArgument("rate must be >= 1");
    if (!exclude.empty()) {
      auto q = Query::Parse(exclude);
      if (!q.ok()) return q.status();
    }
    return Status::Ok();
  }
  Result<std::unique_ptr<Transform>> Build(const BuildContext&) const override;
  std::string Describe() const override { return "1 in " + std::to_string(rate); }
};
class SampleTransform : public Transform {
 public:
  SampleTransform(SampleConfig c, std::shared_ptr<Query> ex) : c_(std::move(c)), ex_(std::move(ex)) {}
  bool Apply(Event& e) const override {
    if (ex_ && ex_->Matches(e)) return true;
    std::string buf;
    std::string_view key = InputText(e, c_.key_field, &buf);
    // Deterministic: the same record is kept or dropped the same way when it is re-read after
    // a restart, so sampling never turns a retry into a different set of events.
    uint32_t h = crc32c::Value(key.data(), key.size()) ^ static_cast<uint32_t>(e.ts_ns);
    h *= 2654435761u;
    return (h % static_cast<uint32_t>(c_.rate)) == 0;
  }
  SampleConfig c_;
  std::shared_ptr<Query> ex_;
};
Result<std::unique_ptr<Transform>> SampleConfig::Build(const BuildContext&) const {
  std::shared_ptr<Query> ex;
  if (!exclude.empty()) {
    auto q = Query::Parse(exclude);
    if (!q.ok()) return q.status();
    ex = *q;
  }
  return std::unique_ptr<Transform>(new SampleTransform(*this, ex));
}

// --- timestamp -------------------------------------------------------------------------------

struct TimestampConfig : TransformConfig {
  std::string field = "timestamp";  // field holding the time
  std::string format = "rfc3339";   // rfc3339 | unix | unix_ms | clf | syslog | a strptime format
  bool remove = false;              // remove the field once parsed (it becomes @timestamp)
  Status Validate() const override {
    if (field.empty()) return Status::InvalidArgument("field must not be empty");
    return Status::Ok();
  }
  Result<std::unique_ptr<Transform>> Build(const BuildContext&) const override;
  std::string Describe() const override { return field + " as " + format; }
};
class TimestampTransform : public Transform {
 public:
  explicit TimestampTransform(TimestampConfig c) : c_(std::move(c)) {}
  bool Apply(Event& e) const override {
    const boost::json::value* v = e.fields.empty() ? nullptr : LookupField(e.fields, c_.field);
    if (!v) {
      MarkError(e, "timestamp: field '" + c_.field + "' is missing");
      return true;
    }
    std::string text;
    if (v->is_string()) text.assign(v->as_string());
    else if (v->is_int64()) text = std::to_string(v->as_int64());
    else if (v->is_uint64()) text = std::to_string(v->as_uint64());
    else if (v->is_double()) text = std::to_string(v->as_double());
    auto t = ParseTime(text, c_.format, e.ingest_ns ? e.ingest_ns : NowNs());
    if (!t.ok()) {
      MarkError(e, t.status().message());
      return true;
    }
    e.ts_ns = *t;
    if (c_.remove) e.fields.erase(c_.field);
    return true;
  }
  TimestampConfig c_;
};
Result<std::unique_ptr<Transform>> TimestampConfig::Build(const BuildContext&) const {
  return std::unique_ptr<Transform>(new TimestampTransform(*this));
}

std::vector<std::pair<std::string, std::string>> StringTable(const ConfigSection& s, const char* key) {
  std::vector<std::pair<std::string, std::string>> out;
  auto t = s.Section(key);
  if (!t.present()) return out;
  for (const auto& k : t.Keys()) out.emplace_back(k, t.String(k, ""));
  return out;
}

}  // namespace

std::unique_ptr<TransformConfig> ReadTransform(const std::string& type, const ConfigSection& s) {
  if (type == "json" || type == "logfmt" || type == "regex" || type == "nginx" || type == "apache" || type == "syslog") {
    auto c = std::make_unique<ParseConfig>();
    c->type = type;
    c->field = s.String("field", "");
    c->target = s.String("target", "");
    c->pattern = s.String("pattern", "");
    c->drop_message = s.Bool("drop_message", false);
    return c;
  }
  if (type == "set") {
    auto c = std::make_unique<SetConfig>();
    c->fields = StringTable(s, "fields");
    c->overwrite = s.Bool("overwrite", true);
    return c;
  }
  if (type == "rename") {
    auto c = std::make_unique<RenameConfig>();
    c->fields = StringTable(s, "fields");
    return c;
  }
  if (type == "remove") {
    auto c = std::make_unique<RemoveConfig>();
    c->fields = s.StringList("fields");
    return c;
  }
  if (type == "redact") {
    auto c = std::make_unique<RedactConfig>();
    c->fields = s.StringList("fields");
    return c;
  }
  if (type == "filter") {
    auto c = std::make_unique<FilterConfig>();
    c->condition = s.String("condition", "");
    c->invert = s.Bool("invert", false);
    return c;
  }
  if (type == "sample") {
    auto c = std::make_unique<SampleConfig>();
    c->rate = s.Int("rate", 10);
    c->key_field = s.String("key_field", "");
    c->exclude = s.String("exclude", "");
    return c;
  }
  if (type == "timestamp") {
    auto c = std::make_unique<TimestampConfig>();
    c->field = s.String("field", c->field);
    c->format = s.String("format", c->format);
    c->remove = s.Bool("remove", false);
    return c;
  }
  return nullptr;
}

}  // namespace hakone::pipeline
