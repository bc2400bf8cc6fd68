#include "demo/traffic.h"

#include <cctype>
#include <chrono>
#include <cstdio>
#include <random>

#include "core/http_client.h"

namespace hakone::demo {
namespace {

struct Step {
  const char* method;
  std::string path;
  const char* content_type;
  std::string body;
};

struct Persona {
  const char* user;
  const char* role;  // recruiter | candidate
};

const Persona kPersonas[] = {
    {"alice", "recruiter"}, {"bob", "recruiter"}, {"misaki", "candidate"}, {"kenji", "candidate"}, {"carol", "candidate"},
};

std::vector<Step> Script(const Persona& p, std::mt19937& rng, bool first) {
  std::vector<Step> s;
  std::string user = p.user;
  const char* js = "application/json";
  // Now and then a mistyped password first (401, "login failed" in the app's log).
  // Logins as JSON (the app's API login; the browser's form login posts a form and lands in the
  // operation log's request_body_text).
  if (!first && rng() % 5 == 0) s.push_back({"POST", "/login", js, R"({"user":")" + user + R"(","password":"oops"})"});
  s.push_back({"GET", "/login", nullptr, ""});
  s.push_back({"POST", "/login", js, R"({"user":")" + user + R"(","password":")" + user + "-correct-horse\"}"});
  int cand = 1 + static_cast<int>(rng() % 6);
  if (std::string(p.role) == "recruiter") {
    s.push_back({"GET", "/candidates", nullptr, ""});
    s.push_back({"GET", "/candidates/" + std::to_string(cand), nullptr, ""});
    const char* stages[] = {"screening", "interview", "offer", "hired"};
    s.push_back({"PUT", "/candidates/" + std::to_string(cand), js, std::string(R"({"stage":")") + stages[rng() % 4] + "\"}"});
    s.push_back({"GET", "/candidates/" + std::to_string(1 + rng() % 6), nullptr, ""});
    s.push_back({"GET", "/reports", nullptr, ""});
    s.push_back({"GET", "/companies", nullptr, ""});
  } else {
    s.push_back({"GET", "/jobs", nullptr, ""});
    s.push_back({"GET", "/jobs/" + std::to_string(1 + rng() % 3), nullptr, ""});
    s.push_back({"POST", "/candidates", js,
                 R"({"name":")" + user + R"(","email":")" + user + R"(@example.com","password":"hunter2-)" + user + "\"}"});
    if (rng() % 3 == 0) s.push_back({"GET", "/jobs/99", nullptr, ""});  // a stale link: 404
    s.push_back({"GET", "/companies", nullptr, ""});
  }
  s.push_back({"POST", "/logout", nullptr, ""});
  return s;
}

std::string SessionCookie(const HttpClient::Response& r) {
  for (const auto& [k, v] : r.headers) {
    std::string lower;
    for (char c : k) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (lower == "set-cookie") {
      if (v.rfind("PLAY_SESSION=", 0) == 0) return v.substr(0, v.find(';'));
    }
  }
  return "";
}

}  // namespace

TrafficGenerator::TrafficGenerator(TrafficOptions o) : o_(std::move(o)) {}
TrafficGenerator::~TrafficGenerator() { Stop(); }

void TrafficGenerator::Start() { thread_ = std::thread([this] { Run(); }); }

void TrafficGenerator::WaitFirstRound() {
  while (!first_round_done_.load() && !stop_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

void TrafficGenerator::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void TrafficGenerator::Run() {
  std::mt19937 rng(12345);
  auto gap = std::chrono::duration<double>(o_.rate > 0 ? 1.0 / o_.rate : 0.5);
  bool first = true;
  while (!stop_.load()) {
    for (const auto& t : o_.targets) {
      for (const auto& p : kPersonas) {
        if (stop_.load()) return;
        // dev and stage see fewer people than prod.
        if (!first && t.env != "prod" && rng() % 3 != 0) continue;
        std::string cookie;
        for (const auto& st : Script(p, rng, first)) {
          if (stop_.load()) return;
          std::vector<std::pair<std::string, std::string>> headers = {{"User-Agent", std::string("hakone-demo-traffic/1.0 (") + p.role + ")"}};
          if (st.content_type) headers.emplace_back("Content-Type", st.content_type);
          if (!cookie.empty()) headers.emplace_back("Cookie", cookie);
          auto r = HttpFetch(st.method, "http://" + t.addr + st.path, headers, st.body, std::chrono::seconds(5));
          sent_.fetch_add(1);
          if (r.ok()) {
            answered_.fetch_add(1);
            if (std::string c = SessionCookie(*r); !c.empty()) cookie = c;
          }
          if (o_.verbose && first) {
            std::printf("      %-5s %-6s %-7s %-22s → %s\n", t.env.c_str(), p.user, st.method, st.path.c_str(),
                        r.ok() ? std::to_string(r->status).c_str() : r.status().message().c_str());
          }
          if (!first) {
            auto until = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(gap);
            while (!stop_.load() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        }
      }
    }
    if (first) {
      first = false;
      first_round_done_.store(true);
    }
  }
}

}  // namespace hakone::demo
