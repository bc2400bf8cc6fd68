#include "store/es_query.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace hakone::store::es {
namespace {
namespace json = boost::json;

Result<QueryPtr> Q(const std::string& s) {
  json::parse_options po;
  po.max_depth = 1000;
  return ParseQuery(json::parse(s, {}, po));
}
Result<QueryPtr> QS(const std::string& s, bool def_and = false, std::vector<std::string> fields = {}) {
  QueryStringOptions o;
  o.default_and = def_and;
  o.fields = std::move(fields);
  return ParseQueryString(s, o);
}
Result<QueryPtr> SQS(const std::string& s, bool def_and = false) {
  QueryStringOptions o;
  o.simple = true;
  o.default_and = def_and;
  return ParseQueryString(s, o);
}

std::string V(const Value& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) return "null";
        else if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>) return "'" + x + "'";
        else return std::to_string(x);
      },
      v);
}

// A compact rendering of the IR so tests can state the expected tree in one line.
std::string Show(const QueryPtr& q) {
  if (!q) return "null";
  auto f = [&] {
    std::string s = q->field;
    for (const auto& x : q->fields) s += (s.empty() ? "" : "|") + x;
    return s.empty() ? std::string("*") : s;
  };
  switch (q->kind) {
    case Query::Kind::kMatchAll: return "all";
    case Query::Kind::kMatchNone: return "none";
    case Query::Kind::kTerm: return "term(" + f() + "=" + V(q->values[0]) + ")";
    case Query::Kind::kTerms: {
      std::string s = "terms(" + f();
      for (const auto& v : q->values) s += "," + V(v);
      return s + ")";
    }
    case Query::Kind::kIds: return "ids(" + std::to_string(q->values.size()) + ")";
    case Query::Kind::kMatch: return std::string(q->op_and ? "match&(" : "match(") + f() + ":" + q->text + ")";
    case Query::Kind::kPhrase: return "phrase(" + f() + ":" + q->text + ")";
    case Query::Kind::kRange: {
      std::string s = "range(" + f();
      if (q->gt) s += " >" + V(*q->gt);
      if (q->gte) s += " >=" + V(*q->gte);
      if (q->lt) s += " <" + V(*q->lt);
      if (q->lte) s += " <=" + V(*q->lte);
      return s + ")";
    }
    case Query::Kind::kExists: return "exists(" + f() + ")";
    case Query::Kind::kPrefix: return "prefix(" + f() + ":" + q->text + ")";
    case Query::Kind::kWildcard: return "wildcard(" + f() + ":" + q->text + ")";
    case Query::Kind::kRegexp: return "regexp(" + f() + ":" + q->text + ")";
    case Query::Kind::kBool: {
      std::string s = "bool(";
      auto list = [&](const char* name, const std::vector<QueryPtr>& v) {
        if (v.empty()) return;
        s += std::string(name) + "[";
        for (size_t i = 0; i < v.size(); i++) s += (i ? "," : "") + Show(v[i]);
        s += "]";
      };
      list("must", q->must);
      list("filter", q->filter);
      list("should", q->should);
      list("not", q->must_not);
      if (q->minimum_should_match) s += " msm=" + std::to_string(*q->minimum_should_match);
      return s + ")";
    }
  }
  return "?";
}

std::string ShowOk(const Result<QueryPtr>& r) {
  if (!r.ok()) return "ERROR " + r.status().message();
  return Show(*r);
}

TEST(EsQueryDsl, Basics) {
  EXPECT_EQ(ShowOk(Q(R"({"match_all":{}})")), "all");
  EXPECT_EQ(ShowOk(Q(R"({"match":{"msg":"hello world"}})")), "match(msg:hello world)");
  EXPECT_EQ(ShowOk(Q(R"({"match":{"msg":{"query":"a b","operator":"AND"}}})")), "match&(msg:a b)");
  EXPECT_EQ(ShowOk(Q(R"({"match_phrase":{"msg":"a b"}})")), "phrase(msg:a b)");
  EXPECT_EQ(ShowOk(Q(R"({"multi_match":{"query":"x","fields":["a","b"]}})")), "match(a|b:x)");
  EXPECT_EQ(ShowOk(Q(R"({"multi_match":{"query":"x"}})")), "match(*:x)");
  EXPECT_EQ(ShowOk(Q(R"({"term":{"status":200}})")), "term(status=200)");
  EXPECT_EQ(ShowOk(Q(R"({"term":{"level":{"value":"error"}}})")), "term(level='error')");
  EXPECT_EQ(ShowOk(Q(R"({"terms":{"level":["a","b"]}})")), "terms(level,'a','b')");
  EXPECT_EQ(ShowOk(Q(R"({"range":{"n":{"gte":1,"lt":5}}})")), "range(n >=1 <5)");
  EXPECT_EQ(ShowOk(Q(R"({"range":{"@timestamp":{"gte":"now-1h"}}})")), "range(@timestamp >='now-1h')");
  EXPECT_EQ(ShowOk(Q(R"({"range":{"n":{"from":1,"to":5,"include_upper":false}}})")), "range(n >=1 <5)");
  EXPECT_EQ(ShowOk(Q(R"({"exists":{"field":"user"}})")), "exists(user)");
  EXPECT_EQ(ShowOk(Q(R"({"prefix":{"host":"web"}})")), "prefix(host:web)");
  EXPECT_EQ(ShowOk(Q(R"({"wildcard":{"host":{"value":"w*b"}}})")), "wildcard(host:w*b)");
  EXPECT_EQ(ShowOk(Q(R"({"regexp":{"host":"w.*"}})")), "regexp(host:w.*)");
  EXPECT_EQ(ShowOk(Q(R"({"ids":{"values":["1","2"]}})")), "ids(2)");
  EXPECT_EQ(ShowOk(Q(R"({"constant_score":{"filter":{"term":{"a":"b"}}}})")), "bool(filter[term(a='b')])");
}

TEST(EsQueryDsl, Bool) {
  EXPECT_EQ(ShowOk(Q(R"({"bool":{"must":{"match":{"m":"x"}},"filter":[{"term":{"a":1}}],
      "should":[{"term":{"b":1}},{"term":{"b":2}}],"minimum_should_match":1,"must_not":[{"exists":{"field":"z"}}]}})")),
            "bool(must[match(m:x)]filter[term(a=1)]should[term(b=1),term(b=2)]not[exists(z)] msm=1)");
  EXPECT_EQ(ShowOk(Q(R"({"bool":{"should":[{"term":{"b":1}},{"term":{"b":2}}],"minimum_should_match":-1}})")),
            "bool(should[term(b=1),term(b=2)] msm=1)");
}

TEST(EsQueryDsl, MalformedAndUnsupported) {
  for (const char* bad : {
           R"("x")", R"({})", R"({"match":{}})", R"({"match":{"a":"x","b":"y"}})", R"({"match":{"a":{"fuzziness":2,"query":"x"}}})",
           R"({"unknown_query":{}})", R"({"term":{"a":{"value":[1]}}})", R"({"terms":{"a":{"index":"x","id":"1"}}})",
           R"({"range":{"a":5}})", R"({"range":{"a":{"gt":1,"banana":2}}})", R"({"bool":{"must":5}})",
           R"({"bool":{"minimum_should_match":"50%","should":[{"match_all":{}}]}})", R"({"match_phrase":{"a":{"query":"x","slop":2}}})",
           R"({"exists":{}})", R"({"match_all":{"x":1}})", R"({"a":{},"b":{}})", R"({"multi_match":{"query":"x","fields":["a^2"]}})",
           R"({"multi_match":{"query":"x","type":"cross_fields"}})", R"({"query_string":{"query":"a~2"}})",
           R"({"range":{"a":{"gte":1,"time_zone":"Mars/Olympus_Mons"}}})", R"({"range":{"a":{"gte":1,"time_zone":9}}})", R"({"match":{"a":{"operator":"xor","query":"x"}}})",
       }) {
    auto r = Q(bad);
    EXPECT_FALSE(r.ok()) << bad << " → " << ShowOk(r);
    if (!r.ok()) {
      EsError e = EsErrorFromStatus(r.status());
      EXPECT_EQ(e.status, 400) << bad;
      EXPECT_FALSE(e.type.empty());
      EXPECT_EQ(e.type.find(' '), std::string::npos) << e.type;
    }
  }
  // The unsupported part is named.
  auto r = Q(R"({"match":{"a":{"query":"x","fuzziness":2}}})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("fuzziness"), std::string::npos);
  EXPECT_EQ(EsErrorFromStatus(r.status()).type, "parsing_exception");
}

TEST(EsQueryDsl, DeepNestingRefused) {
  std::string s;
  for (int i = 0; i < 100; i++) s += R"({"bool":{"must":)";
  s += R"({"match_all":{}})";
  for (int i = 0; i < 100; i++) s += "}}";
  EXPECT_FALSE(Q(s).ok());
}

TEST(QueryString, Lucene) {
  EXPECT_EQ(ShowOk(QS("error")), "match&(*:error)");
  EXPECT_EQ(ShowOk(QS("level:error")), "match&(level:error)");
  EXPECT_EQ(ShowOk(QS("a b")), "bool(should[match&(*:a),match&(*:b)])");
  EXPECT_EQ(ShowOk(QS("a b", true)), "bool(must[match&(*:a),match&(*:b)])");
  EXPECT_EQ(ShowOk(QS("a AND b")), "bool(must[match&(*:a),match&(*:b)])");
  EXPECT_EQ(ShowOk(QS("a OR b", true)), "bool(should[match&(*:a),match&(*:b)])");
  EXPECT_EQ(ShowOk(QS("a && b || c")), "bool(must[match&(*:a),match&(*:b)]should[match&(*:c)] msm=0)");
  EXPECT_EQ(ShowOk(QS("+a -b c")), "bool(must[match&(*:a)]should[match&(*:c)]not[match&(*:b)] msm=0)");
  EXPECT_EQ(ShowOk(QS("NOT a")), "bool(must[all]not[match&(*:a)])");
  EXPECT_EQ(ShowOk(QS("a AND NOT b")), "bool(must[match&(*:a)]not[match&(*:b)])");
  EXPECT_EQ(ShowOk(QS("msg:\"connection refused\"")), "phrase(msg:connection refused)");
  EXPECT_EQ(ShowOk(QS("status:[200 TO 299]")), "range(status >=200 <=299)");
  EXPECT_EQ(ShowOk(QS("status:{200 TO *]")), "range(status >200)");
  EXPECT_EQ(ShowOk(QS("@timestamp:[now-1h TO now]")), "range(@timestamp >='now-1h' <='now')");
  EXPECT_EQ(ShowOk(QS("n:>=5")), "range(n >=5)");
  EXPECT_EQ(ShowOk(QS("n:<2.5")), "range(n <2.500000)");
  EXPECT_EQ(ShowOk(QS("host:web*")), "prefix(host:web)");
  EXPECT_EQ(ShowOk(QS("host:w?b*")), "wildcard(host:w?b*)");
  EXPECT_EQ(ShowOk(QS("host:/we.+/")), "regexp(host:we.+)");
  EXPECT_EQ(ShowOk(QS("level:(error OR warn)")), "bool(should[match&(level:error),match&(level:warn)])");
  EXPECT_EQ(ShowOk(QS("(a OR b) AND c")), "bool(must[bool(should[match&(*:a),match&(*:b)]),match&(*:c)])");
  EXPECT_EQ(ShowOk(QS("_exists_:user")), "exists(user)");
  EXPECT_EQ(ShowOk(QS("*:*")), "all");
  EXPECT_EQ(ShowOk(QS("*")), "all");
  EXPECT_EQ(ShowOk(QS("a\\:b")), "match&(*:a:b)");
  EXPECT_EQ(ShowOk(QS("x", false, {"msg"})), "match&(msg:x)");
  EXPECT_EQ(ShowOk(QS("x", false, {"a", "b"})), "match&(a|b:x)");
  EXPECT_EQ(ShowOk(QS("東京 エラー")), "bool(should[match&(*:東京),match&(*:エラー)])");
  EXPECT_EQ(ShowOk(QS("msg:\"東京都\"")), "phrase(msg:東京都)");
  EXPECT_EQ(ShowOk(QS("")), "none");
  auto b = QS("a^2");
  ASSERT_TRUE(b.ok());
  EXPECT_FLOAT_EQ((*b)->boost, 2.0f);
}

TEST(QueryString, Malformed) {
  for (const char* bad : {"a AND", "OR b", "(a", "a)", "\"unterminated", "status:[1 TO", "status:[1 2]", "a~", "a~2", "x:/abc",
                          "a\\", "f*:x", "a^", "status:[1 TO 2", "((((", ":x", "a AND AND b"}) {
    auto r = QS(bad);
    EXPECT_FALSE(r.ok()) << bad << " → " << ShowOk(r);
    if (!r.ok()) EXPECT_EQ(EsErrorFromStatus(r.status()).status, 400);
  }
  std::string deep(200, '(');
  EXPECT_FALSE(QS(deep + "a" + std::string(200, ')')).ok());
}

TEST(SimpleQueryString, Syntax) {
  EXPECT_EQ(ShowOk(SQS("a b")), "bool(should[match&(*:a),match&(*:b)])");
  EXPECT_EQ(ShowOk(SQS("a b", true)), "bool(must[match&(*:a),match&(*:b)])");
  EXPECT_EQ(ShowOk(SQS("a + b")), "bool(must[match&(*:a),match&(*:b)])");
  EXPECT_EQ(ShowOk(SQS("a | b + c")), "bool(should[match&(*:a),bool(must[match&(*:b),match&(*:c)])])");
  EXPECT_EQ(ShowOk(SQS("-a")), "bool(must[all]not[match&(*:a)])");
  EXPECT_EQ(ShowOk(SQS("\"x y\"")), "phrase(*:x y)");
  EXPECT_EQ(ShowOk(SQS("web*")), "prefix(*:web)");
  EXPECT_EQ(ShowOk(SQS("(a | b) + c")), "bool(must[bool(should[match&(*:a),match&(*:b)]),match&(*:c)])");
  // Never fails on syntax.
  for (const char* odd : {"(((", ")))", "\"", "+", "|", "-", "a ~~ b", "\"a", "(a | ", ""}) {
    EXPECT_TRUE(SQS(odd).ok()) << odd;
  }
}

TEST(Dates, ParseDateMillis) {
  int64_t now = 1700000000123;  // 2023-11-14T22:13:20.123Z
  EXPECT_EQ(*ParseDateMillis("1700000000000", now), 1700000000000);
  EXPECT_EQ(*ParseDateMillis("2023-11-14T22:13:20Z", now), 1700000000000);
  EXPECT_EQ(*ParseDateMillis("2023-11-14T22:13:20.5Z", now), 1700000000500);
  EXPECT_EQ(*ParseDateMillis("2023-11-15T07:13:20+09:00", now), 1700000000000);
  EXPECT_EQ(*ParseDateMillis("2023-11-14", now), 1699920000000);
  EXPECT_EQ(*ParseDateMillis("now", now), now);
  EXPECT_EQ(*ParseDateMillis("now-1h", now), now - 3600000);
  EXPECT_EQ(*ParseDateMillis("now/d", now), 1699920000000);
  EXPECT_EQ(*ParseDateMillis("now-1d/d", now), 1699920000000 - 86400000);
  EXPECT_EQ(*ParseDateMillis("2023-01-31||+1M", now), *ParseDateMillis("2023-02-28", now));
  EXPECT_EQ(*ParseDateMillis("2024", now), *ParseDateMillis("2024-01-01", now));
  for (const char* bad : {"", "now-", "now-1x", "2023-13-01", "2023-11-14T25", "yesterday", "now/q", "2023-11-14Tx", "123456789012345678901"}) {
    EXPECT_FALSE(ParseDateMillis(bad, now).ok()) << bad;
  }
  EXPECT_EQ(*ParseFixedInterval("30s"), 30000);
  EXPECT_EQ(*ParseFixedInterval("1h"), 3600000);
  EXPECT_FALSE(ParseFixedInterval("1M").ok());
  EXPECT_FALSE(ParseFixedInterval("h").ok());
  EXPECT_FALSE(ParseFixedInterval("0s").ok());
}

TEST(Aggs, Parse) {
  auto a = ParseAggs(json::parse(R"({
    "per_hour":{"date_histogram":{"field":"@timestamp","fixed_interval":"1h","min_doc_count":0,
                "extended_bounds":{"min":1000,"max":"2023-11-14T00:00:00Z"}},
                "aggs":{"lv":{"terms":{"field":"level","size":5,"order":{"_key":"asc"}}},"p":{"percentiles":{"field":"n","percents":[50,99]}}}},
    "months":{"date_histogram":{"field":"@timestamp","calendar_interval":"month","time_zone":"Asia/Tokyo"}},
    "h":{"histogram":{"field":"n","interval":10}},
    "r":{"range":{"field":"n","ranges":[{"to":10},{"from":10,"key":"big"}]}},
    "f":{"filters":{"filters":{"errors":{"term":{"level":"error"}},"all":{"match_all":{}}}}},
    "s":{"stats":{"field":"n"}}, "c":{"cardinality":{"field":"host","precision_threshold":100}}
  })"));
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_EQ(a->size(), 7u);
  const AggRequest& ph = (*a)[0];
  EXPECT_EQ(ph.kind, AggRequest::Kind::kDateHistogram);
  EXPECT_EQ(ph.fixed_interval_ms, 3600000);
  EXPECT_EQ(*ph.extended_bounds_min_ms, 1000);
  EXPECT_EQ(*ph.extended_bounds_max_ms, 1699920000000);
  ASSERT_EQ(ph.subs.size(), 2u);
  EXPECT_EQ(ph.subs[0].size, 5u);
  EXPECT_EQ(ph.subs[0].order, AggRequest::Order::kKeyAsc);
  EXPECT_EQ(ph.subs[1].percents, (std::vector<double>{50, 99}));
  EXPECT_EQ((*a)[1].calendar_interval, "month");
  EXPECT_EQ((*a)[1].time_zone, "Asia/Tokyo");
  EXPECT_EQ((*a)[2].interval, 10);
  EXPECT_EQ((*a)[3].ranges.size(), 2u);
  EXPECT_EQ(*(*a)[3].ranges[1].key, "big");
  EXPECT_EQ((*a)[4].filters.size(), 2u);
  EXPECT_EQ((*a)[5].kind, AggRequest::Kind::kStats);
}

TEST(Aggs, Malformed) {
  for (const char* bad : {
           R"([])", R"({"a":5})", R"({"a":{}})", R"({"a":{"terms":{"field":"x"},"max":{"field":"y"}}})",
           R"({"a":{"nope":{"field":"x"}}})", R"({"a":{"terms":{"script":"doc.x"}}})", R"({"a":{"terms":{"field":"x","size":0}}})",
           R"({"a":{"terms":{"field":"x","order":{"sub":"desc"}}}})", R"({"a":{"date_histogram":{"field":"t"}}})",
           R"({"a":{"date_histogram":{"field":"t","fixed_interval":"1h","calendar_interval":"day"}}})",
           R"({"a":{"date_histogram":{"field":"t","calendar_interval":"2d"}}})", R"({"a":{"histogram":{"field":"t","interval":0}}})",
           R"({"a":{"range":{"field":"t"}}})", R"({"a":{"filters":{"filters":[{"match_all":{}}]}}})",
           R"({"a":{"max":{"field":"n"},"aggs":{"b":{"min":{"field":"n"}}}}})", R"({"a":{"percentiles":{"field":"n","percents":[101]}}})",
           R"({"a":{"terms":{"field":"x","missing":"n/a"}}})", R"({"a":{"avg":{"field":"x"},"meta":{}}})",
       }) {
    auto r = ParseAggs(json::parse(bad));
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) EXPECT_EQ(EsErrorFromStatus(r.status()).status, 400);
  }
}

TEST(SearchBody, Parse) {
  auto s = ParseSearch(R"({"query":{"match":{"m":"x"}},"from":5,"size":20,"sort":[{"@timestamp":"desc"},"_score",{"n":{"order":"asc"}}],
      "search_after":[1,"a",2.5],"_source":{"includes":["a.*"],"excludes":["b"]},"track_total_hits":true,
      "aggs":{"x":{"max":{"field":"n"}}}})",
                       {});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->req.from, 5u);
  EXPECT_EQ(s->req.size, 20u);
  ASSERT_EQ(s->req.sort.size(), 3u);
  EXPECT_TRUE(s->req.sort[0].desc);
  EXPECT_TRUE(s->req.sort[1].desc);
  EXPECT_FALSE(s->req.sort[2].desc);
  EXPECT_EQ(s->req.search_after.size(), 3u);
  EXPECT_EQ(s->req.source.includes, std::vector<std::string>{"a.*"});
  EXPECT_EQ(s->req.track_total_hits, -1);
  EXPECT_EQ(s->req.aggs.size(), 1u);

  auto p = ParseSearch("", {{"q", "level:error"}, {"size", "3"}, {"sort", "n:desc,m"}, {"_source", "false"}, {"rest_total_hits_as_int", "true"}});
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(Show(p->req.query), "match&(level:error)");
  EXPECT_EQ(p->req.size, 3u);
  EXPECT_EQ(p->req.sort.size(), 2u);
  EXPECT_FALSE(p->req.source.enabled);
  EXPECT_TRUE(p->rest_total_hits_as_int);
  EXPECT_EQ(p->req.track_total_hits, -1);

  auto c = ParseCount(R"({"query":{"term":{"a":1}}})", {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(Show(*c), "term(a=1)");
  EXPECT_TRUE(ParseCount("", {}).ok());
}

TEST(SearchBody, Malformed) {
  for (const char* bad : {"{", "[]", "5", R"({"size":-1})", R"({"from":"x"})", R"({"sort":5})", R"({"sort":[{"a":"sideways"}]})",
                          R"({"highlight":{"fields":{"m":{}}}})", R"({"post_filter":{}})", R"({"_source":5})",
                          R"({"search_after":5})", R"({"search_after":[{}]})", R"({"size":10001})", R"({"script_fields":{}})",
                          R"({"query":{"match_all":{}},"sort":["a"],"search_after":[1,2]})", R"({"min_score":1})"}) {
    auto r = ParseSearch(bad, {});
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) EXPECT_EQ(EsErrorFromStatus(r.status()).status, 400) << bad;
  }
  EXPECT_FALSE(ParseSearch("", {{"scroll", "1m"}}).ok());
  EXPECT_FALSE(ParseSearch("", {{"q", "a AND"}}).ok());
  EXPECT_FALSE(ParseSearch(R"({"query":{"match_all":{}}})", {{"q", "a"}}).ok());
  EXPECT_FALSE(ParseCount(R"({"size":1})", {}).ok());
}

TEST(EsErrors, Shape) {
  auto e = EsErrorFromStatus(Status::InvalidArgument("parsing_exception: [x] bad"));
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.type, "parsing_exception");
  EXPECT_EQ(e.reason, "[x] bad");
  json::value v = json::parse(EsErrorJson(e));
  EXPECT_EQ(v.at("status").as_int64(), 400);
  EXPECT_EQ(v.at_pointer("/error/type").as_string(), "parsing_exception");
  EXPECT_EQ(v.at_pointer("/error/root_cause/0/reason").as_string(), "[x] bad");
  EXPECT_EQ(EsErrorFromStatus(Status::NotFound("x")).status, 404);
  EXPECT_EQ(EsErrorFromStatus(Status::IOError("disk full: x")).status, 500);
  EXPECT_EQ(EsErrorFromStatus(Status::IOError("No space left on device")).reason, "No space left on device");
}

}  // namespace
}  // namespace hakone::store::es
