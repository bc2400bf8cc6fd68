// `hakone sessions` and the [sessions] component of `hakone serve`.
#include <cstdio>

#include "app/commands.h"
#include "core/flags.h"
#include "core/log.h"
#include "sessions/sessions.h"

namespace hakone::app {

Status AddSessionsComponent(Runtime& rt, const Config& cfg, std::vector<std::unique_ptr<Component>>* comps) {
  if (!cfg.HasSection("sessions")) return Status::Ok();
  auto c = sessions::MakeSessions(rt, cfg, {});
  if (!c.ok()) return c.status();
  comps->push_back(std::move(*c));
  return Status::Ok();
}

int RunSessions(int argc, char** argv) {
  std::string config_path;
  sessions::SessionsOverrides ov;
  FlagSet f("hakone sessions",
            "A session store that speaks the Redis protocol (and memcached's): reads come from a cache tier,\n"
            "misses read through to a durable tier (SQLite or PostgreSQL) and refill the cache with the key's\n"
            "remaining TTL; writes are acknowledged once durable (durability = strict) or once cached (async).");
  f.String("config", &config_path, "FILE", "hakone.toml; its [sessions] section (flags override it)");
  f.String("listen", &ov.listen, "ADDR", "Redis-protocol address (default 127.0.0.1:6380)");
  f.String("memcached", &ov.memcached, "ADDR", "also serve the memcached text protocol here (default: off)");
  f.String("admin", &ov.admin, "ADDR", "HTTP admin listener: /metrics, /healthz, /readyz (default: off)");
  f.String("durability", &ov.durability, "MODE", "strict (ack after durable commit, default) or async (ack after cache)");
  f.String("durable", &ov.durable, "TYPE", "durable tier: sqlite (default) or postgres");
  f.String("sqlite", &ov.sqlite_path, "PATH", "SQLite file (default <data-dir>/sessions.db)");
  f.String("postgres", &ov.postgres_url, "URL", "PostgreSQL URL for --durable postgres");
  f.String("cache-redis", &ov.cache_redis, "URL", "use an external Redis as the cache tier (redis://host:port[/db])");
  f.String("cache-sentinel", &ov.cache_sentinels, "ADDRS",
           "cache tier Redis managed by Sentinel: the sentinels, host:port[,host:port...] (with --cache-master)");
  f.String("cache-master", &ov.cache_master, "NAME", "the Sentinel master name of the cache tier Redis");
  f.String("data-dir", &ov.data_dir, "DIR", "data directory (default ./hakone-data)");
  f.Int("workers", &ov.workers, "N", "I/O threads (default 1)");
  f.Epilog(
      "Examples:\n"
      "  hakone sessions --listen 127.0.0.1:6380 --data-dir ./data\n"
      "  hakone sessions --listen 127.0.0.1:6380 --memcached 127.0.0.1:11212 --config hakone.toml\n"
      "  hakone sessions --cache-sentinel 10.0.0.7:26379,10.0.0.8:26379 --cache-master sessions-cache\n"
      "  redis-cli -p 6380 set sess:abc '{\"user\":1}' EX 3600");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  Config cfg;
  if (!config_path.empty()) {
    auto c = Config::LoadFile(config_path);
    if (!c.ok()) {
      std::fprintf(stderr, "hakone sessions: %s\n", c.status().message().c_str());
      return 2;
    }
    cfg = *c;
  }
  auto logsec = cfg.Section("log");
  log::Level lv;
  if (log::ParseLevel(logsec.String("level", "info"), &lv)) log::SetLevel(lv);
  log::SetJson(logsec.String("format", "json") == "json");
  auto sc = sessions::ParseSessionsConfig(cfg, ov);
  if (!sc.ok()) {
    std::fprintf(stderr, "hakone sessions: %s\n", sc.status().message().c_str());
    return 2;
  }
  cfg.Root().Ignore("data_dir");
  cfg.Root().Ignore("instance");
  Runtime rt(sc->workers);
  auto comp = sessions::MakeSessions(rt, *sc);
  if (!comp.ok()) {
    std::fprintf(stderr, "hakone sessions: %s\n", comp.status().message().c_str());
    return 2;
  }
  if (!config_path.empty()) {
    // Only [sessions] and [log] are read here; other sections belong to other subcommands.
    for (const auto& k : cfg.Root().Keys()) {
      if (k != "sessions" && k != "log") cfg.Root().Ignore(k);
    }
    if (Status st = cfg.Finish(); !st.ok()) {
      std::fprintf(stderr, "hakone sessions: %s\n", st.message().c_str());
      return 2;
    }
  }
  if (Status st = (*comp)->Start(); !st.ok()) {
    std::fprintf(stderr, "hakone sessions: %s\n", st.message().c_str());
    log::Error("sessions failed", {{"error", st.ToString()}});
    return 1;
  }
  Component* raw = comp->get();
  rt.OnShutdown([raw] { raw->Stop(); });
  rt.Run();
  log::Info("stopped");
  return 0;
}

}  // namespace hakone::app
