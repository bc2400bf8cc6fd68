// The Elasticsearch-compatible API of `hakone serve`, end to end over HTTP: index lifecycle,
// documents, _bulk (with gzip), search/_msearch/_count, errors in ES's shape, media types,
// templates, auth, `hakone search reindex` (from a fake 1.x server and hakone to hakone) and
// `hakone logs search`.
#include <zlib.h>

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <optional>
#include <thread>

#include "core/http_server.h"
#include "core/runtime.h"
#include "es_util.h"

namespace hakone::testing {
namespace {
namespace json = boost::json;

void ExpectEsError(const EsReply& r, int status, const std::string& type_substr = "") {
  EXPECT_EQ(r.status, status) << r.body;
  ASSERT_TRUE(r.json.is_object()) << r.body;
  EXPECT_EQ(r.json.at("status").to_number<int>(), status) << r.body;
  ASSERT_TRUE(r.json.at("error").is_object()) << r.body;
  EXPECT_TRUE(r.json.at_pointer("/error/type").is_string());
  EXPECT_TRUE(r.json.at_pointer("/error/reason").is_string());
  if (!type_substr.empty()) EXPECT_NE(r.body.find(type_substr), std::string::npos) << r.body;
}

std::set<std::string> HitIds(const EsReply& r) {
  std::set<std::string> out;
  for (const auto& h : r.json.at_pointer("/hits/hits").as_array()) out.insert(std::string(h.at("_id").as_string()));
  return out;
}

class EsApiTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(es.Start()) << es.Log(); }
  EsServer es;
};

TEST_F(EsApiTest, RootHealthAndHeaders) {
  EsReply r = es.Call("GET", "/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("X-Elastic-Product"), "Elasticsearch");
  EXPECT_EQ(std::string(r.json.at_pointer("/version/number").as_string()).substr(0, 2), "8.");
  EXPECT_EQ(r.json.at_pointer("/version/build_flavor").as_string(), "default");
  EXPECT_EQ(r.json.at("tagline").as_string(), "You Know, for Search");
  EsReply h = es.Call("GET", "/_cluster/health");
  EXPECT_EQ(h.json.at("status").as_string(), "green");
  // Every client generation's media type is accepted, and echoed.
  for (int v : {7, 8, 9}) {
    std::string mt = "application/vnd.elasticsearch+json; compatible-with=" + std::to_string(v);
    EsReply c = es.Call("POST", "/compat" + std::to_string(v) + "/_doc?refresh=true", R"({"a":1})", {{"Content-Type", mt}, {"Accept", mt}});
    EXPECT_EQ(c.status, 201) << c.body;
    EXPECT_NE(c.Header("Content-Type").find("compatible-with=" + std::to_string(v)), std::string::npos) << c.Header("Content-Type");
    EXPECT_EQ(c.Header("X-Elastic-Product"), "Elasticsearch");
  }
  EsReply bad = es.Call("POST", "/x/_doc", "a=1", {{"Content-Type", "application/xml"}});
  EXPECT_EQ(bad.status, 406);
  EXPECT_EQ(bad.Header("X-Elastic-Product"), "Elasticsearch");
  EXPECT_EQ(es.Call("GET", "/_nope").Header("X-Elastic-Product"), "Elasticsearch");
}

TEST_F(EsApiTest, IndexLifecycleMappingsAndCat) {
  EXPECT_EQ(es.Call("HEAD", "/jobs").status, 404);
  EsReply c = es.Call("PUT", "/jobs", R"({"settings":{"number_of_shards":1},"mappings":{"properties":{
      "title":{"type":"text","fields":{"keyword":{"type":"keyword","ignore_above":256}}},"salary":{"type":"integer"},
      "company":{"properties":{"name":{"type":"keyword"}}}}}})");
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_TRUE(c.json.at("acknowledged").as_bool());
  EXPECT_EQ(es.Call("HEAD", "/jobs").status, 200);
  ExpectEsError(es.Call("PUT", "/jobs", ""), 400, "resource_already_exists_exception");
  ExpectEsError(es.Call("PUT", "/Bad*Name", ""), 400, "invalid_index_name_exception");
  ExpectEsError(es.Call("PUT", "/x2", R"({"settings":{"analysis":{}}})"), 400, "analysis");
  EsReply m = es.Call("GET", "/jobs/_mapping");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.json.at_pointer("/jobs/mappings/properties/salary/type").as_string(), "long");
  EXPECT_EQ(m.json.at_pointer("/jobs/mappings/properties/title/fields/keyword/type").as_string(), "keyword");
  EXPECT_EQ(m.json.at_pointer("/jobs/mappings/properties/company/properties/name/type").as_string(), "keyword");
  EXPECT_EQ(es.Call("PUT", "/jobs/_mapping", R"({"properties":{"remote":{"type":"boolean"}}})").status, 200);
  ExpectEsError(es.Call("PUT", "/jobs/_mapping", R"({"properties":{"salary":{"type":"keyword"}}})"), 400, "salary");
  EsReply cat = es.Call("GET", "/_cat/indices?format=json");
  ASSERT_EQ(cat.status, 200);
  ASSERT_TRUE(cat.json.is_array());
  EXPECT_EQ(cat.json.as_array()[0].at("index").as_string(), "jobs");
  EsReply cattext = es.Call("GET", "/_cat/indices?v");
  EXPECT_EQ(cattext.body.rfind("health status index", 0), 0u) << cattext.body;
  EXPECT_NE(cattext.body.find("jobs"), std::string::npos);
  EXPECT_EQ(es.Call("DELETE", "/jobs").status, 200);
  EXPECT_EQ(es.Call("HEAD", "/jobs").status, 404);
  ExpectEsError(es.Call("DELETE", "/jobs"), 404, "index_not_found_exception");
  ExpectEsError(es.Call("GET", "/jobs/_search"), 404, "index_not_found_exception");
}

TEST_F(EsApiTest, DocumentsAndRefresh) {
  EsReply p = es.Call("PUT", "/people/_doc/alice", R"({"name":"Alice","age":30})");
  ASSERT_EQ(p.status, 201) << p.body;
  EXPECT_EQ(p.json.at("result").as_string(), "created");
  // Real-time GET sees it before any refresh.
  EsReply g = es.Call("GET", "/people/_doc/alice");
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_TRUE(g.json.at("found").as_bool());
  EXPECT_EQ(g.json.at_pointer("/_source/name").as_string(), "Alice");
  EXPECT_EQ(g.json.at("_version").to_number<int>(), 1);
  EXPECT_EQ(p.json.at("_version").to_number<int>(), 1);
  // ?refresh=wait_for returns once the next periodic refresh made it searchable.
  EsReply u = es.Call("PUT", "/people/_doc/alice?refresh=wait_for", R"({"name":"Alice","age":31})");
  EXPECT_EQ(u.status, 200) << u.body;
  EXPECT_EQ(u.json.at("result").as_string(), "updated");
  EXPECT_EQ(u.json.at("_version").to_number<int>(), 2);
  EsReply g2 = es.Call("GET", "/people/_doc/alice");
  EXPECT_EQ(g2.json.at("_version").to_number<int>(), 2) << g2.body;
  EXPECT_EQ(g2.json.at("_seq_no").to_number<int64_t>(), u.json.at("_seq_no").to_number<int64_t>()) << g2.body;
  EXPECT_EQ(es.Call("PUT", "/people/_doc/alice?refresh=wait_for", R"({"name":"Alice","age":31})").json.at("_version").to_number<int>(), 3);
  EXPECT_EQ(es.Call("PUT", "/people/_doc/alice?refresh=wait_for", R"({"name":"Alice","age":31})").json.at("_version").to_number<int>(), 4);
  EXPECT_EQ(es.Call("GET", "/people/_doc/alice?_source=false").json.at("_version").to_number<int>(), 4);
  ExpectEsError(es.Call("PUT", "/people/_doc/alice?refresh=sometimes", R"({"name":"Alice","age":31})"), 400, "illegal_argument_exception");
  EsReply s = es.Call("GET", "/people/_search?q=name:alice");
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.json.at_pointer("/hits/total/value").to_number<int>(), 1);
  EXPECT_EQ(s.json.at_pointer("/hits/hits/0/_source/age").to_number<int>(), 31);
  EsReply auto_id = es.Call("POST", "/people/_doc?refresh=true", R"({"name":"Bob"})");
  ASSERT_EQ(auto_id.status, 201);
  EXPECT_FALSE(auto_id.json.at("_id").as_string().empty());
  ExpectEsError(es.Call("PUT", "/people/_create/alice", R"({"name":"again"})"), 409, "version_conflict");
  ExpectEsError(es.Call("PUT", "/people/_doc/x", R"([1,2])"), 400, "mapper_parsing_exception");
  EXPECT_EQ(es.Call("DELETE", "/people/_doc/alice?refresh=true").status, 200);
  EsReply gone = es.Call("GET", "/people/_doc/alice");
  EXPECT_EQ(gone.status, 404);
  EXPECT_FALSE(gone.json.at("found").as_bool());
  EXPECT_EQ(es.Call("DELETE", "/people/_doc/alice").status, 404);
  EXPECT_EQ(es.Call("GET", "/people/_count").json.at("count").to_number<int>(), 1);
  ExpectEsError(es.Call("GET", "/nope/_doc/1"), 404, "index_not_found_exception");
  // _refresh makes un-refreshed writes visible.
  ASSERT_EQ(es.Call("PUT", "/people/_doc/carol", R"({"name":"Carol"})").status, 201);
  ASSERT_EQ(es.Call("POST", "/people/_refresh").status, 200);
  EXPECT_EQ(es.Call("GET", "/people/_count").json.at("count").to_number<int>(), 2);
  // _bulk with ?refresh=wait_for: searchable when it returns.
  EsReply b = es.Call("POST", "/_bulk?refresh=wait_for", "{\"index\":{\"_index\":\"people\",\"_id\":\"dave\"}}\n{\"name\":\"Dave\"}\n");
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(es.Call("GET", "/people/_count").json.at("count").to_number<int>(), 3);
  EXPECT_EQ(es.Call("DELETE", "/people/_doc/dave?refresh=wait_for").status, 200);
  EXPECT_EQ(es.Call("GET", "/people/_count").json.at("count").to_number<int>(), 2);
}

TEST_F(EsApiTest, BulkItemsErrorsAndGzip) {
  std::string body =
      "{\"index\":{\"_index\":\"b1\",\"_id\":\"1\"}}\n{\"msg\":\"one\",\"n\":1}\n"
      "{\"create\":{\"_index\":\"b1\",\"_id\":\"1\"}}\n{\"msg\":\"dup\"}\n"
      "{\"index\":{\"_index\":\"b1\"}}\n{\"msg\":\"two\",\"n\":2}\n"
      "{\"update\":{\"_index\":\"b1\",\"_id\":\"1\"}}\n{\"doc\":{\"n\":5}}\n"
      "{\"index\":{\"_index\":\"b1\",\"_id\":\"bad\"}}\n{\"n\":\"not a number\"}\n"
      "{\"delete\":{\"_index\":\"b1\",\"_id\":\"missing\"}}\n"
      "{\"index\":{\"_index\":\"b2\",\"_id\":\"x\"}}\n{\"msg\":\"other index\"}\n";
  EsReply r = es.Call("POST", "/_bulk?refresh=true", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.json.at("errors").as_bool());
  const auto& items = r.json.at("items").as_array();
  ASSERT_EQ(items.size(), 7u) << r.body;
  EXPECT_EQ(items[0].at_pointer("/index/status").to_number<int>(), 201);
  EXPECT_EQ(items[1].at_pointer("/create/status").to_number<int>(), 409);
  EXPECT_EQ(items[2].at_pointer("/index/status").to_number<int>(), 201);
  EXPECT_EQ(items[3].at_pointer("/update/status").to_number<int>(), 400);
  EXPECT_EQ(items[4].at_pointer("/index/status").to_number<int>(), 400) << r.body;
  EXPECT_NE(json::serialize(items[4]).find("n"), std::string::npos);
  EXPECT_EQ(items[5].at_pointer("/delete/status").to_number<int>(), 404);
  EXPECT_EQ(items[6].at_pointer("/index/status").to_number<int>(), 201);
  EXPECT_EQ(es.Call("GET", "/b1/_count").json.at("count").to_number<int>(), 2);
  // Malformed action line: the whole request is a 400.
  ExpectEsError(es.Call("POST", "/_bulk", "{\"index\":\n{}\n"), 400, "Malformed action/metadata line");
  ExpectEsError(es.Call("POST", "/_bulk", "\n"), 400);
  // /{index}/_bulk with gzip.
  std::string many;
  for (int i = 0; i < 3000; i++) many += "{\"index\":{\"_id\":\"g" + std::to_string(i) + "\"}}\n{\"n\":" + std::to_string(i) + "}\n";
  EsReply gz = es.Call("POST", "/gz/_bulk?refresh=true", Gzip(many), {{"Content-Type", "application/x-ndjson"}, {"Content-Encoding", "gzip"}});
  ASSERT_EQ(gz.status, 200) << gz.body.substr(0, 300);
  EXPECT_FALSE(gz.json.at("errors").as_bool());
  EXPECT_EQ(gz.json.at("items").as_array().size(), 3000u);
  EXPECT_EQ(es.Call("GET", "/gz/_count").json.at("count").to_number<int>(), 3000);
  ExpectEsError(es.Call("POST", "/gz/_bulk", "not gzip", {{"Content-Type", "application/x-ndjson"}, {"Content-Encoding", "gzip"}}), 400, "gzip");
}

TEST_F(EsApiTest, SearchMsearchCountAndErrors) {
  std::string body;
  const char* levels[] = {"info", "warn", "error"};
  for (int i = 0; i < 30; i++) {
    char ts[64];
    std::snprintf(ts, sizeof ts, "2024-05-01T%02d:%02d:00Z", i / 4, (i % 4) * 15);
    body += "{\"index\":{\"_index\":\"logs-" + std::string(i % 2 ? "a" : "b") + "\",\"_id\":\"" + std::to_string(i) + "\"}}\n";
    body += "{\"@timestamp\":\"" + std::string(ts) + "\",\"level\":\"" + levels[i % 3] + "\",\"n\":" + std::to_string(i) +
            ",\"msg\":\"request " + (i % 5 == 0 ? "failed with timeout" : "ok") + " 東京都\"}\n";
  }
  ASSERT_EQ(es.Call("POST", "/_bulk?refresh=true", body).status, 200);
  // Wildcards and comma lists.
  EXPECT_EQ(es.Call("GET", "/logs-*/_count").json.at("count").to_number<int>(), 30);
  EXPECT_EQ(es.Call("GET", "/logs-a,logs-b/_count").json.at("count").to_number<int>(), 30);
  EXPECT_EQ(es.Call("GET", "/logs-a/_count").json.at("count").to_number<int>(), 15);
  EXPECT_EQ(es.Call("GET", "/nomatch-*/_count").json.at("count").to_number<int>(), 0);
  // date_histogram with an IANA time zone (docs at 00:00..07:15 UTC = 09:00..16:15 JST, one local day).
  EsReply tz = es.Call("POST", "/logs-*/_search",
                       R"({"size":0,"aggs":{"d":{"date_histogram":{"field":"@timestamp","calendar_interval":"day","time_zone":"Asia/Tokyo"}}}})");
  ASSERT_EQ(tz.status, 200) << tz.body;
  const auto& tzb = tz.json.at_pointer("/aggregations/d/buckets").as_array();
  ASSERT_EQ(tzb.size(), 1u) << tz.body;
  EXPECT_EQ(tzb[0].at("key_as_string").as_string(), "2024-05-01T00:00:00.000+09:00");
  EXPECT_EQ(tzb[0].at("key").to_number<int64_t>(), 1714489200000);  // 2024-04-30T15:00:00Z
  EXPECT_EQ(tzb[0].at("doc_count").to_number<int>(), 30);
  ExpectEsError(es.Call("POST", "/logs-*/_search",
                        R"({"size":0,"aggs":{"d":{"date_histogram":{"field":"@timestamp","calendar_interval":"day","time_zone":"Mars/Olympus_Mons"}}}})"),
                400);
  // GET and POST search with query, sort, from/size, _source filtering, aggs.
  std::string q = R"({"query":{"bool":{"must":[{"match":{"msg":"timeout"}}],"filter":[{"range":{"n":{"gte":5}}}]}},
      "sort":[{"n":"asc"}],"size":2,"from":1,"_source":["n"],"track_total_hits":true,
      "aggs":{"lv":{"terms":{"field":"level.keyword"}},"mx":{"max":{"field":"n"}}}})";
  for (const char* method : {"GET", "POST"}) {
    EsReply s = es.Call(method, "/logs-*/_search", q);
    ASSERT_EQ(s.status, 200) << s.body;
    EXPECT_EQ(s.json.at_pointer("/hits/total/value").to_number<int>(), 5);  // 5,10,15,20,25
    const auto& hits = s.json.at_pointer("/hits/hits").as_array();
    ASSERT_EQ(hits.size(), 2u);
    EXPECT_EQ(hits[0].at_pointer("/_source/n").to_number<int>(), 10);
    EXPECT_FALSE(hits[0].at("_source").as_object().contains("msg"));
    EXPECT_EQ(hits[0].at("sort").as_array()[0].to_number<int>(), 10);
    EXPECT_EQ(s.json.at_pointer("/aggregations/mx/value").to_number<double>(), 25.0);
  }
  // search_after pages through everything exactly once.
  std::set<std::string> seen;
  json::value after;
  for (int page = 0; page < 20; page++) {
    json::object b{{"size", 7}, {"sort", json::array{json::object{{"n", "asc"}}}}};
    if (!after.is_null()) b["search_after"] = after;
    EsReply s = es.Call("POST", "/logs-*/_search", json::serialize(b));
    ASSERT_EQ(s.status, 200) << s.body;
    const auto& hits = s.json.at_pointer("/hits/hits").as_array();
    if (hits.empty()) break;
    for (const auto& h : hits) EXPECT_TRUE(seen.insert(std::string(h.at("_id").as_string())).second);
    after = hits.back().at("sort");
  }
  EXPECT_EQ(seen.size(), 30u);
  // Japanese phrase and q= with Lucene syntax.
  EXPECT_EQ(es.Call("POST", "/logs-*/_count", R"({"query":{"match_phrase":{"msg":"東京都"}}})").json.at("count").to_number<int>(), 30);
  EXPECT_EQ(es.Call("GET", "/logs-*/_count?q=level:error%20AND%20n:%5B0%20TO%2010%5D").json.at("count").to_number<int>(), 3);
  // rest_total_hits_as_int (7.x clients, Grafana).
  EsReply ti = es.Call("GET", "/logs-*/_search?rest_total_hits_as_int=true&size=0");
  EXPECT_EQ(ti.json.at_pointer("/hits/total").to_number<int>(), 30);
  // _msearch: per-search results and per-search errors.
  std::string ms = "{\"index\":\"logs-a\"}\n{\"query\":{\"match_all\":{}},\"size\":0}\n"
                   "{}\n{\"query\":{\"term\":{\"level.keyword\":\"error\"}}}\n"
                   "{\"index\":\"missing\"}\n{}\n"
                   "{\"index\":\"logs-b\"}\n{\"query\":{\"fuzzy\":{\"msg\":\"x\"}}}\n";
  EsReply m = es.Call("POST", "/_msearch", ms);
  ASSERT_EQ(m.status, 200) << m.body;
  const auto& rs = m.json.at("responses").as_array();
  ASSERT_EQ(rs.size(), 4u);
  EXPECT_EQ(rs[0].at_pointer("/hits/total/value").to_number<int>(), 15);
  EXPECT_EQ(rs[1].at_pointer("/hits/total/value").to_number<int>(), 10);
  EXPECT_EQ(rs[2].at("status").to_number<int>(), 404);
  EXPECT_EQ(rs[3].at("status").to_number<int>(), 400);
  EXPECT_EQ(es.Call("GET", "/logs-a/_msearch", "{}\n{\"size\":0}\n").json.at_pointer("/responses/0/hits/total/value").to_number<int>(), 15);
  // Unsupported parts are 400s naming them, never silently wrong results.
  ExpectEsError(es.Call("POST", "/logs-*/_search", R"({"query":{"fuzzy":{"msg":"x"}}})"), 400, "fuzzy");
  ExpectEsError(es.Call("POST", "/logs-*/_search", R"({"highlight":{"fields":{"msg":{}}}})"), 400, "highlight");
  ExpectEsError(es.Call("POST", "/logs-*/_search", R"({"aggs":{"x":{"geohash_grid":{"field":"n"}}}})"), 400, "geohash_grid");
  ExpectEsError(es.Call("POST", "/logs-*/_search", R"({"query":{"match":{"msg":{"query":"x","fuzziness":"AUTO"}}}})"), 400, "fuzziness");
  ExpectEsError(es.Call("POST", "/logs-*/_search", "{not json"), 400);
  ExpectEsError(es.Call("GET", "/logs-*/_search?q=a%20AND"), 400);
  ExpectEsError(es.Call("GET", "/logs-*/_search?scroll=1m"), 400, "scroll");
}

TEST_F(EsApiTest, IndexTemplates) {
  EsReply t = es.Call("PUT", "/_index_template/logs", R"({"index_patterns":["tlogs-*"],"priority":5,
      "template":{"settings":{"number_of_replicas":0},"mappings":{"properties":{"code":{"type":"keyword"},"n":{"type":"double"}}}}})");
  ASSERT_EQ(t.status, 200) << t.body;
  ASSERT_EQ(es.Call("POST", "/tlogs-1/_doc?refresh=true", R"({"code":"123","n":1})").status, 201);
  EsReply m = es.Call("GET", "/tlogs-1/_mapping");
  EXPECT_EQ(m.json.at_pointer("/tlogs-1/mappings/properties/code/type").as_string(), "keyword") << m.body;
  EXPECT_EQ(m.json.at_pointer("/tlogs-1/mappings/properties/n/type").as_string(), "double");
  EXPECT_EQ(es.Call("GET", "/_index_template/logs").json.at_pointer("/index_templates/0/name").as_string(), "logs");
  ExpectEsError(es.Call("PUT", "/_index_template/bad", R"({"template":{}})"), 400);
  ExpectEsError(es.Call("PUT", "/_index_template/ds", R"({"index_patterns":["x"],"data_stream":{}})"), 400, "data stream");
  // Templates survive a restart.
  ASSERT_TRUE(es.Stop());
  ASSERT_TRUE(es.Start()) << es.Log();
  EXPECT_EQ(es.Call("GET", "/_index_template/logs").status, 200);
  ASSERT_EQ(es.Call("POST", "/tlogs-2/_doc", R"({"code":"7"})").status, 201);
  EXPECT_EQ(es.Call("GET", "/tlogs-2/_mapping").json.at_pointer("/tlogs-2/mappings/properties/code/type").as_string(), "keyword");
}

TEST(EsAuth, TokensRolesAndLoopback) {
  std::string dir = MakeTempDir("hakone-es-auth");
  std::string cfg = dir + "/hakone.toml";
  {
    std::ofstream f(cfg);
    f << "[store]\nlisten = \"127.0.0.1:0\"\n"
         "[[store.tokens]]\nname = \"grafana\"\ntoken = \"reader-secret-0123456789\"\nrole = \"reader\"\n"
         "[[store.tokens]]\nname = \"shipper\"\ntoken = \"writer-secret-0123456789\"\nrole = \"writer\"\n"
         "[[store.tokens]]\nname = \"ops\"\ntoken = \"admin-secret-0123456789\"\nrole = \"admin\"\n";
  }
  EsServer es(dir, {"--config", cfg});
  ASSERT_TRUE(es.Start()) << es.Log();
  auto basic = [](const std::string& u, const std::string& p) {
    static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string in = u + ":" + p, out;
    int val = 0, bits = -6;
    for (unsigned char c : in) {
      val = (val << 8) + c;
      bits += 8;
      while (bits >= 0) {
        out.push_back(k[(val >> bits) & 0x3F]);
        bits -= 6;
      }
    }
    if (bits > -6) out.push_back(k[((val << 8) >> (bits + 8)) & 0x3F]);
    while (out.size() % 4) out.push_back('=');
    return "Basic " + out;
  };
  EsReply none = es.Call("GET", "/");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.Header("X-Elastic-Product"), "Elasticsearch");
  ExpectEsError(none, 401, "security_exception");
  EXPECT_EQ(es.Call("GET", "/", "", {{"Authorization", "Bearer wrong-token"}}).status, 401);
  EXPECT_EQ(es.Call("GET", "/", "", {{"Authorization", "Bearer reader-secret-0123456789"}}).status, 200);
  EXPECT_EQ(es.Call("GET", "/", "", {{"Authorization", basic("grafana", "reader-secret-0123456789")}}).status, 200);
  EXPECT_EQ(es.Call("GET", "/", "", {{"Authorization", basic("shipper", "reader-secret-0123456789")}}).status, 401);
  // ApiKey: base64(id:key).
  std::string apikey = basic("ops", "admin-secret-0123456789").substr(6);
  EXPECT_EQ(es.Call("PUT", "/secured", "", {{"Authorization", "ApiKey " + apikey}}).status, 200);
  // Roles: reader cannot write, writer cannot create indices, admin can do all.
  EXPECT_EQ(es.Call("POST", "/secured/_doc", R"({"a":1})", {{"Authorization", "Bearer reader-secret-0123456789"}}).status, 403);
  EXPECT_EQ(es.Call("POST", "/secured/_doc?refresh=true", R"({"a":1})", {{"Authorization", "Bearer writer-secret-0123456789"}}).status, 201);
  EXPECT_EQ(es.Call("PUT", "/other", "", {{"Authorization", "Bearer writer-secret-0123456789"}}).status, 403);
  EXPECT_EQ(es.Call("DELETE", "/secured", "", {{"Authorization", "Bearer writer-secret-0123456789"}}).status, 403);
  EXPECT_EQ(es.Call("GET", "/secured/_count", "", {{"Authorization", "Bearer reader-secret-0123456789"}}).json.at("count").to_number<int>(), 1);
  EXPECT_EQ(es.Call("GET", "/metrics", "", {{"Authorization", "Bearer reader-secret-0123456789"}}).status, 200);
  EXPECT_EQ(es.Call("GET", "/metrics").status, 401);
  // The probes need no credentials even with tokens configured (and ignore bad ones); they
  // reveal nothing but the status.
  for (const char* path : {"/healthz", "/readyz"}) {
    EsReply p = es.Call("GET", path);
    EXPECT_EQ(p.status, 200) << path << " " << p.body;
    EXPECT_EQ(p.body.find("secured"), std::string::npos) << p.body;
    EXPECT_EQ(es.Call("GET", path, "", {{"Authorization", "Bearer wrong-token"}}).status, 200) << path;
  }
  EXPECT_EQ(es.Call("GET", "/healthz").json.at("status").as_string(), "ok");
  EXPECT_EQ(es.Call("GET", "/readyz").json.at("status").as_string(), "ready");
  // Only the exact probe paths are open: an index named like them is not.
  EXPECT_EQ(es.Call("GET", "/healthz/_count").status, 401);
  EXPECT_EQ(es.Call("GET", "/readyz/_search").status, 401);
  es.Stop();

  // Without tokens, a non-loopback address is refused with a clear error.
  std::string out;
  int rc = RunCommand({HAKONE_BINARY, "serve", "--listen", "0.0.0.0:" + std::to_string(FreePort()), "--data-dir", dir + "/d2"}, &out, true,
                      std::chrono::seconds(20));
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("not a loopback address"), std::string::npos) << out;
  RemoveTree(dir);
}

// /readyz goes 503 (with the reason) after a write cannot reach the write-ahead log (a full disk,
// simulated with RLIMIT_FSIZE: files past 32 KiB fail with EFBIG, and so does the 64 KiB trial
// write readiness retries with), while /healthz stays 200; a later successful write makes it
// ready again.
TEST(EsProbes, ReadyzReflectsWriteAheadLogErrors) {
  EsServer es("", {}, {"/bin/bash", "-c", "trap '' XFSZ; ulimit -f 32; exec \"$0\" \"$@\""});
  ASSERT_TRUE(es.Start()) << es.Log();
  EXPECT_EQ(es.Call("GET", "/healthz").status, 200);
  EXPECT_EQ(es.Call("GET", "/readyz").status, 200);
  EXPECT_EQ(es.Call("PUT", "/probe/_doc/small", R"({"message":"small"})").status, 201);
  EXPECT_EQ(es.Call("GET", "/readyz").status, 200);
  std::string big = R"({"message":")" + std::string(48 << 10, 'x') + R"("})";
  EsReply w = es.Call("PUT", "/probe/_doc/big", big);
  EXPECT_GE(w.status, 500) << w.body;
  EsReply r = es.Call("GET", "/readyz");
  EXPECT_EQ(r.status, 503) << r.body;
  ASSERT_TRUE(r.json.is_object()) << r.body;
  EXPECT_EQ(r.json.at("status").as_string(), "not_ready");
  EXPECT_NE(r.body.find("too large"), std::string::npos) << r.body;  // EFBIG: "File too large"
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));    // the trial write is retried, and fails too
  EXPECT_EQ(es.Call("GET", "/readyz").status, 503);
  EXPECT_EQ(es.Call("GET", "/healthz").status, 200);
  EXPECT_TRUE(es.Running()) << es.Log();
  // Space for a small write: it succeeds and the store is ready again.
  EXPECT_EQ(es.Call("PUT", "/probe/_doc/small2", R"({"message":"small again"})").status, 201);
  EXPECT_EQ(es.Call("GET", "/readyz").status, 200);
  EXPECT_EQ(es.Call("GET", "/probe/_count").json.at("count").to_number<int>(), 2);
  es.Stop();
}

TEST_F(EsApiTest, MetricsExposed) {
  ASSERT_EQ(es.Call("POST", "/m/_bulk?refresh=true", "{\"index\":{}}\n{\"a\":\"hello\"}\n").status, 200);
  ASSERT_EQ(es.Call("GET", "/m/_search?q=hello").status, 200);
  EsReply r = es.Call("GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  for (const char* name : {"hakone_store_ingest_docs_total 1", "hakone_store_ingest_raw_bytes_total", "hakone_store_bytes_on_disk",
                           "hakone_store_raw_bytes", "hakone_store_query_duration_seconds_bucket", "hakone_store_blocks_scanned_total",
                           "hakone_store_blocks_pruned_total"}) {
    EXPECT_NE(r.body.find(name), std::string::npos) << name;
  }
}

// A fake Elasticsearch 1.7 serving canned responses shaped like the real ones: two mapping
// types, string fields analyzed and not_analyzed, _all/_timestamp/_ttl, and a scroll.
class Fake1x {
 public:
  Fake1x() : server_(io_, HttpServer::Options()) {
    for (int i = 0; i < 25; i++) {
      json::object hit{{"_index", "old"}, {"_type", i % 2 ? "job" : "company"}, {"_id", "o" + std::to_string(i)}, {"_score", 1.0}};
      hit["_source"] = json::object{{"name", "entry " + std::to_string(i) + " 株式会社"}, {"code", "C" + std::to_string(i)}, {"n", i}};
      docs_.push_back(hit);
    }
    server_.Route("GET", "/", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, R"({"status":200,"name":"old-node","cluster_name":"elasticsearch",
        "version":{"number":"1.7.5","build_hash":"00f95f4ffca6de89d68b7ccaf80d148f1f70e4d4","build_timestamp":"2016-02-02T09:55:30Z",
        "build_snapshot":false,"lucene_version":"4.10.4"},"tagline":"You Know, for Search"})");
    });
    server_.Route("GET", "/old/_mapping", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, R"({"old":{"mappings":{
        "job":{"_all":{"enabled":true},"_timestamp":{"enabled":true},"_ttl":{"enabled":false},
               "properties":{"name":{"type":"string"},"code":{"type":"string","index":"not_analyzed"},"n":{"type":"integer"}}},
        "company":{"properties":{"name":{"type":"string","analyzer":"standard"},"founded":{"type":"date","format":"dateOptionalTime"}}}}}})");
    });
    server_.Route("GET", "/old/_count", [this](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, "{\"count\":" + std::to_string(docs_.size()) + ",\"_shards\":{\"total\":5,\"successful\":5,\"failed\":0}}");
    });
    server_.Route("POST", "/old/_search", [this](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      EXPECT_EQ(req.Param("scroll").value_or(""), "5m");
      co_return Page(0);
    });
    server_.Route("GET", "/_search/scroll", [this](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      co_return Page(std::atoi(req.Param("scroll_id").value_or("0").c_str()));
    });
    server_.Route("DELETE", "/_search/scroll", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, R"({"succeeded":true})");
    });
    EXPECT_TRUE(server_.Listen(*ParseEndpoint("127.0.0.1:0")).ok());
    guard_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Fake1x() {
    server_.Stop();
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  int port() const { return server_.local_endpoint().port(); }

 private:
  HttpResponse Page(size_t from) {
    json::array hits;
    for (size_t i = from; i < std::min(docs_.size(), from + 10); i++) hits.push_back(docs_[i]);
    json::object out{{"_scroll_id", std::to_string(from + 10)}, {"took", 1}, {"timed_out", false},
                     {"hits", json::object{{"total", docs_.size()}, {"max_score", 1.0}, {"hits", hits}}}};
    return HttpResponse::Json(200, json::serialize(out));
  }
  asio::io_context io_;
  HttpServer server_;
  std::vector<json::value> docs_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::thread thread_;
};

TEST_F(EsApiTest, ReindexFrom1xAndBetweenHakones) {
  Fake1x old;
  std::string cp = es.data_dir() + "/cp1.json";
  std::string out;
  int rc = RunCommand({HAKONE_BINARY, "search", "reindex", "--from", "http://127.0.0.1:" + std::to_string(old.port()) + "/old", "--to",
                       es.url() + "/jobs", "--mapping-from-1x", "--batch", "10", "--checkpoint", cp},
                      &out, true, std::chrono::seconds(60));
  ASSERT_EQ(rc, 0) << out;
  for (const char* note : {"name: string analyzed -> text + keyword sub-field", "code: string not_analyzed -> keyword",
                           "merged into one", "_all dropped", "_timestamp removed", "_ttl removed", "n: integer -> long",
                           "count check ok"}) {
    EXPECT_NE(out.find(note), std::string::npos) << note << "\n" << out;
  }
  EXPECT_EQ(es.Call("GET", "/jobs/_count").json.at("count").to_number<int>(), 25);
  EsReply m = es.Call("GET", "/jobs/_mapping");
  EXPECT_EQ(m.json.at_pointer("/jobs/mappings/properties/code/type").as_string(), "keyword") << m.body;
  EXPECT_EQ(m.json.at_pointer("/jobs/mappings/properties/name/type").as_string(), "text");
  EXPECT_EQ(m.json.at_pointer("/jobs/mappings/properties/type/type").as_string(), "keyword");
  EXPECT_EQ(es.Call("GET", "/jobs/_count?q=type:job").json.at("count").to_number<int>(), 12);
  EsReply d = es.Call("GET", "/jobs/_doc/o3");
  EXPECT_EQ(d.json.at_pointer("/_source/code").as_string(), "C3");
  // Re-running with the finished checkpoint copies nothing again and still checks counts.
  rc = RunCommand({HAKONE_BINARY, "search", "reindex", "--from", "http://127.0.0.1:" + std::to_string(old.port()) + "/old", "--to",
                   es.url() + "/jobs", "--mapping-from-1x", "--checkpoint", cp},
                  &out, true, std::chrono::seconds(60));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("complete"), std::string::npos) << out;

  // hakone → hakone with search_after, resumed from a checkpoint half-way.
  EsServer dst;
  ASSERT_TRUE(dst.Start()) << dst.Log();
  std::string cp2 = es.data_dir() + "/cp2.json";
  {
    // Pretend an earlier run copied the first 10 documents in _doc order.
    EsReply first = es.Call("POST", "/jobs/_search", R"({"size":10,"sort":[{"_doc":"asc"}]})");
    ASSERT_EQ(first.status, 200) << first.body;
    std::string bulk;
    for (const auto& h : first.json.at_pointer("/hits/hits").as_array()) {
      bulk += "{\"index\":{\"_index\":\"copy\",\"_id\":" + json::serialize(h.at("_id")) + "}}\n" + json::serialize(h.at("_source")) + "\n";
    }
    ASSERT_EQ(dst.Call("POST", "/_bulk", bulk).status, 200);
    std::ofstream f(cp2);
    f << json::serialize(json::object{{"copied", 10}, {"search_after", first.json.at_pointer("/hits/hits/9/sort")}, {"done", false}});
  }
  rc = RunCommand({HAKONE_BINARY, "search", "reindex", "--from", es.url() + "/jobs", "--to", dst.url() + "/copy", "--batch", "4",
                   "--checkpoint", cp2},
                  &out, true, std::chrono::seconds(60));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("resuming after 10 documents"), std::string::npos) << out;
  EXPECT_NE(out.find("count check ok"), std::string::npos) << out;
  EXPECT_EQ(dst.Call("GET", "/copy/_count").json.at("count").to_number<int>(), 25);
  EXPECT_EQ(dst.Call("GET", "/copy/_doc/o24").json.at_pointer("/_source/n").to_number<int>(), 24);
  // Bad arguments are usage errors.
  EXPECT_EQ(RunCommand({HAKONE_BINARY, "search", "reindex", "--from", "ftp://x"}, &out, true), 2);
}

TEST_F(EsApiTest, LogsSearchCli) {
  std::string body;
  auto now = std::chrono::system_clock::now();
  for (int i = 0; i < 5; i++) {
    std::time_t t = std::chrono::system_clock::to_time_t(now - std::chrono::minutes(i * 10));
    char ts[64];
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    body += "{\"index\":{\"_index\":\"logs.app\"}}\n{\"@timestamp\":\"" + std::string(ts) + "\",\"level\":\"" + (i % 2 ? "error" : "info") +
            "\",\"message\":\"event number " + std::to_string(i) + "\"}\n";
  }
  ASSERT_EQ(es.Call("POST", "/_bulk?refresh=true", body).status, 200);
  std::string out;
  int rc = RunCommand({HAKONE_BINARY, "logs", "search", "level:error", "--url", es.url(), "--index", "logs.*", "--since", "1h"}, &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("event number 1"), std::string::npos) << out;
  EXPECT_NE(out.find("event number 3"), std::string::npos) << out;
  EXPECT_EQ(out.find("event number 0"), std::string::npos) << out;
  // --since prunes: only events of the last 15 minutes (0 and 1).
  rc = RunCommand({HAKONE_BINARY, "logs", "search", "*", "--url", es.url(), "--since", "15m", "--json"}, &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("\"event number 0\""), std::string::npos) << out;
  EXPECT_EQ(out.find("event number 3"), std::string::npos) << out;
  // tail prints the newest and follows for a while.
  rc = RunCommand({HAKONE_BINARY, "logs", "tail", "--url", es.url(), "--for", "1s", "--size", "2"}, &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("event number 0"), std::string::npos) << out;
  EXPECT_EQ(out.find("event number 4"), std::string::npos) << out;
  EXPECT_EQ(RunCommand({HAKONE_BINARY, "logs", "search", "a AND", "--url", es.url()}, &out, true), 1);
  EXPECT_NE(out.find("query_shard_exception"), std::string::npos) << out;
}

}  // namespace
}  // namespace hakone::testing
