#include "demo/job_board.h"

#include <boost/json.hpp>

#include "core/http_server.h"
#include "core/log.h"

namespace hakone::demo {
namespace {

namespace json = boost::json;

struct Company {
  const char* slug;
  const char* name;
  const char* city;
  const char* region;
};
struct Posting {
  int company;  // index into kCompanies
  const char* title;
  const char* type;
  int salary_min, salary_max;
  const char* posted;
};

const Company kCompanies[] = {
    {"hakone", "株式会社箱根", "箱根町", "神奈川県"},
    {"example", "Example Corp", "Tokyo", "Tokyo"},
    {"sakura-data", "さくらデータ株式会社", "大阪市", "大阪府"},
    {"northwind", "Northwind Traders KK", "Fukuoka", "Fukuoka"},
};

const Posting kPostings[] = {
    {0, "Site Reliability Engineer", "FULL_TIME", 7000000, 11000000, "2026-11-01"},
    {0, "バックエンドエンジニア (Go / C++)", "FULL_TIME", 6000000, 9500000, "2026-11-03"},
    {1, "Database Administrator", "FULL_TIME", 6500000, 9000000, "2026-10-28"},
    {1, "Frontend Engineer (TypeScript)", "CONTRACTOR", 5500000, 8000000, "2026-11-10"},
    {2, "データエンジニア", "FULL_TIME", 6000000, 10000000, "2026-11-12"},
    {2, "機械学習エンジニア", "FULL_TIME", 8000000, 13000000, "2026-11-15"},
    {3, "Recruiting Coordinator", "PART_TIME", 3000000, 4200000, "2026-11-18"},
    {3, "Security Engineer", "FULL_TIME", 8000000, 12000000, "2026-11-20"},
    {0, "採用担当 (リクルーター)", "FULL_TIME", 4500000, 6500000, "2026-11-21"},
    {1, "Platform Engineer", "FULL_TIME", 7500000, 11500000, "2026-11-22"},
    {2, "QA エンジニア", "FULL_TIME", 5000000, 7000000, "2026-11-23"},
    {3, "Engineering Manager", "FULL_TIME", 10000000, 15000000, "2026-11-24"},
};
constexpr int kCount = static_cast<int>(sizeof kPostings / sizeof kPostings[0]);
constexpr int kNoDescription = 7;  // a posting without a description (counted as invalid)
constexpr int kClosed = 12;        // closed: 410 Gone
constexpr int kPerPage = 6;

std::string Esc(std::string_view s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o.push_back(c);
  }
  return o;
}

std::string Page(const std::string& title, const std::string& body, const std::string& head = "") {
  return "<!doctype html><html lang=ja><head><meta charset=utf-8><title>" + Esc(title) +
         " · Hakone Jobs</title><meta name=description content=\"Jobs in Japan, a demo job board\">" + head +
         "</head><body><header><a href=/>Hakone Jobs</a></header><main>" + body + "</main></body></html>";
}

std::string PostingJsonLd(int id) {
  const Posting& p = kPostings[id - 1];
  const Company& c = kCompanies[p.company];
  json::object o{{"@context", "https://schema.org/"},
                 {"@type", "JobPosting"},
                 {"title", p.title},
                 {"datePosted", p.posted},
                 {"validThrough", "2027-03-31T23:59"},
                 {"employmentType", p.type},
                 {"identifier", json::object{{"@type", "PropertyValue"}, {"name", c.name}, {"value", "HJ-" + std::to_string(id)}}},
                 {"hiringOrganization", json::object{{"@type", "Organization"}, {"name", c.name}, {"sameAs", std::string("https://") + c.slug + ".example.jp"}}},
                 {"jobLocation", json::object{{"@type", "Place"},
                                              {"address", json::object{{"@type", "PostalAddress"}, {"addressLocality", c.city},
                                                                       {"addressRegion", c.region}, {"addressCountry", "JP"}}}}},
                 {"baseSalary", json::object{{"@type", "MonetaryAmount"}, {"currency", "JPY"},
                                             {"value", json::object{{"@type", "QuantitativeValue"}, {"minValue", p.salary_min},
                                                                    {"maxValue", p.salary_max}, {"unitText", "YEAR"}}}}}};
  if (id != kNoDescription) o["description"] = std::string("<p>") + p.title + " at " + c.name + ". Join a small team building recruiting software.</p>";
  return json::serialize(o);
}

HttpResponse Html(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::move(body);
  return r;
}

HttpResponse Listing(int page) {
  int pages = (kCount + kPerPage - 1) / kPerPage;
  if (page < 1 || page > pages) return Html(404, Page("Not found", "<p>No such page.</p>"));
  std::string b = "<h1>Jobs (page " + std::to_string(page) + " of " + std::to_string(pages) + ")</h1><ul>";
  for (int i = (page - 1) * kPerPage; i < std::min(kCount, page * kPerPage); ++i) {
    b += "<li><a href=/jobs/" + std::to_string(i + 1) + ">" + Esc(kPostings[i].title) + "</a> — <a href=/companies/" +
         kCompanies[kPostings[i].company].slug + ">" + Esc(kCompanies[kPostings[i].company].name) + "</a></li>";
  }
  b += "</ul><nav>";
  if (page > 1) b += "<a href=\"/jobs?page=" + std::to_string(page - 1) + "\">previous</a> ";
  if (page < pages) b += "<a href=\"/jobs?page=" + std::to_string(page + 1) + "\">next</a>";
  b += "</nav><p><a href=/jobs/" + std::to_string(kClosed) + ">An older posting</a> · <a href=/about-us>About us</a> · "
       "<a href=/admin/>Admin</a></p>";
  return Html(200, Page("Jobs", b));
}

}  // namespace

int JobBoardPostingCount() { return kCount; }

namespace {

class JobBoard : public Component {
 public:
  JobBoard(Runtime& rt, asio::ip::tcp::endpoint ep) : ep_(ep), server_(rt.io(), HttpServer::Options{.server_name = "hakone-jobs"}) {
    server_.Route("GET", "/robots.txt", [this](HttpRequest&) -> asio::awaitable<HttpResponse> {
      HttpResponse r = HttpResponse::Text(200, "User-agent: *\nDisallow: /admin/\n\nSitemap: http://" + Self() + "/sitemap.xml\n");
      co_return r;
    });
    server_.Route("GET", "/sitemap.xml", [this](HttpRequest&) -> asio::awaitable<HttpResponse> {
      std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n";
      for (int i = 1; i < kCount; ++i) x += "  <url><loc>http://" + Self() + "/jobs/" + std::to_string(i) + "</loc></url>\n";
      x += "</urlset>\n";
      HttpResponse r;
      r.content_type = "application/xml";
      r.body = std::move(x);
      co_return r;
    });
    server_.Route("GET", "/", [](HttpRequest&) -> asio::awaitable<HttpResponse> { co_return Listing(1); });
    server_.Route("GET", "/jobs", [](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      int page = 1;
      if (auto p = req.Param("page")) {
        try {
          page = std::stoi(*p);
        } catch (...) {
          page = 0;
        }
      }
      co_return Listing(page);
    });
    server_.Route("GET", "/jobs/*", [](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      int id = 0;
      try {
        size_t pos = 0;
        id = std::stoi(req.path.substr(6), &pos);
        if (pos != req.path.size() - 6) id = 0;
      } catch (...) {
      }
      if (id == kClosed) co_return Html(410, Page("Closed", "<p>This posting is closed.</p>"));
      if (id < 1 || id > kCount) co_return Html(404, Page("Not found", "<p>No such posting.</p>"));
      const Posting& p = kPostings[id - 1];
      const Company& c = kCompanies[p.company];
      std::string body = "<h1>" + Esc(p.title) + "</h1><p><a href=/companies/" + c.slug + ">" + Esc(c.name) + "</a> · " +
                         Esc(c.city) + "</p><p><a href=/jobs>All jobs</a></p>";
      co_return Html(200, Page(p.title, body, "<script type=\"application/ld+json\">" + PostingJsonLd(id) + "</script>"));
    });
    server_.Route("GET", "/companies/*", [](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      std::string slug = req.path.substr(11);
      for (const auto& c : kCompanies) {
        if (slug != c.slug) continue;
        std::string b = std::string("<h1>") + Esc(c.name) + "</h1><ul>";
        for (int i = 0; i < kCount; ++i)
          if (&kCompanies[kPostings[i].company] == &c && i + 1 != kClosed)
            b += "<li><a href=/jobs/" + std::to_string(i + 1) + ">" + Esc(kPostings[i].title) + "</a></li>";
        b += "</ul>";
        co_return Html(200, Page(c.name, b));
      }
      co_return Html(404, Page("Not found", "<p>No such company.</p>"));
    });
    server_.Route("GET", "/healthz", [](HttpRequest&) -> asio::awaitable<HttpResponse> { co_return HttpResponse::Text(200, "ok\n"); });
  }
  std::string name() const override { return "job-board"; }
  Status Start() override {
    HAKONE_RETURN_IF_ERROR(server_.Listen(ep_));
    self_ = FormatEndpoint(server_.local_endpoint());
    log::Info("job board listening", {{"listen", self_}});
    return Status::Ok();
  }
  void Stop() override { server_.Stop(); }

 private:
  std::string Self() const { return self_; }
  asio::ip::tcp::endpoint ep_;
  HttpServer server_;
  std::string self_;
};

}  // namespace

Result<std::unique_ptr<Component>> MakeJobBoard(Runtime& rt, const std::string& listen) {
  auto ep = ParseEndpoint(listen);
  if (!ep.ok()) return Status::InvalidArgument("job board: " + ep.status().message());
  return std::unique_ptr<Component>(new JobBoard(rt, *ep));
}

}  // namespace hakone::demo
