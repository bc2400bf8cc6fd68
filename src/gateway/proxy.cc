#include "gateway/proxy.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_set>

#include "core/log.h"
#include "core/metrics.h"
#include "core/runtime.h"
#include "gateway/http_parser.h"

namespace hakone::gateway {

namespace {

using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;
template <typename T>
using awaitable = asio::awaitable<T>;
using Socket = tcp::socket;
using Strand = asio::strand<asio::io_context::executor_type>;
using Executor = asio::any_io_executor;
constexpr auto kTok = asio::as_tuple(asio::use_awaitable);
using namespace std::string_view_literals;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// CLOCK_MONOTONIC at jiffy resolution: the same clock as steady_clock (which lags it by at most
// a tick) but much cheaper to read. Used for deadlines and pool/health bookkeeping.
Clock::time_point CoarseNow() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

bool WouldBlock(const error_code& ec) { return ec == asio::error::would_block || ec == asio::error::try_again; }

// A byte buffer with a read window [begin, end).
struct Buffer {
  std::unique_ptr<char[]> data;
  size_t cap = 0, begin = 0, end = 0;

  void Init(size_t c) {
    data.reset(new char[c]);
    cap = c;
    begin = end = 0;
  }
  size_t size() const { return end - begin; }
  char* rd() { return data.get() + begin; }
  char* at(size_t i) { return data.get() + i; }
  std::string_view view() const { return std::string_view(data.get() + begin, end - begin); }
  size_t space() const { return cap - end; }
  asio::mutable_buffer space_buffer(size_t max = SIZE_MAX) { return asio::buffer(data.get() + end, std::min(space(), max)); }
  void Consume(size_t n) {
    begin += n;
    if (begin == end) begin = end = 0;
  }
  void Clear() { begin = end = 0; }
  // Moves the window to the front; returns how far it moved.
  size_t Compact() {
    size_t shift = begin;
    if (shift == 0) return 0;
    if (end > begin) std::memmove(data.get(), data.get() + begin, end - begin);
    end -= begin;
    begin = 0;
    return shift;
  }
  // Makes room for at least `want` more bytes (compacting first, then growing up to max_cap).
  // Returns the shift applied to existing indices (subtract it), or SIZE_MAX when no room.
  size_t MakeRoom(size_t want, size_t max_cap) {
    if (space() >= want) return 0;
    size_t shift = Compact();
    if (space() >= want) return shift;
    if (cap >= max_cap) return space() > 0 ? shift : SIZE_MAX;
    size_t ncap = std::min(max_cap, std::max(cap * 2, size() + want));
    std::unique_ptr<char[]> nd(new char[ncap]);
    if (size() > 0) std::memcpy(nd.get(), data.get(), size());
    data = std::move(nd);
    cap = ncap;
    return shift;
  }
};

void ConsumeBuffers(std::vector<asio::const_buffer>& v, size_t n) {
  size_t i = 0;
  while (i < v.size() && n >= v[i].size()) {
    n -= v[i].size();
    ++i;
  }
  v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i));
  if (!v.empty() && n > 0) v[0] += n;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

// xoshiro256** per thread, seeded from random_device: X-Request-Id generation without locks.
struct Rng {
  uint64_t s[4];
  Rng() {
    std::random_device rd;
    for (auto& x : s) x = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ 0x9e3779b97f4a7c15ull;
  }
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t Next() {
    uint64_t r = Rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = Rotl(s[3], 45);
    return r;
  }
};

struct HexPairs {
  char p[256][2];
  HexPairs() {
    static const char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 256; ++i) {
      p[i][0] = kHex[i >> 4];
      p[i][1] = kHex[i & 15];
    }
  }
};

void AppendRequestId(std::string& out) {
  thread_local Rng rng;
  static const HexPairs kPairs;
  char buf[32];
  for (int w = 0; w < 2; ++w) {
    uint64_t v = rng.Next();
    for (int i = 0; i < 8; ++i) {
      std::memcpy(buf + w * 16 + i * 2, kPairs.p[v & 0xff], 2);
      v >>= 8;
    }
  }
  out.append(buf, sizeof buf);
}

// Idle pooled connections older than this are probed before reuse.
constexpr std::chrono::milliseconds kProbeAfter{1000};

enum ErrKind { kErrRefused, kErrConnectTimeout, kErrTimeout, kErrClosed, kErrBadResponse, kErrUnreachable, kErrKinds };
const char* const kErrKindNames[kErrKinds] = {"refused", "connect_timeout", "timeout", "closed", "bad_response", "unreachable"};

struct Upstream {
  std::string name;  // "127.0.0.1:9000"
  tcp::endpoint ep;
  std::mutex mu;
  struct Idle {
    Socket sock;
    Clock::time_point since;
  };
  std::vector<Idle> idle;  // LIFO
  std::atomic<int> fails{0};
  std::atomic<int64_t> down_until{0};  // steady clock, ns since epoch
  metrics::Counter* errors[kErrKinds] = {};

  bool Healthy(Clock::time_point now) const {
    return down_until.load(std::memory_order_relaxed) <= now.time_since_epoch().count();
  }
};

class Session;

// State shared by the acceptor and every connection; outlives the Proxy while connections run.
struct Core {
  Core(asio::io_context& i, ProxyOptions o, Recorder* r) : io(i), opts(std::move(o)), recorder(r) {}
  asio::io_context& io;
  ProxyOptions opts;
  Recorder* recorder;
  std::vector<std::unique_ptr<Upstream>> ups;
  std::optional<tcp::acceptor> acceptor;  // used on accept_strand only
  Strand accept_strand{asio::make_strand(io)};
  tcp::endpoint local;
  std::atomic<uint32_t> rr{0};
  std::atomic<bool> stopping{false};
  std::atomic<size_t> active{0};
  // The io_context was created for one thread (concurrency hint 1): connections need no strand.
  bool single_thread = false;
  std::mutex sessions_mu;
  std::unordered_set<Session*> sessions;
  metrics::Counter* requests[6] = {};
  metrics::Gauge* active_gauge = nullptr;
  metrics::Histogram* duration = nullptr;

  Upstream* Pick(uint64_t tried, Clock::time_point now) {
    const size_t n = ups.size();
    const size_t start = n == 1 ? 0 : rr.fetch_add(1, std::memory_order_relaxed) % n;
    for (size_t i = 0; i < n; ++i) {
      size_t k = (start + i) % n;
      if (tried & (1ull << (k % 64))) continue;
      if (ups[k]->Healthy(now)) return ups[k].get();
    }
    // Every untried upstream is marked down: try them anyway rather than fail outright.
    for (size_t i = 0; i < n; ++i) {
      size_t k = (start + i) % n;
      if (!(tried & (1ull << (k % 64)))) return ups[k].get();
    }
    return nullptr;
  }
  uint64_t Bit(const Upstream* u) const {
    for (size_t k = 0; k < ups.size(); ++k) {
      if (ups[k].get() == u) return 1ull << (k % 64);
    }
    return 0;
  }
  void MarkFail(Upstream* u, ErrKind kind) {
    u->errors[kind]->Inc();
    int f = u->fails.fetch_add(1, std::memory_order_relaxed) + 1;
    if (f >= opts.max_fails) {
      auto until = CoarseNow() + opts.fail_timeout;
      u->down_until.store(until.time_since_epoch().count(), std::memory_order_relaxed);
      // One more failure after the pause marks it down again at once.
      u->fails.store(std::max(0, opts.max_fails - 1), std::memory_order_relaxed);
      log::Warn("upstream marked down", {{"upstream", u->name}, {"kind", kErrKindNames[kind]},
                                         {"for_ms", static_cast<long long>(opts.fail_timeout.count())}});
    }
  }
  static void MarkOk(Upstream* u) {
    if (u->fails.load(std::memory_order_relaxed) != 0) u->fails.store(0, std::memory_order_relaxed);
  }
  // An idle pooled connection, or nullopt. A connection closed by the upstream while idle is
  // detected with a non-blocking peek when `probe` is set or it has been idle for a while; a
  // stale one that slips through fails before any response byte and the caller retries once.
  std::optional<Socket> TakeIdle(Upstream* u, bool probe, Clock::time_point now) {
    for (;;) {
      std::optional<Socket> s;
      {
        std::lock_guard lk(u->mu);
        if (u->idle.empty()) return std::nullopt;
        if (now - u->idle.back().since > opts.idle_timeout) {
          u->idle.clear();  // LIFO: everything below is older still
          return std::nullopt;
        }
        if (now - u->idle.back().since > kProbeAfter) probe = true;
        s.emplace(std::move(u->idle.back().sock));
        u->idle.pop_back();
      }
      if (!probe) return s;
      // Closed by the upstream while idle (or unexpected bytes)? Peek without blocking.
      char c;
      ssize_t r = ::recv(s->native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return s;
      error_code ig;
      s->close(ig);
    }
  }
  // Pools `s` (moving from it) unless stopping or the pool is full; then `s` is left untouched
  // for the caller to close.
  void Release(Upstream* u, Socket&& s, Clock::time_point now) {
    if (stopping.load(std::memory_order_relaxed)) return;
    std::lock_guard lk(u->mu);
    if (u->idle.size() >= opts.pool_per_upstream) return;
    u->idle.push_back(Upstream::Idle{std::move(s), now});
  }
  void ClearPools() {
    for (auto& u : ups) {
      std::vector<Upstream::Idle> v;
      {
        std::lock_guard lk(u->mu);
        v.swap(u->idle);
      }
    }
  }
};

enum class Phase : uint8_t { kNone, kClientIdle, kClientHead, kConnect, kUpstreamHead, kIo, kDurable, kLinger, kTunnel, kTotal };

enum class PumpEnd : uint8_t { kNone, kComplete, kClientClosed, kUpstreamWriteFailed, kBadChunk, kTooLarge, kAborted };

enum class HeadResult : uint8_t { kOk, kBad, kClosed };

// One client connection. Every member is touched only on `ex_` (the connection's strand).
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<Core> core, Socket sock, Executor ex)
      : core_(std::move(core)),
        opts_(core_->opts),
        ex_(ex),
        client_(std::move(sock)),
        up_(core_->io),
        watchdog_(ex),
        wait_timer_(ex) {
    HttpLimits lim{opts_.max_header_bytes, opts_.max_headers};
    req_.set_limits(lim);
    resp_.set_limits(lim);
    ChunkScanner::Limits cl;
    cl.max_trailer_bytes = opts_.max_header_bytes;
    req_chunks_.set_limits(cl);
    resp_chunks_.set_limits(cl);
    in_.Init(opts_.buffer_size);
    out_.Init(opts_.buffer_size);
    max_buf_ = opts_.max_header_bytes + opts_.buffer_size;
    core_->active.fetch_add(1, std::memory_order_relaxed);
    core_->active_gauge->Add(1);
  }
  ~Session() {
    {
      std::lock_guard lk(core_->sessions_mu);
      core_->sessions.erase(this);
    }
    core_->active.fetch_sub(1, std::memory_order_relaxed);
    core_->active_gauge->Add(-1);
  }

  static awaitable<void> Run(std::shared_ptr<Session> self) {
    Session& s = *self;
    {
      std::lock_guard lk(s.core_->sessions_mu);
      s.core_->sessions.insert(&s);
    }
    if (s.core_->stopping.load()) s.stop_ = true;
    s.Init();
    bool first = true;
    while (!s.stop_) {
      HeadResult hr = co_await s.ReadRequestHead(first);
      first = false;
      if (hr == HeadResult::kClosed) break;
      bool keep;
      if (hr == HeadResult::kBad) {
        keep = co_await s.RespondBadRequest();
      } else {
        keep = co_await s.Exchange();
      }
      s.FinishRequest();
      if (!keep || s.core_->stopping.load(std::memory_order_relaxed)) {
        // Unread request bytes would turn our close into a reset that can destroy the response
        // in flight: half-close and drain first.
        if (s.linger_on_close_ || s.in_.size() > 0) co_await s.Linger();
        break;
      }
    }
    s.Close();
  }

  Executor executor() const { return ex_; }

  // Posted by Proxy::Stop(): closes the connection if it is waiting for a request.
  void OnStop() {
    stop_ = true;
    if (idle_wait_) {
      error_code ig;
      client_.cancel(ig);
    }
  }

 private:
  // ---------------------------------------------------------------------------------------
  // Set-up, deadlines

  void Init() {
    error_code ec;
    client_.set_option(tcp::no_delay(true), ec);
    client_.non_blocking(true, ec);
    auto ep = client_.remote_endpoint(ec);
    if (!ec) {
      auto addr = ep.address();
      if (addr.is_v6() && addr.to_v6().is_v4_mapped()) addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
      peer_ip_ = addr.to_string();
      peer_port_ = ep.port();
    }
  }

  void Close() {
    closed_ = true;
    error_code ig;
    watchdog_.cancel();
    wait_timer_.cancel();
    client_.close(ig);
    up_.close(ig);
  }

  // Sets the deadline of the current wait. The watchdog timer is re-armed only when the new
  // deadline is earlier than the one it already waits for, so most calls cost a clock read.
  void SetDeadline(Phase phase, std::chrono::milliseconds d) {
    auto dl = CoarseNow() + d;
    phase_ = phase;
    if (request_active_ && phase != Phase::kTunnel && dl > request_deadline_) {
      dl = request_deadline_;
      phase_ = Phase::kTotal;
    }
    deadline_ = dl;
    if (dl < timer_expiry_) {
      timer_expiry_ = dl;
      watchdog_.expires_at(dl);
      ArmWatchdog();
    }
  }

  void ArmWatchdog() {
    watchdog_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->closed_) return;
      self->OnWatchdog();
    });
  }

  void OnWatchdog() {
    auto now = Clock::now();
    if (now < deadline_) {
      timer_expiry_ = deadline_;
      watchdog_.expires_at(deadline_);
      ArmWatchdog();
      return;
    }
    timer_expiry_ = Clock::time_point::max();
    timed_out_ = true;
    timeout_phase_ = phase_;
    // Everything pending is aborted; the coroutines classify by timeout_phase_.
    error_code ig;
    client_.cancel(ig);
    up_.cancel(ig);
    wait_timer_.cancel();
  }

  // ---------------------------------------------------------------------------------------
  // I/O helpers: try the non-blocking syscall first, fall back to the reactor.

  // Non-blocking write attempt. Returns true when finished (ec set on a hard error), false when
  // the socket buffer is full: p/n (or bufs) then describe what is left for WriteRest. Most
  // writes finish here, without the reactor or a coroutine frame.
  static bool TryWrite(Socket& s, const char*& p, size_t& n, error_code& ec) {
    size_t w = n == 0 ? 0 : s.write_some(asio::buffer(p, n), ec);
    if (ec) {
      if (!WouldBlock(ec)) return true;
      ec = {};
      return false;
    }
    p += w;
    n -= w;
    return n == 0;
  }
  static bool TryWrite(Socket& s, std::vector<asio::const_buffer>& bufs, error_code& ec) {
    size_t total = 0;
    for (auto& b : bufs) total += b.size();
    size_t w = s.write_some(bufs, ec);
    if (ec) {
      if (!WouldBlock(ec)) return true;
      ec = {};
      return false;
    }
    if (w == total) return true;
    ConsumeBuffers(bufs, w);
    return false;
  }
  static bool TryRead(Socket& s, asio::mutable_buffer b, size_t& n, error_code& ec) {
    n = s.read_some(b, ec);
    return !WouldBlock(ec);
  }

  awaitable<error_code> WriteRest(Socket& s, const char* p, size_t n) {
    auto [ec, m] = co_await asio::async_write(s, asio::buffer(p, n), kTok);
    co_return ec;
  }
  awaitable<error_code> WriteRest(Socket& s, std::vector<asio::const_buffer>& bufs) {
    auto [ec, m] = co_await asio::async_write(s, bufs, kTok);
    co_return ec;
  }
  // Both steps, for the paths that are not hot.
  awaitable<error_code> WriteAll(Socket& s, const char* p, size_t n) {
    error_code ec;
    if (TryWrite(s, p, n, ec)) co_return ec;
    co_return co_await WriteRest(s, p, n);
  }

  // ---------------------------------------------------------------------------------------
  // Request head

  awaitable<HeadResult> ReadRequestHead(bool first) {
    req_.Reset();
    bool have_start = false;
    for (;;) {
      if (in_.size() > 0) {
        if (!have_start) StartRequestClock(), have_start = true;
        ParseStatus ps = req_.Parse(in_.view());
        if (ps == ParseStatus::kDone) co_return HeadResult::kOk;
        if (ps == ParseStatus::kError) co_return HeadResult::kBad;
      }
      if (stop_ && in_.size() == 0) co_return HeadResult::kClosed;
      if (in_.MakeRoom(1024, max_buf_) == SIZE_MAX) co_return HeadResult::kBad;  // unreachable: the parser stops first
      idle_wait_ = in_.size() == 0;
      if (idle_wait_ && !first) SetDeadline(Phase::kClientIdle, opts_.idle_timeout);
      else SetDeadline(Phase::kClientHead, opts_.header_timeout);
      auto [ec, n] = co_await client_.async_read_some(in_.space_buffer(), kTok);
      idle_wait_ = false;
      if (ec) co_return HeadResult::kClosed;
      in_.end += n;
    }
  }

  void StartRequestClock() {
    t0_ = Clock::now();
    // Per-request state.
    request_active_ = true;
    request_deadline_ = t0_ + opts_.total_timeout;
    timed_out_ = false;
    timeout_phase_ = Phase::kNone;
    recording_ = false;
    recorded_ = false;
    finished_ = false;
    strict_ = false;
    capture_on_ = false;
    fail_status_ = 502;
    consume_pending_ = 0;
    response_started_ = false;
    linger_on_close_ = false;
    status_ = 0;
    bytes_in_ = bytes_out_ = 0;
    error_.clear();
    pump_end_ = PumpEnd::kNone;
    pump_abort_ = false;
    pump_reading_client_ = false;
    resp_head_done_ = false;
    upstream_ = nullptr;
    upstream_ms_ = 0;
    capture_left_ = 0;
  }

  // Fills rec_ from the parsed (or partly parsed) head and asks the recorder for its policy.
  void BeginRecord() {
    Recorder* r = core_->recorder;
    if (r == nullptr) return;
    rec_ = RequestRecord{};
    // The wall-clock time of the first byte: now minus the time spent since then.
    rec_.start = std::chrono::system_clock::now() -
                 std::chrono::duration_cast<std::chrono::system_clock::duration>(Clock::now() - t0_);
    rec_.method.assign(req_.method());
    rec_.target.assign(req_.target());
    rec_.http_minor = req_.version_minor();
    rec_.headers.reserve(req_.headers().size());
    for (auto& h : req_.headers()) rec_.headers.emplace_back(std::string(h.name), std::string(h.value));
    rec_.peer_ip = peer_ip_;
    rec_.peer_port = peer_port_;
    rec_.request_id = request_id_;
    if (auto* ct = req_.Find("content-type")) rec_.content_type.assign(ct->value);
    RecordPolicy p = r->Policy(rec_);
    recording_ = p.record;
    strict_ = recording_ && r->strict();
    capture_left_ = recording_ ? p.capture_limit : 0;
    capture_on_ = capture_left_ > 0;
  }

  void Capture(const char* p, size_t n) {
    if (!capture_on_ || n == 0) return;
    size_t take = std::min(n, capture_left_);
    if (take > 0) {
      rec_.body_prefix.append(p, take);
      capture_left_ -= take;
    }
    if (take < n) rec_.body_truncated = true;
  }
  static void CaptureFn(void* ctx, const char* p, size_t n) { static_cast<Session*>(ctx)->Capture(p, n); }

  // Calls Recorder::Record once per request. In strict mode waits until the event is durable and
  // returns false when it could not be made durable (the caller then withholds the final bytes).
  awaitable<bool> RecordNow(bool wait_durable) {
    if (!recording_ || recorded_) co_return true;
    recorded_ = true;
    FillOutcome();
    Recorder* r = core_->recorder;
    if (!strict_) {
      r->Record(std::move(rec_), nullptr);
      co_return true;
    }
    if (!wait_durable) {
      r->Record(std::move(rec_), [](Status) {});
      co_return true;
    }
    durable_done_ = false;
    durable_status_ = Status::Ok();
    uint64_t gen = ++durable_gen_;
    // The callback holds only a weak reference: the recorder may keep it past the connection (and
    // even past the io_context). Called from any thread; the work is posted to our strand, and
    // the strong reference moves into the posted handler so the session never dies elsewhere.
    std::weak_ptr<Session> weak = weak_from_this();
    r->Record(std::move(rec_), [weak, gen](Status st) {
      std::shared_ptr<Session> self = weak.lock();
      if (!self) return;
      Executor ex = self->ex_;
      asio::post(ex, [self = std::move(self), gen, st = std::move(st)]() mutable {
        if (self->durable_gen_ != gen || self->closed_) return;
        self->durable_done_ = true;
        self->durable_status_ = std::move(st);
        self->wait_timer_.cancel();
      });
    });
    SetDeadline(Phase::kDurable, opts_.idle_timeout);
    while (!durable_done_ && !timed_out_) {
      wait_timer_.expires_at(Clock::time_point::max());
      co_await wait_timer_.async_wait(kTok);
    }
    if (!durable_done_) {
      log::Warn("audit event not durable in time; response withheld", {{"request_id", request_id_}});
      co_return false;
    }
    if (!durable_status_.ok()) {
      log::Warn("audit event could not be made durable; response withheld",
                {{"request_id", request_id_}, {"error", durable_status_.ToString()}});
      co_return false;
    }
    co_return true;
  }

  void FillOutcome() {
    rec_.status = status_;
    rec_.bytes_in = bytes_in_;
    rec_.bytes_out = bytes_out_;
    if (upstream_ != nullptr) rec_.upstream = upstream_->name;
    rec_.upstream_ms = upstream_ms_;
    t_end_ = Clock::now();
    rec_.total_ms = Ms(t_end_ - t0_);
    if (!error_.empty()) rec_.error = error_;
  }

  // Batch record (if not done yet) and metrics, once per request.
  void FinishRequest() {
    if (finished_) return;
    finished_ = true;
    request_active_ = false;
    bool have_end = false;
    if (recording_ && !recorded_) {
      recorded_ = true;
      FillOutcome();  // reads the clock into t_end_
      have_end = true;
      if (strict_) core_->recorder->Record(std::move(rec_), [](Status) {});
      else core_->recorder->Record(std::move(rec_), nullptr);
    }
    if (!have_end) t_end_ = Clock::now();
    if (status_ >= 100 && status_ < 600) core_->requests[status_ / 100]->Inc();
    core_->duration->Observe(std::chrono::duration<double>(t_end_ - t0_).count());
  }

  // ---------------------------------------------------------------------------------------
  // Local responses (errors generated by the proxy)

  void BuildLocal(int status, std::string_view text, bool close) {
    scratch_.clear();
    scratch_ += "HTTP/1.1 ";
    scratch_ += std::to_string(status);
    scratch_ += ' ';
    scratch_ += ReasonPhrase(status);
    scratch_ += "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ";
    scratch_ += std::to_string(text.size() + 1);
    scratch_ += "\r\n";
    if (close) scratch_ += "Connection: close\r\n";
    else if (req_minor_ == 0) scratch_ += "Connection: keep-alive\r\n";
    scratch_ += "\r\n";
    if (!req_is_head_) {
      scratch_ += text;
      scratch_ += '\n';
    }
  }

  // Sends an error response (after recording it, in strict mode) and returns whether the
  // connection stays open.
  awaitable<bool> LocalResponse(int status, std::string_view text, bool close) {
    status_ = status;
    if (consume_pending_ > 0) {
      in_.Consume(consume_pending_);
      consume_pending_ = 0;
    }
    // The request's own deadline no longer applies: give the error response time to go out.
    request_active_ = false;
    timed_out_ = false;
    if (error_.empty()) error_.assign(text);
    close = close || !req_keep_alive_;
    BuildLocal(status, text, close);
    if (strict_) {
      if (!co_await RecordNow(true)) co_return false;
    }
    SetDeadline(Phase::kIo, opts_.idle_timeout);
    error_code ec = co_await WriteAll(client_, scratch_.data(), scratch_.size());
    response_started_ = true;
    FinishRequest();
    if (ec) co_return false;
    if (close) {
      co_await Linger();
      co_return false;
    }
    co_return true;
  }

  // Half-closes and drains what the client still sends, so that closing does not reset the
  // connection before the client has read the error response.
  awaitable<void> Linger() {
    error_code ig;
    client_.shutdown(tcp::socket::shutdown_send, ig);
    request_active_ = false;
    SetDeadline(Phase::kLinger, std::min<std::chrono::milliseconds>(opts_.idle_timeout, std::chrono::milliseconds(2000)));
    size_t drained = 0;
    while (drained < (1u << 20)) {
      in_.Clear();
      auto [ec, n] = co_await client_.async_read_some(in_.space_buffer(), kTok);
      if (ec) break;
      drained += n;
    }
  }

  awaitable<bool> RespondBadRequest() {
    const int status = req_.error_status() != 0 ? req_.error_status() : 431;
    const char* reason = req_.error_status() != 0 ? req_.error_reason() : "header section too large";
    req_minor_ = req_.version_minor();
    req_is_head_ = false;
    req_keep_alive_ = false;
    request_id_.clear();
    AppendRequestId(request_id_);
    BeginRecord();
    error_ = "bad request: ";
    error_ += reason;
    co_return co_await LocalResponse(status, reason, true);
  }

  // ---------------------------------------------------------------------------------------
  // Forwarded head: the client's head minus X-Forwarded-* lines and the final CRLF, then the
  // added fields and CRLF.

  void BuildForwardHead(const char* base) {
    const size_t hb = req_.head_begin(), hl = req_.head_length();
    bufs_.clear();
    added_.clear();
    request_id_.clear();
    bool have_id = false;
    size_t cur = hb;
    added_ += "X-Forwarded-For: "sv;
    for (auto& h : req_.headers()) {
      const size_t nl = h.name.size();
      bool drop = false;
      if (nl == 15 && EqualsIgnoreCase(h.name, "x-forwarded-for")) {
        if (!h.value.empty()) {
          added_ += h.value;
          added_ += ", "sv;
        }
        drop = true;
      } else if ((nl == 17 && EqualsIgnoreCase(h.name, "x-forwarded-proto")) ||
                 (nl == 16 && EqualsIgnoreCase(h.name, "x-forwarded-host"))) {
        drop = true;
      } else if (nl == 12 && !have_id && EqualsIgnoreCase(h.name, "x-request-id") && !h.value.empty()) {
        request_id_.assign(h.value);
        have_id = true;
      }
      if (drop) {
        size_t ls = static_cast<size_t>(h.line.data() - base);
        if (ls > cur) bufs_.emplace_back(base + cur, ls - cur);
        cur = ls + h.line.size();
      }
    }
    bufs_.emplace_back(base + cur, hl - 2 - cur);
    added_ += peer_ip_;
    added_ += "\r\nX-Forwarded-Proto: "sv;
    added_ += opts_.forwarded_proto;
    added_ += "\r\n"sv;
    if (!req_.host().empty()) {
      added_ += "X-Forwarded-Host: "sv;
      added_ += req_.host();
      added_ += "\r\n"sv;
    }
    if (!have_id) {
      AppendRequestId(request_id_);
      added_ += "X-Request-Id: "sv;
      added_ += request_id_;
      added_ += "\r\n"sv;
    }
    added_ += "\r\n"sv;
    bufs_.emplace_back(added_.data(), added_.size());
  }

  // ---------------------------------------------------------------------------------------
  // Upstream connections

  // Takes a pooled connection into up_; false when the pool has none.
  bool TakePooled(Upstream* u, bool retryable, Clock::time_point now) {
    auto s = core_->TakeIdle(u, !retryable, now);
    if (!s) return false;
    up_ = std::move(*s);
    return true;
  }

  // Connects up_ to `u`. Returns nullptr on success, else the error text; *kind is set for
  // metrics.
  awaitable<const char*> Connect(Upstream* u, ErrKind* kind) {
    error_code ig;
    up_ = Socket(core_->io);
    SetDeadline(Phase::kConnect, opts_.connect_timeout);
    auto [ec] = co_await up_.async_connect(u->ep, kTok);
    if (ec) {
      up_.close(ig);
      if (timed_out_ && timeout_phase_ == Phase::kConnect) {
        timed_out_ = false;  // handled: a connect timeout is an ordinary upstream failure
        *kind = kErrConnectTimeout;
        co_return "upstream connect timeout";
      }
      if (timed_out_) {
        *kind = kErrTimeout;
        co_return "timeout";
      }
      if (ec == asio::error::connection_refused) {
        *kind = kErrRefused;
        co_return "upstream refused";
      }
      *kind = kErrUnreachable;
      co_return "upstream unreachable";
    }
    up_.set_option(tcp::no_delay(true), ig);
    up_.non_blocking(true, ig);
    co_return nullptr;
  }

  void ReleaseUpstream(bool reusable) {
    if (!up_.is_open()) return;
    if (reusable && upstream_ != nullptr && !core_->stopping.load(std::memory_order_relaxed)) {
      // A moved-from socket is closed and reusable as is (no new socket object per request).
      core_->Release(upstream_, std::move(up_), CoarseNow());
      if (up_.is_open()) {  // the pool was full
        error_code ig;
        up_.close(ig);
      }
    } else {
      error_code ig;
      up_.close(ig);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Request body pump (runs beside the response reader when the body is not all buffered)

  void StartPump() {
    pump_running_ = true;
    pump_end_ = PumpEnd::kNone;
    asio::co_spawn(ex_, PumpMain(shared_from_this()), [self = shared_from_this()](std::exception_ptr) {
      self->pump_running_ = false;
      self->wait_timer_.cancel();
    });
  }
  static awaitable<void> PumpMain(std::shared_ptr<Session> self) { co_await self->Pump(); }

  bool BodyDone() const {
    return body_kind_ == BodyFraming::kContentLength ? body_remaining_ == 0 : req_chunks_.done();
  }

  // Ends the exchange from the pump's side: the upstream connection is unusable.
  void AbortFromPump(bool client_gone) {
    error_code ig;
    up_.close(ig);
    if (client_gone) client_.cancel(ig);
  }

  awaitable<void> Pump() {
    for (;;) {
      if (BodyDone()) {
        pump_end_ = PumpEnd::kComplete;
        break;
      }
      if (in_.size() == 0) in_.Clear();
      in_.MakeRoom(1, max_buf_);
      SetDeadline(Phase::kIo, opts_.idle_timeout);
      pump_reading_client_ = true;
      size_t n = 0;
      error_code ec;
      if (!TryRead(client_, in_.space_buffer(), n, ec)) std::tie(ec, n) = co_await client_.async_read_some(in_.space_buffer(), kTok);
      pump_reading_client_ = false;
      if (ec) {
        if (pump_abort_ || timed_out_) {
          pump_end_ = PumpEnd::kAborted;
        } else {
          pump_end_ = PumpEnd::kClientClosed;
          AbortFromPump(true);
        }
        break;
      }
      in_.end += n;
      size_t take;
      if (body_kind_ == BodyFraming::kContentLength) {
        take = static_cast<size_t>(std::min<uint64_t>(in_.size(), body_remaining_));
        body_remaining_ -= take;
        Capture(in_.rd(), take);
        bytes_in_ += take;
      } else {
        auto r = req_chunks_.Scan(in_.rd(), in_.size(), &CaptureFn, this);
        bytes_in_ = req_chunks_.payload_bytes();
        if (r.error) {
          pump_end_ = PumpEnd::kBadChunk;
          AbortFromPump(false);
          break;
        }
        if (bytes_in_ > opts_.max_body) {
          pump_end_ = PumpEnd::kTooLarge;
          AbortFromPump(false);
          break;
        }
        take = r.consumed;
      }
      error_code wec;
      const char* wp = in_.rd();
      size_t wn = take;
      if (!TryWrite(up_, wp, wn, wec)) wec = co_await WriteRest(up_, wp, wn);
      if (wec) {
        pump_end_ = (pump_abort_ || timed_out_) ? PumpEnd::kAborted : PumpEnd::kUpstreamWriteFailed;
        break;
      }
      in_.Consume(take);
    }
    if (pump_end_ == PumpEnd::kComplete && !resp_head_done_ && !timed_out_) {
      SetDeadline(Phase::kUpstreamHead, opts_.header_timeout);
    }
  }

  void StopPump() {
    if (!pump_running_) return;
    pump_abort_ = true;
    error_code ig;
    client_.cancel(ig);
    up_.cancel(ig);
  }

  awaitable<void> JoinChild() {
    while (pump_running_) {
      wait_timer_.expires_at(Clock::time_point::max());
      co_await wait_timer_.async_wait(kTok);
    }
  }

  // ---------------------------------------------------------------------------------------
  // One request/response exchange. Returns whether the client connection stays open.

  awaitable<bool> Exchange() {
    const char* base = in_.rd();
    const size_t hl = req_.head_length();
    req_minor_ = req_.version_minor();
    req_is_head_ = req_.is_head();
    req_keep_alive_ = req_.keep_alive();

    BuildForwardHead(base);
    BeginRecord();

    if (req_.is_connect()) {
      error_ = "bad request: CONNECT is not supported";
      co_return co_await LocalResponse(501, "CONNECT is not supported", true);
    }

    // Request body: what is already buffered, and whether that is all of it.
    body_kind_ = req_.framing();
    if (body_kind_ == BodyFraming::kContentLength && req_.content_length() == 0) body_kind_ = BodyFraming::kNone;
    const size_t avail = in_.size() - hl;
    size_t body_in_buf = 0;
    bool body_complete = true;
    if (body_kind_ == BodyFraming::kContentLength) {
      const uint64_t cl = req_.content_length();
      if (cl > opts_.max_body) {
        error_ = "request body too large";
        co_return co_await LocalResponse(413, "request body too large", true);
      }
      if (capture_on_) rec_.body_prefix.reserve(std::min<uint64_t>(cl, capture_left_));
      body_in_buf = static_cast<size_t>(std::min<uint64_t>(avail, cl));
      body_remaining_ = cl - body_in_buf;
      body_complete = body_remaining_ == 0;
      Capture(base + hl, body_in_buf);
      bytes_in_ = body_in_buf;
    } else if (body_kind_ == BodyFraming::kChunked) {
      req_chunks_.Reset();
      auto r = req_chunks_.Scan(base + hl, avail, &CaptureFn, this);
      bytes_in_ = req_chunks_.payload_bytes();
      if (r.error) {
        error_ = std::string("bad request: bad chunked body: ") + req_chunks_.error();
        co_return co_await LocalResponse(400, std::string("bad chunked body: ") + req_chunks_.error(), true);
      }
      if (bytes_in_ > opts_.max_body) {
        error_ = "request body too large";
        co_return co_await LocalResponse(413, "request body too large", true);
      }
      body_in_buf = r.consumed;
      body_complete = r.done;
    }
    if (body_in_buf > 0) bufs_.emplace_back(base + hl, body_in_buf);
    const size_t request_bytes = hl + body_in_buf;  // of in_, from its begin
    consume_pending_ = request_bytes;

    // Choose an upstream, send, read the response head; retry once on a stale pooled connection.
    uint64_t tried = 0;
    bool retried = false, fresh_same = false;
    Upstream* u = nullptr;
    const char* last_err = "no upstream available";
    ErrKind kind = kErrRefused;
    for (;;) {
      const auto cnow = CoarseNow();
      if (!fresh_same) {
        u = core_->Pick(tried, cnow);
        if (u == nullptr) {
          error_ = last_err;
          if (!body_complete) req_keep_alive_ = false;
          co_return co_await LocalResponse(502, last_err, !body_complete);
        }
        tried |= core_->Bit(u);
      }
      if (up_.is_open()) {
        error_code ig;
        up_.close(ig);
      }
      const bool reused = !fresh_same && TakePooled(u, body_complete && !retried, cnow);
      const char* aerr = reused ? nullptr : co_await Connect(u, &kind);
      fresh_same = false;
      if (aerr != nullptr) {
        upstream_ = u;
        if (timed_out_) {  // the request's total timeout expired while connecting
          error_ = "timeout";
          fail_status_ = 504;
          co_return co_await FailExchange();
        }
        core_->MarkFail(u, kind);
        last_err = aerr;
        continue;
      }
      upstream_ = u;
      up_t0_ = Clock::now();
      wbufs_.assign(bufs_.begin(), bufs_.end());
      SetDeadline(Phase::kIo, opts_.idle_timeout);
      error_code ec;
      if (!TryWrite(up_, wbufs_, ec)) ec = co_await WriteRest(up_, wbufs_);
      if (ec) {
        error_code ig;
        up_.close(ig);
        if (reused && !retried && !timed_out_) {
          retried = true;
          fresh_same = true;
          continue;
        }
        if (!timed_out_) core_->MarkFail(u, kErrClosed);
        error_ = timed_out_ ? "timeout" : "upstream closed";
        co_return co_await LocalResponse(timed_out_ ? 504 : 502, error_, !body_complete);
      }
      if (!body_complete) {
        in_.Consume(request_bytes);
        consume_pending_ = 0;
        StartPump();
      }
      int r = co_await ReadResponseHead(reused && !retried && body_complete);
      if (r == 1) {  // stale pooled connection: once more on a fresh one
        error_code ig;
        up_.close(ig);
        retried = true;
        fresh_same = true;
        continue;
      }
      if (r == 2) co_return co_await FailExchange();
      break;
    }
    if (consume_pending_ > 0) {
      in_.Consume(consume_pending_);
      consume_pending_ = 0;
    }
    Core::MarkOk(u);
    upstream_ms_ = Ms(Clock::now() - up_t0_);
    status_ = resp_.status();

    if (status_ == 101) {
      if (pump_running_) co_await JoinChild();  // the request body must be through first
      if (!req_.upgrade() || (pump_end_ != PumpEnd::kNone && pump_end_ != PumpEnd::kComplete)) {
        error_ = "bad upstream response: unexpected 101";
        u->errors[kErrBadResponse]->Inc();
        co_return co_await FailExchange(502);
      }
      co_return co_await Tunnel();
    }
    co_return co_await RelayResponse();
  }

  // Reads the upstream response head into out_, relaying interim 1xx responses.
  // Returns 0 when a final head (or 101) is parsed, 1 to retry on a fresh connection, 2 on error
  // (error_ and fail_status_ set).
  awaitable<int> ReadResponseHead(bool retryable) {
    out_.Clear();
    resp_.Reset(req_is_head_);
    if (!pump_running_) SetDeadline(Phase::kUpstreamHead, opts_.header_timeout);
    bool any = false;
    for (;;) {
      if (out_.size() > 0) {
        ParseStatus ps = resp_.Parse(out_.view());
        if (ps == ParseStatus::kError) {
          error_ = std::string("bad upstream response: ") + resp_.error_reason();
          upstream_->errors[kErrBadResponse]->Inc();
          fail_status_ = 502;
          co_return 2;
        }
        if (ps == ParseStatus::kDone) {
          int s = resp_.status();
          if (s >= 200 || s == 101) {
            resp_head_done_ = true;
            co_return 0;
          }
          // Interim response (100 Continue, 103 Early Hints): relay unless the client is 1.0.
          if (req_minor_ >= 1) {
            error_code ec = co_await WriteAll(client_, out_.rd(), resp_.head_length());
            if (ec) {
              error_ = "client closed";
              fail_status_ = 0;
              co_return 2;
            }
          }
          out_.Consume(resp_.head_length());
          resp_.Reset(req_is_head_);
          continue;
        }
      }
      if (out_.MakeRoom(1024, max_buf_) == SIZE_MAX) {
        error_ = "bad upstream response: header section too large";
        fail_status_ = 502;
        co_return 2;
      }
      auto [ec, n] = co_await up_.async_read_some(out_.space_buffer(), kTok);
      if (ec) {
        if (!any && retryable && !timed_out_ && pump_end_ == PumpEnd::kNone) co_return 1;
        ClassifyUpstreamFailure(ec);
        co_return 2;
      }
      any = true;
      out_.end += n;
    }
  }

  void ClassifyUpstreamFailure(const error_code& ec) {
    fail_status_ = 502;
    if (pump_end_ == PumpEnd::kClientClosed) {
      error_ = "client closed";
      fail_status_ = 0;
    } else if (pump_end_ == PumpEnd::kBadChunk) {
      error_ = std::string("bad request: bad chunked body: ") + req_chunks_.error();
      fail_status_ = 400;
    } else if (pump_end_ == PumpEnd::kTooLarge) {
      error_ = "request body too large";
      fail_status_ = 413;
    } else if (timed_out_) {
      if (timeout_phase_ == Phase::kIo && pump_running_ && pump_reading_client_) {
        error_ = "client body timeout";
        fail_status_ = 408;
      } else {
        error_ = "upstream timeout";
        fail_status_ = 504;
        core_->MarkFail(upstream_, kErrTimeout);
      }
    } else {
      error_ = ec == asio::error::eof ? "upstream closed" : "upstream error: " + ec.message();
      core_->MarkFail(upstream_, kErrClosed);
    }
  }

  // The exchange failed before a final response reached the client: answer with fail_status_
  // (nothing when 0 or when response bytes were already sent) and discard the upstream.
  awaitable<bool> FailExchange(int status = -1) {
    if (status >= 0) fail_status_ = status;
    if (pump_running_) {
      StopPump();
      co_await JoinChild();
    }
    error_code ig;
    up_.close(ig);
    const bool body_ok = pump_end_ == PumpEnd::kNone || pump_end_ == PumpEnd::kComplete;
    if (fail_status_ == 0 || response_started_ || error_ == "client closed") {
      if (error_.empty()) error_ = "client closed";
      co_return false;
    }
    co_return co_await LocalResponse(fail_status_, error_, !body_ok);
  }

  // Streams the response body to the client. out_ holds the head at begin.
  awaitable<bool> RelayResponse() {
    const BodyFraming framing = resp_.framing();
    const uint64_t cl = resp_.content_length();
    size_t scan = out_.begin + resp_.head_length();
    int64_t chunk_base = static_cast<int64_t>(scan);  // out_ index of chunk scanner position 0
    size_t last_read_start = scan;
    uint64_t got = 0;
    bool eof = false, complete = false;
    size_t end_at = 0;
    if (framing == BodyFraming::kChunked) resp_chunks_.Reset();
    for (;;) {
      switch (framing) {
        case BodyFraming::kContentLength: {
          size_t take = static_cast<size_t>(std::min<uint64_t>(out_.end - scan, cl - got));
          got += take;
          scan += take;
          if (got == cl) complete = true;
          break;
        }
        case BodyFraming::kChunked: {
          auto r = resp_chunks_.Scan(out_.at(scan), out_.end - scan);
          scan += r.consumed;
          if (r.error) {
            error_ = std::string("bad upstream response: bad chunked body: ") + resp_chunks_.error();
            upstream_->errors[kErrBadResponse]->Inc();
            co_return co_await AbortResponse();
          }
          complete = r.done;
          break;
        }
        case BodyFraming::kUntilClose:
          got += out_.end - scan;
          scan = out_.end;
          complete = eof;
          break;
        default:
          complete = true;
          break;
      }
      if (complete) {
        end_at = scan;
        break;
      }
      // Send what may go now; in strict mode keep back what could be the end of the body.
      size_t sendable = scan;
      if (strict_) {
        if (framing == BodyFraming::kChunked) sendable = static_cast<size_t>(chunk_base + static_cast<int64_t>(resp_chunks_.hold_position()));
        else if (framing == BodyFraming::kUntilClose) sendable = last_read_start;
      }
      SetDeadline(Phase::kIo, opts_.idle_timeout);
      if (sendable > out_.begin) {
        error_code ec;
        const char* wp = out_.rd();
        size_t wn = sendable - out_.begin;
        if (!TryWrite(client_, wp, wn, ec)) ec = co_await WriteRest(client_, wp, wn);
        if (ec) co_return co_await ClientGone();
        response_started_ = true;
        out_.begin = sendable;
      }
      size_t shift;
      if (out_.begin == out_.end) {
        shift = out_.begin;
        out_.begin = out_.end = 0;
      } else {
        shift = out_.MakeRoom(out_.cap / 2, max_buf_);
        if (shift == SIZE_MAX) {
          error_ = "bad upstream response: chunk framing too large";
          co_return co_await AbortResponse();
        }
      }
      scan -= shift;
      chunk_base -= static_cast<int64_t>(shift);
      last_read_start = out_.end;
      size_t want = (strict_ && framing == BodyFraming::kUntilClose) ? out_.cap / 2 : SIZE_MAX;
      size_t n = 0;
      error_code ec;
      if (!TryRead(up_, out_.space_buffer(want), n, ec)) std::tie(ec, n) = co_await up_.async_read_some(out_.space_buffer(want), kTok);
      if (ec) {
        if (ec == asio::error::eof && framing == BodyFraming::kUntilClose && !timed_out_) {
          eof = true;
          continue;
        }
        if (pump_end_ == PumpEnd::kClientClosed) co_return co_await ClientGone();
        if (pump_end_ == PumpEnd::kBadChunk || pump_end_ == PumpEnd::kTooLarge) {
          // The pump dropped the upstream over the request body: 400/413 if nothing was sent.
          ClassifyUpstreamFailure(ec);
          co_return co_await FailExchange();
        }
        error_ = timed_out_ ? "upstream timeout" : "upstream closed";
        upstream_->errors[timed_out_ ? kErrTimeout : kErrClosed]->Inc();
        co_return co_await AbortResponse();
      }
      out_.end += n;
    }
    bytes_out_ = framing == BodyFraming::kChunked ? resp_chunks_.payload_bytes() : got;
    const bool leftover = out_.end > end_at;

    // The body of the request must be complete for either connection to continue.
    if (pump_running_) {
      StopPump();
      co_await JoinChild();
    }
    const bool body_ok = pump_end_ == PumpEnd::kNone || pump_end_ == PumpEnd::kComplete;
    if (pump_end_ == PumpEnd::kClientClosed) co_return co_await ClientGone();
    if (pump_end_ == PumpEnd::kBadChunk && error_.empty()) error_ = std::string("bad request: bad chunked body: ") + req_chunks_.error();
    if (pump_end_ == PumpEnd::kTooLarge && error_.empty()) error_ = "request body too large";

    linger_on_close_ = !body_ok;
    const bool up_reusable = body_ok && !leftover && resp_.keep_alive() && req_keep_alive_ && framing != BodyFraming::kUntilClose;
    const bool client_keep = body_ok && resp_.keep_alive() && req_keep_alive_ && framing != BodyFraming::kUntilClose;
    ReleaseUpstream(up_reusable);

    if (strict_) {
      if (!co_await RecordNow(true)) co_return false;
    }
    SetDeadline(Phase::kIo, opts_.idle_timeout);
    error_code ec;
    const char* wp = out_.rd();
    size_t wn = end_at - out_.begin;
    if (!TryWrite(client_, wp, wn, ec)) ec = co_await WriteRest(client_, wp, wn);
    if (ec) co_return co_await ClientGone();
    response_started_ = true;
    out_.Clear();
    co_return client_keep;
  }

  awaitable<bool> ClientGone() {
    if (error_.empty() || error_.rfind("upstream", 0) != 0) error_ = timed_out_ ? "client timeout" : "client closed";
    if (pump_running_) {
      StopPump();
      co_await JoinChild();
    }
    error_code ig;
    up_.close(ig);
    co_return false;
  }

  // The response broke after its head was relayed: the client gets a truncated response.
  awaitable<bool> AbortResponse() {
    if (pump_running_) {
      StopPump();
      co_await JoinChild();
    }
    error_code ig;
    up_.close(ig);
    // Nothing sent yet (strict mode holds bytes back): the client can still get a proper error.
    if (!response_started_) co_return co_await LocalResponse(502, error_, true);
    co_return false;
  }

  // ---------------------------------------------------------------------------------------
  // Upgrade: relay the 101, then splice both ways until both sides have closed.

  awaitable<bool> Tunnel() {
    request_active_ = false;  // tunnels are bounded by idle_timeout only
    if (recording_) rec_.websocket = true;
    if (strict_) {
      if (!co_await RecordNow(true)) co_return false;
    }
    error_code ec = co_await WriteAll(client_, out_.rd(), out_.size());
    if (ec) co_return co_await ClientGone();
    response_started_ = true;
    out_.Clear();
    FinishRequest();
    if (in_.size() > 0) {
      ec = co_await WriteAll(up_, in_.rd(), in_.size());
      in_.Clear();
      if (ec) co_return false;
    }
    pump_running_ = true;
    asio::co_spawn(ex_, SpliceMain(shared_from_this(), false), [self = shared_from_this()](std::exception_ptr) {
      self->pump_running_ = false;
      self->wait_timer_.cancel();
    });
    co_await Splice(true);
    co_await JoinChild();
    error_code ig;
    up_.close(ig);
    co_return false;
  }
  static awaitable<void> SpliceMain(std::shared_ptr<Session> self, bool client_to_up) { co_await self->Splice(client_to_up); }

  awaitable<void> Splice(bool client_to_up) {
    Socket& from = client_to_up ? client_ : up_;
    Socket& to = client_to_up ? up_ : client_;
    Buffer& buf = client_to_up ? in_ : out_;
    for (;;) {
      SetDeadline(Phase::kTunnel, opts_.idle_timeout);
      buf.Clear();
      auto [ec, n] = co_await from.async_read_some(buf.space_buffer(), kTok);
      error_code ig;
      if (ec) {
        if (ec == asio::error::eof && !timed_out_) {
          to.shutdown(tcp::socket::shutdown_send, ig);
        } else {
          client_.cancel(ig);
          up_.cancel(ig);
        }
        break;
      }
      error_code wec = co_await WriteAll(to, buf.rd(), n);
      if (wec) {
        client_.cancel(ig);
        up_.cancel(ig);
        break;
      }
    }
  }

  // ---------------------------------------------------------------------------------------

  std::shared_ptr<Core> core_;
  const ProxyOptions& opts_;
  Executor ex_;
  Socket client_;
  Socket up_;
  asio::steady_timer watchdog_;
  asio::steady_timer wait_timer_;  // wakes the main coroutine: child finished, event durable
  std::string peer_ip_;
  uint16_t peer_port_ = 0;
  size_t max_buf_ = 0;

  Buffer in_, out_;
  RequestParser req_;
  ResponseParser resp_;
  ChunkScanner req_chunks_, resp_chunks_;
  std::vector<asio::const_buffer> bufs_, wbufs_;
  std::string added_, scratch_, request_id_;

  // Deadline / watchdog.
  Phase phase_ = Phase::kNone;
  Clock::time_point deadline_{};
  Clock::time_point timer_expiry_ = Clock::time_point::max();
  bool timed_out_ = false;
  Phase timeout_phase_ = Phase::kNone;
  bool closed_ = false;
  bool stop_ = false;
  bool idle_wait_ = false;

  // Per request.
  Clock::time_point t0_{}, up_t0_{}, t_end_{}, request_deadline_{};
  bool request_active_ = false;
  int req_minor_ = 1;
  bool req_is_head_ = false, req_keep_alive_ = true;
  BodyFraming body_kind_ = BodyFraming::kNone;
  uint64_t body_remaining_ = 0;
  Upstream* upstream_ = nullptr;
  double upstream_ms_ = 0;
  int status_ = 0;
  int fail_status_ = 502;
  uint64_t bytes_in_ = 0, bytes_out_ = 0;
  std::string error_;
  bool response_started_ = false;
  bool resp_head_done_ = false;
  size_t consume_pending_ = 0;  // request bytes still at the front of in_
  bool linger_on_close_ = false;

  // Recording.
  RequestRecord rec_;
  bool recording_ = false, recorded_ = false, finished_ = false, strict_ = false;
  bool capture_on_ = false;
  size_t capture_left_ = 0;
  bool durable_done_ = false;
  Status durable_status_;
  uint64_t durable_gen_ = 0;

  // Child coroutine (request body pump, or the upstream→client half of a tunnel).
  bool pump_running_ = false;
  bool pump_abort_ = false;
  bool pump_reading_client_ = false;
  PumpEnd pump_end_ = PumpEnd::kNone;
};

awaitable<void> AcceptLoop(std::shared_ptr<Core> core) {
  for (;;) {
    Executor ex = core->single_thread ? Executor(core->io.get_executor()) : Executor(asio::make_strand(core->io));
    auto [ec, sock] = co_await core->acceptor->async_accept(ex, kTok);
    if (ec) {
      if (ec == asio::error::operation_aborted || !core->acceptor->is_open() || core->stopping.load()) break;
      log::Warn("accept failed", {{"error", ec.message()}});
      asio::steady_timer t(core->io, std::chrono::milliseconds(50));
      co_await t.async_wait(kTok);
      continue;
    }
    if (core->stopping.load()) break;
    auto s = std::make_shared<Session>(core, std::move(sock), ex);
    asio::co_spawn(ex, Session::Run(std::move(s)), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::Error("proxy connection failed", {{"error", ex.what()}});
      }
    });
  }
}

Result<tcp::endpoint> ParseUpstream(const std::string& url) {
  std::string_view s = url;
  constexpr std::string_view kHttp = "http://";
  if (s.size() < kHttp.size() || !EqualsIgnoreCase(s.substr(0, kHttp.size()), kHttp)) {
    return Status::InvalidArgument("proxy: upstream '" + url + "': only http:// is supported");
  }
  s.remove_prefix(kHttp.size());
  if (!s.empty() && s.back() == '/') s.remove_suffix(1);
  if (s.empty() || s.find('/') != std::string_view::npos) {
    return Status::InvalidArgument("proxy: upstream '" + url + "': expected http://host[:port]");
  }
  std::string hp(s);
  bool has_port = hp.back() != ']' && hp.find(':') != std::string::npos && (hp[0] != '[' || hp.find("]:") != std::string::npos);
  if (!has_port) hp += ":80";
  auto ep = ParseEndpoint(hp);
  if (!ep.ok()) return ep.status().WithContext("proxy: upstream '" + url + "'");
  return ep;
}

}  // namespace

struct Proxy::State {
  std::shared_ptr<Core> core;
};

Proxy::Proxy(asio::io_context& io, ProxyOptions opts, Recorder* recorder)
    : state_(std::make_shared<State>(State{std::make_shared<Core>(io, std::move(opts), recorder)})) {}

Proxy::~Proxy() { Stop(); }

Status Proxy::Start() {
  Core& c = *state_->core;
  if (c.acceptor) return Status::Internal("proxy: already started");
  if (c.opts.upstreams.empty()) return Status::InvalidArgument("proxy: no upstream configured");
  if (c.opts.buffer_size < 1024) c.opts.buffer_size = 1024;
  c.single_thread = asio::use_service<asio::detail::scheduler>(c.io).concurrency_hint() == 1;
  auto& reg = metrics::Registry::Global();
  auto* errors = reg.AddCounter("hakone_gateway_upstream_errors_total", "Upstream failures by upstream and kind.", {"upstream", "kind"});
  for (auto& url : c.opts.upstreams) {
    HAKONE_ASSIGN_OR_RETURN(tcp::endpoint ep, ParseUpstream(url));
    auto u = std::make_unique<Upstream>();
    u->ep = ep;
    u->name = FormatEndpoint(ep);
    for (int k = 0; k < kErrKinds; ++k) u->errors[k] = errors->WithLabels({u->name, kErrKindNames[k]});
    c.ups.push_back(std::move(u));
  }
  auto* req = reg.AddCounter("hakone_gateway_requests_total", "Requests answered, by status class.", {"code"});
  for (int k = 1; k <= 5; ++k) c.requests[k] = req->WithLabels({std::to_string(k) + "xx"});
  c.requests[0] = c.requests[5];
  c.active_gauge = reg.AddGauge("hakone_gateway_active_connections", "Open client connections.")->Get();
  c.duration = reg.AddHistogram("hakone_gateway_request_duration_seconds", "Time from request head to response end.")->Get();

  HAKONE_ASSIGN_OR_RETURN(tcp::endpoint lep, ParseEndpoint(c.opts.listen));
  auto acc = Listen(c.io, lep);
  if (!acc.ok()) return acc.status().WithContext("proxy");
  c.acceptor.emplace(std::move(acc).value());
  error_code ec;
  c.local = c.acceptor->local_endpoint(ec);
  asio::co_spawn(c.accept_strand, AcceptLoop(state_->core), asio::detached);
  log::Info("proxy listening", {{"listen", FormatEndpoint(c.local)}, {"upstreams", static_cast<long long>(c.ups.size())}});
  return Status::Ok();
}

asio::ip::tcp::endpoint Proxy::local_endpoint() const { return state_->core->local; }

void Proxy::Stop() {
  auto core = state_->core;
  if (core->stopping.exchange(true)) return;
  core->ClearPools();
  asio::post(core->accept_strand, [core] {
    if (core->acceptor) {
      error_code ig;
      core->acceptor->close(ig);
    }
    core->ClearPools();
    std::lock_guard lk(core->sessions_mu);
    for (Session* s : core->sessions) {
      if (auto sp = s->weak_from_this().lock()) {
        asio::post(sp->executor(), [sp] { sp->OnStop(); });
      }
    }
  });
}

size_t Proxy::active_connections() const { return state_->core->active.load(); }

}  // namespace hakone::gateway
