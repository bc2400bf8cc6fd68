// The network side: accepting Redis (and memcached) clients on the shared Runtime, reading
// pipelined requests, executing them in batches under one engine lock, waiting for durability,
// and writing all replies of a batch at once.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "core/http_server.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/resp_client.h"
#include "sessions/commands.h"
#include "sessions/memcache.h"
#include "sessions/sessions.h"

namespace hakone::sessions {

using tcp = asio::ip::tcp;
constexpr auto kTok = asio::as_tuple(asio::use_awaitable);

namespace {

bool IsLoopback(const tcp::endpoint& ep) { return ep.address().is_loopback(); }

// "host:port" / "[v6]:port" → {host, port}; for sentinel addresses (host names allowed).
Result<std::pair<std::string, uint16_t>> SplitHostPort(std::string_view a) {
  auto colon = a.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == a.size())
    return Status::InvalidArgument("expected host:port");
  std::string_view host = a.substr(0, colon), port = a.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  uint32_t p = 0;
  for (char ch : port) {
    if (ch < '0' || ch > '9' || p > 65535) return Status::InvalidArgument("bad port '" + std::string(port) + "'");
    p = p * 10 + static_cast<uint32_t>(ch - '0');
  }
  if (p == 0 || p > 65535) return Status::InvalidArgument("bad port '" + std::string(port) + "'");
  if (host.empty()) return Status::InvalidArgument("empty host");
  return std::make_pair(std::string(host), static_cast<uint16_t>(p));
}

Result<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Status::NotFound("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// State shared by the acceptors and all connections.
struct Shared {
  Runtime& rt;
  SessionsConfig cfg;
  std::unique_ptr<Engine> engine;
  CommandTable table;
  ServerInfo srv;
  RespServerLimits limits;
  std::atomic<uint64_t> next_id{1};
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::set<std::shared_ptr<tcp::socket>> sockets;
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  metrics::Counter* m_conns = nullptr;
  metrics::Counter* m_cmds = nullptr;
  metrics::Counter* m_proto_errors = nullptr;
  // External Redis cache tier (cache_type = redis).
  // The current master (standalone: the one configured; Sentinel: the one the sentinels name,
  // replaced on failover). Read with Cache().
  bool redis_tier = false;
  std::mutex rc_mu;
  std::shared_ptr<RespClient> rc;
  std::shared_ptr<RespClient> Cache() {
    std::lock_guard lk(rc_mu);
    return rc;
  }
  // Sentinel mode: one client per sentinel, and the master's password / db from the url.
  std::vector<std::shared_ptr<RespClient>> sentinels;
  std::string cache_password;
  int cache_db = 0;
  // Points the cache tier at host:port when that is not where it points already (Sentinel
  // discovery, failover). The new master may lack the last writes made to the old one (Redis
  // replication is asynchronous), so it is flushed before use, like a cache that comes back.
  void SetMaster(const std::string& host, uint16_t port) {
    std::string addr = host + ":" + std::to_string(port);
    {
      std::lock_guard lk(rc_mu);
      if (rc && rc->address() == addr) return;
      rc = std::make_shared<RespClient>(rt.io(), host, port, cache_password, cache_db);
      addr = rc->address();
    }
    cache_flush_pending = true;
    if (engine) {
      std::lock_guard lk(engine->mu());
      srv.tiers_extra = "cache_address:" + addr + "\r\ncache_sentinel_master:" + cfg.cache_master_name + "\r\n";
    }
    log::Info("sessions: cache tier master (from Sentinel)", {{"master", cfg.cache_master_name}, {"address", addr}});
  }
  std::string CacheAddress() {
    auto c = Cache();
    return c ? c->address() : "";
  }
  std::atomic<bool> cache_flush_pending{false};
  metrics::Gauge* m_cache_up = nullptr;
  metrics::Counter* m_cache_errors = nullptr;
  explicit Shared(Runtime& r) : rt(r) {}

  std::string CacheName(int db, std::string_view key) const {
    std::string n = cfg.cache_prefix;
    n += std::to_string(db);
    n += ':';
    n.append(key);
    return n;
  }
  // Records whether the external cache answered; logs and counts transitions.
  void CacheStatus(bool ok, const std::string& err = "") {
    if (!ok) m_cache_errors->Inc();
    bool was = srv.cache_up.exchange(ok);
    if (was && !ok) {
      m_cache_up->Set(0);
      log::Warn("sessions: cache tier down, serving from the durable tier", {{"cache", CacheAddress()}, {"error", err}});
    } else if (!was && ok) {
      m_cache_up->Set(1);
      cache_flush_pending = true;  // it may hold values older than the writes made meanwhile
      log::Info("sessions: cache tier is back, using it again", {{"cache", CacheAddress()}});
    }
  }
};

// Whether the command replaces its keys' values without reading them (SET without NX, XX, GET
// or KEEPTTL; SETEX, PSETEX, MSET): the external cache tier need not be read first.
bool IsBlindWrite(const CommandSpec& spec, std::span<const std::string_view> args) {
  if (spec.name == "setex" || spec.name == "psetex" || spec.name == "mset") return true;
  if (spec.name != "set" || args.size() < 3) return false;
  for (size_t i = 3; i < args.size(); i++) {
    std::string_view o = args[i];
    auto is = [&](std::string_view w) {
      return o.size() == w.size() && std::equal(o.begin(), o.end(), w.begin(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
             });
    };
    if ((is("ex") || is("px") || is("exat") || is("pxat")) && i + 1 < args.size()) {
      i++;
      continue;
    }
    return false;  // NX, XX, GET, KEEPTTL or a syntax error: stage as usual
  }
  return true;
}

// Sends `cmds` on `rc` concurrently (RespClient pipelines them on its one connection) and
// returns their replies in order.
struct PipelineState {
  explicit PipelineState(const asio::any_io_executor& ex, size_t n) : timer(ex), left(n) { res.resize(n); }
  asio::steady_timer timer;
  std::vector<std::optional<Result<RespValue>>> res;
  size_t left;
};

asio::awaitable<void> PipelineOne(std::shared_ptr<RespClient> rc, std::shared_ptr<PipelineState> st, size_t i,
                                  std::vector<std::string> cmd, std::chrono::milliseconds timeout) {
  auto r = co_await rc->Command(std::move(cmd), timeout);
  st->res[i].emplace(std::move(r));
  if (--st->left == 0) st->timer.cancel();
}

asio::awaitable<std::vector<Result<RespValue>>> Pipeline(std::shared_ptr<RespClient> rc,
                                                        std::vector<std::vector<std::string>> cmds,
                                                        std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  auto st = std::make_shared<PipelineState>(ex, cmds.size());
  st->timer.expires_at(asio::steady_timer::time_point::max());
  // Every coroutine runs on this executor (the connection's), so `left` needs no atomics.
  for (size_t i = 0; i < cmds.size(); i++) asio::co_spawn(ex, PipelineOne(rc, st, i, std::move(cmds[i]), timeout), asio::detached);
  while (st->left > 0) co_await st->timer.async_wait(kTok);
  std::vector<Result<RespValue>> out;
  out.reserve(st->res.size());
  for (auto& r : st->res) out.push_back(std::move(*r));
  co_return out;
}

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(std::shared_ptr<Shared> sh, std::shared_ptr<tcp::socket> sock)
      : sh_(std::move(sh)), sock_(std::move(sock)), timer_(sock_->get_executor()) {}

  // Waits until the writer handled batch `seq`.
  asio::awaitable<void> WaitSeq(uint64_t seq) {
    Engine& e = *sh_->engine;
    auto ex = sock_->get_executor();
    while (e.done_seq() < seq) {
      timer_.expires_at(asio::steady_timer::time_point::max());
      auto self = shared_from_this();
      bool registered = e.RegisterWaiter(seq, [self, ex] { asio::post(ex, [self] { self->timer_.cancel(); }); });
      if (!registered) break;
      co_await timer_.async_wait(kTok);
    }
  }

  asio::awaitable<void> ServeRedis() {
    auto self = shared_from_this();  // the coroutine frame keeps the connection alive
    Engine& e = *sh_->engine;
    Client c;
    c.id = sh_->next_id.fetch_add(1);
    c.created_ms = NowMs();
    c.authenticated = !sh_->srv.auth_required;
    boost::system::error_code ec;
    c.addr = FormatEndpoint(sock_->remote_endpoint(ec));
    c.laddr = FormatEndpoint(sock_->local_endpoint(ec));
    std::string in(16384, '\0');
    size_t rpos = 0, wpos = 0;
    std::string out;
    out.reserve(16384);
    std::vector<std::string_view> args;
    args.reserve(16);
    RespRequestParser parser;
    std::vector<std::pair<size_t, size_t>> write_replies;  // [begin, end) of write replies in `out`
    bool closing = false;
    // External cache tier: keys staged into the in-process cache for this batch, and those to
    // write back (changed or read through) once the batch is durable.
    std::vector<CacheKey> staged, batch_staged, writeback;
    std::vector<uint64_t> versions;
    std::vector<std::string_view> keyviews;
    bool flush_cache = false;
    for (;;) {
      // Room to read: compact, then grow up to the client buffer limit.
      if (rpos == wpos) rpos = wpos = 0;
      size_t want = std::max<size_t>(parser.wanted(), 4096);
      if (in.size() - wpos < 4096 || (parser.wanted() && in.size() - rpos < want)) {
        if (rpos > 0) {
          std::memmove(in.data(), in.data() + rpos, wpos - rpos);
          wpos -= rpos;
          rpos = 0;
        }
        size_t need = std::max(wpos + 4096, want);
        if (in.size() < need) {
          if (need > sh_->cfg.max_client_buffer + 4096) {
            out.append("-ERR Protocol error: client buffer limit exceeded\r\n");
            co_await asio::async_write(*sock_, asio::buffer(out), kTok);
            break;
          }
          in.resize(std::max(need, in.size() * 2));
        }
      }
      auto [rec, n] = co_await sock_->async_read_some(asio::buffer(in.data() + wpos, in.size() - wpos), kTok);
      if (rec || n == 0) break;
      wpos += n;

      uint64_t need_seq = 0;
      out.clear();
      write_replies.clear();
      batch_staged.clear();
      writeback.clear();
      flush_cache = false;
      {
        std::unique_lock lk(e.mu());
        int64_t now = NowMs();
        for (;;) {
          size_t consumed = 0;
          RespServerLimits lim = sh_->limits;
          lim.authenticated = c.authenticated;
          ParseStatus ps = parser.Parse(std::string_view(in.data() + rpos, wpos - rpos), lim, &args, &consumed);
          if (ps == ParseStatus::kIncomplete) break;
          if (ps == ParseStatus::kError) {
            sh_->m_proto_errors->Inc();
            ReplyError(out, "ERR " + parser.error());
            closing = true;
            break;
          }
          rpos += consumed;
          if (ps == ParseStatus::kEmpty) continue;
          const CommandSpec* spec = sh_->table.Find(args[0]);
          if (spec && (spec->flags & kNeedsDurableView) && !c.in_multi) {
            // KEYS/SCAN/DBSIZE/INFO read the durable tier: make earlier writes durable first.
            uint64_t s = e.SubmitBatch();
            if (s == 0) s = e.last_seq();
            need_seq = std::max(need_seq, s);
            if (e.done_seq() < need_seq) {
              // The argument views point into `in`, which stays untouched while we wait.
              lk.unlock();
              co_await WaitSeq(need_seq);
              lk.lock();
              now = NowMs();
            }
          }
          if (sh_->redis_tier && spec) {
            StageKeys(spec, args, c, &staged, &keyviews);
            std::vector<size_t> fetch;
            uint64_t done = e.done_seq();
            // A blind overwrite (plain SET, SETEX, MSET, ...) needs no old value: nothing to fetch.
            bool blind = !c.in_multi && IsBlindWrite(*spec, args);
            for (size_t i = 0; i < staged.size(); i++) {
              Entry* x = e.cache().Find(staged[i].db, staged[i].key);
              if (x && x->dirty_seq > done) continue;  // our own write, not yet durable: keep it
              if (x) e.cache().Erase(staged[i].db, staged[i].key);
              if (!blind) fetch.push_back(i);
            }
            if (!fetch.empty()) {
              lk.unlock();
              // One MGET for every key the command touches: one round trip to the cache tier.
              std::vector<Result<RespValue>> got;
              std::shared_ptr<RespClient> rc = sh_->Cache();
              if (!rc) {
                got.assign(fetch.size(), Result<RespValue>(Status::Unavailable("no cache tier master known")));
              } else {
                // (a named vector: GCC 12 miscompiles initializer lists inside co_await expressions)
                std::vector<std::string> mget;
                mget.reserve(fetch.size() + 1);
                mget.push_back("MGET");
                for (size_t i : fetch) mget.push_back(sh_->CacheName(staged[i].db, staged[i].key));
                auto res = co_await rc->Command(std::move(mget), sh_->cfg.cache_timeout);
                if (res.ok() && res->type == RespValue::kArray && res->array.size() == fetch.size()) {
                  for (auto& v : res->array) got.push_back(std::move(v));
                } else if (res.ok() && !res->is_error()) {
                  got.assign(fetch.size(), Result<RespValue>(Status::Corruption("cache tier: unexpected MGET reply")));
                } else {
                  got.assign(fetch.size(), res);
                }
              }
              lk.lock();
              now = NowMs();
              for (size_t j = 0; j < fetch.size(); j++) {
                const CacheKey& k = staged[fetch[j]];
                auto& g = got[j];
                if (g.ok() && !g->is_error()) sh_->CacheStatus(true);
                else sh_->CacheStatus(false, g.ok() ? g->str : g.status().message());
                if (e.cache().Find(k.db, k.key)) continue;  // staged meanwhile by another connection
                bool filled = false;
                if (g.ok() && g->type == RespValue::kString) {
                  auto rec = DecodeRecord(g->str);
                  if (rec.ok() && (rec->expire_ms == 0 || rec->expire_ms > now)) {
                    auto v = ParseValue(rec->type, rec->payload);
                    if (v.ok()) {
                      e.Install(k.db, k.key, std::move(*v), rec->expire_ms);
                      filled = true;
                    }
                  }
                }
                if (!filled) {
                  // Miss (or cache down): read through the durable tier; put a hit back into the
                  // cache with the key's remaining TTL.
                  Entry* x = e.Lookup(k.db, k.key, now);
                  if (x && g.ok() && !g->is_error()) writeback.push_back(k);
                }
              }
            }
            versions.clear();
            for (const auto& k : staged) versions.push_back(e.VersionOf(k.db, k.key));
          }
          size_t before = out.size();
          ExecuteCommand(e, sh_->srv, sh_->table, c, spec, args, out, now);
          // EXEC counts as a write: if its batch fails to commit, the whole transaction answers an error.
          if (spec && ((spec->flags & kWrite) || spec->name == "exec")) write_replies.emplace_back(before, out.size());
          if (sh_->redis_tier && spec) {
            for (size_t i = 0; i < staged.size(); i++) {
              if (e.VersionOf(staged[i].db, staged[i].key) != versions[i]) writeback.push_back(staged[i]);
              batch_staged.push_back(staged[i]);
            }
            if (spec->name == "flushdb" || spec->name == "flushall") flush_cache = true;
          }
          sh_->m_cmds->Inc();
          if (c.close_after_reply) {
            closing = true;
            break;
          }
        }
        uint64_t s = e.SubmitBatch();
        need_seq = std::max(need_seq, s);
      }
      if (need_seq > 0 && e.options().strict) {
        co_await WaitSeq(need_seq);
        std::string err;
        if (!write_replies.empty() && e.SeqFailed(need_seq, &err)) {
          // The batch did not become durable: every write in it answers an error instead.
          std::string rebuilt;
          size_t pos = 0;
          for (auto [b, en] : write_replies) {
            rebuilt.append(out, pos, b - pos);
            ReplyError(rebuilt, "ERR hakone: durable tier write failed, not acknowledged (" + err + ")");
            pos = en;
          }
          rebuilt.append(out, pos, std::string::npos);
          out.swap(rebuilt);
        }
      }
      if (sh_->redis_tier && (!batch_staged.empty() || flush_cache || sh_->cache_flush_pending)) {
        std::string err;
        bool failed = need_seq > 0 && e.SeqFailed(need_seq, &err);
        if (failed) writeback.clear();
        co_await WriteBack(writeback, flush_cache && !failed, batch_staged);
      }
      if (!out.empty()) {
        auto [wec, wn] = co_await asio::async_write(*sock_, asio::buffer(out), kTok);
        if (wec) break;
      }
      if (closing) break;
      if (out.capacity() > (1u << 20)) out = std::string();
    }
    {
      std::lock_guard lk(e.mu());
      UnwatchAll(e, c);
    }
    co_return;
  }

  // The keys a command touches (EXEC: those of every queued command), for staging.
  void StageKeys(const CommandSpec* spec, std::span<const std::string_view> args, const Client& c,
                 std::vector<CacheKey>* out, std::vector<std::string_view>* views) {
    out->clear();
    auto add = [&](const CommandSpec* sp, std::span<const std::string_view> a) {
      CommandKeys(*sp, a, views);
      for (auto k : *views) out->push_back(CacheKey{c.db, std::string(k)});
    };
    if (spec->name == "exec" && c.in_multi) {
      std::vector<std::string_view> a;
      for (const auto& q : c.queued) {
        a.assign(q.begin(), q.end());
        if (const CommandSpec* sp = sh_->table.Find(a[0])) add(sp, a);
      }
      return;
    }
    if (c.in_multi && !(spec->flags & kNoQueue)) return;  // only queued
    add(spec, args);
  }

  // Writes the changed keys to the external cache (SET with the absolute expiry, or DEL), then
  // drops the staged copies whose writes are durable from the in-process cache.
  asio::awaitable<void> WriteBack(const std::vector<CacheKey>& keys, bool flush, const std::vector<CacheKey>& staged) {
    Engine& e = *sh_->engine;
    std::vector<std::vector<std::string>> cmds;
    if (flush || sh_->cache_flush_pending.exchange(false)) cmds.push_back(std::vector<std::string>(1, "FLUSHDB"));
    {
      std::lock_guard lk(e.mu());
      int64_t now = NowMs();
      for (const auto& k : keys) {
        Entry* x = e.cache().Find(k.db, k.key);
        std::string name = sh_->CacheName(k.db, k.key);
        if (!x || x->tombstone || (x->expire_ms != 0 && x->expire_ms <= now)) {
          cmds.push_back({"DEL", name});
          continue;
        }
        std::string payload;
        SerializeValue(x->v, &payload);
        std::vector<std::string> cmd = {"SET", name, EncodeRecord(StoredType(x->v), x->expire_ms, payload)};
        if (x->expire_ms != 0) {
          cmd.push_back("PXAT");
          cmd.push_back(std::to_string(x->expire_ms));
        }
        cmds.push_back(std::move(cmd));
      }
    }
    std::shared_ptr<RespClient> rc = sh_->Cache();
    if (!rc) {
      if (!cmds.empty()) sh_->cache_flush_pending = true;
    } else if (!cmds.empty()) {
      bool ok = true, tried = false;
      std::string err;
      if (cmds.front().front() == "FLUSHDB") {  // before the SETs, on its own
        tried = true;
        auto r = co_await rc->Command(std::move(cmds.front()), sh_->cfg.cache_timeout);
        cmds.erase(cmds.begin());
        ok = r.ok() && !r->is_error();
        if (!ok) err = r.ok() ? r->str : r.status().message();
      }
      if (ok && !cmds.empty() && sh_->srv.cache_up.load()) {
        // The SETs and DELs are independent: pipelined, one round trip.
        tried = true;
        auto res = co_await Pipeline(rc, std::move(cmds), sh_->cfg.cache_timeout);
        for (auto& r : res) {
          if (!r.ok() || r->is_error()) {
            ok = false;
            err = r.ok() ? r->str : r.status().message();
            break;
          }
        }
      }
      // (while the cache is down nothing is written to it: it is flushed when it returns)
      if (tried) sh_->CacheStatus(ok, err);
      if (!ok) sh_->cache_flush_pending = true;  // the cache may now hold an older value: clear it on recovery
    }
    std::lock_guard lk(e.mu());
    uint64_t done = e.done_seq();
    for (const auto& k : staged) {
      Entry* x = e.cache().Find(k.db, k.key);
      if (x && x->dirty_seq <= done) e.cache().Erase(k.db, k.key);
    }
  }

  asio::awaitable<void> ServeMemcached() {
    auto self = shared_from_this();
    MemcacheSession ms(*sh_->engine, sh_->cfg.max_bulk);
    std::string in(16384, '\0');
    size_t rpos = 0, wpos = 0;
    std::string out;
    for (;;) {
      if (rpos == wpos) rpos = wpos = 0;
      if (in.size() - wpos < 4096) {
        if (rpos > 0) {
          std::memmove(in.data(), in.data() + rpos, wpos - rpos);
          wpos -= rpos;
          rpos = 0;
        }
        if (in.size() - wpos < 4096) {
          if (in.size() > sh_->cfg.max_client_buffer) break;
          in.resize(in.size() * 2);
        }
      }
      auto [rec, n] = co_await sock_->async_read_some(asio::buffer(in.data() + wpos, in.size() - wpos), kTok);
      if (rec || n == 0) break;
      wpos += n;
      out.clear();
      bool close = false;
      uint64_t need_seq = 0;
      {
        std::lock_guard lk(sh_->engine->mu());
        size_t used = ms.Process(std::string_view(in.data() + rpos, wpos - rpos), NowMs(), &out, &close);
        rpos += used;
        need_seq = sh_->engine->SubmitBatch();
      }
      if (need_seq > 0 && sh_->engine->options().strict) {
        co_await WaitSeq(need_seq);
        std::string err;
        if (sh_->engine->SeqFailed(need_seq, &err)) {
          // Replies cannot be matched to requests any more: say why and close.
          out = "SERVER_ERROR durable tier write failed\r\n";
          close = true;
        }
      }
      if (!out.empty()) {
        auto [wec, wn] = co_await asio::async_write(*sock_, asio::buffer(out), kTok);
        if (wec) break;
      }
      if (close) break;
    }
    co_return;
  }

 private:
  std::shared_ptr<Shared> sh_;
  std::shared_ptr<tcp::socket> sock_;
  asio::steady_timer timer_;
};

asio::awaitable<void> AcceptLoop(std::shared_ptr<Shared> sh, std::shared_ptr<tcp::acceptor> acc, bool memcached) {
  for (;;) {
    // One I/O thread: the io_context itself serialises a connection's handlers; a strand per
    // connection would only add a queue hop and a mutex per completion.
    asio::any_io_executor ex_for_conn = sh->cfg.workers > 1 ? asio::any_io_executor(asio::make_strand(sh->rt.io()))
                                                            : asio::any_io_executor(sh->rt.io().get_executor());
    auto [ec, sock] = co_await acc->async_accept(ex_for_conn, kTok);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acc->is_open() || sh->stopping) co_return;
      log::Warn("sessions: accept failed", {{"error", ec.message()}});
      asio::steady_timer t(acc->get_executor());
      t.expires_after(std::chrono::milliseconds(50));
      co_await t.async_wait(kTok);
      continue;
    }
    boost::system::error_code ig;
    sock.set_option(tcp::no_delay(true), ig);
    auto s = std::make_shared<tcp::socket>(std::move(sock));
    {
      std::lock_guard lk(sh->mu);
      if (sh->stopping) {
        s->close(ig);
        continue;
      }
      sh->sockets.insert(s);
    }
    sh->srv.connected_clients.fetch_add(1);
    sh->srv.total_connections.fetch_add(1);
    sh->m_conns->Inc();
    auto conn = std::make_shared<Conn>(sh, s);
    auto ex = s->get_executor();
    auto done = [sh, s](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log::Error("sessions: connection failed", {{"error", ex.what()}});
        }
      }
      boost::system::error_code ig2;
      s->close(ig2);
      sh->srv.connected_clients.fetch_sub(1);
      std::lock_guard lk(sh->mu);
      sh->sockets.erase(s);
    };
    if (memcached) asio::co_spawn(ex, conn->ServeMemcached(), done);
    else asio::co_spawn(ex, conn->ServeRedis(), done);
  }
}

asio::awaitable<void> UpkeepLoop(std::shared_ptr<Shared> sh) {
  asio::steady_timer t(sh->rt.io());
  while (!sh->stopping) {
    t.expires_after(std::chrono::milliseconds(100));
    co_await t.async_wait(kTok);
    std::lock_guard lk(sh->engine->mu());
    sh->engine->Upkeep(NowMs());
  }
}

// The master address in a SENTINEL get-master-addr-by-name reply ([host, port]); nullopt for a
// nil (unknown master) or anything else.
std::optional<std::pair<std::string, uint16_t>> MasterFromReply(const RespValue& v) {
  if (v.type != RespValue::kArray || v.array.size() != 2 || v.array[0].type != RespValue::kString ||
      v.array[1].type != RespValue::kString)
    return std::nullopt;
  auto hp = SplitHostPort(v.array[0].str + ":" + v.array[1].str);
  if (!hp.ok()) return std::nullopt;
  return *hp;
}

// Sentinel mode: asks the sentinels (first that answers) for the master every second, every
// 200 ms while the cache tier is down, and follows a failover.
asio::awaitable<void> SentinelLoop(std::shared_ptr<Shared> sh) {
  asio::steady_timer t(sh->rt.io());
  bool warned = false;
  while (!sh->stopping) {
    t.expires_after(std::chrono::milliseconds(sh->srv.cache_up.load() ? 1000 : 200));
    co_await t.async_wait(kTok);
    if (sh->stopping) break;
    bool answered = false;
    for (const auto& s : sh->sentinels) {
      std::vector<std::string> cmd;
      cmd.push_back("SENTINEL");
      cmd.push_back("get-master-addr-by-name");
      cmd.push_back(sh->cfg.cache_master_name);
      auto r = co_await s->Command(std::move(cmd), sh->cfg.cache_timeout);
      if (!r.ok() || r->is_error()) continue;
      answered = true;
      if (auto addr = MasterFromReply(*r)) sh->SetMaster(addr->first, addr->second);
      break;
    }
    if (!answered && !warned) {
      log::Warn("sessions: no sentinel answers; keeping the last known cache tier master",
                {{"master", sh->cfg.cache_master_name}});
    }
    warned = !answered;
  }
}

class SessionsComponent : public Component {
 public:
  explicit SessionsComponent(std::shared_ptr<Shared> sh) : sh_(std::move(sh)) {}
  ~SessionsComponent() override {
    StopAdmin();
    if (sh_->engine) sh_->engine->Stop();
  }
  std::string name() const override { return "sessions"; }

  Status Start() override {
    auto& c = sh_->cfg;
    std::unique_ptr<DurableTier> dur;
    if (c.durable_type == "sqlite") {
      HAKONE_ASSIGN_OR_RETURN(dur, OpenSqliteTier(c.sqlite_path));
    } else {
      HAKONE_ASSIGN_OR_RETURN(dur, OpenPostgresTier(c.postgres_url));
    }
    EngineOptions eo;
    eo.strict = c.strict;
    eo.flush_interval = c.flush_interval;
    eo.max_memory = c.max_memory;
    eo.shards = c.shards;
    eo.sweep_interval = c.sweep_interval;
    sh_->engine = std::make_unique<Engine>(eo, std::move(dur));
    if (c.cache_type == "redis") {
      sh_->redis_tier = true;
      std::string host, pass;
      uint16_t port = 0;
      int db = 0;
      if (!c.cache_url.empty()) {
        auto u = ParseRedisUrl(c.cache_url);
        if (!u.ok()) return u.status().WithContext("sessions: [sessions.cache] url");
        std::tie(host, port, pass, db) = *u;
      }
      if (c.cache_sentinels.empty()) {
        sh_->rc = std::make_shared<RespClient>(sh_->rt.io(), host, port, pass, db);
        sh_->srv.tiers_extra = "cache_address:" + sh_->rc->address() + "\r\n";
      } else {
        sh_->cache_password = pass;
        sh_->cache_db = db;
        for (const auto& a : c.cache_sentinels) {
          auto hp = SplitHostPort(a);
          if (!hp.ok()) return hp.status().WithContext("sessions: [sessions.cache] sentinels");
          sh_->sentinels.push_back(std::make_shared<RespClient>(sh_->rt.io(), hp->first, hp->second));
        }
        sh_->srv.tiers_extra = "cache_address:\r\ncache_sentinel_master:" + c.cache_master_name + "\r\n";
        // Ask once now, so that the first requests find the master; until a sentinel answers,
        // requests are served from the durable tier (as with a cache tier that is down).
        bool found = false;
        for (const auto& a : c.cache_sentinels) {
          auto r = RespCommandSync("redis://" + a, {"SENTINEL", "get-master-addr-by-name", c.cache_master_name},
                                   std::chrono::milliseconds(500));
          auto addr = r.ok() ? MasterFromReply(*r) : std::nullopt;
          if (addr) {
            sh_->SetMaster(addr->first, addr->second);
            found = true;
            break;
          }
        }
        if (!found) {
          sh_->srv.cache_up = false;
          sh_->m_cache_up->Set(0);
          log::Warn("sessions: no sentinel knows the cache tier master yet; serving from the durable tier",
                    {{"master", c.cache_master_name}});
        }
        asio::co_spawn(sh_->rt.io(), SentinelLoop(sh_), asio::detached);
      }
    }
    sh_->engine->Start();
    HAKONE_RETURN_IF_ERROR(Bind(c.listen, false));
    if (!c.memcached.empty()) HAKONE_RETURN_IF_ERROR(Bind(c.memcached, true));
    if (!c.admin.empty()) HAKONE_RETURN_IF_ERROR(StartAdmin(c.admin));
    asio::co_spawn(sh_->rt.io(), UpkeepLoop(sh_), asio::detached);
    log::Info("sessions: started", {{"listen", c.listen},
                                     {"memcached", c.memcached},
                                     {"admin", c.admin},
                                     {"durable", sh_->engine->durable().name()},
                                     {"durability", c.strict ? "strict" : "async"},
                                     {"cache", c.cache_type}});
    return Status::Ok();
  }

  void Stop() override {
    sh_->stopping = true;
    StopAdmin();
    std::vector<std::shared_ptr<tcp::acceptor>> accs;
    std::set<std::shared_ptr<tcp::socket>> socks;
    {
      std::lock_guard lk(sh_->mu);
      accs = sh_->acceptors;
      socks = sh_->sockets;
    }
    for (auto& a : accs) {
      asio::post(a->get_executor(), [a] {
        boost::system::error_code ig;
        a->close(ig);
      });
    }
    for (auto& s : socks) {
      asio::post(s->get_executor(), [s] {
        boost::system::error_code ig;
        s->shutdown(tcp::socket::shutdown_receive, ig);
      });
    }
    // Everything acknowledged is already durable (strict) or is flushed now (async).
    if (sh_->engine) {
      std::lock_guard lk(sh_->engine->mu());
      (void)sh_->engine->SubmitBatch();
    }
  }

 private:
  // The readiness answer: "" when ready, else why not. Blocks (the durable tier's write probe:
  // up to its busy timeout), so it runs on the admin listener's own thread, never on the
  // protocol I/O threads.
  static std::string NotReadyReason(Shared& sh) {
    if (sh.stopping) return "shutting down";
    if (!sh.engine) return "not started";
    if (!sh.engine->durable_writable()) {
      return "durable tier (" + sh.engine->durable().name() + ") refuses writes: " + sh.engine->durable_error();
    }
    if (Status st = sh.engine->durable().Ping(); !st.ok()) {
      return "durable tier (" + sh.engine->durable().name() + ") cannot be written: " + st.message();
    }
    if (sh.redis_tier) {
      if (std::string err = PingCache(sh); !err.empty()) {
        return "cache tier (redis " + sh.CacheAddress() + ") is down: " + err;
      }
    }
    return "";
  }

  // PING through the cache tier client the requests use (its address, password and db), on
  // the protocol I/O threads; waits here up to cache_timeout (+1 s). "" when it answered.
  static std::string PingCache(Shared& sh) {
    std::shared_ptr<RespClient> rc = sh.Cache();
    if (!rc) return "no master known (Sentinel)";
    auto done = std::make_shared<std::promise<std::string>>();
    auto answer = done->get_future();
    auto timeout = sh.cfg.cache_timeout;
    asio::co_spawn(
        sh.rt.io(),
        [rc, done, timeout]() -> asio::awaitable<void> {
          std::vector<std::string> cmd{"PING"};
          auto r = co_await rc->Command(std::move(cmd), timeout);
          done->set_value(!r.ok() ? r.status().message() : (r->is_error() ? r->str : std::string()));
        },
        asio::detached);
    if (answer.wait_for(timeout + std::chrono::seconds(1)) != std::future_status::ready) return "no answer";
    return answer.get();
  }

  Status StartAdmin(const std::string& addr) {
    HAKONE_ASSIGN_OR_RETURN(auto ep, ParseEndpoint(addr));
    admin_io_ = std::make_unique<asio::io_context>(1);
    HttpServer::Options o;
    o.server_name = "hakone-sessions";
    o.max_body = 1024;
    admin_ = std::make_unique<HttpServer>(*admin_io_, o);
    std::shared_ptr<Shared> sh = sh_;
    admin_->Route("GET", "/metrics", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      HttpResponse r = HttpResponse::Text(200, metrics::Registry::Global().Render());
      r.content_type = "text/plain; version=0.0.4";
      co_return r;
    });
    admin_->Route("GET", "/healthz", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, "{\"status\":\"ok\"}");
    });
    admin_->Route("GET", "/readyz", [sh](HttpRequest&) -> asio::awaitable<HttpResponse> {
      std::string why = NotReadyReason(*sh);
      if (why.empty()) co_return HttpResponse::Json(200, "{\"status\":\"ready\"}");
      boost::json::object o;
      o["status"] = "unavailable";
      o["reason"] = why;
      co_return HttpResponse::Json(503, boost::json::serialize(o));
    });
    if (Status st = admin_->Listen(ep); !st.ok()) return st.WithContext("sessions: admin listen on " + addr);
    log::Info("sessions: admin listening", {{"address", FormatEndpoint(admin_->local_endpoint())}});
    admin_thread_ = std::thread([io = admin_io_.get()] { io->run(); });
    return Status::Ok();
  }

  void StopAdmin() {
    if (!admin_) return;
    admin_->Stop();
    admin_io_->stop();
    if (admin_thread_.joinable()) admin_thread_.join();
    admin_.reset();
  }

  Status Bind(const std::string& addr, bool memcached) {
    HAKONE_ASSIGN_OR_RETURN(auto ep, ParseEndpoint(addr));
    if (!IsLoopback(ep) && sh_->srv.requirepass.empty() && sh_->srv.users.empty()) {
      return Status::InvalidArgument("sessions: refusing to listen on " + addr +
                                     " without a password (protected mode): set requirepass_file or users in "
                                     "[sessions], or listen on a loopback address");
    }
    auto acc = Listen(sh_->rt.io(), ep);
    if (!acc.ok()) return acc.status().WithContext(std::string("sessions: listen on ") + addr);
    boost::system::error_code ec;
    auto local = acc->local_endpoint(ec);
    auto proto = local.protocol();
    auto fd = acc->release(ec);
    auto a = std::make_shared<tcp::acceptor>(asio::make_strand(sh_->rt.io()), proto, fd);
    if (!memcached) sh_->srv.port = local.port();
    {
      std::lock_guard lk(sh_->mu);
      sh_->acceptors.push_back(a);
    }
    log::Info(memcached ? "sessions: memcached listening" : "sessions: redis listening", {{"address", FormatEndpoint(local)}});
    asio::co_spawn(a->get_executor(), AcceptLoop(sh_, a, memcached), asio::detached);
    return Status::Ok();
  }

  std::shared_ptr<Shared> sh_;
  std::unique_ptr<asio::io_context> admin_io_;  // the admin listener's own thread (see NotReadyReason)
  std::unique_ptr<HttpServer> admin_;
  std::thread admin_thread_;
};

}  // namespace

Result<SessionsConfig> ParseSessionsConfig(const Config& cfg, const SessionsOverrides& ov) {
  SessionsConfig c;
  auto root = cfg.Root();
  std::string data_dir = root.String("data_dir", "./hakone-data");
  if (!ov.data_dir.empty()) data_dir = ov.data_dir;
  auto s = cfg.Section("sessions");
  c.listen = s.String("listen", c.listen);
  c.memcached = s.String("memcached", "");
  c.admin = s.String("admin", "");
  c.requirepass = s.String("requirepass", "");
  std::string pass_file = s.String("requirepass_file", "");
  if (!pass_file.empty()) {
    auto p = ReadSecretFile(pass_file);
    if (!p.ok()) return Status::InvalidArgument("config: [sessions] requirepass_file: " + p.status().message());
    c.requirepass = *p;
  }
  for (auto& u : s.SectionArray("users")) {
    SessionsUser su;
    su.name = u.String("name", "");
    su.password = u.String("password", "");
    std::string pf = u.String("password_file", "");
    if (!pf.empty()) {
      auto p = ReadSecretFile(pf);
      if (!p.ok()) return Status::InvalidArgument("config: [[sessions.users]] password_file: " + p.status().message());
      su.password = *p;
    }
    for (auto cmd : u.StringList("commands")) {
      for (char& ch : cmd) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      su.commands.push_back(cmd);
    }
    if (su.name.empty() || su.password.empty())
      return Status::InvalidArgument("config: [[sessions.users]] every user needs a name and a password (or password_file)");
    c.users.push_back(std::move(su));
  }
  // Every key is read even when a flag overrides it, so that the file's keys are never "unknown".
  std::string durability = s.String("durability", "strict");
  if (!ov.durability.empty()) durability = ov.durability;
  if (durability != "strict" && durability != "async")
    return Status::InvalidArgument("config: [sessions] durability: must be strict or async, not '" + durability + "'");
  c.strict = durability == "strict";
  c.flush_interval = std::chrono::duration_cast<std::chrono::milliseconds>(s.Duration("flush_interval", c.flush_interval));
  if (c.flush_interval.count() <= 0) return Status::InvalidArgument("config: [sessions] flush_interval: must be > 0");
  c.sweep_interval = std::chrono::duration_cast<std::chrono::milliseconds>(s.Duration("sweep_interval", c.sweep_interval));
  c.max_bulk = s.Size("max_bulk", c.max_bulk);
  c.max_multibulk = static_cast<uint64_t>(s.Int("max_multibulk", static_cast<int64_t>(c.max_multibulk)));
  c.max_client_buffer = s.Size("max_client_buffer", c.max_client_buffer);
  c.workers = static_cast<int>(s.Int("workers", 1));
  if (ov.workers > 0) c.workers = static_cast<int>(ov.workers);
  if (c.workers < 1 || c.workers > 64) return Status::InvalidArgument("config: [sessions] workers: must be 1..64");
  auto cache = s.Section("cache");
  c.cache_type = cache.String("type", "memory");
  if (!ov.cache_redis.empty()) c.cache_type = "redis";
  if (c.cache_type != "memory" && c.cache_type != "redis")
    return Status::InvalidArgument("config: [sessions.cache] type: must be memory or redis, not '" + c.cache_type + "'");
  c.cache_url = cache.String("url", "");
  if (!ov.cache_redis.empty()) c.cache_url = ov.cache_redis;
  c.cache_sentinels = cache.StringList("sentinels");
  c.cache_master_name = cache.String("master_name", "");
  if (!ov.cache_sentinels.empty()) {
    c.cache_sentinels.clear();
    std::string_view rest = ov.cache_sentinels;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      std::string_view one = rest.substr(0, comma);
      if (!one.empty()) c.cache_sentinels.emplace_back(one);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  if (!ov.cache_master.empty()) c.cache_master_name = ov.cache_master;
  if (!c.cache_sentinels.empty()) c.cache_type = "redis";  // sentinels imply the external tier
  for (const auto& a : c.cache_sentinels) {
    auto ep = SplitHostPort(a);
    if (!ep.ok()) return Status::InvalidArgument("config: [sessions.cache] sentinels: '" + a + "': " + ep.status().message());
  }
  if (!c.cache_sentinels.empty() && c.cache_master_name.empty())
    return Status::InvalidArgument("config: [sessions.cache] master_name: required with sentinels (the name the sentinels monitor)");
  if (c.cache_sentinels.empty() && !c.cache_master_name.empty())
    return Status::InvalidArgument("config: [sessions.cache] master_name: only meaningful with sentinels");
  c.cache_prefix = cache.String("key_prefix", c.cache_prefix);
  c.cache_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(cache.Duration("timeout", c.cache_timeout));
  if (c.cache_type == "redis" && c.cache_sentinels.empty()) {
    if (c.cache_url.empty()) return Status::InvalidArgument("config: [sessions.cache] url: required for type = \"redis\"");
    auto u = ParseRedisUrl(c.cache_url);
    if (!u.ok()) return Status::InvalidArgument("config: [sessions.cache] url: " + u.status().message());
  } else if (c.cache_type == "redis" && !c.cache_url.empty()) {
    auto u = ParseRedisUrl(c.cache_url);
    if (!u.ok()) return Status::InvalidArgument("config: [sessions.cache] url: " + u.status().message());
  }
  c.max_memory = cache.Size("max_memory", c.max_memory);
  c.shards = static_cast<int>(cache.Int("shards", 16));
  if (c.shards < 1 || c.shards > 1024) return Status::InvalidArgument("config: [sessions.cache] shards: must be 1..1024");
  auto dur = s.Section("durable");
  c.durable_type = dur.String("type", "sqlite");
  if (!ov.durable.empty()) c.durable_type = ov.durable;
  c.sqlite_path = dur.String("path", data_dir + "/sessions.db");
  if (!ov.sqlite_path.empty()) c.sqlite_path = ov.sqlite_path;
  else if (!ov.data_dir.empty()) c.sqlite_path = ov.data_dir + "/sessions.db";
  c.postgres_url = dur.String("url", "");
  if (!ov.postgres_url.empty()) c.postgres_url = ov.postgres_url;
  if (c.durable_type != "sqlite" && c.durable_type != "postgres")
    return Status::InvalidArgument("config: [sessions.durable] type: must be sqlite or postgres, not '" + c.durable_type + "'");
  if (c.durable_type == "postgres" && c.postgres_url.empty())
    return Status::InvalidArgument("config: [sessions.durable] url: required for type = \"postgres\"");
  if (!ov.listen.empty()) c.listen = ov.listen;
  if (!ov.memcached.empty()) c.memcached = ov.memcached;
  if (!ov.admin.empty()) c.admin = ov.admin;
  if (!c.admin.empty()) {
    if (auto ep = ParseEndpoint(c.admin); !ep.ok())
      return Status::InvalidArgument("config: [sessions] admin: " + ep.status().message());
  }
  if (!c.memcached.empty() && c.cache_type == "redis")
    return Status::InvalidArgument("config: [sessions] memcached: the memcached listener needs the in-process cache tier "
                                   "([sessions.cache] type = \"memory\")");
  return c;
}

Result<std::unique_ptr<Component>> MakeSessions(Runtime& rt, const SessionsConfig& cfg) {
  auto sh = std::make_shared<Shared>(rt);
  sh->cfg = cfg;
  RegisterAllCommands(sh->table);
  sh->srv.requirepass = cfg.requirepass;
  for (const auto& u : cfg.users) sh->srv.users.push_back(User{u.name, u.password, u.commands});
  sh->srv.auth_required = !cfg.requirepass.empty() || !cfg.users.empty();
  sh->srv.start_ms = NowMs();
  sh->srv.cache_tier = cfg.cache_type;
  sh->limits.max_bulk = cfg.max_bulk;
  sh->limits.max_multibulk = cfg.max_multibulk;
  auto& reg = metrics::Registry::Global();
  sh->m_conns = reg.AddCounter("hakone_sessions_connections_total", "Client connections accepted")->Get();
  sh->m_cmds = reg.AddCounter("hakone_sessions_commands_total", "Commands executed")->Get();
  sh->m_proto_errors = reg.AddCounter("hakone_sessions_protocol_errors_total", "Connections closed for a protocol error")->Get();
  sh->m_cache_up = reg.AddGauge("hakone_sessions_cache_up", "1 while the cache tier answers")->Get();
  sh->m_cache_up->Set(1);
  sh->m_cache_errors = reg.AddCounter("hakone_sessions_cache_errors_total", "Failed commands to the external cache tier")->Get();
  if (cfg.durable_type == "sqlite" && !cfg.sqlite_path.empty()) {
    auto slash = cfg.sqlite_path.rfind('/');
    if (slash != std::string::npos && slash > 0) {
      std::error_code ec;
      std::filesystem::create_directories(cfg.sqlite_path.substr(0, slash), ec);
    }
  }
  return std::unique_ptr<Component>(new SessionsComponent(sh));
}

Result<std::unique_ptr<Component>> MakeSessions(Runtime& rt, const Config& cfg, const SessionsOverrides& ov) {
  HAKONE_ASSIGN_OR_RETURN(auto c, ParseSessionsConfig(cfg, ov));
  return MakeSessions(rt, c);
}

}  // namespace hakone::sessions
