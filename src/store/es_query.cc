#include "store/es_query.h"

#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cmath>
#include <ctime>
#include <set>

#include "store/tz.h"

namespace hakone::store::es {
namespace json = boost::json;
namespace {

Status Parsing(const std::string& reason) { return Status::InvalidArgument("parsing_exception: " + reason); }
Status Illegal(const std::string& reason) { return Status::InvalidArgument("illegal_argument_exception: " + reason); }

std::string Str(const json::value& v) { return json::serialize(v); }

QueryPtr Make(Query q) { return std::make_shared<const Query>(std::move(q)); }

Result<Value> ToValue(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return Value{};
    case json::kind::bool_: return Value{v.get_bool()};
    case json::kind::int64: return Value{v.get_int64()};
    case json::kind::uint64:
      if (v.get_uint64() > static_cast<uint64_t>(INT64_MAX)) return Value{static_cast<double>(v.get_uint64())};
      return Value{static_cast<int64_t>(v.get_uint64())};
    case json::kind::double_: return Value{v.get_double()};
    case json::kind::string: return Value{std::string(v.get_string())};
    default: return Parsing("expected a scalar value, got " + Str(v));
  }
}

// A field object of the form {"<field>": X} with exactly one key.
Result<std::pair<std::string, const json::value*>> SingleField(const json::value& v, const char* qname) {
  if (!v.is_object() || v.get_object().size() != 1) {
    return Parsing(std::string("[") + qname + "] query malformed, expected an object with exactly one field");
  }
  const auto& kv = *v.get_object().begin();
  return std::make_pair(std::string(kv.key()), &kv.value());
}

Result<float> Boost(const json::value& v) {
  if (v.is_number()) return static_cast<float>(v.to_number<double>());
  return Parsing("[boost] must be a number");
}

Result<std::string> StringOf(const json::value& v, const std::string& what) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_int64() || v.is_uint64() || v.is_double() || v.is_bool()) return Str(v);
  return Parsing("[" + what + "] must be a string");
}

Result<int64_t> IntOf(const json::value& v, const std::string& what) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(v.get_uint64());
  if (v.is_double() && std::floor(v.get_double()) == v.get_double() && std::fabs(v.get_double()) < 9e15) {
    return static_cast<int64_t>(v.get_double());
  }
  if (v.is_string()) {
    std::string s(v.get_string());
    char* end = nullptr;
    errno = 0;
    long long n = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && end && *end == 0 && errno == 0) return static_cast<int64_t>(n);
  }
  return Parsing("[" + what + "] must be an integer, got " + Str(v));
}

Result<bool> BoolOf(const json::value& v, const std::string& what) {
  if (v.is_bool()) return v.get_bool();
  if (v.is_string() && (v.get_string() == "true" || v.get_string() == "false")) return v.get_string() == "true";
  return Parsing("[" + what + "] must be a boolean");
}

Result<bool> OperatorAnd(const json::value& v) {
  if (!v.is_string()) return Parsing("[operator] must be a string");
  std::string s(v.get_string());
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "and") return true;
  if (s == "or") return false;
  return Illegal("operator must be AND or OR, got [" + std::string(v.get_string()) + "]");
}

Status Unsupported(const std::string& q, const std::string& key) {
  return Parsing("[" + q + "] query does not support [" + key + "]");
}

Result<QueryPtr> ParseQueryDepth(const json::value& v, int depth);

Result<std::vector<QueryPtr>> ParseClauses(const json::value& v, int depth, const char* name) {
  std::vector<QueryPtr> out;
  if (v.is_array()) {
    for (const auto& e : v.get_array()) {
      auto q = ParseQueryDepth(e, depth + 1);
      if (!q.ok()) return q.status();
      out.push_back(*q);
    }
  } else if (v.is_object()) {
    auto q = ParseQueryDepth(v, depth + 1);
    if (!q.ok()) return q.status();
    out.push_back(*q);
  } else {
    return Parsing(std::string("[bool] [") + name + "] must be an object or an array of objects");
  }
  return out;
}

Result<QueryPtr> ParseMatchLike(const json::value& body, const char* qname, bool phrase) {
  auto sf = SingleField(body, qname);
  if (!sf.ok()) return sf.status();
  Query q;
  q.kind = phrase ? Query::Kind::kPhrase : Query::Kind::kMatch;
  q.field = sf->first;
  const json::value& p = *sf->second;
  if (!p.is_object()) {
    auto s = StringOf(p, qname);
    if (!s.ok()) return s.status();
    q.text = *s;
    return Make(std::move(q));
  }
  bool have_query = false;
  for (const auto& kv : p.get_object()) {
    std::string k(kv.key());
    if (k == "query") {
      auto s = StringOf(kv.value(), "query");
      if (!s.ok()) return s.status();
      q.text = *s;
      have_query = true;
    } else if (k == "operator" && !phrase) {
      auto a = OperatorAnd(kv.value());
      if (!a.ok()) return a.status();
      q.op_and = *a;
    } else if (k == "boost") {
      auto b = Boost(kv.value());
      if (!b.ok()) return b.status();
      q.boost = *b;
    } else if (k == "slop" && phrase) {
      auto n = IntOf(kv.value(), "slop");
      if (!n.ok()) return n.status();
      if (*n != 0) return Parsing("[match_phrase] [slop] other than 0 is not supported");
    } else if (k == "analyzer" && kv.value().is_string() && kv.value().get_string() == "standard") {
      // the only analyser there is
    } else if (k == "zero_terms_query" && kv.value().is_string() && kv.value().get_string() == "none") {
    } else if (k == "auto_generate_synonyms_phrase_query" || k == "lenient") {
    } else {
      return Unsupported(qname, k);
    }
  }
  if (!have_query) return Parsing(std::string("[") + qname + "] requires [query]");
  return Make(std::move(q));
}

Result<QueryPtr> ParseSimpleValueQuery(const json::value& body, const char* qname, Query::Kind kind) {
  auto sf = SingleField(body, qname);
  if (!sf.ok()) return sf.status();
  Query q;
  q.kind = kind;
  q.field = sf->first;
  const json::value& p = *sf->second;
  auto set_value = [&](const json::value& v) -> Status {
    if (kind == Query::Kind::kTerm) {
      if (v.is_object() || v.is_array() || v.is_null()) return Parsing("[term] value must be a scalar");
      auto val = ToValue(v);
      if (!val.ok()) return val.status();
      q.values = {*val};
    } else {
      auto s = StringOf(v, qname);
      if (!s.ok()) return s.status();
      q.text = *s;
    }
    return Status::Ok();
  };
  if (!p.is_object()) {
    if (Status st = set_value(p); !st.ok()) return st;
    return Make(std::move(q));
  }
  bool have = false;
  for (const auto& kv : p.get_object()) {
    std::string k(kv.key());
    if (k == "value" || (kind == Query::Kind::kWildcard && k == "wildcard")) {
      if (Status st = set_value(kv.value()); !st.ok()) return st;
      have = true;
    } else if (k == "boost") {
      auto b = Boost(kv.value());
      if (!b.ok()) return b.status();
      q.boost = *b;
    } else if (k == "case_insensitive") {
      auto b = BoolOf(kv.value(), k);
      if (!b.ok()) return b.status();
      q.case_insensitive = *b;
    } else if (kind == Query::Kind::kRegexp && k == "flags" && kv.value().is_string() &&
               (kv.value().get_string() == "ALL" || kv.value().get_string() == "NONE")) {
    } else if (kind == Query::Kind::kRegexp && k == "max_determinized_states") {
    } else if (k == "rewrite") {
    } else {
      return Unsupported(qname, k);
    }
  }
  if (!have) return Parsing(std::string("[") + qname + "] requires [value]");
  return Make(std::move(q));
}

Result<QueryPtr> ParseRange(const json::value& body) {
  auto sf = SingleField(body, "range");
  if (!sf.ok()) return sf.status();
  const json::value& p = *sf->second;
  if (!p.is_object()) return Parsing("[range] query malformed, [" + sf->first + "] must be an object");
  Query q;
  q.kind = Query::Kind::kRange;
  q.field = sf->first;
  std::optional<Value> from, to;
  bool include_lower = true, include_upper = true;
  for (const auto& kv : p.get_object()) {
    std::string k(kv.key());
    auto bound = [&](std::optional<Value>* slot) -> Status {
      if (kv.value().is_null()) return Status::Ok();  // open bound
      if (kv.value().is_object() || kv.value().is_array()) return Parsing("[range] [" + k + "] must be a scalar");
      auto v = ToValue(kv.value());
      if (!v.ok()) return v.status();
      *slot = *v;
      return Status::Ok();
    };
    Status st;
    if (k == "gt") st = bound(&q.gt);
    else if (k == "gte") st = bound(&q.gte);
    else if (k == "lt") st = bound(&q.lt);
    else if (k == "lte") st = bound(&q.lte);
    else if (k == "from") st = bound(&from);
    else if (k == "to") st = bound(&to);
    else if (k == "include_lower" || k == "include_upper") {
      auto b = BoolOf(kv.value(), k);
      if (!b.ok()) return b.status();
      (k == "include_lower" ? include_lower : include_upper) = *b;
    } else if (k == "boost") {
      auto b = Boost(kv.value());
      if (!b.ok()) return b.status();
      q.boost = *b;
    } else if (k == "format") {
      // Accepted formats are the ones the engine parses anyway.
      if (!kv.value().is_string()) return Parsing("[range] [format] must be a string");
      std::string f(kv.value().get_string());
      if (f != "epoch_millis" && f != "strict_date_optional_time" && f != "date_optional_time" &&
          f != "strict_date_optional_time||epoch_millis" && f != "epoch_millis||strict_date_optional_time" &&
          f != "date_optional_time||epoch_millis") {
        return Parsing("[range] [format] " + f + " is not supported (epoch_millis and strict_date_optional_time are)");
      }
    } else if (k == "time_zone") {
      if (!kv.value().is_string()) return Parsing("[range] [time_zone] must be a string");
      std::string z(kv.value().get_string());
      auto tz = TimeZone::Get(z);
      if (!tz.ok()) return Parsing("[range] [time_zone] " + tz.status().message());
      q.time_zone = (*tz)->is_utc() ? std::string() : z;
    } else if (k == "relation" && kv.value().is_string() && kv.value().get_string() == "intersects") {
    } else {
      return Unsupported("range", k);
    }
    if (!st.ok()) return st;
  }
  if (from) (include_lower ? q.gte : q.gt) = from;
  if (to) (include_upper ? q.lte : q.lt) = to;
  return Make(std::move(q));
}

Result<QueryPtr> ParseBool(const json::value& body, int depth) {
  if (!body.is_object()) return Parsing("[bool] query malformed, expected an object");
  Query q;
  q.kind = Query::Kind::kBool;
  for (const auto& kv : body.get_object()) {
    std::string k(kv.key());
    std::vector<QueryPtr>* slot = nullptr;
    if (k == "must") slot = &q.must;
    else if (k == "filter") slot = &q.filter;
    else if (k == "should") slot = &q.should;
    else if (k == "must_not" || k == "mustNot") slot = &q.must_not;
    if (slot) {
      auto c = ParseClauses(kv.value(), depth, k.c_str());
      if (!c.ok()) return c.status();
      for (auto& x : *c) slot->push_back(x);
    } else if (k == "minimum_should_match") {
      const json::value& m = kv.value();
      if (m.is_string() && !m.get_string().empty() && m.get_string().back() == '%') {
        return Parsing("[bool] [minimum_should_match] percentages are not supported, use a number");
      }
      auto n = IntOf(m, "minimum_should_match");
      if (!n.ok()) return n.status();
      q.minimum_should_match = static_cast<int>(std::clamp<int64_t>(*n, -1000000, 1000000));
    } else if (k == "boost") {
      auto b = Boost(kv.value());
      if (!b.ok()) return b.status();
      q.boost = *b;
    } else if (k == "adjust_pure_negative" || k == "_name") {
    } else {
      return Unsupported("bool", k);
    }
  }
  if (q.minimum_should_match && *q.minimum_should_match < 0) {
    // ES: negative = "all but N".
    int n = static_cast<int>(q.should.size()) + *q.minimum_should_match;
    q.minimum_should_match = n < 0 ? 0 : n;
  }
  return Make(std::move(q));
}

std::vector<std::string> FieldsOf(const json::value& v) {
  std::vector<std::string> out;
  if (v.is_string()) out.emplace_back(v.get_string());
  if (v.is_array()) {
    for (const auto& e : v.get_array()) {
      if (e.is_string()) out.emplace_back(e.get_string());
    }
  }
  return out;
}

Status CheckFields(const std::vector<std::string>& fields, const char* qname) {
  for (const auto& f : fields) {
    if (f.find('^') != std::string::npos) return Parsing(std::string("[") + qname + "] per-field boosts (" + f + ") are not supported");
    if (f.find('*') != std::string::npos && f != "*") {
      return Parsing(std::string("[") + qname + "] wildcard field names (" + f + ") are not supported");
    }
  }
  return Status::Ok();
}

std::vector<std::string> NormaliseFields(std::vector<std::string> f) {
  if (f.size() == 1 && (f[0] == "*" || f[0] == "*.*" || f[0] == "_all")) f.clear();
  return f;
}

Result<QueryPtr> ParseMultiMatch(const json::value& body) {
  if (!body.is_object()) return Parsing("[multi_match] query malformed");
  Query q;
  q.kind = Query::Kind::kMatch;
  bool have = false;
  for (const auto& kv : body.get_object()) {
    std::string k(kv.key());
    if (k == "query") {
      auto s = StringOf(kv.value(), "query");
      if (!s.ok()) return s.status();
      q.text = *s;
      have = true;
    } else if (k == "fields") {
      if (!kv.value().is_array() && !kv.value().is_string()) return Parsing("[multi_match] [fields] must be an array");
      q.fields = FieldsOf(kv.value());
      if (Status st = CheckFields(q.fields, "multi_match"); !st.ok()) return st;
      q.fields = NormaliseFields(q.fields);
    } else if (k == "operator") {
      auto a = OperatorAnd(kv.value());
      if (!a.ok()) return a.status();
      q.op_and = *a;
    } else if (k == "type") {
      std::string t = kv.value().is_string() ? std::string(kv.value().get_string()) : "";
      if (t == "phrase") q.kind = Query::Kind::kPhrase;
      else if (t != "best_fields" && t != "most_fields") return Parsing("[multi_match] [type] " + t + " is not supported");
    } else if (k == "boost") {
      auto b = Boost(kv.value());
      if (!b.ok()) return b.status();
      q.boost = *b;
    } else if (k == "lenient" || k == "tie_breaker") {
    } else {
      return Unsupported("multi_match", k);
    }
  }
  if (!have) return Parsing("[multi_match] requires [query]");
  return Make(std::move(q));
}

Result<QueryPtr> ParseQueryStringQuery(const json::value& body, bool simple) {
  const char* name = simple ? "simple_query_string" : "query_string";
  if (!body.is_object()) return Parsing(std::string("[") + name + "] query malformed");
  QueryStringOptions o;
  o.simple = simple;
  std::string text;
  bool have = false;
  float boost = 1.0f;
  for (const auto& kv : body.get_object()) {
    std::string k(kv.key());
    if (k == "query") {
      auto s = StringOf(kv.value(), "query");
      if (!s.ok()) return s.status();
      text = *s;
      have = true;
    } else if (k == "default_field" || k == "fields") {
      o.fields = FieldsOf(kv.value());
      if (Status st = CheckFields(o.fields, name); !st.ok()) return st;
      o.fields = NormaliseFields(o.fields);
    } else if (k == "default_operator") {
      auto a = OperatorAnd(kv.value());
      if (!a.ok()) return a.status();
      o.default_and = *a;
    } else if (k == "boost") {
      auto b = Boost(kv.value());
      if (!b.ok()) return b.status();
      boost = *b;
    } else if (k == "analyze_wildcard" || k == "lenient" || k == "allow_leading_wildcard" ||
               k == "auto_generate_synonyms_phrase_query" || k == "time_zone" || k == "flags" ||
               k == "max_determinized_states" || k == "escape") {
      // Accepted: analyze_wildcard/allow_leading_wildcard/lenient do not change results here.
    } else {
      return Unsupported(name, k);
    }
  }
  if (!have) return Parsing(std::string("[") + name + "] requires [query]");
  auto q = ParseQueryString(text, o);
  if (!q.ok()) return q.status();
  if (boost != 1.0f) {
    Query b = **q;
    b.boost = boost;
    return Make(std::move(b));
  }
  return q;
}

Result<QueryPtr> ParseQueryDepth(const json::value& v, int depth) {
  if (depth > 64) return Parsing("query nested too deeply (more than 64 levels)");
  if (!v.is_object()) return Parsing("query malformed, expected an object, got " + Str(v).substr(0, 100));
  const auto& o = v.get_object();
  if (o.size() != 1) {
    if (o.empty()) return Parsing("query malformed, empty clause found");
    return Parsing("[" + std::string(std::next(o.begin())->key()) + "] query malformed, no start_object after query name");
  }
  std::string name(o.begin()->key());
  const json::value& body = o.begin()->value();
  if (name == "match_all" || name == "match_none") {
    if (!body.is_object()) return Parsing("[" + name + "] query malformed");
    Query q;
    q.kind = name == "match_all" ? Query::Kind::kMatchAll : Query::Kind::kMatchNone;
    for (const auto& kv : body.get_object()) {
      if (kv.key() == "boost") {
        auto b = Boost(kv.value());
        if (!b.ok()) return b.status();
        q.boost = *b;
      } else {
        return Unsupported(name, std::string(kv.key()));
      }
    }
    return Make(std::move(q));
  }
  if (name == "match") return ParseMatchLike(body, "match", false);
  if (name == "match_phrase") return ParseMatchLike(body, "match_phrase", true);
  if (name == "multi_match") return ParseMultiMatch(body);
  if (name == "term") return ParseSimpleValueQuery(body, "term", Query::Kind::kTerm);
  if (name == "prefix") return ParseSimpleValueQuery(body, "prefix", Query::Kind::kPrefix);
  if (name == "wildcard") return ParseSimpleValueQuery(body, "wildcard", Query::Kind::kWildcard);
  if (name == "regexp") return ParseSimpleValueQuery(body, "regexp", Query::Kind::kRegexp);
  if (name == "range") return ParseRange(body);
  if (name == "bool") return ParseBool(body, depth);
  if (name == "query_string") return ParseQueryStringQuery(body, false);
  if (name == "simple_query_string") return ParseQueryStringQuery(body, true);
  if (name == "terms") {
    if (!body.is_object()) return Parsing("[terms] query malformed");
    Query q;
    q.kind = Query::Kind::kTerms;
    bool have = false;
    for (const auto& kv : body.get_object()) {
      if (kv.key() == "boost") {
        auto b = Boost(kv.value());
        if (!b.ok()) return b.status();
        q.boost = *b;
        continue;
      }
      if (have) return Parsing("[terms] query does not support multiple fields");
      if (!kv.value().is_array()) return Parsing("[terms] query requires an array of values for [" + std::string(kv.key()) + "] (terms lookup is not supported)");
      q.field = std::string(kv.key());
      for (const auto& e : kv.value().get_array()) {
        if (e.is_object() || e.is_array() || e.is_null()) return Parsing("[terms] values must be scalars");
        auto val = ToValue(e);
        if (!val.ok()) return val.status();
        q.values.push_back(*val);
      }
      have = true;
    }
    if (!have) return Parsing("[terms] query requires a field");
    return Make(std::move(q));
  }
  if (name == "ids") {
    if (!body.is_object()) return Parsing("[ids] query malformed");
    Query q;
    q.kind = Query::Kind::kIds;
    for (const auto& kv : body.get_object()) {
      if (kv.key() == "values") {
        if (!kv.value().is_array()) return Parsing("[ids] [values] must be an array");
        for (const auto& e : kv.value().get_array()) {
          auto s = StringOf(e, "values");
          if (!s.ok()) return s.status();
          q.values.emplace_back(*s);
        }
      } else if (kv.key() == "boost") {
      } else {
        return Unsupported("ids", std::string(kv.key()));
      }
    }
    return Make(std::move(q));
  }
  if (name == "exists") {
    if (!body.is_object()) return Parsing("[exists] query malformed");
    Query q;
    q.kind = Query::Kind::kExists;
    for (const auto& kv : body.get_object()) {
      if (kv.key() == "field") {
        if (!kv.value().is_string()) return Parsing("[exists] [field] must be a string");
        q.field = std::string(kv.value().get_string());
      } else if (kv.key() == "boost") {
      } else {
        return Unsupported("exists", std::string(kv.key()));
      }
    }
    if (q.field.empty()) return Parsing("[exists] must be provided with a [field]");
    return Make(std::move(q));
  }
  if (name == "constant_score") {
    if (!body.is_object()) return Parsing("[constant_score] query malformed");
    Query q;
    q.kind = Query::Kind::kBool;
    bool have = false;
    for (const auto& kv : body.get_object()) {
      if (kv.key() == "filter") {
        auto f = ParseQueryDepth(kv.value(), depth + 1);
        if (!f.ok()) return f.status();
        q.filter.push_back(*f);
        have = true;
      } else if (kv.key() == "boost") {
      } else {
        return Unsupported("constant_score", std::string(kv.key()));
      }
    }
    if (!have) return Parsing("[constant_score] requires a 'filter' element");
    return Make(std::move(q));
  }
  return Parsing("unknown query [" + name + "]");
}

// ------------------------------------------------------------------------------------------
// Lucene query syntax

enum class Occur { kMust, kShould, kMustNot };

struct LuceneParser {
  std::string_view s;
  size_t i = 0;
  const QueryStringOptions& o;
  int depth = 0;

  LuceneParser(std::string_view text, const QueryStringOptions& opts) : s(text), o(opts) {}

  static bool IsSpecial(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(' || c == ')' || c == ':' || c == '"' ||
           c == '[' || c == ']' || c == '{' || c == '}' || c == '^' || c == '~' || c == '\\' || c == '/';
  }
  void SkipWs() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  }
  bool AtKeyword(std::string_view kw) {
    if (s.substr(i, kw.size()) != kw) return false;
    size_t e = i + kw.size();
    return e >= s.size() || s[e] == ' ' || s[e] == '\t' || s[e] == '\n' || s[e] == '(' || s[e] == '"' ||
           s[e] == '\r' || s[e] == '+' || s[e] == '-';
  }
  Status Error(const std::string& what) {
    return Status::InvalidArgument("query_shard_exception: Failed to parse query [" + std::string(s.substr(0, 200)) +
                                   "]: " + what + " at position " + std::to_string(i));
  }

  // A bare word with escapes resolved; *wild is set if it holds unescaped * or ?.
  Status Word(std::string* out, bool* wild) {
    *wild = false;
    size_t start = i;
    while (i < s.size()) {
      char c = s[i];
      if (c == '\\') {
        if (i + 1 >= s.size()) return Error("trailing backslash");
        out->push_back('\\');  // keep escapes for wildcard; stripped below when not wild
        out->push_back(s[i + 1]);
        i += 2;
        continue;
      }
      if (IsSpecial(c)) break;
      if ((c == '*' || c == '?')) *wild = true;
      out->push_back(c);
      i++;
    }
    if (i == start) return Error("expected a term");
    return Status::Ok();
  }
  static std::string Unescape(const std::string& w) {
    std::string r;
    for (size_t k = 0; k < w.size(); k++) {
      if (w[k] == '\\' && k + 1 < w.size()) k++;
      r.push_back(w[k]);
    }
    return r;
  }

  Query FieldQuery(const std::string& field) {
    Query q;
    if (!field.empty()) q.field = field;
    else q.fields = o.fields;
    if (q.fields.size() == 1) {
      q.field = q.fields[0];
      q.fields.clear();
    }
    return q;
  }

  static Value RangeValue(const std::string& t) {
    if (t.empty()) return Value{};
    char* end = nullptr;
    errno = 0;
    long long n = std::strtoll(t.c_str(), &end, 10);
    if (*end == 0 && errno == 0) return Value{static_cast<int64_t>(n)};
    double d = std::strtod(t.c_str(), &end);
    if (*end == 0 && std::isfinite(d)) return Value{d};
    return Value{t};
  }

  Result<QueryPtr> Range(const std::string& field) {
    bool incl_lo = s[i] == '[';
    i++;
    SkipWs();
    auto bound = [&](std::string* out) -> Status {
      SkipWs();
      if (i < s.size() && s[i] == '"') {
        size_t e = s.find('"', i + 1);
        if (e == std::string_view::npos) return Error("unterminated quoted range bound");
        *out = std::string(s.substr(i + 1, e - i - 1));
        i = e + 1;
        return Status::Ok();
      }
      size_t st = i;
      while (i < s.size() && s[i] != ' ' && s[i] != ']' && s[i] != '}' && s[i] != '\t') i++;
      if (st == i) return Error("expected a range bound");
      *out = std::string(s.substr(st, i - st));
      return Status::Ok();
    };
    std::string lo, hi;
    if (Status st = bound(&lo); !st.ok()) return st;
    SkipWs();
    if (s.substr(i, 2) != "TO") return Error("expected TO in range");
    i += 2;
    if (Status st = bound(&hi); !st.ok()) return st;
    SkipWs();
    if (i >= s.size() || (s[i] != ']' && s[i] != '}')) return Error("expected ] or } to close the range");
    bool incl_hi = s[i] == ']';
    i++;
    if (field.empty() && o.fields.size() != 1) return Error("a range needs a field");
    Query q;
    q.kind = Query::Kind::kRange;
    q.field = field.empty() ? o.fields[0] : field;
    if (lo != "*") (incl_lo ? q.gte : q.gt) = RangeValue(lo);
    if (hi != "*") (incl_hi ? q.lte : q.lt) = RangeValue(hi);
    return Make(std::move(q));
  }

  // term | "phrase" | (group) | [range] | /regex/ | >=x, with an optional ^boost.
  Result<QueryPtr> Primary(const std::string& field) {
    if (++depth > 64) return Error("nested too deeply");
    auto r = PrimaryInner(field);
    depth--;
    if (!r.ok()) return r;
    if (i < s.size() && s[i] == '~') return Error("fuzzy and proximity queries (~) are not supported");
    if (i < s.size() && s[i] == '^') {
      i++;
      size_t st = i;
      while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) i++;
      if (st == i) return Error("expected a number after ^");
      Query q = **r;
      q.boost = static_cast<float>(std::strtod(std::string(s.substr(st, i - st)).c_str(), nullptr));
      return Make(std::move(q));
    }
    return r;
  }

  Result<QueryPtr> PrimaryInner(const std::string& field) {
    SkipWs();
    if (i >= s.size()) return Error("expected a term");
    char c = s[i];
    if (c == '(') {
      i++;
      auto q = Sequence(field, true);
      if (!q.ok()) return q;
      if (i >= s.size() || s[i] != ')') return Error("missing )");
      i++;
      return q;
    }
    if (c == '"') {
      std::string text;
      i++;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size()) i++;
        text.push_back(s[i]);
        i++;
      }
      if (i >= s.size()) return Error("unterminated quote");
      i++;
      Query q = FieldQuery(field);
      q.kind = Query::Kind::kPhrase;
      q.text = text;
      return Make(std::move(q));
    }
    if (c == '[' || c == '{') return Range(field);
    if (c == '/') {
      size_t e = i + 1;
      std::string re;
      while (e < s.size() && s[e] != '/') {
        if (s[e] == '\\' && e + 1 < s.size()) {
          re.push_back(s[e]);
          e++;
        }
        re.push_back(s[e]);
        e++;
      }
      if (e >= s.size()) return Error("unterminated regular expression");
      i = e + 1;
      Query q = FieldQuery(field);
      q.kind = Query::Kind::kRegexp;
      q.text = re;
      return Make(std::move(q));
    }
    if (c == '>' || c == '<') {
      bool gt = c == '>';
      i++;
      bool eq = i < s.size() && s[i] == '=';
      if (eq) i++;
      std::string w;
      bool wild;
      if (Status st = Word(&w, &wild); !st.ok()) return st;
      if (field.empty() && o.fields.size() != 1) return Error("a range needs a field");
      Query q;
      q.kind = Query::Kind::kRange;
      q.field = field.empty() ? o.fields[0] : field;
      Value v = RangeValue(Unescape(w));
      if (gt) (eq ? q.gte : q.gt) = v;
      else (eq ? q.lte : q.lt) = v;
      return Make(std::move(q));
    }
    std::string w;
    bool wild;
    if (Status st = Word(&w, &wild); !st.ok()) return st;
    if (!wild) {
      Query q = FieldQuery(field);
      q.kind = Query::Kind::kMatch;
      q.text = Unescape(w);
      q.op_and = true;
      return Make(std::move(q));
    }
    if (w == "*" && field.empty()) {
      Query q;
      q.kind = Query::Kind::kMatchAll;
      return Make(std::move(q));
    }
    if (w == "*") {
      Query q;
      q.kind = Query::Kind::kExists;
      q.field = field;
      return Make(std::move(q));
    }
    // foo* (one trailing star, no other wildcard) is a prefix query.
    std::string body = w.substr(0, w.size() - 1);
    bool simple_prefix = w.back() == '*' && body.find_first_of("*?") == std::string::npos;
    Query q = FieldQuery(field);
    if (simple_prefix) {
      q.kind = Query::Kind::kPrefix;
      q.text = Unescape(body);
    } else {
      q.kind = Query::Kind::kWildcard;
      q.text = w;  // escapes kept: the engine's glob treats \* as a literal star
    }
    q.case_insensitive = true;  // query_string lowercases expanded terms
    return Make(std::move(q));
  }

  struct Clause {
    Occur occur;
    QueryPtr q;
  };

  // A run of clauses joined by AND/OR/juxtaposition, until ')' (when nested) or the end.
  Result<QueryPtr> Sequence(const std::string& field, bool nested) {
    std::vector<Clause> clauses;
    enum { kNone, kAnd, kOr } conj = kNone;
    while (true) {
      SkipWs();
      if (i >= s.size()) break;
      if (s[i] == ')') {
        if (!nested) return Error("unbalanced )");
        break;
      }
      if (AtKeyword("AND") || s.substr(i, 2) == "&&") {
        i += s[i] == '&' ? 2 : 3;
        if (clauses.empty() || conj != kNone) return Error("AND without a left operand");
        conj = kAnd;
        continue;
      }
      if (AtKeyword("OR") || s.substr(i, 2) == "||") {
        i += 2;
        if (clauses.empty() || conj != kNone) return Error("OR without a left operand");
        conj = kOr;
        continue;
      }
      enum { kDefault, kReq, kNot } mod = kDefault;
      if (s[i] == '+') {
        mod = kReq;
        i++;
      } else if (s[i] == '-' || s[i] == '!') {
        mod = kNot;
        i++;
      } else if (AtKeyword("NOT")) {
        mod = kNot;
        i += 3;
        SkipWs();
      }
      // field:...
      std::string f = field;
      size_t save = i;
      if (i < s.size() && !IsSpecial(s[i])) {
        std::string w;
        bool wild;
        Status st = Word(&w, &wild);
        if (st.ok() && i < s.size() && s[i] == ':') {
          if (wild && w != "*") return Error("wildcard field names are not supported");
          f = Unescape(w);
          i++;
          if (f == "_exists_") {
            std::string ef;
            if (Status st2 = Word(&ef, &wild); !st2.ok()) return st2;
            Query q;
            q.kind = Query::Kind::kExists;
            q.field = Unescape(ef);
            Add(&clauses, conj, mod == kReq, mod == kNot, Make(std::move(q)));
            conj = kNone;
            continue;
          }
          if (f == "*") f.clear();
        } else {
          i = save;
        }
      }
      auto q = Primary(f);
      if (!q.ok()) return q.status();
      Add(&clauses, conj, mod == kReq, mod == kNot, *q);
      conj = kNone;
    }
    if (conj != kNone) return Error("AND/OR without a right operand");
    if (clauses.empty()) {
      Query q;
      q.kind = Query::Kind::kMatchNone;
      return Make(std::move(q));
    }
    if (clauses.size() == 1 && clauses[0].occur != Occur::kMustNot) return clauses[0].q;
    Query b;
    b.kind = Query::Kind::kBool;
    for (auto& c : clauses) {
      (c.occur == Occur::kMust ? b.must : c.occur == Occur::kShould ? b.should : b.must_not).push_back(c.q);
    }
    if (b.must.empty() && b.should.empty()) {
      Query all;
      all.kind = Query::Kind::kMatchAll;
      b.must.push_back(Make(std::move(all)));  // a purely negative query matches everything else
    }
    if (!b.should.empty() && !b.must.empty()) b.minimum_should_match = 0;
    return Make(std::move(b));
  }

  // Lucene's QueryParserBase.addClause.
  void Add(std::vector<Clause>* cl, int conj, bool req, bool prohibit, QueryPtr q) {
    constexpr int kAnd = 1, kOr = 2;
    if (!cl->empty() && conj == kAnd && cl->back().occur != Occur::kMustNot) cl->back().occur = Occur::kMust;
    if (!cl->empty() && o.default_and && conj == kOr && cl->back().occur != Occur::kMustNot) {
      cl->back().occur = Occur::kShould;
    }
    bool required;
    if (!o.default_and) {
      required = req;
      if (conj == kAnd && !prohibit) required = true;
    } else {
      required = !prohibit && conj != kOr;
    }
    Occur oc = prohibit ? Occur::kMustNot : required ? Occur::kMust : Occur::kShould;
    cl->push_back({oc, std::move(q)});
  }
};

// simple_query_string: + AND, | OR, - NOT, "phrase", prefix*, ( ). Never fails on syntax.
struct SimpleParser {
  std::string_view s;
  size_t i = 0;
  const QueryStringOptions& o;
  int depth = 0;
  SimpleParser(std::string_view text, const QueryStringOptions& opts) : s(text), o(opts) {}

  Query FieldQuery() {
    Query q;
    q.fields = o.fields;
    if (q.fields.size() == 1) {
      q.field = q.fields[0];
      q.fields.clear();
    }
    return q;
  }
  void SkipWs() {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) i++;
  }
  QueryPtr Unary() {
    SkipWs();
    if (i >= s.size()) return nullptr;
    if (s[i] == '-') {
      i++;
      QueryPtr inner = Unary();
      if (!inner) return nullptr;
      Query b;
      b.kind = Query::Kind::kBool;
      Query all;
      all.kind = Query::Kind::kMatchAll;
      b.must.push_back(Make(std::move(all)));
      b.must_not.push_back(inner);
      return Make(std::move(b));
    }
    if (s[i] == '(') {
      i++;
      if (++depth > 64) {
        i = s.size();
        return nullptr;
      }
      QueryPtr q = Or();
      depth--;
      SkipWs();
      if (i < s.size() && s[i] == ')') i++;
      return q;
    }
    if (s[i] == '"') {
      size_t e = s.find('"', i + 1);
      std::string text(s.substr(i + 1, e == std::string_view::npos ? std::string_view::npos : e - i - 1));
      i = e == std::string_view::npos ? s.size() : e + 1;
      SkipSlop();
      if (AnalyzeText(text).empty()) return nullptr;
      Query q = FieldQuery();
      q.kind = Query::Kind::kPhrase;
      q.text = text;
      return Make(std::move(q));
    }
    std::string w;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])) && s[i] != '|' && s[i] != '+' &&
           s[i] != '(' && s[i] != ')' && s[i] != '"') {
      if (s[i] == '\\' && i + 1 < s.size()) i++;
      w.push_back(s[i]);
      i++;
    }
    SkipSlop();
    if (w.empty()) {
      if (i < s.size()) i++;  // a stray operator: skip it
      return nullptr;
    }
    Query q = FieldQuery();
    if (w.back() == '*' && w.size() > 1) {
      q.kind = Query::Kind::kPrefix;
      q.text = w.substr(0, w.size() - 1);
      q.case_insensitive = true;
    } else if (w == "*") {
      q.kind = Query::Kind::kMatchAll;
    } else {
      if (AnalyzeText(w).empty()) return nullptr;
      q.kind = Query::Kind::kMatch;
      q.text = w;
      q.op_and = true;
    }
    return Make(std::move(q));
  }
  void SkipSlop() {
    if (i < s.size() && s[i] == '~') {
      i++;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) i++;
    }
  }
  static QueryPtr Combine(std::vector<QueryPtr> parts, bool conj_and) {
    if (parts.empty()) return nullptr;
    if (parts.size() == 1) return parts[0];
    Query b;
    b.kind = Query::Kind::kBool;
    (conj_and ? b.must : b.should) = std::move(parts);
    return Make(std::move(b));
  }
  // And: unary (('+' | juxtaposition when default AND) unary)*
  QueryPtr And() {
    std::vector<QueryPtr> parts;
    while (true) {
      SkipWs();
      if (i >= s.size() || s[i] == '|' || s[i] == ')') break;
      if (s[i] == '+') {
        i++;
        continue;
      }
      size_t before = i;
      QueryPtr q = Unary();
      if (q) parts.push_back(q);
      SkipWs();
      if (i < s.size() && s[i] == '+') continue;
      if (!o.default_and) break;  // juxtaposition is OR: let Or() handle the next operand
      if (i == before) break;
    }
    return Combine(std::move(parts), true);
  }
  QueryPtr Or() {
    std::vector<QueryPtr> parts;
    while (true) {
      SkipWs();
      if (i >= s.size() || s[i] == ')') break;
      if (s[i] == '|') {
        i++;
        continue;
      }
      size_t before = i;
      QueryPtr q = And();
      if (q) parts.push_back(q);
      if (i == before) i++;  // guarantee progress
    }
    return Combine(std::move(parts), false);
  }
};

}  // namespace

Result<QueryPtr> ParseQuery(const json::value& v) { return ParseQueryDepth(v, 0); }

Result<QueryPtr> ParseQueryString(std::string_view q, const QueryStringOptions& opts) {
  if (opts.simple) {
    SimpleParser p(q, opts);
    QueryPtr r = p.Or();
    if (!r) {
      Query none;
      none.kind = Query::Kind::kMatchNone;
      return Make(std::move(none));
    }
    return r;
  }
  LuceneParser p(q, opts);
  return p.Sequence("", false);
}

// ------------------------------------------------------------------------------------------
// Dates

namespace {
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  *y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y += *m <= 2;
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t k = 0; k < n; k++) {
    char c = s[pos + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

Result<int64_t> ParseIsoDate(std::string_view s) {
  int y, mo = 1, d = 1, h = 0, mi = 0, sec = 0;
  int64_t ms = 0;
  if (!Digits(s, 0, 4, &y)) return Status::InvalidArgument("bad date");
  size_t p = 4;
  if (p < s.size()) {
    if (s[p] != '-' || !Digits(s, p + 1, 2, &mo)) return Status::InvalidArgument("bad date");
    p += 3;
    if (p < s.size()) {
      if (s[p] != '-' || !Digits(s, p + 1, 2, &d)) return Status::InvalidArgument("bad date");
      p += 3;
    }
  }
  int64_t offset_min = 0;
  if (p < s.size() && (s[p] == 'T' || s[p] == ' ')) {
    if (!Digits(s, p + 1, 2, &h)) return Status::InvalidArgument("bad time");
    p += 3;
    if (p < s.size() && s[p] == ':') {
      if (!Digits(s, p + 1, 2, &mi)) return Status::InvalidArgument("bad time");
      p += 3;
      if (p < s.size() && s[p] == ':') {
        if (!Digits(s, p + 1, 2, &sec)) return Status::InvalidArgument("bad time");
        p += 3;
        if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
          p++;
          int64_t frac = 0, scale = 1000;
          size_t n = 0;
          while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) {
            if (n < 3) {
              frac = frac * 10 + (s[p] - '0');
              scale /= 10;
            }
            n++;
            p++;
          }
          if (n == 0) return Status::InvalidArgument("bad fraction");
          ms = frac * scale;
        }
      }
    }
    if (p < s.size()) {
      if (s[p] == 'Z' || s[p] == 'z') {
        p++;
      } else if (s[p] == '+' || s[p] == '-') {
        int oh, om = 0;
        int sign = s[p] == '-' ? -1 : 1;
        if (!Digits(s, p + 1, 2, &oh)) return Status::InvalidArgument("bad offset");
        p += 3;
        if (p < s.size() && s[p] == ':') p++;
        if (p < s.size()) {
          if (!Digits(s, p, 2, &om)) return Status::InvalidArgument("bad offset");
          p += 2;
        }
        offset_min = sign * (oh * 60 + om);
      }
    }
  }
  if (p != s.size()) return Status::InvalidArgument("trailing characters in date");
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 60) return Status::InvalidArgument("date out of range");
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 24 + h) * 60 + mi - offset_min) * 60000 + sec * 1000 + ms;
}

int64_t UnitMs(char u) {
  switch (u) {
    case 's': return 1000;
    case 'm': return 60000;
    case 'h':
    case 'H': return 3600000;
    case 'd': return 86400000;
    case 'w': return 7 * 86400000LL;
    default: return 0;
  }
}

int64_t RoundDown(int64_t t, char unit) {
  auto floor_div = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
  int64_t y;
  unsigned m, d;
  switch (unit) {
    case 'y':
    case 'M': {
      int64_t days = floor_div(t, 86400000);
      CivilFromDays(days, &y, &m, &d);
      return DaysFromCivil(y, unit == 'y' ? 1 : m, 1) * 86400000;
    }
    case 'w': {
      int64_t days = floor_div(t, 86400000);
      int64_t wd = ((days % 7) + 7 + 3) % 7;  // 1970-01-01 was a Thursday; Monday = 0
      return (days - wd) * 86400000;
    }
    default: {
      int64_t u = UnitMs(unit);
      return floor_div(t, u) * u;
    }
  }
}

int64_t AddUnits(int64_t t, int64_t n, char unit) {
  if (unit == 'M' || unit == 'y') {
    int64_t days = t >= 0 ? t / 86400000 : -((-t + 86399999) / 86400000);
    int64_t rem = t - days * 86400000;
    int64_t y;
    unsigned m, d;
    CivilFromDays(days, &y, &m, &d);
    int64_t months = y * 12 + (m - 1) + (unit == 'y' ? n * 12 : n);
    int64_t ny = months >= 0 ? months / 12 : -((-months + 11) / 12);
    unsigned nm = static_cast<unsigned>(months - ny * 12) + 1;
    static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned maxd = kDays[nm - 1] + (nm == 2 && ((ny % 4 == 0 && ny % 100 != 0) || ny % 400 == 0));
    return DaysFromCivil(ny, nm, std::min(d, maxd)) * 86400000 + rem;
  }
  return t + n * UnitMs(unit);
}
}  // namespace

Result<int64_t> ParseDateMillis(std::string_view s, int64_t now_ms) {
  auto bad = [&] { return Status::InvalidArgument("parse_exception: failed to parse date field [" + std::string(s.substr(0, 100)) + "]"); };
  if (s.empty()) return bad();
  int64_t base;
  std::string_view math;
  if (s.substr(0, 3) == "now") {
    base = now_ms;
    math = s.substr(3);
  } else {
    size_t bar = s.find("||");
    std::string_view date = bar == std::string_view::npos ? s : s.substr(0, bar);
    math = bar == std::string_view::npos ? std::string_view() : s.substr(bar + 2);
    bool all_digits = !date.empty();
    size_t k = (date[0] == '-') ? 1 : 0;
    if (k == date.size()) all_digits = false;
    for (; k < date.size(); k++) all_digits = all_digits && std::isdigit(static_cast<unsigned char>(date[k]));
    if (all_digits && date.size() != 4) {
      if (date.size() > 18) return bad();
      base = std::strtoll(std::string(date).c_str(), nullptr, 10);
    } else {
      auto r = ParseIsoDate(date);
      if (!r.ok()) return bad();
      base = *r;
    }
  }
  size_t p = 0;
  while (p < math.size()) {
    char op = math[p++];
    if (op == '/') {
      if (p >= math.size()) return bad();
      char u = math[p++];
      if (u != 'y' && u != 'M' && u != 'w' && u != 'd' && u != 'h' && u != 'H' && u != 'm' && u != 's') return bad();
      base = RoundDown(base, u);
    } else if (op == '+' || op == '-') {
      int64_t n = 0;
      size_t st = p;
      while (p < math.size() && std::isdigit(static_cast<unsigned char>(math[p])) && p - st < 9) n = n * 10 + (math[p++] - '0');
      if (st == p) n = 1;
      if (p >= math.size()) return bad();
      char u = math[p++];
      if (u != 'y' && u != 'M' && u != 'w' && u != 'd' && u != 'h' && u != 'H' && u != 'm' && u != 's') return bad();
      base = AddUnits(base, op == '-' ? -n : n, u);
    } else {
      return bad();
    }
  }
  return base;
}

Result<int64_t> ParseFixedInterval(std::string_view s) {
  size_t k = 0;
  int64_t n = 0;
  while (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k])) && k < 12) n = n * 10 + (s[k++] - '0');
  std::string_view unit = s.substr(k);
  if (k == 0 || n <= 0) return Status::InvalidArgument("illegal_argument_exception: failed to parse interval [" + std::string(s) + "]");
  if (unit == "ms") return n;
  if (unit == "s") return n * 1000;
  if (unit == "m") return n * 60000;
  if (unit == "h") return n * 3600000;
  if (unit == "d") return n * 86400000;
  return Status::InvalidArgument("illegal_argument_exception: failed to parse interval [" + std::string(s) +
                                 "] as a fixed interval (units ms, s, m, h, d)");
}

// ------------------------------------------------------------------------------------------
// Aggregations

namespace {
const std::set<std::string>& CalendarUnits() {
  static const std::set<std::string> k = {"minute", "1m", "hour",    "1h", "day",  "1d", "week",
                                          "1w",     "month", "1M",  "quarter", "1q", "year", "1y"};
  return k;
}

Result<std::optional<int64_t>> BoundMs(const json::value& v) {
  if (v.is_null()) return std::optional<int64_t>();
  if (v.is_number()) return std::optional<int64_t>(static_cast<int64_t>(v.to_number<double>()));
  if (v.is_string()) {
    auto r = ParseDateMillis(v.get_string(), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 std::chrono::system_clock::now().time_since_epoch())
                                                 .count());
    if (!r.ok()) return r.status();
    return std::optional<int64_t>(*r);
  }
  return Parsing("[extended_bounds] min/max must be numbers or dates");
}

Result<std::vector<AggRequest>> ParseAggsDepth(const json::value& v, int depth);

Result<AggRequest> ParseOneAgg(const std::string& name, const json::value& def, int depth) {
  if (!def.is_object()) return Parsing("aggregation [" + name + "] must be an object");
  AggRequest a;
  a.name = name;
  const json::object* body = nullptr;
  std::string type;
  for (const auto& kv : def.get_object()) {
    std::string k(kv.key());
    if (k == "aggs" || k == "aggregations") {
      auto subs = ParseAggsDepth(kv.value(), depth + 1);
      if (!subs.ok()) return subs.status();
      a.subs = std::move(*subs);
    } else if (k == "meta") {
      return Parsing("aggregation [" + name + "]: [meta] is not supported");
    } else {
      if (body) return Parsing("found two aggregation type definitions in [" + name + "]: [" + type + "] and [" + k + "]");
      if (!kv.value().is_object()) return Parsing("aggregation [" + name + "] [" + k + "] must be an object");
      body = &kv.value().get_object();
      type = k;
    }
  }
  if (!body) return Parsing("missing definition for aggregation [" + name + "]");
  static const std::map<std::string, AggRequest::Kind> kKinds = {
      {"date_histogram", AggRequest::Kind::kDateHistogram}, {"histogram", AggRequest::Kind::kHistogram},
      {"terms", AggRequest::Kind::kTerms},                 {"range", AggRequest::Kind::kRange},
      {"filters", AggRequest::Kind::kFilters},             {"min", AggRequest::Kind::kMin},
      {"max", AggRequest::Kind::kMax},                     {"avg", AggRequest::Kind::kAvg},
      {"sum", AggRequest::Kind::kSum},                     {"value_count", AggRequest::Kind::kValueCount},
      {"cardinality", AggRequest::Kind::kCardinality},     {"percentiles", AggRequest::Kind::kPercentiles},
      {"stats", AggRequest::Kind::kStats},
  };
  auto kit = kKinds.find(type);
  if (kit == kKinds.end()) return Parsing("unknown aggregation type [" + type + "] (aggregation [" + name + "])");
  a.kind = kit->second;
  bool bucket = a.kind == AggRequest::Kind::kDateHistogram || a.kind == AggRequest::Kind::kHistogram ||
                a.kind == AggRequest::Kind::kTerms || a.kind == AggRequest::Kind::kRange ||
                a.kind == AggRequest::Kind::kFilters;
  if (!bucket && !a.subs.empty()) {
    return Parsing("aggregator [" + name + "] of type [" + type + "] cannot accept sub-aggregations");
  }
  auto unsupported = [&](const std::string& k) {
    return Parsing("[" + type + "] aggregation [" + name + "] does not support [" + k + "]");
  };
  bool have_field = false;
  for (const auto& kv : *body) {
    std::string k(kv.key());
    const json::value& v = kv.value();
    if (k == "field" && a.kind != AggRequest::Kind::kFilters) {
      if (!v.is_string()) return Parsing("[" + type + "] [field] must be a string");
      a.field = std::string(v.get_string());
      have_field = true;
      continue;
    }
    switch (a.kind) {
      case AggRequest::Kind::kDateHistogram:
        if (k == "fixed_interval") {
          auto ms = ParseFixedInterval(v.is_string() ? std::string_view(v.get_string()) : std::string_view());
          if (!ms.ok()) return ms.status();
          a.fixed_interval_ms = *ms;
        } else if (k == "calendar_interval") {
          std::string ci = v.is_string() ? std::string(v.get_string()) : "";
          if (!CalendarUnits().count(ci)) return Illegal("the supplied calendar interval [" + ci + "] could not be parsed as a calendar interval");
          a.calendar_interval = ci;
        } else if (k == "interval") {
          std::string iv = v.is_string() ? std::string(v.get_string()) : (v.is_number() ? std::to_string(v.to_number<int64_t>()) + "ms" : "");
          if (CalendarUnits().count(iv) && iv != "1m" && iv != "1h" && iv != "1d") {
            a.calendar_interval = iv;
          } else {
            auto ms = ParseFixedInterval(iv);
            if (!ms.ok()) return ms.status();
            a.fixed_interval_ms = *ms;
          }
        } else if (k == "time_zone") {
          if (!v.is_string()) return Parsing("[time_zone] must be a string");
          a.time_zone = std::string(v.get_string());
          if (a.time_zone == "UTC" || a.time_zone == "Z" || a.time_zone == "+00:00") a.time_zone.clear();
        } else if (k == "min_doc_count") {
          auto n = IntOf(v, k);
          if (!n.ok()) return n.status();
          a.min_doc_count = *n;
        } else if (k == "extended_bounds") {
          if (!v.is_object()) return Parsing("[extended_bounds] must be an object");
          for (const auto& b : v.get_object()) {
            auto ms = BoundMs(b.value());
            if (!ms.ok()) return ms.status();
            if (b.key() == "min") a.extended_bounds_min_ms = *ms;
            else if (b.key() == "max") a.extended_bounds_max_ms = *ms;
            else return unsupported("extended_bounds." + std::string(b.key()));
          }
        } else if (k == "format") {
          // key_as_string is rendered by the engine in its own format; epoch_millis callers use `key`.
        } else if (k == "keyed" && v.is_bool() && !v.get_bool()) {
        } else {
          return unsupported(k);
        }
        break;
      case AggRequest::Kind::kHistogram:
        if (k == "interval") {
          if (!v.is_number() || v.to_number<double>() <= 0) return Parsing("[histogram] [interval] must be a positive number");
          a.interval = v.to_number<double>();
        } else if (k == "min_doc_count") {
          auto n = IntOf(v, k);
          if (!n.ok()) return n.status();
          a.min_doc_count = *n;
        } else if (k == "extended_bounds") {
          if (!v.is_object()) return Parsing("[extended_bounds] must be an object");
          for (const auto& b : v.get_object()) {
            if (!b.value().is_number()) return Parsing("[extended_bounds] min/max must be numbers");
            if (b.key() == "min") a.extended_bounds_min = b.value().to_number<double>();
            else if (b.key() == "max") a.extended_bounds_max = b.value().to_number<double>();
            else return unsupported("extended_bounds." + std::string(b.key()));
          }
        } else if (k == "keyed" && v.is_bool() && !v.get_bool()) {
        } else {
          return unsupported(k);
        }
        break;
      case AggRequest::Kind::kTerms:
        if (k == "size") {
          auto n = IntOf(v, k);
          if (!n.ok()) return n.status();
          if (*n < 1 || *n > 65536) return Illegal("[size] must be between 1 and 65536 in [" + name + "]");
          a.size = static_cast<size_t>(*n);
        } else if (k == "shard_size" || k == "show_term_doc_count_error") {
        } else if (k == "min_doc_count") {
          auto n = IntOf(v, k);
          if (!n.ok()) return n.status();
          if (*n != 1) return unsupported("min_doc_count other than 1");
        } else if (k == "order") {
          const json::value* ov = &v;
          if (v.is_array()) {
            if (v.get_array().size() != 1) return unsupported("order with several keys");
            ov = &v.get_array()[0];
          }
          if (!ov->is_object() || ov->get_object().size() != 1) return Parsing("[terms] [order] must be an object");
          const auto& okv = *ov->get_object().begin();
          std::string dir = okv.value().is_string() ? std::string(okv.value().get_string()) : "";
          if (dir != "asc" && dir != "desc") return Parsing("[terms] [order] direction must be asc or desc");
          if (okv.key() == "_count") a.order = dir == "asc" ? AggRequest::Order::kCountAsc : AggRequest::Order::kCountDesc;
          else if (okv.key() == "_key" || okv.key() == "_term")
            a.order = dir == "asc" ? AggRequest::Order::kKeyAsc : AggRequest::Order::kKeyDesc;
          else return unsupported("order by [" + std::string(okv.key()) + "]");
        } else {
          return unsupported(k);
        }
        break;
      case AggRequest::Kind::kRange:
        if (k == "ranges") {
          if (!v.is_array()) return Parsing("[range] [ranges] must be an array");
          for (const auto& r : v.get_array()) {
            if (!r.is_object()) return Parsing("[range] [ranges] entries must be objects");
            AggRequest::RangeBucket b;
            for (const auto& rk : r.get_object()) {
              if (rk.key() == "from" || rk.key() == "to") {
                if (rk.value().is_null()) continue;
                if (!rk.value().is_number()) return Parsing("[range] [from]/[to] must be numbers");
                (rk.key() == "from" ? b.from : b.to) = rk.value().to_number<double>();
              } else if (rk.key() == "key") {
                if (!rk.value().is_string()) return Parsing("[range] [key] must be a string");
                b.key = std::string(rk.value().get_string());
              } else {
                return unsupported("ranges." + std::string(rk.key()));
              }
            }
            a.ranges.push_back(b);
          }
        } else if (k == "keyed" && v.is_bool() && !v.get_bool()) {
        } else {
          return unsupported(k);
        }
        break;
      case AggRequest::Kind::kFilters:
        if (k == "filters") {
          if (!v.is_object()) return unsupported("anonymous filters (use an object of named filters)");
          for (const auto& f : v.get_object()) {
            auto q = ParseQuery(f.value());
            if (!q.ok()) return q.status();
            a.filters.emplace_back(std::string(f.key()), *q);
          }
        } else {
          return unsupported(k);
        }
        break;
      case AggRequest::Kind::kPercentiles:
        if (k == "percents") {
          if (!v.is_array()) return Parsing("[percentiles] [percents] must be an array");
          a.percents.clear();
          for (const auto& p : v.get_array()) {
            if (!p.is_number() || p.to_number<double>() < 0 || p.to_number<double>() > 100) {
              return Illegal("percent must be in [0,100]");
            }
            a.percents.push_back(p.to_number<double>());
          }
        } else if (k == "keyed" && v.is_bool() && v.get_bool()) {
        } else {
          return unsupported(k);
        }
        break;
      case AggRequest::Kind::kCardinality:
        if (k != "precision_threshold") return unsupported(k);
        break;
      default:
        return unsupported(k);
    }
  }
  if (a.kind != AggRequest::Kind::kFilters && !have_field) {
    return Illegal("aggregation [" + name + "] of type [" + type + "] requires a [field] (scripts are not supported)");
  }
  if (a.kind == AggRequest::Kind::kDateHistogram) {
    if ((a.fixed_interval_ms > 0) == !a.calendar_interval.empty()) {
      return Illegal("[date_histogram] aggregation [" + name + "] needs exactly one of [fixed_interval], [calendar_interval] or [interval]");
    }
  }
  if (a.kind == AggRequest::Kind::kHistogram && a.interval <= 0) {
    return Illegal("[histogram] aggregation [" + name + "] requires a positive [interval]");
  }
  if (a.kind == AggRequest::Kind::kRange && a.ranges.empty()) return Illegal("[range] aggregation [" + name + "] requires [ranges]");
  if (a.kind == AggRequest::Kind::kFilters && a.filters.empty()) return Illegal("[filters] aggregation [" + name + "] requires [filters]");
  return a;
}

Result<std::vector<AggRequest>> ParseAggsDepth(const json::value& v, int depth) {
  if (depth > 16) return Parsing("aggregations nested too deeply (more than 16 levels)");
  if (!v.is_object()) return Parsing("[aggs] must be an object");
  std::vector<AggRequest> out;
  for (const auto& kv : v.get_object()) {
    auto a = ParseOneAgg(std::string(kv.key()), kv.value(), depth);
    if (!a.ok()) return a.status();
    out.push_back(std::move(*a));
  }
  return out;
}

Result<SortKey> SortEntry(const json::value& e) {
  SortKey k;
  if (e.is_string()) {
    k.field = std::string(e.get_string());
    k.desc = k.field == "_score";
    return k;
  }
  if (!e.is_object() || e.get_object().size() != 1) return Parsing("[sort] entries must be a field name or {field: order}");
  const auto& kv = *e.get_object().begin();
  k.field = std::string(kv.key());
  const json::value& o = kv.value();
  std::string order;
  if (o.is_string()) {
    order = std::string(o.get_string());
  } else if (o.is_object()) {
    for (const auto& ok : o.get_object()) {
      if (ok.key() == "order") {
        if (!ok.value().is_string()) return Parsing("[sort] [order] must be a string");
        order = std::string(ok.value().get_string());
      } else if (ok.key() == "unmapped_type" || ok.key() == "format" || ok.key() == "numeric_type") {
      } else {
        return Parsing("[sort] option [" + std::string(ok.key()) + "] is not supported");
      }
    }
  } else {
    return Parsing("[sort] malformed");
  }
  if (order.empty()) k.desc = k.field == "_score";
  else if (order == "asc") k.desc = false;
  else if (order == "desc") k.desc = true;
  else return Parsing("[sort] order must be asc or desc, got [" + order + "]");
  return k;
}

Result<std::vector<SortKey>> SortOf(const json::value& v) {
  std::vector<SortKey> out;
  if (v.is_array()) {
    for (const auto& e : v.get_array()) {
      auto k = SortEntry(e);
      if (!k.ok()) return k.status();
      out.push_back(*k);
    }
  } else {
    auto k = SortEntry(v);
    if (!k.ok()) return k.status();
    out.push_back(*k);
  }
  return out;
}

Result<std::vector<SortKey>> SortParam(const std::string& s) {
  std::vector<SortKey> out;
  size_t p = 0;
  while (p <= s.size()) {
    size_t c = s.find(',', p);
    std::string item = s.substr(p, c == std::string::npos ? std::string::npos : c - p);
    if (!item.empty()) {
      SortKey k;
      size_t colon = item.rfind(':');
      k.field = item.substr(0, colon);
      std::string order = colon == std::string::npos ? "" : item.substr(colon + 1);
      if (order == "desc") k.desc = true;
      else if (order == "asc") k.desc = false;
      else if (order.empty()) k.desc = k.field == "_score";
      else return Parsing("[sort] order must be asc or desc, got [" + order + "]");
      out.push_back(k);
    }
    if (c == std::string::npos) break;
    p = c + 1;
  }
  return out;
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= s.size()) {
    size_t c = s.find(',', p);
    std::string item = s.substr(p, c == std::string::npos ? std::string::npos : c - p);
    if (!item.empty()) out.push_back(item);
    if (c == std::string::npos) break;
    p = c + 1;
  }
  return out;
}

Status SourceOf(const json::value& v, SourceFilter* f) {
  if (v.is_bool()) {
    f->enabled = v.get_bool();
    return Status::Ok();
  }
  if (v.is_string() || v.is_array()) {
    f->includes = FieldsOf(v);
    return Status::Ok();
  }
  if (v.is_object()) {
    for (const auto& kv : v.get_object()) {
      if (kv.key() == "includes" || kv.key() == "include") f->includes = FieldsOf(kv.value());
      else if (kv.key() == "excludes" || kv.key() == "exclude") f->excludes = FieldsOf(kv.value());
      else return Parsing("[_source] does not support [" + std::string(kv.key()) + "]");
    }
    return Status::Ok();
  }
  return Parsing("[_source] must be a boolean, a string, an array or an object");
}

Result<json::value> ParseBody(std::string_view body) {
  bool blank = true;
  for (char c : body) blank = blank && std::isspace(static_cast<unsigned char>(c));
  if (blank) return json::value(json::object());
  boost::system::error_code ec;
  json::parse_options po;
  po.max_depth = 200;
  json::value v = json::parse(body, ec, {}, po);
  if (ec) return Status::InvalidArgument("x_content_parse_exception: request body is not valid JSON: " + ec.message());
  if (!v.is_object()) return Status::InvalidArgument("parsing_exception: request body must be a JSON object");
  return v;
}

Result<QueryPtr> QParam(const std::vector<std::pair<std::string, std::string>>& params) {
  std::optional<std::string> q;
  QueryStringOptions o;
  for (const auto& [k, v] : params) {
    if (k == "q") q = v;
    else if (k == "df") o.fields = {v};
    else if (k == "default_operator") {
      std::string u = v;
      for (auto& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (u != "AND" && u != "OR") return Illegal("default_operator must be AND or OR");
      o.default_and = u == "AND";
    }
  }
  if (!q) return QueryPtr();
  return ParseQueryString(*q, o);
}

}  // namespace

Result<std::vector<AggRequest>> ParseAggs(const json::value& v) { return ParseAggsDepth(v, 0); }

Result<SearchParams> ParseSearch(std::string_view body, const std::vector<std::pair<std::string, std::string>>& params) {
  SearchParams out;
  auto bv = ParseBody(body);
  if (!bv.ok()) return bv.status();
  SearchRequest& r = out.req;
  for (const auto& kv : bv->get_object()) {
    std::string k(kv.key());
    const json::value& v = kv.value();
    if (k == "query") {
      auto q = ParseQuery(v);
      if (!q.ok()) return q.status();
      r.query = *q;
    } else if (k == "from" || k == "size") {
      auto n = IntOf(v, k);
      if (!n.ok()) return n.status();
      if (*n < 0) return Illegal("[" + k + "] parameter cannot be negative, found [" + std::to_string(*n) + "]");
      (k == "from" ? r.from : r.size) = static_cast<size_t>(*n);
    } else if (k == "sort") {
      auto s = SortOf(v);
      if (!s.ok()) return s.status();
      r.sort = *s;
    } else if (k == "search_after") {
      if (!v.is_array()) return Parsing("[search_after] must be an array");
      for (const auto& e : v.get_array()) {
        auto val = ToValue(e);
        if (!val.ok()) return val.status();
        r.search_after.push_back(*val);
      }
    } else if (k == "_source") {
      if (Status st = SourceOf(v, &r.source); !st.ok()) return st;
    } else if (k == "track_total_hits") {
      out.track_total_hits_set = true;
      if (v.is_bool()) r.track_total_hits = v.get_bool() ? -1 : 0;
      else {
        auto n = IntOf(v, k);
        if (!n.ok()) return n.status();
        r.track_total_hits = *n < 0 ? -1 : *n;
      }
    } else if (k == "aggs" || k == "aggregations") {
      auto a = ParseAggs(v);
      if (!a.ok()) return a.status();
      r.aggs = std::move(*a);
    } else if (k == "timeout" || k == "version" || k == "seq_no_primary_term" || k == "stats" ||
               (k == "profile" && v.is_bool() && !v.get_bool()) || (k == "explain" && v.is_bool() && !v.get_bool()) ||
               (k == "highlight" && v.is_object() && v.get_object().empty())) {
      // Harmless: these do not change which documents match or how they are ordered.
    } else if (k == "stored_fields" && v.is_string() && v.get_string() == "_none_") {
      r.source.enabled = false;
    } else if (k == "docvalue_fields" && v.is_array() && v.get_array().empty()) {
    } else {
      return Parsing("search body option [" + k + "] is not supported");
    }
  }
  if (r.search_after.size() && r.search_after.size() != r.sort.size() && !r.sort.empty()) {
    return Illegal("search_after has " + std::to_string(r.search_after.size()) + " value(s) but sort has " +
                   std::to_string(r.sort.size()));
  }
  auto qp = QParam(params);
  if (!qp.ok()) return qp.status();
  if (*qp) {
    if (r.query) return Illegal("both the [q] parameter and a query in the body were given");
    r.query = *qp;
  }
  for (const auto& [k, v] : params) {
    if (k == "from" || k == "size") {
      auto n = IntOf(json::value(v), k);
      if (!n.ok()) return n.status();
      if (*n < 0) return Illegal("[" + k + "] parameter cannot be negative");
      (k == "from" ? r.from : r.size) = static_cast<size_t>(*n);
    } else if (k == "sort") {
      auto s = SortParam(v);
      if (!s.ok()) return s.status();
      r.sort = *s;
    } else if (k == "_source") {
      if (v == "false") r.source.enabled = false;
      else if (v != "true") r.source.includes = SplitComma(v);
    } else if (k == "_source_includes" || k == "_source_include") {
      r.source.includes = SplitComma(v);
    } else if (k == "_source_excludes" || k == "_source_exclude") {
      r.source.excludes = SplitComma(v);
    } else if (k == "track_total_hits") {
      out.track_total_hits_set = true;
      if (v == "true") r.track_total_hits = -1;
      else if (v == "false") r.track_total_hits = 0;
      else {
        auto n = IntOf(json::value(v), k);
        if (!n.ok()) return n.status();
        r.track_total_hits = *n < 0 ? -1 : *n;
      }
    } else if (k == "rest_total_hits_as_int") {
      out.rest_total_hits_as_int = v != "false";
    } else if (k == "typed_keys" && v != "false") {
      return Illegal("[typed_keys] is not supported");
    } else if (k == "scroll") {
      return Illegal("[scroll] is not supported; use search_after");
    }
  }
  if (r.from + r.size > 10000 && r.size > 0) {
    return Illegal("Result window is too large, from + size must be less than or equal to: [10000] but was [" +
                   std::to_string(r.from + r.size) + "]. Use search_after instead.");
  }
  if (out.rest_total_hits_as_int && !out.track_total_hits_set) r.track_total_hits = -1;
  return out;
}

Result<QueryPtr> ParseCount(std::string_view body, const std::vector<std::pair<std::string, std::string>>& params) {
  auto bv = ParseBody(body);
  if (!bv.ok()) return bv.status();
  QueryPtr q;
  for (const auto& kv : bv->get_object()) {
    if (kv.key() == "query") {
      auto p = ParseQuery(kv.value());
      if (!p.ok()) return p.status();
      q = *p;
    } else {
      return Parsing("request does not support [" + std::string(kv.key()) + "]");
    }
  }
  auto qp = QParam(params);
  if (!qp.ok()) return qp.status();
  if (*qp) q = *qp;
  return q;
}

EsError EsErrorFromStatus(const Status& st) {
  EsError e;
  const std::string& m = st.message();
  size_t colon = m.find(": ");
  bool typed = colon != std::string::npos && colon > 0 && colon < 64;
  if (typed) {
    for (size_t k = 0; k < colon; k++) {
      char c = m[k];
      if (!(std::islower(static_cast<unsigned char>(c)) || c == '_')) typed = false;
    }
  }
  switch (st.code()) {
    case StatusCode::kInvalidArgument: e.status = 400; e.type = "illegal_argument_exception"; break;
    case StatusCode::kNotFound: e.status = 404; e.type = "index_not_found_exception"; break;
    case StatusCode::kAlreadyExists: e.status = 400; e.type = "resource_already_exists_exception"; break;
    case StatusCode::kPermissionDenied: e.status = 403; e.type = "security_exception"; break;
    case StatusCode::kUnavailable: e.status = 503; e.type = "unavailable_shards_exception"; break;
    case StatusCode::kResourceExhausted: e.status = 429; e.type = "es_rejected_execution_exception"; break;
    case StatusCode::kTimeout: e.status = 504; e.type = "timeout_exception"; break;
    default: e.status = 500; e.type = "exception"; break;
  }
  if (typed) {
    e.type = m.substr(0, colon);
    e.reason = m.substr(colon + 2);
  } else {
    e.reason = m;
  }
  return e;
}

std::string EsErrorJson(const EsError& e) {
  json::object cause{{"type", e.type}, {"reason", e.reason}};
  json::object err = cause;
  err["root_cause"] = json::array{cause};
  return json::serialize(json::object{{"error", err}, {"status", e.status}});
}

}  // namespace hakone::store::es
