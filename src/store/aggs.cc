// Aggregations of the event store, rendered as Elasticsearch JSON.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/log.h"
#include "store/tz.h"
#include "store/store_internal.h"

namespace hakone::store::internal {
namespace {

std::string Num(double d) {
  if (!std::isfinite(d)) return "null";
  char buf[48];
  if (d == std::floor(d) && std::fabs(d) < 1e15) std::snprintf(buf, sizeof buf, "%.1f", d);
  else std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

std::string Str(std::string_view s) {
  std::string o = "\"";
  log::AppendJsonEscaped(o, s);
  o += "\"";
  return o;
}

enum class ValKind { kNumber, kDate, kString, kBool };

struct FieldInfo {
  std::string name;
  bool is_time = false;
  ValKind kind = ValKind::kString;
};

class Agg {
 public:
  virtual ~Agg() = default;
  virtual void Collect(const FlatDoc& doc, std::string_view id, int64_t time_us) = 0;
  virtual void Render(std::string& out) const = 0;  // the body object of this aggregation
};

struct Factory;

// Values of a field for a doc as doubles (dates as epoch ms).
void NumericValues(const EvalContext& ctx, const FieldInfo& f, const FlatDoc& doc, int64_t time_us, std::vector<double>* out) {
  out->clear();
  if (f.is_time) { out->push_back(static_cast<double>(time_us / 1000)); return; }
  std::vector<const Value*> vals;
  FieldValues(doc, *ctx.mapping, f.name, &vals);
  for (const Value* v : vals) {
    if (std::holds_alternative<std::monostate>(*v)) continue;
    if (f.kind == ValKind::kDate) {
      if (auto* s = std::get_if<std::string>(v)) {
        if (auto ms = ParseDateMs(*s)) out->push_back(static_cast<double>(*ms));
        continue;
      }
    }
    if (auto d = ToDouble(*v)) out->push_back(*d);
  }
}

struct SubAggs {
  std::vector<std::pair<std::string, std::unique_ptr<Agg>>> aggs;
  uint64_t doc_count = 0;
  void Collect(const FlatDoc& d, std::string_view id, int64_t t) {
    ++doc_count;
    for (auto& [n, a] : aggs) a->Collect(d, id, t);
  }
  void RenderInto(std::string& out) const {  // ,"name":{...} for each
    for (const auto& [n, a] : aggs) {
      out += ",";
      out += Str(n);
      out += ":";
      a->Render(out);
    }
  }
};

struct Factory {
  const EvalContext& ctx;
  Result<std::unique_ptr<Agg>> Make(const AggRequest& r);
  Status MakeSubs(const std::vector<AggRequest>& subs, SubAggs* out) {
    for (const auto& s : subs) {
      auto a = Make(s);
      if (!a.ok()) return a.status();
      out->aggs.push_back({s.name, std::move(*a)});
    }
    return Status::Ok();
  }
  Result<FieldInfo> Field(const AggRequest& r, bool numeric_only) {
    if (r.field.empty()) return Status::InvalidArgument("aggregation [" + r.name + "]: a field is required");
    FieldInfo f;
    f.name = r.field;
    if (r.field == ctx.time_field) { f.is_time = true; f.kind = ValKind::kDate; return f; }
    auto t = FieldTypeOf(*ctx.mapping, r.field);
    if (!t) { f.kind = numeric_only ? ValKind::kNumber : ValKind::kString; return f; }  // unmapped: empty result
    switch (*t) {
      case FieldType::kText:
        return Status::InvalidArgument("aggregation [" + r.name + "]: text field [" + r.field +
                                       "] cannot be aggregated (use a keyword field such as [" + r.field + ".keyword])");
      case FieldType::kObject: return Status::InvalidArgument("aggregation [" + r.name + "]: [" + r.field + "] is an object");
      case FieldType::kKeyword:
        if (numeric_only) return Status::InvalidArgument("aggregation [" + r.name + "]: keyword field [" + r.field + "] is not numeric");
        f.kind = ValKind::kString; break;
      case FieldType::kLong: case FieldType::kDouble: f.kind = ValKind::kNumber; break;
      case FieldType::kDate: f.kind = ValKind::kDate; break;
      case FieldType::kBoolean: f.kind = numeric_only ? ValKind::kNumber : ValKind::kBool; break;
    }
    return f;
  }
};

// ----- metrics

class MetricAgg : public Agg {
 public:
  MetricAgg(const EvalContext& ctx, AggRequest::Kind k, FieldInfo f, std::vector<double> percents)
      : ctx_(ctx), kind_(k), f_(std::move(f)), percents_(std::move(percents)) {}
  void Collect(const FlatDoc& doc, std::string_view, int64_t t) override {
    if (kind_ == AggRequest::Kind::kValueCount || kind_ == AggRequest::Kind::kCardinality) {
      if (f_.is_time) { ++count_; if (kind_ == AggRequest::Kind::kCardinality) distinct_.insert(std::to_string(t / 1000)); return; }
      std::vector<const Value*> vals;
      FieldValues(doc, *ctx_.mapping, f_.name, &vals);
      for (const Value* v : vals) {
        if (std::holds_alternative<std::monostate>(*v)) continue;
        ++count_;
        if (kind_ == AggRequest::Kind::kCardinality) distinct_.insert(ValueToString(*v));
      }
      return;
    }
    NumericValues(ctx_, f_, doc, t, &tmp_);
    for (double d : tmp_) {
      ++count_;
      sum_ += d;
      min_ = std::min(min_, d);
      max_ = std::max(max_, d);
      if (kind_ == AggRequest::Kind::kPercentiles) all_.push_back(d);
    }
  }
  void Render(std::string& out) const override {
    auto val = [&](double v, bool empty) {
      std::string s = "{\"value\":" + (empty ? std::string("null") : Num(v));
      if (!empty && f_.kind == ValKind::kDate) s += ",\"value_as_string\":" + Str(FormatDateMs(static_cast<int64_t>(v)));
      return s + "}";
    };
    switch (kind_) {
      case AggRequest::Kind::kMin: out += val(min_, count_ == 0); break;
      case AggRequest::Kind::kMax: out += val(max_, count_ == 0); break;
      case AggRequest::Kind::kAvg: out += "{\"value\":" + (count_ ? Num(sum_ / count_) : std::string("null")) + "}"; break;
      case AggRequest::Kind::kSum: out += "{\"value\":" + Num(sum_) + "}"; break;
      case AggRequest::Kind::kValueCount: out += "{\"value\":" + std::to_string(count_) + "}"; break;
      case AggRequest::Kind::kCardinality: out += "{\"value\":" + std::to_string(distinct_.size()) + "}"; break;
      case AggRequest::Kind::kStats:
        out += "{\"count\":" + std::to_string(count_) + ",\"min\":" + (count_ ? Num(min_) : "null") +
               ",\"max\":" + (count_ ? Num(max_) : "null") + ",\"avg\":" + (count_ ? Num(sum_ / count_) : "null") +
               ",\"sum\":" + Num(sum_) + "}";
        break;
      case AggRequest::Kind::kPercentiles: {
        std::vector<double> v = all_;
        std::sort(v.begin(), v.end());
        out += "{\"values\":{";
        bool first = true;
        for (double p : percents_) {
          if (!first) out += ",";
          first = false;
          out += Str(Num(p)) + ":";
          if (v.empty()) { out += "null"; continue; }
          // Linear interpolation between closest ranks.
          double rank = p / 100.0 * static_cast<double>(v.size() - 1);
          size_t lo = static_cast<size_t>(std::floor(rank));
          size_t hi = std::min(v.size() - 1, lo + 1);
          double frac = rank - static_cast<double>(lo);
          out += Num(v[lo] + (v[hi] - v[lo]) * frac);
        }
        out += "}}";
        break;
      }
      default: out += "{}";
    }
  }

 private:
  const EvalContext& ctx_;
  AggRequest::Kind kind_;
  FieldInfo f_;
  std::vector<double> percents_;
  uint64_t count_ = 0;
  double sum_ = 0, min_ = INFINITY, max_ = -INFINITY;
  std::vector<double> all_, tmp_;
  std::unordered_set<std::string> distinct_;
};

// ----- terms

class TermsAgg : public Agg {
 public:
  TermsAgg(Factory fac, const AggRequest& r, FieldInfo f) : fac_(fac), r_(r), f_(std::move(f)) {}
  void Collect(const FlatDoc& doc, std::string_view id, int64_t t) override {
    keys_.clear();
    if (f_.is_time) {
      keys_.push_back(Value(t / 1000));
    } else {
      std::vector<const Value*>& vals = vals_;
      FieldValues(doc, *fac_.ctx.mapping, f_.name, &vals);
      // The common case (one keyword value, e.g. a label): looked up without copying the value.
      if (vals.size() == 1 && f_.kind == ValKind::kString) {
        if (const auto* sv = std::get_if<std::string>(vals[0])) {
          auto it = buckets_.find(std::string_view(*sv));
          if (it == buckets_.end()) it = NewBucket(*sv, *vals[0]);
          it->second.subs->Collect(doc, id, t);
          return;
        }
      }
      for (const Value* v : vals) {
        if (std::holds_alternative<std::monostate>(*v)) continue;
        if (f_.kind == ValKind::kDate) {
          if (auto* s = std::get_if<std::string>(v)) {
            if (auto ms = ParseDateMs(*s)) keys_.push_back(Value(*ms));
            continue;
          }
        }
        keys_.push_back(*v);
      }
    }
    std::sort(keys_.begin(), keys_.end(), [](const Value& a, const Value& b) { return CompareValues(a, b) < 0; });
    keys_.erase(std::unique(keys_.begin(), keys_.end(), [](const Value& a, const Value& b) { return CompareValues(a, b) == 0; }), keys_.end());
    for (const auto& k : keys_) {
      std::string key = ValueToString(k);
      auto it = buckets_.find(std::string_view(key));
      if (it == buckets_.end()) it = NewBucket(key, k);
      it->second.subs->Collect(doc, id, t);
    }
  }
  void Render(std::string& out) const override {
    std::vector<const std::pair<const std::string, Bucket>*> v;
    for (const auto& b : buckets_) v.push_back(&b);
    auto key_less = [](const Bucket& a, const Bucket& b) { return CompareValues(a.key, b.key) < 0; };
    std::sort(v.begin(), v.end(), [&](auto* a, auto* b) {
      uint64_t ca = a->second.subs->doc_count, cb = b->second.subs->doc_count;
      switch (r_.order) {
        case AggRequest::Order::kCountDesc: if (ca != cb) return ca > cb; return key_less(a->second, b->second);
        case AggRequest::Order::kCountAsc: if (ca != cb) return ca < cb; return key_less(a->second, b->second);
        case AggRequest::Order::kKeyAsc: return key_less(a->second, b->second);
        case AggRequest::Order::kKeyDesc: return key_less(b->second, a->second);
      }
      return false;
    });
    uint64_t other = 0;
    for (size_t i = r_.size; i < v.size(); ++i) other += v[i]->second.subs->doc_count;
    out += "{\"doc_count_error_upper_bound\":0,\"sum_other_doc_count\":" + std::to_string(other) + ",\"buckets\":[";
    for (size_t i = 0; i < v.size() && i < r_.size; ++i) {
      if (i) out += ",";
      const Bucket& b = v[i]->second;
      out += "{\"key\":";
      if (auto* bb = std::get_if<bool>(&b.key)) {
        out += *bb ? "1,\"key_as_string\":\"true\"" : "0,\"key_as_string\":\"false\"";
      } else if (f_.kind == ValKind::kDate) {
        auto ms = static_cast<int64_t>(ToDouble(b.key).value_or(0));
        out += std::to_string(ms) + ",\"key_as_string\":" + Str(FormatDateMs(ms));
      } else if (f_.kind == ValKind::kString) {
        out += Str(ValueToString(b.key));
      } else {
        out += std::holds_alternative<std::string>(b.key) ? Str(ValueToString(b.key)) : ValueToJson(b.key);
      }
      out += ",\"doc_count\":" + std::to_string(b.subs->doc_count);
      b.subs->RenderInto(out);
      out += "}";
    }
    out += "]}";
  }

 private:
  struct Bucket {
    Value key;
    std::unique_ptr<SubAggs> subs;
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using Buckets = std::unordered_map<std::string, Bucket, KeyHash, std::equal_to<>>;
  Buckets::iterator NewBucket(const std::string& key, const Value& k) {
    auto b = std::make_unique<SubAggs>();
    Status s = fac_.MakeSubs(r_.subs, b.get());
    (void)s;  // validated at creation
    return buckets_.emplace(key, Bucket{k, std::move(b)}).first;
  }
  Factory fac_;
  const AggRequest& r_;
  FieldInfo f_;
  Buckets buckets_;
  std::vector<Value> keys_;
  std::vector<const Value*> vals_;
};

// ----- histograms

class HistogramAgg : public Agg {
 public:
  // Date math on an instant ("||/M", "||+1d"); an instant outside the range date math accepts
  // (about ±316,000 years) stays as it is.
  static int64_t DateMath(int64_t ms, const std::string& math) {
    auto r = ResolveDateBound(Value(std::to_string(ms) + math), 0, false);
    return r.ok() ? *r : ms;
  }
  // tz: date_histogram's time_zone (null for histogram). Buckets are aligned in local time and
  // keyed by the UTC instant their local start maps to (as Elasticsearch does).
  HistogramAgg(Factory fac, const AggRequest& r, FieldInfo f, char cal_unit, std::shared_ptr<const TimeZone> tz)
      : fac_(fac), r_(r), f_(std::move(f)), cal_(cal_unit), tz_(std::move(tz)),
        fixed_utc_(r.kind == AggRequest::Kind::kDateHistogram && !cal_unit && !tz_ && r.fixed_interval_ms > 0) {}

  int64_t ToLocal(int64_t utc_ms) const { return tz_ ? utc_ms + tz_->OffsetMs(utc_ms) : utc_ms; }
  int64_t ToUtc(int64_t local_ms) const { return tz_ ? tz_->LocalToUtcMs(local_ms) : local_ms; }

  double KeyOf(double v) const {
    if (r_.kind == AggRequest::Kind::kHistogram) return std::floor(v / r_.interval) * r_.interval;
    auto ms = ToLocal(static_cast<int64_t>(v));
    int64_t k;
    if (cal_) {
      std::string unit(1, cal_);
      if (cal_ == 'q') {
        auto m = ResolveDateBound(Value(static_cast<int64_t>(ms)), 0, false);
        int64_t start = DateMath(*m, "||/M");
        std::string f = FormatDateMs(start);
        int mo = std::stoi(f.substr(5, 2));
        int back = (mo - 1) % 3;
        k = DateMath(start, "||-" + std::to_string(back) + "M");
        if (back == 0) k = start;
      } else {
        k = DateMath(ms, "||/" + unit);
      }
    } else {
      int64_t iv = r_.fixed_interval_ms;
      k = ms >= 0 ? ms / iv * iv : -((-ms + iv - 1) / iv) * iv;
    }
    return static_cast<double>(ToUtc(k));
  }
  double Next(double key) const {
    if (r_.kind == AggRequest::Kind::kHistogram) return key + r_.interval;
    int64_t local = ToLocal(static_cast<int64_t>(key));
    if (!cal_) return static_cast<double>(ToUtc(local + r_.fixed_interval_ms));
    std::string add = cal_ == 'q' ? "+3M" : std::string("+1") + cal_;
    int64_t next = ToUtc(DateMath(local, "||" + add));
    if (next > key) return static_cast<double>(next);
    // Defensive (a zone whose rules map the next local start onto this key): step past it.
    const int64_t h = 3600000;
    int64_t unit = cal_ == 'm' ? 60000 : cal_ == 'h' ? h : cal_ == 'd' ? 26 * h : cal_ == 'w' ? 169 * h : cal_ == 'M' ? 745 * h : cal_ == 'q' ? 2209 * h : 8785 * h;
    double k = KeyOf(key + static_cast<double>(unit));
    return k > key ? k : key + static_cast<double>(unit);
  }

  void Collect(const FlatDoc& doc, std::string_view id, int64_t t) override {
    NumericValues(fac_.ctx, f_, doc, t, &tmp_);
    if (tmp_.size() == 1) {
      // Fixed intervals without a zone: a value inside the last bucket's span needs no KeyOf
      // (docs come in time order, so most land in the bucket of the doc before).
      if (last_ && fixed_utc_ && tmp_[0] >= last_key_ && tmp_[0] < last_key_ + static_cast<double>(r_.fixed_interval_ms)) {
        last_->Collect(doc, id, t);
        return;
      }
      double k = KeyOf(tmp_[0]);
      if (k != last_key_ || !last_) { last_key_ = k; last_ = Get(k); }
      last_->Collect(doc, id, t);
      return;
    }
    std::set<double> keys;
    for (double v : tmp_) keys.insert(KeyOf(v));
    for (double k : keys) Get(k)->Collect(doc, id, t);
  }
  SubAggs* Get(double k) {
    auto it = buckets_.find(k);
    if (it == buckets_.end()) {
      auto b = std::make_unique<SubAggs>();
      Status s = fac_.MakeSubs(r_.subs, b.get());
      (void)s;
      it = buckets_.emplace(k, std::move(b)).first;
    }
    return it->second.get();
  }
  void Render(std::string& out) const override {
    // Fill empty buckets (min_doc_count 0) between the bounds.
    std::map<double, const SubAggs*> all;
    for (const auto& [k, b] : buckets_) all[k] = b.get();
    std::vector<std::unique_ptr<SubAggs>> empties;
    if (r_.min_doc_count == 0) {
      std::optional<double> lo, hi;
      if (!all.empty()) { lo = all.begin()->first; hi = all.rbegin()->first; }
      std::optional<double> emin, emax;
      if (r_.kind == AggRequest::Kind::kDateHistogram) {
        if (r_.extended_bounds_min_ms) emin = static_cast<double>(*r_.extended_bounds_min_ms);
        if (r_.extended_bounds_max_ms) emax = static_cast<double>(*r_.extended_bounds_max_ms);
      } else {
        emin = r_.extended_bounds_min;
        emax = r_.extended_bounds_max;
      }
      if (emin) { double k = KeyOf(*emin); lo = lo ? std::min(*lo, k) : k; if (!hi) hi = k; }
      if (emax) { double k = KeyOf(*emax); hi = hi ? std::max(*hi, k) : k; if (!lo) lo = k; }
      if (lo && hi) {
        size_t guard = 0;
        for (double k = *lo; k <= *hi && guard < 100000; k = Next(k), ++guard) {
          if (!all.count(k)) {
            auto b = std::make_unique<SubAggs>();
            Status s = const_cast<Factory&>(fac_).MakeSubs(r_.subs, b.get());
            (void)s;
            all[k] = b.get();
            empties.push_back(std::move(b));
          }
        }
      }
    }
    out += "{\"buckets\":[";
    bool first = true;
    for (const auto& [k, b] : all) {
      if (static_cast<int64_t>(b->doc_count) < r_.min_doc_count) continue;
      if (!first) out += ",";
      first = false;
      if (r_.kind == AggRequest::Kind::kDateHistogram) {
        auto ms = static_cast<int64_t>(k);
        int64_t off = tz_ ? tz_->OffsetMs(ms) : 0;
        std::string s = FormatDateMs(ms + off);
        if (off != 0) {
          char buf[16];
          int64_t a = std::llabs(off) / 60000;
          std::snprintf(buf, sizeof buf, "%c%02lld:%02lld", off > 0 ? '+' : '-', static_cast<long long>(a / 60), static_cast<long long>(a % 60));
          s = s.substr(0, s.size() - 1) + buf;
        }
        out += "{\"key_as_string\":" + Str(s) + ",\"key\":" + std::to_string(ms);
      } else {
        out += "{\"key\":" + Num(k);
      }
      out += ",\"doc_count\":" + std::to_string(b->doc_count);
      b->RenderInto(out);
      out += "}";
    }
    out += "]}";
  }

 private:
  Factory fac_;
  const AggRequest& r_;
  FieldInfo f_;
  char cal_;
  std::shared_ptr<const TimeZone> tz_;
  bool fixed_utc_;
  std::map<double, std::unique_ptr<SubAggs>> buckets_;
  std::vector<double> tmp_;
  double last_key_ = 0;
  SubAggs* last_ = nullptr;
};

// ----- range

class RangeAgg : public Agg {
 public:
  RangeAgg(Factory fac, const AggRequest& r, FieldInfo f) : fac_(fac), r_(r), f_(std::move(f)) {
    for (size_t i = 0; i < r.ranges.size(); ++i) {
      auto b = std::make_unique<SubAggs>();
      Status s = fac_.MakeSubs(r.subs, b.get());
      (void)s;
      buckets_.push_back(std::move(b));
    }
  }
  void Collect(const FlatDoc& doc, std::string_view id, int64_t t) override {
    NumericValues(fac_.ctx, f_, doc, t, &tmp_);
    for (size_t i = 0; i < r_.ranges.size(); ++i) {
      const auto& rb = r_.ranges[i];
      for (double v : tmp_) {
        if ((!rb.from || v >= *rb.from) && (!rb.to || v < *rb.to)) {
          buckets_[i]->Collect(doc, id, t);
          break;
        }
      }
    }
  }
  void Render(std::string& out) const override {
    out += "{\"buckets\":[";
    for (size_t i = 0; i < r_.ranges.size(); ++i) {
      const auto& rb = r_.ranges[i];
      if (i) out += ",";
      std::string key = rb.key ? *rb.key : (rb.from ? Num(*rb.from) : "*") + "-" + (rb.to ? Num(*rb.to) : "*");
      out += "{\"key\":" + Str(key);
      if (rb.from) out += ",\"from\":" + Num(*rb.from);
      if (rb.to) out += ",\"to\":" + Num(*rb.to);
      out += ",\"doc_count\":" + std::to_string(buckets_[i]->doc_count);
      buckets_[i]->RenderInto(out);
      out += "}";
    }
    out += "]}";
  }

 private:
  Factory fac_;
  const AggRequest& r_;
  FieldInfo f_;
  std::vector<std::unique_ptr<SubAggs>> buckets_;
  std::vector<double> tmp_;
};

// ----- filters

class FiltersAgg : public Agg {
 public:
  FiltersAgg(Factory fac, const AggRequest& r) : fac_(fac), r_(r) {}
  Status Init() {
    for (const auto& [name, q] : r_.filters) {
      auto cq = CompiledQuery::Compile(q, fac_.ctx);
      if (!cq.ok()) return cq.status();
      queries_.push_back(std::move(*cq));
      auto b = std::make_unique<SubAggs>();
      Status s = fac_.MakeSubs(r_.subs, b.get());
      if (!s.ok()) return s;
      buckets_.push_back(std::move(b));
    }
    return Status::Ok();
  }
  void Collect(const FlatDoc& doc, std::string_view id, int64_t t) override {
    for (size_t i = 0; i < queries_.size(); ++i)
      if (queries_[i]->Matches(doc, id, t, nullptr)) buckets_[i]->Collect(doc, id, t);
  }
  void Render(std::string& out) const override {
    out += "{\"buckets\":{";
    for (size_t i = 0; i < queries_.size(); ++i) {
      if (i) out += ",";
      out += Str(r_.filters[i].first) + ":{\"doc_count\":" + std::to_string(buckets_[i]->doc_count);
      buckets_[i]->RenderInto(out);
      out += "}";
    }
    out += "}}";
  }

 private:
  Factory fac_;
  const AggRequest& r_;
  std::vector<std::unique_ptr<CompiledQuery>> queries_;
  std::vector<std::unique_ptr<SubAggs>> buckets_;
};

Result<char> CalendarUnit(const std::string& s) {
  static const std::map<std::string, char> kUnits = {
      {"minute", 'm'}, {"1m", 'm'}, {"hour", 'h'}, {"1h", 'h'}, {"day", 'd'}, {"1d", 'd'}, {"week", 'w'}, {"1w", 'w'},
      {"month", 'M'}, {"1M", 'M'}, {"quarter", 'q'}, {"1q", 'q'}, {"year", 'y'}, {"1y", 'y'}};
  auto it = kUnits.find(s);
  if (it == kUnits.end()) return Status::InvalidArgument("date_histogram: unsupported calendar_interval '" + s + "'");
  return it->second;
}

Result<std::unique_ptr<Agg>> Factory::Make(const AggRequest& r) {
  using K = AggRequest::Kind;
  bool bucket = r.kind == K::kDateHistogram || r.kind == K::kHistogram || r.kind == K::kTerms || r.kind == K::kRange || r.kind == K::kFilters;
  if (!bucket && !r.subs.empty()) return Status::InvalidArgument("aggregation [" + r.name + "]: a metric aggregation cannot have sub-aggregations");
  // Validate subs once (buckets create them lazily later).
  SubAggs probe;
  Status ps = MakeSubs(r.subs, &probe);
  if (!ps.ok()) return ps;
  switch (r.kind) {
    case K::kMin: case K::kMax: case K::kAvg: case K::kSum: case K::kStats: case K::kPercentiles: {
      auto f = Field(r, true);
      if (!f.ok()) return f.status();
      return std::unique_ptr<Agg>(new MetricAgg(ctx, r.kind, *f, r.percents));
    }
    case K::kValueCount: case K::kCardinality: {
      auto f = Field(r, false);
      if (!f.ok()) return f.status();
      return std::unique_ptr<Agg>(new MetricAgg(ctx, r.kind, *f, {}));
    }
    case K::kTerms: {
      auto f = Field(r, false);
      if (!f.ok()) return f.status();
      return std::unique_ptr<Agg>(new TermsAgg(*this, r, *f));
    }
    case K::kHistogram: {
      if (!(r.interval > 0)) return Status::InvalidArgument("histogram [" + r.name + "]: interval must be > 0");
      auto f = Field(r, true);
      if (!f.ok()) return f.status();
      return std::unique_ptr<Agg>(new HistogramAgg(*this, r, *f, 0, nullptr));
    }
    case K::kDateHistogram: {
      auto f = Field(r, true);
      if (!f.ok()) return f.status();
      char cal = 0;
      if (!r.calendar_interval.empty()) {
        if (r.fixed_interval_ms > 0) return Status::InvalidArgument("date_histogram [" + r.name + "]: give either fixed_interval or calendar_interval");
        auto c = CalendarUnit(r.calendar_interval);
        if (!c.ok()) return c.status();
        cal = *c;
      } else if (r.fixed_interval_ms <= 0) {
        return Status::InvalidArgument("date_histogram [" + r.name + "]: an interval is required");
      }
      auto tz = TimeZone::Get(r.time_zone);
      if (!tz.ok()) return Status::InvalidArgument("date_histogram [" + r.name + "]: " + tz.status().message());
      return std::unique_ptr<Agg>(new HistogramAgg(*this, r, *f, cal, (*tz)->is_utc() ? nullptr : *tz));
    }
    case K::kRange: {
      auto f = Field(r, true);
      if (!f.ok()) return f.status();
      return std::unique_ptr<Agg>(new RangeAgg(*this, r, *f));
    }
    case K::kFilters: {
      auto a = std::make_unique<FiltersAgg>(*this, r);
      Status s = a->Init();
      if (!s.ok()) return s;
      return std::unique_ptr<Agg>(std::move(a));
    }
  }
  return Status::InvalidArgument("aggregation [" + r.name + "]: unsupported kind");
}

class RootCollector : public AggCollector {
 public:
  explicit RootCollector(const EvalContext& ctx) : ctx_(ctx) {}
  Status Init(const std::vector<AggRequest>& reqs) {
    reqs_ = reqs;  // own copies: aggs keep references
    Factory f{ctx_};
    return f.MakeSubs(reqs_, &root_);
  }
  void Collect(const FlatDoc& doc, std::string_view id, int64_t t) override { root_.Collect(doc, id, t); }
  std::string Render() const override {
    std::string out = "{";
    root_.RenderInto(out);
    if (out.size() > 1) out.erase(1, 1);  // leading comma
    out += "}";
    return out;
  }

 private:
  EvalContext ctx_;
  std::vector<AggRequest> reqs_;
  SubAggs root_;
};

}  // namespace

Result<std::unique_ptr<AggCollector>> AggCollector::Create(const std::vector<AggRequest>& reqs, const EvalContext& ctx) {
  auto c = std::make_unique<RootCollector>(ctx);
  // The collector's context must outlive the aggs: they reference c->ctx_, set before Init.
  Status s = c->Init(reqs);
  if (!s.ok()) return s;
  return std::unique_ptr<AggCollector>(std::move(c));
}

}  // namespace hakone::store::internal
