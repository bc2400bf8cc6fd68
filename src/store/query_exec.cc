// Query compilation and evaluation for the event store: exact evaluation on flattened documents
// (the source of truth), plus what the engine prunes with (token formula, time range, labels,
// hyperscan raw-text pre-filters).
#include <algorithm>
#include <cmath>
#include <mutex>
#include <unordered_set>

#include <hs/hs.h>

#include "store/store_internal.h"
#include "store/tz.h"

namespace hakone::store::internal {

// ---------------------------------------------------------------------------------------------
// Patterns (hyperscan)

namespace {

struct ScratchHolder {
  hs_scratch_t* s = nullptr;
  ~ScratchHolder() {
    if (s) hs_free_scratch(s);
  }
};
thread_local ScratchHolder tls_scratch;

hs_scratch_t* ScratchFor(const hs_database_t* db) {
  if (hs_alloc_scratch(db, &tls_scratch.s) != HS_SUCCESS) return nullptr;
  return tls_scratch.s;
}

void AppendEscaped(std::string& out, uint32_t c) {
  // Escape every ASCII non-alphanumeric; bytes >= 0x80 are copied (UTF-8 mode).
  if (c < 0x80 && !std::isalnum(static_cast<int>(c))) out.push_back('\\');
  out.push_back(static_cast<char>(c));
}

Result<std::string> ToPcre(Query::Kind kind, std::string_view text) {
  std::string re;
  if (kind == Query::Kind::kPrefix) {
    for (char c : text) AppendEscaped(re, static_cast<unsigned char>(c));
    re += ".*";
    return re;
  }
  if (kind == Query::Kind::kWildcard) {
    for (size_t i = 0; i < text.size(); ++i) {
      char c = text[i];
      if (c == '*') re += ".*";
      else if (c == '?') re += ".";
      else if (c == '\\' && i + 1 < text.size()) AppendEscaped(re, static_cast<unsigned char>(text[++i]));
      else AppendEscaped(re, static_cast<unsigned char>(c));
    }
    return re;
  }
  // Lucene regexp → PCRE. Supported: . ? + * | {n,m} ( ) [ ] [^ ] \ escapes and "literal".
  bool in_class = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\') {
      if (i + 1 >= text.size()) return Status::InvalidArgument("regexp: trailing backslash");
      AppendEscaped(re, static_cast<unsigned char>(text[++i]));
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      if (c == '[' || (c == '&' && i + 1 < text.size() && text[i + 1] == '&')) re.push_back('\\');
      re.push_back(c);
      continue;
    }
    switch (c) {
      case '[': in_class = true; re.push_back(c); if (i + 1 < text.size() && text[i + 1] == '^') { re.push_back('^'); ++i; } break;
      case '.': case '?': case '+': case '*': case '|': case '(': case ')': case '{': case '}': re.push_back(c); break;
      case '"': {
        size_t j = text.find('"', i + 1);
        if (j == std::string_view::npos) return Status::InvalidArgument("regexp: unterminated quoted string");
        for (size_t k = i + 1; k < j; ++k) AppendEscaped(re, static_cast<unsigned char>(text[k]));
        i = j;
        break;
      }
      case '@': case '&': case '~': case '<': case '>': case '#':
        return Status::InvalidArgument(std::string("regexp: unsupported operator '") + c + "' (optional Lucene regexp flags are not supported)");
      default: AppendEscaped(re, static_cast<unsigned char>(c)); break;
    }
  }
  if (in_class) return Status::InvalidArgument("regexp: unterminated character class");
  return re;
}

}  // namespace

struct Pattern::Impl {
  hs_database_t* whole = nullptr;
  hs_database_t* raw = nullptr;  // null: no raw pre-filter possible (pattern matches empty)
  hs_database_t* lines = nullptr;
  ~Impl() {
    if (whole) hs_free_database(whole);
    if (raw) hs_free_database(raw);
    if (lines) hs_free_database(lines);
  }
};

Pattern::~Pattern() = default;

Result<std::shared_ptr<Pattern>> Pattern::Compile(Query::Kind kind, std::string_view text, bool ci) {
  auto re = ToPcre(kind, text);
  if (!re.ok()) return re.status();
  std::shared_ptr<Pattern> p(new Pattern());
  p->impl_ = std::make_unique<Impl>();
  std::string whole = "^(?:" + *re + ")$";
  hs_compile_error_t* err = nullptr;
  unsigned flags = HS_FLAG_DOTALL | HS_FLAG_SINGLEMATCH | HS_FLAG_UTF8 | HS_FLAG_ALLOWEMPTY | (ci ? HS_FLAG_CASELESS : 0);
  if (hs_compile(whole.c_str(), flags, HS_MODE_BLOCK, nullptr, &p->impl_->whole, &err) != HS_SUCCESS) {
    std::string msg = err ? err->message : "unknown error";
    hs_free_compile_error(err);
    return Status::InvalidArgument("cannot compile pattern '" + std::string(text) + "': " + msg);
  }
  std::string ml = "^(?:" + *re + ")$";
  unsigned mlf = HS_FLAG_MULTILINE | HS_FLAG_UTF8 | HS_FLAG_ALLOWEMPTY | (ci ? HS_FLAG_CASELESS : 0);
  if (hs_compile(ml.c_str(), mlf, HS_MODE_BLOCK, nullptr, &p->impl_->lines, &err) != HS_SUCCESS) {
    hs_free_compile_error(err);
    p->impl_->lines = nullptr;
  }
  // Raw pre-filter: the unanchored pattern (caseless, as a superset) or a hazard that makes the
  // raw text differ from the analysed values (escapes, case folding outside ASCII).
  const char* pats[2] = {re->c_str(), "\\\\|\\xEF\\xBC|\\xEF\\xBD|\\xC3[\\x80-\\x9E]|\\xD0[\\x80-\\xAF]|\\xCE[\\x91-\\xA9]"};
  unsigned fl[2] = {HS_FLAG_DOTALL | HS_FLAG_SINGLEMATCH | HS_FLAG_UTF8 | HS_FLAG_CASELESS | HS_FLAG_PREFILTER,
                    HS_FLAG_SINGLEMATCH};
  unsigned ids[2] = {0, 1};
  if (hs_compile_multi(pats, fl, ids, 2, HS_MODE_BLOCK, nullptr, &p->impl_->raw, &err) != HS_SUCCESS) {
    hs_free_compile_error(err);  // e.g. the pattern matches the empty string: no pre-filter
    p->impl_->raw = nullptr;
  }
  return p;
}

namespace {
int OnMatch(unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) {
  *static_cast<bool*>(ctx) = true;
  return 1;  // stop
}
}  // namespace

bool Pattern::Matches(std::string_view v) const {
  hs_scratch_t* s = ScratchFor(impl_->whole);
  if (!s) return false;
  bool hit = false;
  hs_scan(impl_->whole, v.data(), static_cast<unsigned>(v.size()), 0, s, OnMatch, &hit);
  return hit;
}

void Pattern::MatchLines(std::string_view lines, const std::function<void(uint64_t)>& fn) const {
  if (!impl_->lines) {  // fall back to one scan per line
    size_t st = 0;
    while (st < lines.size()) {
      size_t e = lines.find('\n', st);
      if (e == std::string_view::npos) e = lines.size();
      if (Matches(lines.substr(st, e - st))) fn(e);
      st = e + 1;
    }
    return;
  }
  hs_scratch_t* s = ScratchFor(impl_->lines);
  if (!s) return;
  auto cb = [](unsigned, unsigned long long, unsigned long long to, unsigned, void* ctx) -> int {
    (*static_cast<const std::function<void(uint64_t)>*>(ctx))(to);
    return 0;
  };
  hs_scan(impl_->lines, lines.data(), static_cast<unsigned>(lines.size()), 0, s, cb, const_cast<std::function<void(uint64_t)>*>(&fn));
}

bool Pattern::MayMatchRaw(std::string_view raw) const {
  if (!impl_->raw) return true;
  hs_scratch_t* s = ScratchFor(impl_->raw);
  if (!s) return true;
  bool hit = false;
  hs_scan(impl_->raw, raw.data(), static_cast<unsigned>(raw.size()), 0, s, OnMatch, &hit);
  return hit;
}

// ---------------------------------------------------------------------------------------------
// Compiled query

struct CompiledQuery::Node {
  Query::Kind kind = Query::Kind::kMatchAll;
  QueryPtr q;
  bool all_fields = false;
  std::vector<std::string> fields;
  std::vector<std::string> tokens;       // kMatch, kPhrase (analysed)
  std::vector<std::string> str_values;   // kTerm/kTerms/kIds as strings
  std::shared_ptr<Pattern> pattern;
  int token_pattern = -1;  // index in token_patterns_ when the pattern applies to text tokens only
  // kRange resolved
  enum class RangeMode { kNumber, kDate, kString } range_mode = RangeMode::kNumber;
  std::optional<double> lo, hi;
  bool lo_incl = true, hi_incl = true;
  std::optional<std::string> slo, shi;
  std::vector<std::unique_ptr<Node>> must, filter, should, must_not;
  int msm = 0;
};

namespace {

using Node = CompiledQuery::Node;

bool IsStringType(std::optional<FieldType> t) { return !t || *t == FieldType::kText || *t == FieldType::kKeyword; }

std::string Lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

}  // namespace

struct Compiler {
  const EvalContext& ctx;
  CompiledQuery* out;

  Result<std::unique_ptr<Node>> Compile(const QueryPtr& q, bool top_and) {
    auto n = std::make_unique<Node>();
    n->q = q;
    n->kind = q->kind;
    const Mapping& m = *ctx.mapping;
    if (q->fields.empty() && q->field.empty()) n->all_fields = true;
    else if (!q->fields.empty()) n->fields = q->fields;
    else n->fields = {q->field};
    for (auto& f : n->fields) {  // strip ES boosts like "title^2"
      auto c = f.find('^');
      if (c != std::string::npos) f.resize(c);
    }
    switch (q->kind) {
      case Query::Kind::kMatchAll: case Query::Kind::kMatchNone: break;
      case Query::Kind::kTerm: case Query::Kind::kTerms: case Query::Kind::kIds: {
        if (q->kind != Query::Kind::kIds && q->field.empty()) return Status::InvalidArgument("term: a field is required");
        if (q->kind == Query::Kind::kTerm && q->values.size() != 1) return Status::InvalidArgument("term: exactly one value is required");
        for (const auto& v : q->values) n->str_values.push_back(ValueToString(v));
        if (q->kind == Query::Kind::kIds || q->field == "_id") {
          n->kind = Query::Kind::kIds;
          if (top_and) {
            if (out->ids_) {
              std::vector<std::string> keep;
              for (auto& s : *out->ids_) if (std::find(n->str_values.begin(), n->str_values.end(), s) != n->str_values.end()) keep.push_back(s);
              out->ids_ = keep;
            } else {
              out->ids_ = n->str_values;
            }
          }
        } else if (top_and && !q->case_insensitive) {
          std::string base = q->field;
          auto t = FieldTypeOf(m, q->field);
          if (base.size() > 8 && base.substr(base.size() - 8) == ".keyword") base.resize(base.size() - 8);
          if (t == FieldType::kKeyword) out->labels_.push_back({base, n->str_values});
        }
        break;
      }
      case Query::Kind::kMatch: case Query::Kind::kPhrase: {
        out->scoring_ = true;
        AnalyzeTokens(q->text, [&](std::string_view t, uint32_t) { n->tokens.emplace_back(t); });
        break;
      }
      case Query::Kind::kPrefix: case Query::Kind::kWildcard: case Query::Kind::kRegexp: {
        auto p = Pattern::Compile(q->kind, q->text, q->case_insensitive);
        if (!p.ok()) return p.status();
        n->pattern = *p;
        if (!n->all_fields) {
          bool all_text = true;
          for (const auto& f : n->fields) all_text = all_text && FieldTypeOf(m, f) == FieldType::kText;
          if (all_text) {
            n->token_pattern = static_cast<int>(out->token_patterns_.size());
            out->token_patterns_.push_back(n->pattern.get());
          }
        }
        break;
      }
      case Query::Kind::kRange: {
        if (q->field.empty()) return Status::InvalidArgument("range: a field is required");
        auto t = FieldTypeOf(m, q->field);
        bool is_time = q->field == ctx.time_field;
        if (is_time || t == FieldType::kDate) n->range_mode = Node::RangeMode::kDate;
        else if (t == FieldType::kKeyword || t == FieldType::kText) n->range_mode = Node::RangeMode::kString;
        else if (!t) {
          const Value* any = q->gte ? &*q->gte : q->gt ? &*q->gt : q->lte ? &*q->lte : q->lt ? &*q->lt : nullptr;
          n->range_mode = (any && std::holds_alternative<std::string>(*any) && !ToDouble(*any)) ? Node::RangeMode::kString
                                                                                                : Node::RangeMode::kNumber;
        }
        std::shared_ptr<const TimeZone> tz;
        if (!q->time_zone.empty()) {
          auto z = TimeZone::Get(q->time_zone);
          if (!z.ok()) return z.status();
          // A mapped non-date field is an error (as ES); an unmapped one matches nothing anyway.
          if (n->range_mode != Node::RangeMode::kDate && t)
            return Status::InvalidArgument("range: [time_zone] applies to date fields only, [" + q->field + "] is a " +
                                           std::string(FieldTypeName(*t)) + " field");
          tz = *z;
        }
        auto bound = [&](const std::optional<Value>& v, bool round_up, std::optional<double>* num, std::optional<std::string>* str) -> Status {
          if (!v || std::holds_alternative<std::monostate>(*v)) return Status::Ok();
          if (n->range_mode == Node::RangeMode::kDate) {
            auto r = ResolveDateBound(*v, ctx.now_ms, round_up, tz.get());
            if (!r.ok()) return r.status();
            *num = static_cast<double>(*r);
          } else if (n->range_mode == Node::RangeMode::kNumber) {
            auto d = ToDouble(*v);
            if (!d) return Status::InvalidArgument("range: bound '" + ValueToString(*v) + "' on numeric field [" + q->field + "] is not a number");
            *num = *d;
          } else {
            *str = ValueToString(*v);
          }
          return Status::Ok();
        };
        Status s;
        if (q->gte) s = bound(q->gte, false, &n->lo, &n->slo);
        else if (q->gt) { s = bound(q->gt, true, &n->lo, &n->slo); n->lo_incl = false; }
        if (!s.ok()) return s;
        if (q->lte) s = bound(q->lte, true, &n->hi, &n->shi);
        else if (q->lt) { s = bound(q->lt, false, &n->hi, &n->shi); n->hi_incl = false; }
        if (!s.ok()) return s;
        if (is_time && top_and) {
          if (n->lo) out->min_time_us_ = std::max(out->min_time_us_, static_cast<int64_t>(*n->lo) * 1000);
          if (n->hi) out->max_time_us_ = std::min(out->max_time_us_, static_cast<int64_t>(*n->hi) * 1000 + 999);
        }
        break;
      }
      case Query::Kind::kExists:
        if (q->field.empty()) return Status::InvalidArgument("exists: a field is required");
        break;
      case Query::Kind::kBool: {
        bool and_ctx = top_and;
        for (const auto& c : q->must) {
          auto r = Compile(c, and_ctx);
          if (!r.ok()) return r.status();
          n->must.push_back(std::move(*r));
        }
        for (const auto& c : q->filter) {
          auto r = Compile(c, and_ctx);
          if (!r.ok()) return r.status();
          n->filter.push_back(std::move(*r));
        }
        for (const auto& c : q->should) {
          auto r = Compile(c, false);
          if (!r.ok()) return r.status();
          n->should.push_back(std::move(*r));
        }
        for (const auto& c : q->must_not) {
          bool saved = out->scoring_;
          auto r = Compile(c, false);
          out->scoring_ = saved;
          if (!r.ok()) return r.status();
          n->must_not.push_back(std::move(*r));
        }
        if (q->minimum_should_match) n->msm = *q->minimum_should_match;
        else n->msm = (q->must.empty() && q->filter.empty() && !q->should.empty()) ? 1 : 0;
        if (n->msm < 0) n->msm = std::max(0, static_cast<int>(q->should.size()) + n->msm);
        break;
      }
    }
    return n;
  }
};

CompiledQuery::~CompiledQuery() = default;

Result<std::unique_ptr<CompiledQuery>> CompiledQuery::Compile(const QueryPtr& q, const EvalContext& ctx) {
  std::unique_ptr<CompiledQuery> cq(new CompiledQuery());
  static const QueryPtr kAll = std::make_shared<Query>();
  Compiler c{ctx, cq.get()};
  auto r = c.Compile(q ? q : kAll, true);
  if (!r.ok()) return r.status();
  cq->root_ = std::move(*r);
  cq->ctx_ = ctx;
  return cq;
}

bool CompiledQuery::scoring() const { return scoring_; }

namespace {
void CollectScoringTokens(const CompiledQuery::Node& n, std::vector<std::string>* out);
}  // namespace

std::vector<std::string> CompiledQuery::scoring_tokens() const {
  std::vector<std::string> out;
  CollectScoringTokens(*root_, &out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// ---------------------------------------------------------------------------------------------
// BM25 statistics

void FieldLengths::Add(const FlatDoc& doc, const Mapping& m) {
  std::vector<std::string_view> seen;  // fields counted for this doc (multi-valued: once)
  for (const auto& f : doc.fields) {
    const auto* sv = std::get_if<std::string>(&f.value);
    if (!sv) continue;
    auto it = m.fields.find(f.path);
    if (it == m.fields.end() || it->second.type != FieldType::kText) continue;
    uint64_t n = 0;
    AnalyzeTokens(*sv, [&](std::string_view, uint32_t) { ++n; });
    Sum& sum = by_field[f.path];
    sum.tokens += n;
    if (std::find(seen.begin(), seen.end(), f.path) == seen.end()) {
      ++sum.docs;
      seen.push_back(f.path);
    }
  }
}

void FieldLengths::Merge(const FieldLengths& o) {
  for (const auto& [k, v] : o.by_field) {
    Sum& s = by_field[k];
    s.tokens += v.tokens;
    s.docs += v.docs;
  }
}

double Bm25Stats::Idf(const std::string& token) const {
  auto it = df.find(token);
  double n = static_cast<double>(docs);
  double d = it == df.end() ? 0.0 : std::min(static_cast<double>(it->second), n);
  return std::log(1.0 + (n - d + 0.5) / (d + 0.5));
}

double Bm25Stats::AvgDl(const std::string& field) const {
  auto it = lengths.by_field.find(field);
  if (it == lengths.by_field.end() || it->second.docs == 0) return 0;
  return static_cast<double>(it->second.tokens) / static_cast<double>(it->second.docs);
}

void Bm25Stats::AddDoc(const FlatDoc& doc, const Mapping& m, const std::vector<std::string>& tokens) {
  ++docs;
  lengths.Add(doc, m);
  if (tokens.empty()) return;
  std::vector<bool> has(tokens.size(), false);
  for (const auto& f : doc.fields) {
    const auto* sv = std::get_if<std::string>(&f.value);
    if (!sv) continue;
    auto it = m.fields.find(f.path);
    if (it == m.fields.end() || it->second.type != FieldType::kText) continue;
    AnalyzeTokens(*sv, [&](std::string_view tok, uint32_t) {
      auto p = std::lower_bound(tokens.begin(), tokens.end(), tok);  // tokens are sorted
      if (p != tokens.end() && *p == tok) has[static_cast<size_t>(p - tokens.begin())] = true;
    });
  }
  for (size_t i = 0; i < tokens.size(); ++i)
    if (has[i]) ++df[tokens[i]];
}
const std::vector<const Pattern*>& CompiledQuery::token_patterns() const { return token_patterns_; }
int64_t CompiledQuery::min_time_us() const { return min_time_us_; }
int64_t CompiledQuery::max_time_us() const { return max_time_us_; }
const std::vector<std::pair<std::string, std::vector<std::string>>>& CompiledQuery::label_constraints() const { return labels_; }
const std::optional<std::vector<std::string>>& CompiledQuery::required_ids() const { return ids_; }

namespace {

// Token formula.
bool NodeMayMatchTokens(const Node& n, const Mapping& m, const std::function<bool(std::string_view)>& has) {
  switch (n.kind) {
    case Query::Kind::kMatchNone: return false;
    case Query::Kind::kTerm: case Query::Kind::kTerms: {
      if (n.q->case_insensitive) return true;
      auto t = FieldTypeOf(m, n.fields[0]);
      for (const auto& v : n.str_values) {
        if (t == FieldType::kText) {
          if (has(v)) return true;
        } else if (t == FieldType::kKeyword && n.fields[0].find(".keyword") == std::string::npos) {
          if (has(KeywordToken(n.fields[0], v))) return true;
        } else {
          return true;
        }
      }
      return false;
    }
    case Query::Kind::kMatch: case Query::Kind::kPhrase: {
      // Keyword fields among the targets match the whole text: no token pruning for them.
      if (n.all_fields) {
        for (const auto& [name, fm] : m.fields) if (fm.type == FieldType::kKeyword) return true;
      } else {
        for (const auto& f : n.fields) {
          auto t = FieldTypeOf(m, f);
          if (t != FieldType::kText) return true;
        }
      }
      if (n.tokens.empty()) return n.kind == Query::Kind::kPhrase;
      bool all = n.kind == Query::Kind::kPhrase || n.q->op_and;
      for (const auto& t : n.tokens) {
        bool h = has(t);
        if (all && !h) return false;
        if (!all && h) return true;
      }
      return all;
    }
    case Query::Kind::kPrefix: case Query::Kind::kWildcard: case Query::Kind::kRegexp:
      if (n.token_pattern >= 0) return has(CompiledQuery::PatternToken(static_cast<size_t>(n.token_pattern)));
      return true;
    case Query::Kind::kBool: {
      for (const auto& c : n.must) if (!NodeMayMatchTokens(*c, m, has)) return false;
      for (const auto& c : n.filter) if (!NodeMayMatchTokens(*c, m, has)) return false;
      if (n.msm > 0) {
        int possible = 0;
        for (const auto& c : n.should) possible += NodeMayMatchTokens(*c, m, has) ? 1 : 0;
        if (possible < n.msm) return false;
      }
      return true;
    }
    default: return true;
  }
}

bool NodeMayMatchRaw(const Node& n, std::string_view raw, bool* used) {
  switch (n.kind) {
    case Query::Kind::kPrefix: case Query::Kind::kWildcard: case Query::Kind::kRegexp:
      *used = true;
      return n.pattern->MayMatchRaw(raw);
    case Query::Kind::kBool: {
      for (const auto& c : n.must) if (!NodeMayMatchRaw(*c, raw, used)) return false;
      for (const auto& c : n.filter) if (!NodeMayMatchRaw(*c, raw, used)) return false;
      return true;
    }
    default: return true;
  }
}

bool NodeHasRaw(const Node& n) {
  if (n.pattern) return true;
  for (const auto& c : n.must) if (NodeHasRaw(*c)) return true;
  for (const auto& c : n.filter) if (NodeHasRaw(*c)) return true;
  return false;
}

}  // namespace

bool CompiledQuery::MayMatchTokens(const std::function<bool(std::string_view)>& has) const {
  return NodeMayMatchTokens(*root_, *ctx_.mapping, has);
}

bool CompiledQuery::MayMatchRaw(std::string_view raw) const {
  bool used = false;
  return NodeMayMatchRaw(*root_, raw, &used);
}

bool CompiledQuery::has_raw_filter() const { return NodeHasRaw(*root_); }

namespace {
void CollectScoringTokens(const CompiledQuery::Node& n, std::vector<std::string>* out) {
  if (n.kind == Query::Kind::kMatch || n.kind == Query::Kind::kPhrase) out->insert(out->end(), n.tokens.begin(), n.tokens.end());
  for (const auto* v : {&n.must, &n.should})  // filter and must_not clauses do not score
    for (const auto& c : *v) CollectScoringTokens(*c, out);
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// Exact evaluation

namespace {

struct Evaluator {
  const EvalContext& ctx;
  const FlatDoc& doc;
  std::string_view id;
  int64_t time_us;
  std::vector<const Value*> vals;

  // The string-typed (text/keyword) fields a node targets in this doc.
  template <typename Fn>
  bool ForTargetValues(const Node& n, Fn&& fn) {
    const Mapping& m = *ctx.mapping;
    if (n.all_fields) {
      for (const auto& f : doc.fields) {
        if (!std::holds_alternative<std::string>(f.value)) continue;
        auto t = FieldTypeOf(m, f.path);
        if (!IsStringType(t)) continue;
        if (fn(f.path, t.value_or(FieldType::kText), f.value)) return true;
      }
      return false;
    }
    for (const auto& name : n.fields) {
      FieldValues(doc, m, name, &vals);
      auto t = FieldTypeOf(m, name);
      auto copy = vals;
      for (const Value* v : copy) {
        FieldType ft = t ? *t : (std::holds_alternative<std::string>(*v) ? FieldType::kText : InferType(*v));
        if (fn(name, ft, *v)) return true;
      }
    }
    return false;
  }

  bool TermEq(FieldType t, const Value& v, const std::string& q, bool ci) {
    switch (t) {
      case FieldType::kText: {
        if (std::holds_alternative<std::monostate>(v)) return false;
        bool hit = false;
        std::string qq = ci ? Lower(q) : q;
        AnalyzeTokens(ValueToString(v), [&](std::string_view tok, uint32_t) {
          if (!hit && (ci ? Lower(tok) == qq : tok == qq)) hit = true;
        });
        return hit;
      }
      case FieldType::kLong: case FieldType::kDouble: {
        auto a = ToDouble(v);
        auto b = ToDouble(Value(q));
        return a && b && *a == *b;
      }
      case FieldType::kDate: {
        std::optional<int64_t> a;
        if (auto* s = std::get_if<std::string>(&v)) a = ParseDateMs(*s);
        else if (auto d = ToDouble(v)) a = static_cast<int64_t>(*d);
        auto b = ResolveDateBound(Value(q), ctx.now_ms, false);
        return a && b.ok() && *a == *b;
      }
      default: {
        if (std::holds_alternative<std::monostate>(v)) return false;
        std::string s = ValueToString(v);
        return ci ? Lower(s) == Lower(q) : s == q;
      }
    }
  }

  // BM25 score of a text field for a match or phrase node: `texts` are the field's values (one
  // field: term frequencies and the length add up over them; a phrase does not span values).
  // Elasticsearch's formula (k1 = 1.2, b = 0.75, (k1 + 1) kept in the numerator as ES does):
  //   match:  sum over query tokens of idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
  //   phrase: (sum of the tokens' idf) * the same with the phrase frequency as tf.
  double ScoreText(const Node& n, const std::string& field, const std::vector<std::string>& texts, bool* matched) {
    constexpr double k1 = 1.2, b = 0.75;
    std::vector<uint32_t> tf(n.tokens.size(), 0);
    uint64_t len = 0;
    uint32_t phrase_freq = 0;
    bool phrase = n.kind == Query::Kind::kPhrase;
    std::vector<std::pair<uint32_t, size_t>> hits;  // (position, token index) for phrases
    for (const auto& text : texts) {
      hits.clear();
      AnalyzeTokens(text, [&](std::string_view tok, uint32_t pos) {
        ++len;
        for (size_t i = 0; i < n.tokens.size(); ++i)
          if (tok == n.tokens[i]) {
            ++tf[i];
            if (phrase) hits.push_back({pos, i});
          }
      });
      if (!phrase || n.tokens.empty()) continue;
      // A start position p where token k is at p + k for every k.
      std::unordered_set<uint64_t> at;
      for (auto& [p, i] : hits) at.insert((static_cast<uint64_t>(p) << 16) | i);
      for (auto& [p, i] : hits) {
        if (i != 0) continue;
        bool ok = true;
        for (size_t k = 1; k < n.tokens.size() && ok; ++k) ok = at.count((static_cast<uint64_t>(p + k) << 16) | k) > 0;
        phrase_freq += ok;
      }
    }
    size_t present = 0;
    for (auto c : tf) present += c > 0;
    if (phrase) *matched = !n.tokens.empty() && phrase_freq > 0;
    else *matched = n.q->op_and ? (present == n.tokens.size() && !n.tokens.empty()) : present > 0;
    if (!*matched) return 0;
    const Bm25Stats* st = ctx.bm25;
    double dl = static_cast<double>(len);
    double avgdl = st ? st->AvgDl(field) : 0;
    if (avgdl <= 0) avgdl = dl > 0 ? dl : 1;
    double norm = k1 * (1 - b + b * dl / avgdl);
    auto idf = [&](const std::string& t) { return st ? st->Idf(t) : 1.0; };
    if (phrase) {
      double idf_sum = 0;
      for (const auto& t : n.tokens) idf_sum += idf(t);
      double f = phrase_freq;
      return idf_sum * f * (k1 + 1) / (f + norm);
    }
    double score = 0;
    for (size_t i = 0; i < n.tokens.size(); ++i) {
      if (!tf[i]) continue;
      double f = tf[i];
      score += idf(n.tokens[i]) * f * (k1 + 1) / (f + norm);
    }
    return score;
  }

  // match / match_phrase: the best-scoring target field (multi_match best_fields).
  bool EvalMatch(const Node& n, double* score) {
    const Mapping& m = *ctx.mapping;
    double best = 0;
    bool any = false;
    auto text_field = [&](const std::string& name, const std::vector<std::string>& texts) {
      bool hit = false;
      double s = ScoreText(n, name, texts, &hit);
      if (hit) {
        any = true;
        best = std::max(best, s);
      }
    };
    auto other = [&](FieldType t, const Value& v) {
      if (TermEq(t, v, n.q->text, false)) {
        any = true;
        best = std::max(best, 1.0);
      }
    };
    if (n.all_fields) {
      std::vector<std::pair<std::string, std::vector<std::string>>> texts;  // by path, doc order
      for (const auto& f : doc.fields) {
        const auto* sv = std::get_if<std::string>(&f.value);
        if (!sv) continue;
        auto t = FieldTypeOf(m, f.path);
        if (!IsStringType(t)) continue;
        if (t.value_or(FieldType::kText) != FieldType::kText) {
          other(*t, f.value);
          continue;
        }
        auto it = std::find_if(texts.begin(), texts.end(), [&](const auto& e) { return e.first == f.path; });
        if (it == texts.end()) texts.push_back({f.path, {*sv}});
        else it->second.push_back(*sv);
      }
      for (const auto& e : texts) text_field(e.first, e.second);
    } else {
      std::vector<std::string> texts;
      for (const auto& name : n.fields) {
        FieldValues(doc, m, name, &vals);
        auto t = FieldTypeOf(m, name);
        texts.clear();
        for (const Value* v : vals) {
          if (std::holds_alternative<std::monostate>(*v)) continue;
          FieldType ft = t ? *t : (std::holds_alternative<std::string>(*v) ? FieldType::kText : InferType(*v));
          if (ft == FieldType::kText) texts.push_back(ValueToString(*v));
          else other(ft, *v);
        }
        if (!texts.empty()) text_field(name, texts);
      }
    }
    if (any && score) *score += best * n.q->boost;
    return any;
  }

  bool Eval(const Node& n, double* score) {
    const Query& q = *n.q;
    switch (n.kind) {
      case Query::Kind::kMatchAll: return true;
      case Query::Kind::kMatchNone: return false;
      case Query::Kind::kIds:
        return std::find(n.str_values.begin(), n.str_values.end(), std::string(id)) != n.str_values.end();
      case Query::Kind::kTerm: case Query::Kind::kTerms: {
        if (n.fields[0] == ctx.time_field) {
          for (const auto& s : n.str_values) {
            auto b = ResolveDateBound(Value(s), ctx.now_ms, false);
            if (b.ok() && *b == time_us / 1000) return true;
          }
          return false;
        }
        return ForTargetValues(n, [&](const std::string&, FieldType t, const Value& v) {
          for (const auto& s : n.str_values)
            if (TermEq(t, v, s, q.case_insensitive)) return true;
          return false;
        });
      }
      case Query::Kind::kMatch: case Query::Kind::kPhrase: return EvalMatch(n, score);
      case Query::Kind::kPrefix: case Query::Kind::kWildcard: case Query::Kind::kRegexp:
        return ForTargetValues(n, [&](const std::string&, FieldType t, const Value& v) {
          if (std::holds_alternative<std::monostate>(v)) return false;
          if (t == FieldType::kText) {
            bool hit = false;
            AnalyzeTokens(ValueToString(v), [&](std::string_view tok, uint32_t) {
              if (!hit && n.pattern->Matches(tok)) hit = true;
            });
            return hit;
          }
          return n.pattern->Matches(ValueToString(v));
        });
      case Query::Kind::kRange: {
        auto in = [&](double x) {
          if (n.lo && (n.lo_incl ? x < *n.lo : x <= *n.lo)) return false;
          if (n.hi && (n.hi_incl ? x > *n.hi : x >= *n.hi)) return false;
          return true;
        };
        if (q.field == ctx.time_field && n.range_mode == Node::RangeMode::kDate) return in(static_cast<double>(time_us / 1000));
        FieldValues(doc, *ctx.mapping, q.field, &vals);
        for (const Value* v : vals) {
          if (std::holds_alternative<std::monostate>(*v)) continue;
          if (n.range_mode == Node::RangeMode::kString) {
            std::string s = ValueToString(*v);
            if (n.slo && (n.lo_incl ? s < *n.slo : s <= *n.slo)) continue;
            if (n.shi && (n.hi_incl ? s > *n.shi : s >= *n.shi)) continue;
            return true;
          }
          std::optional<double> x;
          if (n.range_mode == Node::RangeMode::kDate) {
            if (auto* s = std::get_if<std::string>(v)) {
              if (auto ms = ParseDateMs(*s)) x = static_cast<double>(*ms);
            } else {
              x = ToDouble(*v);
            }
          } else {
            x = ToDouble(*v);
          }
          if (x && in(*x)) return true;
        }
        return false;
      }
      case Query::Kind::kExists: {
        if (q.field == ctx.time_field) return true;
        if (q.field == "_id") return true;
        FieldValues(doc, *ctx.mapping, q.field, &vals);
        for (const Value* v : vals) if (!std::holds_alternative<std::monostate>(*v)) return true;
        std::string prefix = q.field + ".";
        for (const auto& f : doc.fields)
          if (f.path.compare(0, prefix.size(), prefix) == 0 && !std::holds_alternative<std::monostate>(f.value)) return true;
        return false;
      }
      case Query::Kind::kBool: {
        double s = 0;
        for (const auto& c : n.must) if (!Eval(*c, &s)) return false;
        for (const auto& c : n.filter) if (!Eval(*c, nullptr)) return false;
        for (const auto& c : n.must_not) if (Eval(*c, nullptr)) return false;
        int hits = 0;
        for (const auto& c : n.should) hits += Eval(*c, &s) ? 1 : 0;
        if (hits < n.msm) return false;
        if (score) *score += s * q.boost;
        return true;
      }
    }
    return false;
  }
};

}  // namespace

bool CompiledQuery::Matches(const FlatDoc& doc, std::string_view id, int64_t time_us, double* score) const {
  Evaluator e{ctx_, doc, id, time_us, {}};
  return e.Eval(*root_, score);
}

}  // namespace hakone::store::internal
