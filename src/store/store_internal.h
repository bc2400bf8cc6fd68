// Internals of the event store shared by its .cc files (not part of the public surface; the ES
// layer uses event_store.h only): flattened documents, value helpers, date parsing, the query
// evaluator, pattern matching with hyperscan, aggregation collectors.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/event_store.h"

namespace hakone::store {
class TimeZone;
}

namespace hakone::store::internal {

// ---------------------------------------------------------------------------------------------
// Analysis

// Calls fn(token, position) for each token of `text` (see AnalyzeText).
void AnalyzeTokens(std::string_view text, const std::function<void(std::string_view, uint32_t)>& fn);

// ---------------------------------------------------------------------------------------------
// Dates

// Parses RFC 3339 / ISO 8601 ("2024-05-01", "2024-05-01T10:00:00Z", "...T10:00:00.123+09:00",
// "2024-05-01 10:00:00") into ms since the epoch. nullopt when it is not a date.
std::optional<int64_t> ParseDateMs(std::string_view s);
// Resolves a range bound for a date field: epoch millis (number or digit string), a date, or date
// math ("now", "now-1h", "now/d", "2024-01-01||+1M/d"). `round_up` for lte/gt rounding semantics.
// `tz` (may be null = UTC): dates without an offset and date math are read in that zone (range
// `time_zone`); epoch millis and dates with an explicit offset are instants.
Result<int64_t> ResolveDateBound(const Value& v, int64_t now_ms, bool round_up, const TimeZone* tz = nullptr);
std::string FormatDateMs(int64_t ms);  // "2024-05-01T10:00:00.000Z"
int64_t NowMs();

// ---------------------------------------------------------------------------------------------
// Flattened documents

struct FlatField {
  std::string path;  // dotted
  Value value;       // scalars only; arrays give one FlatField per element
};

struct FlatDoc {
  std::vector<FlatField> fields;
  bool ok = false;
};

// Parses a JSON object and flattens it. Returns false if it is not valid JSON / not an object.
bool FlattenJson(std::string_view json, FlatDoc* out, std::string* error = nullptr);

// Infers the type of a leaf value seen for the first time.
FieldType InferType(const Value& v);
// Checks that value fits the mapped type (coercions ES applies: "12" into long, 1 into double...).
bool ValueFitsType(const Value& v, FieldType t);

std::optional<double> ToDouble(const Value& v);
std::string ValueToString(const Value& v);  // for keyword comparisons: strings as is, numbers printed
std::string ValueToJson(const Value& v);
// Total order used for sorting: null < bool < numbers < strings.
int CompareValues(const Value& a, const Value& b);

// ---------------------------------------------------------------------------------------------
// Query evaluation

// A compiled pattern (prefix, wildcard, regexp) evaluated with hyperscan.
class Pattern {
 public:
  // kind: kPrefix, kWildcard or kRegexp. InvalidArgument names what cannot be compiled.
  static Result<std::shared_ptr<Pattern>> Compile(Query::Kind kind, std::string_view text, bool case_insensitive);
  ~Pattern();
  // Whole-value match.
  bool Matches(std::string_view value) const;
  // Conservative pre-filter over raw JSON source text: false only if no value of the document
  // can match.
  bool MayMatchRaw(std::string_view raw_json) const;
  // Whole-line matches over newline-separated tokens (a block's token dictionary): calls fn with
  // the end offset of each match (a line may be reported more than once).
  void MatchLines(std::string_view lines, const std::function<void(uint64_t end)>& fn) const;

 private:
  Pattern() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// BM25 collection statistics (docs/store.md, "Relevance").
// Token counts per text field over a set of documents: the source of avgdl.
struct FieldLengths {
  struct Sum {
    uint64_t tokens = 0;  // sum of the field's lengths (tokens, all values of the field)
    uint64_t docs = 0;    // docs having the field
  };
  std::unordered_map<std::string, Sum> by_field;
  // Adds one document: analyses the values of its text fields (per `m`).
  void Add(const FlatDoc& doc, const Mapping& m);
  void Merge(const FieldLengths& o);
};

// The statistics one query scores with, for one stream: N, df per query token, avgdl per field.
struct Bm25Stats {
  uint64_t docs = 0;                                  // N
  std::unordered_map<std::string, uint64_t> df;       // docs containing the token (any text field)
  FieldLengths lengths;
  // ln(1 + (N - df + 0.5) / (df + 0.5)), as Lucene's BM25Similarity.
  double Idf(const std::string& token) const;
  // Average length of `field`; 0 when no document has it.
  double AvgDl(const std::string& field) const;
  // Adds a document of the head (not in a block): N, df of `tokens` and field lengths.
  void AddDoc(const FlatDoc& doc, const Mapping& m, const std::vector<std::string>& tokens);
};

// Per-stream context needed to evaluate a query.
struct EvalContext {
  const Mapping* mapping = nullptr;
  std::string time_field;
  int64_t now_ms = 0;
  // Collection statistics for BM25; null: scores use idf = 1 and avgdl = the doc's own length
  // (only when the result is not sorted by _score, so that no score is shown).
  const Bm25Stats* bm25 = nullptr;
};

// A query compiled against one stream (patterns compiled, date bounds resolved, tokens analysed).
class CompiledQuery {
 public:
  static Result<std::unique_ptr<CompiledQuery>> Compile(const QueryPtr& q, const EvalContext& ctx);
  ~CompiledQuery();

  // Exact evaluation on a document. *score gets the BM25-like score contribution when scoring.
  bool Matches(const FlatDoc& doc, std::string_view id, int64_t time_us, double* score) const;
  // true when the query contains scoring clauses (match, phrase, ...).
  bool scoring() const;
  // The analysed tokens of the scoring clauses (their df is needed), without duplicates.
  std::vector<std::string> scoring_tokens() const;
  // Statistics Matches() scores with from now on (must outlive this query; null = none).
  void set_bm25(const Bm25Stats* st) { ctx_.bm25 = st; }

  // Pruning: a boolean formula over tokens that every matching document satisfies.
  // Evaluated against a block's token filter: returns false when the block cannot match.
  bool MayMatchTokens(const std::function<bool(std::string_view)>& has_token) const;
  // Required time range (µs) implied by the query (on the stream's time field).
  int64_t min_time_us() const;
  int64_t max_time_us() const;
  // Raw-text pre-filter over a document's source (hyperscan patterns): false = cannot match.
  bool MayMatchRaw(std::string_view raw) const;
  bool has_raw_filter() const;
  // Label constraints: (field, allowed values) pairs every matching doc satisfies.
  const std::vector<std::pair<std::string, std::vector<std::string>>>& label_constraints() const;
  // Patterns over text-field tokens. MayMatchTokens asks has() for the pseudo token
  // PatternToken(i) meaning "some token matches token_patterns()[i]".
  const std::vector<const Pattern*>& token_patterns() const;
  static std::string PatternToken(size_t i) { return "\x02" + std::to_string(i); }
  // Ids required (kIds / _id term at top level); nullopt if unconstrained.
  const std::optional<std::vector<std::string>>& required_ids() const;

  struct Node;

 private:
  CompiledQuery() = default;
  std::unique_ptr<Node> root_;
  EvalContext ctx_;
  friend struct Compiler;
  int64_t min_time_us_ = INT64_MIN, max_time_us_ = INT64_MAX;
  std::vector<std::pair<std::string, std::vector<std::string>>> labels_;
  std::optional<std::vector<std::string>> ids_;
  bool scoring_ = false;
  std::vector<const Pattern*> token_patterns_;
};

// Keyword index token for an exact keyword value: "\x01" field "\x00" value.
std::string KeywordToken(std::string_view field, std::string_view value);

// Resolves which values of a doc a field name refers to ("x.keyword" → values of text field x).
void FieldValues(const FlatDoc& doc, const Mapping& m, std::string_view field, std::vector<const Value*>* out);
// Type of a field per mapping ("x.keyword" of a text field → keyword). nullopt when unmapped.
std::optional<FieldType> FieldTypeOf(const Mapping& m, std::string_view field);

// ---------------------------------------------------------------------------------------------
// Aggregations

class AggCollector {
 public:
  static Result<std::unique_ptr<AggCollector>> Create(const std::vector<AggRequest>& reqs, const EvalContext& ctx);
  virtual ~AggCollector() = default;
  virtual void Collect(const FlatDoc& doc, std::string_view id, int64_t time_us) = 0;
  // The ES "aggregations" object: {"name":{...},...}
  virtual std::string Render() const = 0;
};

}  // namespace hakone::store::internal
