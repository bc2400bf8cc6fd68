#include "pipeline/parse.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/log.h"
#include "pipeline/event.h"

namespace hakone::pipeline {
namespace {

TEST(Logfmt, ParsesPairsQuotesAndFlags) {
  boost::json::object o;
  ASSERT_TRUE(ParseLogfmt(R"(level=info msg="hello \"world\"" dur=1.5s debug path=/a=b)", &o).ok());
  EXPECT_EQ(o["level"].as_string(), "info");
  EXPECT_EQ(o["msg"].as_string(), "hello \"world\"");
  EXPECT_EQ(o["dur"].as_string(), "1.5s");
  EXPECT_TRUE(o["debug"].as_bool());
  EXPECT_EQ(o["path"].as_string(), "/a=b");
}

TEST(Logfmt, RejectsMalformed) {
  boost::json::object o;
  EXPECT_FALSE(ParseLogfmt(R"(a="unterminated)", &o).ok());
  EXPECT_FALSE(ParseLogfmt("=value", &o).ok());
  EXPECT_FALSE(ParseLogfmt("a\"b=1", &o).ok());
  EXPECT_TRUE(ParseLogfmt("", &o).ok());
}

TEST(Syslog, Rfc5424) {
  SyslogMessage m;
  ASSERT_TRUE(ParseSyslog(R"(<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App]"] An application event)", 0, &m).ok());
  EXPECT_EQ(m.facility, 20);
  EXPECT_EQ(m.severity, 5);
  EXPECT_EQ(m.version, 1);
  EXPECT_EQ(m.hostname, "mymachine.example.com");
  EXPECT_EQ(m.appname, "evntslog");
  EXPECT_EQ(m.procid, "");
  EXPECT_EQ(m.msgid, "ID47");
  EXPECT_EQ(m.structured_data, R"([exampleSDID@32473 iut="3" eventSource="App]"])");
  EXPECT_EQ(m.message, "An application event");
  EXPECT_EQ(FormatTimestamp(m.ts_ns), "2003-10-11T22:14:15.003Z");
}

TEST(Syslog, Rfc3164) {
  SyslogMessage m;
  int64_t now = 1700000000LL * 1000000000;  // 2023-11
  ASSERT_TRUE(ParseSyslog("<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick", now, &m).ok());
  EXPECT_EQ(m.facility, 4);
  EXPECT_EQ(m.severity, 2);
  EXPECT_EQ(m.hostname, "mymachine");
  EXPECT_EQ(m.appname, "su");
  EXPECT_EQ(m.procid, "123");
  EXPECT_EQ(m.message, "'su root' failed for lonvick");
  EXPECT_EQ(FormatTimestamp(m.ts_ns), "2023-10-11T22:14:15.000Z");
  ASSERT_TRUE(ParseSyslog("<13>Feb  5 01:02:03 host app: hi", now, &m).ok());
  EXPECT_EQ(m.appname, "app");
  EXPECT_EQ(m.message, "hi");
  ASSERT_TRUE(ParseSyslog("just text", now, &m).ok());
  EXPECT_EQ(m.message, "just text");
}

TEST(Syslog, RejectsMalformed) {
  SyslogMessage m;
  EXPECT_FALSE(ParseSyslog("<999>1 - - - - - -", 0, &m).ok());
  EXPECT_FALSE(ParseSyslog("<12", 0, &m).ok());
  EXPECT_FALSE(ParseSyslog("<1x>hello", 0, &m).ok());
  EXPECT_FALSE(ParseSyslog("<14>1 2003-10-11T22:14:15Z host", 0, &m).ok());
  EXPECT_FALSE(ParseSyslog("<14>1 notatime host app - - - msg", 0, &m).ok());
  EXPECT_FALSE(ParseSyslog("<14>1 - host app - - [unterminated", 0, &m).ok());
}

// The syslog source's fast path writes the fields JSON directly: it must decode to exactly the
// object SyslogToFields builds, escapes included, and survive the spool codec.
TEST(Syslog, FieldsJsonMatchesTheObject) {
  for (std::string line : {std::string("<165>1 2026-11-26T12:00:00.123Z web1 app 42 ID7 [ex@1 a=\"b\"] quote \" back \\ tab\t end"),
                           std::string("<13>Nov 26 12:00:00 host prog[7]: plain message"),
                           std::string("no pri at all, \x01 control and caf\xc3\xa9"),
                           std::string("<0>1 - - - - - -")}) {
    SyslogMessage m;
    ASSERT_TRUE(ParseSyslog(line, 1764158400000000000, &m).ok()) << line;
    boost::json::object want;
    SyslogToFields(m, &want);
    std::string js;
    SyslogToFieldsJson(m, &js);
    boost::system::error_code ec;
    auto got = boost::json::parse(js, ec);
    ASSERT_FALSE(ec) << js;
    EXPECT_EQ(got, boost::json::value(want)) << js;
    Event e;
    e.message = line;
    e.fields_json = js;
    std::string payload;
    EncodeEvent(e, &payload);
    Event back;
    ASSERT_TRUE(DecodeEvent(payload, &back).ok());
    EXPECT_EQ(back.fields, want);
    EXPECT_EQ(back.message, line);
  }
  // Invalid UTF-8 is replaced (U+FFFD), so the spool record always decodes.
  SyslogMessage bad;
  ASSERT_TRUE(ParseSyslog("<13>Nov 26 12:00:00 host prog: \xff\xfe broken", 1764158400000000000, &bad).ok());
  std::string js;
  SyslogToFieldsJson(bad, &js);
  Event e;
  e.fields_json = js;
  std::string payload;
  EncodeEvent(e, &payload);
  Event back;
  ASSERT_TRUE(DecodeEvent(payload, &back).ok()) << js;
  EXPECT_NE(std::string(back.fields["message"].as_string()).find("\xef\xbf\xbd"), std::string::npos);
}

// The fast escaper is byte-for-byte the reference one (core/log.h), on random bytes too.
TEST(EventCodec, FastEscapeMatchesTheReference) {
  std::vector<std::string> cases = {"", "plain ascii", "quote \" back \\ nl \n tab \t del \x7f ctl \x01",
                                    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", "bad \xff\xfe \xc3 trunc \xe6\x97",
                                    "\xed\xa0\x80 surrogate", "\xc0\xaf overlong"};
  uint32_t x = 12345;
  for (int i = 0; i < 2000; i++) {
    std::string r;
    int len = static_cast<int>(x % 40);
    for (int k = 0; k < len; k++) {
      x = x * 1103515245u + 12345u;
      r.push_back(static_cast<char>((x >> 16) & 0xff));
    }
    cases.push_back(r);
  }
  // Long plain runs with one byte needing care at every position around the 16-byte steps.
  for (size_t len : {15u, 16u, 17u, 31u, 32u, 33u, 100u}) {
    for (size_t at = 0; at < len; at++) {
      for (char special : {'"', '\\', '\x01', '\x1f', '\x7f', '\xc3', '\xff'}) {
        std::string c(len, 'a');
        c[at] = special;
        cases.push_back(c);
      }
    }
  }
  for (auto& c : cases) {
    std::string want, got = "prefix:";
    log::AppendJsonEscaped(want, c);
    AppendJsonEscapedFast(&got, c);
    EXPECT_EQ(got, "prefix:" + want);
  }
}


TEST(SyslogFramer, OctetCountedAndNewline) {
  SyslogFramer f;
  std::vector<std::string> got;
  auto fn = [&](std::string_view m) { got.emplace_back(m); };
  ASSERT_TRUE(f.Feed("11 <1>1 - - - ", fn).ok());
  ASSERT_TRUE(f.Feed("hello\n<13>plain line\n<13>par", fn).ok());
  ASSERT_TRUE(f.Feed("tial\n5 ab\ncd", fn).ok());
  f.Finish(fn);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0], "<1>1 - - - ");
  EXPECT_EQ(got[1], "hello");  // the rest of the line after an octet frame is a newline frame
  EXPECT_EQ(got[2], "<13>plain line");
  EXPECT_EQ(got[3], "<13>partial");
  EXPECT_EQ(got[4], "ab\ncd");  // octet counting: 5 bytes, newline included
  SyslogFramer g(100);
  EXPECT_FALSE(g.Feed("99999 x", fn).ok());
}

TEST(Multiline, StartPatternAndFlush) {
  auto re = Regex::Compile(R"(^\d{4}-\d{2}-\d{2})");
  ASSERT_TRUE(re.ok());
  MultilineAssembler::Options o;
  o.start = *re;
  MultilineAssembler m(o);
  std::vector<std::string> out;
  auto fn = [&](std::string&& s) { out.push_back(s); };
  m.Add("2024-01-01 error", fn);
  m.Add("  at foo()", fn);
  m.Add("  at bar()", fn);
  m.Add("2024-01-01 next", fn);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], "2024-01-01 error\n  at foo()\n  at bar()");
  EXPECT_TRUE(m.pending());
  m.Flush(fn);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1], "2024-01-01 next");
}

TEST(Multiline, ContinuationAndLimits) {
  auto re = Regex::Compile(R"(^\s)");
  MultilineAssembler::Options o;
  o.continuation = *re;
  o.max_lines = 2;
  MultilineAssembler m(o);
  std::vector<std::string> out;
  auto fn = [&](std::string&& s) { out.push_back(s); };
  for (auto l : {"a", " b", " c", "d"}) m.Add(l, fn);
  m.Flush(fn);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "a\n b");
  EXPECT_EQ(out[1], " c");
  EXPECT_EQ(out[2], "d");
}

TEST(Regex, NamedCapturesAndErrors) {
  auto re = Regex::Compile(R"((?<ip>\S+) (?<code>\d+))");
  ASSERT_TRUE(re.ok());
  auto c = (*re)->Captures("1.2.3.4 200");
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->size(), 2u);
  EXPECT_EQ((*c)[0].first, "ip");
  EXPECT_EQ((*c)[1].second, "200");
  EXPECT_FALSE((*re)->Captures("nope").has_value());
  EXPECT_FALSE(Regex::Compile("(unclosed").ok());
}

Event Ev(std::string msg, boost::json::object f = {}) {
  Event e;
  e.env = "prod";
  e.source = "app";
  e.message = std::move(msg);
  e.fields = std::move(f);
  return e;
}

TEST(Query, Matching) {
  auto q = Query::Parse(R"(level:ERROR AND "disk full" -host:web2)");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_TRUE((*q)->Matches(Ev("the Disk Full now", {{"level", "error"}, {"host", "web1"}})));
  EXPECT_FALSE((*q)->Matches(Ev("the disk full now", {{"level", "error"}, {"host", "web2"}})));
  EXPECT_FALSE((*q)->Matches(Ev("ok", {{"level", "error"}})));
  auto n = Query::Parse("status:>=500 OR (env:dev timeout)");
  ASSERT_TRUE(n.ok());
  EXPECT_TRUE((*n)->Matches(Ev("x", {{"status", 503}})));
  EXPECT_FALSE((*n)->Matches(Ev("x", {{"status", 404}})));
  EXPECT_FALSE((*n)->Matches(Ev("timeout")));  // env is prod
  auto p = Query::Parse("http.path:/api* user:*");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE((*p)->Matches(Ev("", {{"http", {{"path", "/api/v1"}}}, {"user", "u"}})));
  EXPECT_FALSE((*p)->Matches(Ev("", {{"http", {{"path", "/api/v1"}}}})));
  EXPECT_TRUE((*Query::Parse(""))->Matches(Ev("anything")));
}

TEST(Query, RejectsMalformed) {
  for (const char* bad : {"(a", "a)", ":x", "f:", "\"open", "s:>abc", "AND", "NOT"}) EXPECT_FALSE(Query::Parse(bad).ok()) << bad;
}

TEST(Time, Formats) {
  EXPECT_EQ(FormatTimestamp(*ParseTime("2024-02-03T04:05:06.789+09:00", "rfc3339", 0)), "2024-02-02T19:05:06.789Z");
  EXPECT_EQ(FormatTimestamp(*ParseTime("2024-02-03 04:05:06", "rfc3339", 0)), "2024-02-03T04:05:06.000Z");
  EXPECT_EQ(FormatTimestamp(*ParseTime("1700000000.5", "unix", 0)), "2023-11-14T22:13:20.500Z");
  EXPECT_EQ(FormatTimestamp(*ParseTime("1700000000500", "unix_ms", 0)), "2023-11-14T22:13:20.500Z");
  EXPECT_EQ(FormatTimestamp(*ParseTime("10/Oct/2000:13:55:36 -0700", "clf", 0)), "2000-10-10T20:55:36.000Z");
  EXPECT_EQ(FormatTimestamp(*ParseTime("2024/01/02 03:04:05", "%Y/%m/%d %H:%M:%S", 0)), "2024-01-02T03:04:05.000Z");
  EXPECT_FALSE(ParseTime("2024-13-01T00:00:00Z", "rfc3339", 0).ok());
  EXPECT_FALSE(ParseTime("nope", "unix", 0).ok());
  EXPECT_FALSE(ParseTime("", "rfc3339", 0).ok());
  EXPECT_FALSE(ParseTime("2024-01-01", "%Y-%m-%d %H", 0).ok());
}

TEST(Bulk, ParsesAndRejects) {
  std::vector<BulkDoc> d;
  ASSERT_TRUE(ParseBulk("{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"x\":1}\n\n{\"create\":{}}\n{\"y\":2}\n", &d).ok());
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].index, "a");
  EXPECT_EQ(d[0].id, "1");
  EXPECT_EQ(d[1].action, "create");
  EXPECT_EQ(d[1].source, "{\"y\":2}");
  std::vector<BulkDoc> e;
  EXPECT_FALSE(ParseBulk("{\"index\":{}}\n", &e).ok());
  EXPECT_FALSE(ParseBulk("{\"index\":{}}\nnot json\n", &e).ok());
  EXPECT_FALSE(ParseBulk("{\"delete\":{\"_id\":\"1\"}}\n", &e).ok());
  EXPECT_FALSE(ParseBulk("[1]\n", &e).ok());
}

TEST(CombinedLog, Nginx) {
  boost::json::object o;
  ASSERT_TRUE(ParseCombinedLog(R"x(203.0.113.9 - alice [10/Oct/2000:13:55:36 -0700] "GET /jobs/1?x=1 HTTP/1.1" 200 2326 "http://ref/" "Mozilla/5.0 (X11)")x", &o).ok());
  EXPECT_EQ(o["remote_addr"].as_string(), "203.0.113.9");
  EXPECT_EQ(o["remote_user"].as_string(), "alice");
  EXPECT_EQ(o["method"].as_string(), "GET");
  EXPECT_EQ(o["path"].as_string(), "/jobs/1?x=1");
  EXPECT_EQ(o["status"].as_int64(), 200);
  EXPECT_EQ(o["body_bytes_sent"].as_int64(), 2326);
  EXPECT_EQ(o["user_agent"].as_string(), "Mozilla/5.0 (X11)");
  boost::json::object p;
  EXPECT_FALSE(ParseCombinedLog("garbage", &p).ok());
  EXPECT_FALSE(ParseCombinedLog("1.2.3.4 - - [x] \"GET / HTTP/1.1\" abc 1", &p).ok());
  EXPECT_FALSE(ParseCombinedLog("1.2.3.4 - - [unterminated", &p).ok());
}

TEST(EventCodec, RoundTripAndCorruption) {
  Event e = Ev("hello\nworld", {{"a", 1}});
  e.ts_ns = 123456789;
  e.ingest_ns = 987654321;
  e.origin = "/var/log/x.log";
  std::string buf;
  EncodeEvent(e, &buf);
  Event d;
  ASSERT_TRUE(DecodeEvent(buf, &d).ok());
  EXPECT_EQ(d.message, e.message);
  EXPECT_EQ(d.source, "app");
  EXPECT_EQ(d.origin, e.origin);
  EXPECT_EQ(d.ts_ns, e.ts_ns);
  EXPECT_EQ(d.fields["a"].as_int64(), 1);
  for (size_t cut = 0; cut < 20; cut++) EXPECT_FALSE(DecodeEvent(std::string_view(buf).substr(0, cut), &d).ok()) << cut;
  std::string json;
  FormatEventJson(e, &json);
  EXPECT_EQ(json, R"({"@timestamp":"1970-01-01T00:00:00.123Z","env":"prod","source":"app","origin":"/var/log/x.log","message":"hello\nworld","a":1})");
}

// Sink side: fields stay unparsed until needed; a reused Event is overwritten completely; bad
// fields JSON is an error when (and only when) the fields are materialized.
TEST(EventCodec, LazyFieldsAndReuse) {
  Event e = Ev("line one", {{"a", 1}, {"s", "x"}});
  std::string buf;
  EncodeEvent(e, &buf);
  Event d = Ev("an older, longer message that the decode must replace", {{"old", true}});
  d.origin = "old origin";
  ASSERT_TRUE(DecodeEvent(buf, &d, /*parse_fields=*/false).ok());
  EXPECT_EQ(d.message, "line one");
  EXPECT_EQ(d.origin, "");
  EXPECT_TRUE(d.fields.empty());
  EXPECT_EQ(d.fields_json, R"({"a":1,"s":"x"})");
  // Formatting without materializing still shows the fields.
  std::string lazy_json, eager_json;
  FormatEventJson(d, &lazy_json);
  ASSERT_TRUE(MaterializeFields(&d).ok());
  EXPECT_TRUE(d.fields_json.empty());
  EXPECT_EQ(d.fields.at("a").as_int64(), 1);
  FormatEventJson(d, &eager_json);
  EXPECT_EQ(lazy_json, eager_json);
  EXPECT_NE(eager_json.find(R"("s":"x")"), std::string::npos) << eager_json;
  ASSERT_TRUE(MaterializeFields(&d).ok());  // nothing left to parse: a no-op
  // No fields at all.
  Event plain = Ev("no fields", {});
  buf.clear();
  EncodeEvent(plain, &buf);
  ASSERT_TRUE(DecodeEvent(buf, &d, false).ok());
  EXPECT_TRUE(d.fields.empty());
  EXPECT_TRUE(d.fields_json.empty());
  ASSERT_TRUE(MaterializeFields(&d).ok());
  // Malformed fields JSON: decoding lazily succeeds, materializing reports Corruption; eager
  // decoding reports it at once.
  for (std::string bad : {"{\"a\":", "[1,2]", "not json", "{\"a\":1}}"}) {
    Event b;
    b.message = "m";
    b.fields_json = bad;
    buf.clear();
    EncodeEvent(b, &buf);
    Event out;
    ASSERT_TRUE(DecodeEvent(buf, &out, false).ok()) << bad;
    Status st = MaterializeFields(&out);
    EXPECT_EQ(st.code(), StatusCode::kCorruption) << bad;
    EXPECT_FALSE(DecodeEvent(buf, &out, true).ok()) << bad;
  }
}

// Syslog records are spooled without their fields (version 2, Event::fields_from_syslog) and
// re-parsed on the sink side: what a sink sees (the fields, the formatted JSON line that stdout,
// the archive and the store write) is identical to spooling the fields JSON as before, for
// RFC 5424 and RFC 3164 input; the payload is smaller; malformed payloads are errors.
TEST(EventCodec, SyslogFieldsReparsedOnTheSinkSideAreIdentical) {
  const int64_t now = 1795780800LL * 1000000000 + 123456789;  // 2026-11-27T12:00:00Z
  const std::vector<std::string> lines = {
      "<34>1 2026-11-27T08:00:01.123456+09:00 web1 app 4711 ID47 [ex@32473 iut=\"3\" eventSource=\"App\"] "
      "user \"alice\" logged in\\ from 10.0.0.1",
      "<165>1 2026-11-27T08:00:02Z host - - - - \xc3\xa9t\xc3\xa9 caf\xc3\xa9 \t tab",
      "<13>1 - - - - - -",
      "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8",
      "<0>Nov  7 01:02:03 h kernel: {\"json\":\"inside\"}",
      "Nov 27 07:59:59 nohost cron: a line without PRI",
      "<191>Dec 31 23:59:59 edge tag: \x01 control \x7f and invalid \xff utf-8",
  };
  for (const std::string& line : lines) {
    SyslogMessage m;
    ASSERT_TRUE(ParseSyslog(line, now, &m).ok()) << line;
    // Before: the source spooled the fields JSON. After: only the flag.
    Event before, after;
    for (Event* e : {&before, &after}) {
      e->env = "prod";
      e->source = "sys";
      e->origin = "127.0.0.1:40000";
      e->message = line;
      e->ingest_ns = now;
      e->ts_ns = m.ts_ns ? m.ts_ns : now;
    }
    SyslogToFieldsJson(m, &before.fields_json);
    after.fields_from_syslog = true;
    std::string pb, pa;
    EncodeEvent(before, &pb);
    EncodeEvent(after, &pa);
    EXPECT_EQ(pa.size() + 4 + before.fields_json.size(), pb.size()) << line;
    EXPECT_EQ(pa[0], 2);
    // Sink side, lazily (as the sink runner decodes) and eagerly.
    for (bool eager : {false, true}) {
      Event db = Ev("reused buffer with old contents", {{"old", 1}});
      Event da = Ev("reused buffer with old contents", {{"old", 1}});
      da.fields_json = "{\"stale\":true}";
      ASSERT_TRUE(DecodeEvent(pb, &db, eager).ok()) << line;
      ASSERT_TRUE(DecodeEvent(pa, &da, eager).ok()) << line;
      EXPECT_EQ(da.message, line);
      EXPECT_EQ(da.ts_ns, db.ts_ns);
      EXPECT_EQ(da.ingest_ns, now);
      EXPECT_EQ(da.fields_from_syslog, !eager);
      EXPECT_TRUE(da.fields_json.empty());
      // A sink that never materializes (raw stdout, raw archive, blackhole) sees the same raw
      // record; the formatted line is the same before materializing ...
      std::string jb, ja;
      FormatEventJson(db, &jb);
      FormatEventJson(da, &ja);
      EXPECT_EQ(ja, jb) << line;
      // ... and after (what stdout/archive formatted and the store sink write).
      ASSERT_TRUE(MaterializeFields(&db).ok());
      ASSERT_TRUE(MaterializeFields(&da).ok()) << line;
      EXPECT_FALSE(da.fields_from_syslog);
      EXPECT_EQ(boost::json::serialize(da.fields), boost::json::serialize(db.fields)) << line;
      EXPECT_EQ(da.fields, db.fields);
      std::string jb2, ja2;
      FormatEventJson(db, &jb2);
      FormatEventJson(da, &ja2);
      EXPECT_EQ(ja2, jb2) << line;
      EXPECT_EQ(ja2, jb) << line;
      // The formatted line is valid JSON carrying the syslog fields.
      boost::system::error_code ec;
      auto v = boost::json::parse(ja2, ec);
      ASSERT_FALSE(ec) << ja2;
      EXPECT_GT(v.as_object().size(), 5u) << ja2;  // the built-in keys and the syslog fields
    }
    // Malformed version 2 payloads: every truncation of the header is an error.
    for (size_t cut = 0; cut < 1 + 8 + 8 + 1 + 3 + 2; cut++) {
      Event d;
      EXPECT_FALSE(DecodeEvent(std::string_view(pa).substr(0, cut), &d).ok()) << cut;
    }
  }
  // Fields set otherwise (a parse error on the source side) still travel as JSON (version 1).
  Event err = Ev("<999>bad", {{"_parse_error", "syslog: PRI over 191"}});
  err.fields_from_syslog = false;
  std::string buf;
  EncodeEvent(err, &buf);
  EXPECT_EQ(buf[0], 1);
  // A version 2 record whose message does not parse as syslog (corrupted on disk): decoding
  // lazily succeeds, materializing (and eager decoding) reports Corruption, never empty fields.
  Event bad;
  bad.source = "sys";
  bad.message = "<999>1 not a priority";
  bad.fields_from_syslog = true;
  buf.clear();
  EncodeEvent(bad, &buf);
  ASSERT_EQ(buf[0], 2);
  Event out;
  ASSERT_TRUE(DecodeEvent(buf, &out, false).ok());
  Status st = MaterializeFields(&out);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("syslog"), std::string::npos) << st.ToString();
  EXPECT_FALSE(DecodeEvent(buf, &out, true).ok());
  // Unknown versions are still refused.
  buf[0] = 3;
  EXPECT_EQ(DecodeEvent(buf, &out, false).code(), StatusCode::kCorruption);
}

// The formatted line with fields of every kind is valid JSON with the same values; a field
// named like a built-in key replaces it.
TEST(EventCodec, FormatWritesEveryFieldKind) {
  boost::json::object f{{"s", "quote \" nl \n caf\xc3\xa9"}, {"i", -42}, {"u", 18446744073709551615ull},
                        {"d", 1.5}, {"t", true}, {"n", nullptr}, {"a", boost::json::array{1, "x"}},
                        {"o", boost::json::object{{"k", "v"}}}, {"message", "replaced"}};
  Event e = Ev("original", f);
  e.ts_ns = 1000000000;
  std::string line;
  FormatEventJson(e, &line);
  boost::system::error_code ec;
  auto v = boost::json::parse(line, ec);
  ASSERT_FALSE(ec) << line;
  auto& o = v.as_object();
  for (auto& kv : f) EXPECT_EQ(o.at(kv.key()), kv.value()) << kv.key() << " in " << line;
  EXPECT_EQ(o.at("@timestamp").as_string(), "1970-01-01T00:00:01.000Z");
  EXPECT_EQ(o.at("env").as_string(), "prod");
  EXPECT_EQ(line.find("original"), std::string::npos) << line;  // message replaced, written once
  EXPECT_EQ(o.size(), f.size() + 3);  // + @timestamp, env, source
}

}  // namespace
}  // namespace hakone::pipeline
