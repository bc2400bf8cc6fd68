#include "crawl/redis_frontier.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/json.hpp>
#include <future>

namespace hakone::crawl {
namespace {

namespace json = boost::json;

// KEYS: seen, queue, inflight, done. A finished frontier is cleared; returns 1 when an
// unfinished one is joined.
const char* kStart = R"(
if redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
  return 0
end
return redis.call('EXISTS', KEYS[1]))";

// KEYS: seen, queue. ARGV: url, entry, front.
const char* kAdd = R"(
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[3] == '1' then redis.call('LPUSH', KEYS[2], ARGV[2]) else redis.call('RPUSH', KEYS[2], ARGV[2]) end
return 1)";

// KEYS: queue, inflight. ARGV: lease_ms, n. Requeues expired leases, then leases up to n.
// Returns {recovered, queued, in_flight, entry...}.
const char* kClaim = R"(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, m in ipairs(expired) do
  redis.call('ZREM', KEYS[2], m)
  redis.call('LPUSH', KEYS[1], m)
end
local out = {#expired, 0, 0}
for i = 1, tonumber(ARGV[2]) do
  local m = redis.call('LPOP', KEYS[1])
  if not m then break end
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), m)
  out[#out + 1] = m
end
out[2] = redis.call('LLEN', KEYS[1])
out[3] = redis.call('ZCARD', KEYS[2])
return out)";

// KEYS: queue, inflight. ARGV: entry.
const char* kRelease = R"(
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then redis.call('LPUSH', KEYS[1], ARGV[1]) return 1 end
return 0)";

}  // namespace

std::string EncodeFrontierEntry(const std::string& url, int depth, int kind, const std::vector<std::string>& chain) {
  json::object o;
  o["u"] = url;
  o["d"] = depth;
  o["k"] = kind;
  if (!chain.empty()) {
    json::array a;
    for (const auto& c : chain) a.emplace_back(c);
    o["c"] = std::move(a);
  }
  return json::serialize(o);
}

Status DecodeFrontierEntry(const std::string& entry, std::string* url, int* depth, int* kind,
                           std::vector<std::string>* chain) {
  boost::system::error_code ec;
  json::value v = json::parse(entry, ec);
  auto bad = [&](const char* why) {
    return Status::Corruption(std::string("frontier entry ") + why + ": " + entry.substr(0, 200));
  };
  if (ec || !v.is_object()) return bad("is not a JSON object");
  const auto& o = v.as_object();
  const auto* u = o.if_contains("u");
  const auto* d = o.if_contains("d");
  const auto* k = o.if_contains("k");
  if (!u || !u->is_string() || u->as_string().empty()) return bad("has no url");
  if (!d || !d->is_int64() || d->as_int64() < 0 || d->as_int64() > 1000000) return bad("has no valid depth");
  if (!k || !k->is_int64() || (k->as_int64() != 0 && k->as_int64() != 1)) return bad("has no valid kind");
  *url = std::string(u->as_string());
  *depth = static_cast<int>(d->as_int64());
  *kind = static_cast<int>(k->as_int64());
  chain->clear();
  if (const auto* c = o.if_contains("c")) {
    if (!c->is_array()) return bad("has a bad redirect chain");
    for (const auto& e : c->as_array()) {
      if (!e.is_string()) return bad("has a bad redirect chain");
      chain->emplace_back(e.as_string());
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<RedisFrontier>> RedisFrontier::Create(const std::string& url, std::string prefix,
                                                             std::chrono::milliseconds lease) {
  auto parsed = ParseRedisUrl(url);
  if (!parsed.ok()) return parsed.status();
  std::unique_ptr<RedisFrontier> f(new RedisFrontier());
  f->url_ = url;
  f->prefix_ = std::move(prefix);
  f->lease_ = lease;
  auto& [host, port, password, db] = *parsed;
  f->client_ = std::make_unique<RespClient>(f->io_, host, port, password, db);
  f->guard_ = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(f->io_.get_executor());
  RedisFrontier* self = f.get();
  f->thread_ = std::thread([self] { self->io_.run(); });
  return f;
}

RedisFrontier::~RedisFrontier() {
  if (client_) client_->Close();
  guard_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
  client_.reset();
}

Result<RespValue> RedisFrontier::Call(std::vector<std::string> args) {
  std::promise<Result<RespValue>> p;
  auto fut = p.get_future();
  RespClient* c = client_.get();
  asio::co_spawn(
      io_,
      [c, &p, a = std::move(args)]() mutable -> asio::awaitable<void> {
        p.set_value(co_await c->Command(std::move(a), std::chrono::seconds(5)));
      },
      asio::detached);
  Result<RespValue> r = fut.get();
  if (!r.ok()) return Status(r.status().code(), "frontier " + url_ + ": " + r.status().message());
  if (r->is_error()) return Status::Internal("frontier " + url_ + ": " + r->str);
  return r;
}

Result<bool> RedisFrontier::Start() {
  HAKONE_ASSIGN_OR_RETURN(RespValue v, Call({"EVAL", kStart, "4", prefix_ + ":seen", prefix_ + ":queue",
                                             prefix_ + ":inflight", prefix_ + ":done"}));
  return v.type == RespValue::kInteger && v.integer == 1;
}

Result<bool> RedisFrontier::Add(const std::string& url, const std::string& entry, bool front) {
  HAKONE_ASSIGN_OR_RETURN(RespValue v, Call({"EVAL", kAdd, "2", prefix_ + ":seen", prefix_ + ":queue", url, entry,
                                             front ? "1" : "0"}));
  return v.type == RespValue::kInteger && v.integer == 1;
}

Result<RedisFrontier::Claimed> RedisFrontier::Claim(int n) {
  HAKONE_ASSIGN_OR_RETURN(RespValue v, Call({"EVAL", kClaim, "2", prefix_ + ":queue", prefix_ + ":inflight",
                                             std::to_string(lease_.count()), std::to_string(n)}));
  if (v.type != RespValue::kArray || v.array.size() < 3) {
    return Status::Corruption("frontier " + url_ + ": unexpected claim reply " + v.DebugString().substr(0, 200));
  }
  Claimed c;
  c.recovered = v.array[0].integer;
  c.queued = v.array[1].integer;
  c.in_flight = v.array[2].integer;
  for (size_t i = 3; i < v.array.size(); ++i) c.entries.push_back(std::move(v.array[i].str));
  return c;
}

Status RedisFrontier::Finish(const std::string& entry) {
  auto r = Call({"ZREM", prefix_ + ":inflight", entry});
  return r.ok() ? Status::Ok() : r.status();
}

Status RedisFrontier::Release(const std::string& entry) {
  auto r = Call({"EVAL", kRelease, "2", prefix_ + ":queue", prefix_ + ":inflight", entry});
  return r.ok() ? Status::Ok() : r.status();
}

Status RedisFrontier::MarkDone() {
  auto r = Call({"SET", prefix_ + ":done", "1"});
  return r.ok() ? Status::Ok() : r.status();
}

}  // namespace hakone::crawl
