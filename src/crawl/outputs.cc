#include "crawl/outputs.h"

#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <ctime>

#include "core/pg.h"
#include "core/sqlite.h"
#include "crawl/fetcher.h"
#include "store/event_store.h"
#include "store/local.h"

namespace json = boost::json;

namespace hakone::crawl {
namespace {

json::object PostingObject(const PostingDoc& d) {
  const JobPosting& p = *d.posting;
  json::object o;
  o["job_id"] = d.job_id;
  o["url"] = d.url;
  o["source"] = p.source;
  o["title"] = p.title;
  o["description"] = p.description;
  if (!p.date_posted.empty()) o["date_posted"] = p.date_posted;
  if (!p.valid_through.empty()) o["valid_through"] = p.valid_through;
  json::object org;
  org["id"] = d.company_id;
  org["name"] = p.org_name;
  if (!p.org_url.empty()) org["url"] = p.org_url;
  o["hiring_organization"] = std::move(org);
  o["job_location"] = p.location;
  o["employment_type"] = p.employment_type;
  if (!p.salary_currency.empty() || p.salary_min || p.salary_max) {
    json::object s;
    s["currency"] = p.salary_currency;
    if (p.salary_min) s["min"] = *p.salary_min;
    if (p.salary_max) s["max"] = *p.salary_max;
    if (!p.salary_unit.empty()) s["unit"] = p.salary_unit;
    o["base_salary"] = std::move(s);
  }
  if (!p.identifier.empty()) o["identifier"] = p.identifier;
  json::array missing;
  for (const auto& m : p.missing) missing.emplace_back(m);
  o["missing_properties"] = std::move(missing);
  o["valid"] = p.missing.empty();
  o["content_hash"] = d.content_hash;
  o["@timestamp"] = d.crawled_at;
  return o;
}

class BulkOutput : public Output {
 public:
  BulkOutput(std::string base, std::string pages, std::string jobs, int max_docs, bool emit_pages)
      : base_(std::move(base)), pages_(std::move(pages)), jobs_(std::move(jobs)), max_docs_(max_docs),
        emit_pages_(emit_pages) {
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
  }
  void SetToken(std::string token) { headers_.push_back("Authorization: Bearer " + token); }
  Status Page(const PageDoc& p) override {
    if (!emit_pages_) return Status::Ok();
    Add(pages_, p.url, PageJson(p));
    return MaybeFlush();
  }
  Status Posting(const PostingDoc& p) override {
    Add(jobs_, p.job_id, PostingJson(p));
    return MaybeFlush();
  }
  Status Flush() override {
    if (docs_ == 0) return Status::Ok();
    std::string resp, err;
    int status = HttpSend("POST", base_ + "/_bulk", "application/x-ndjson", buf_, &resp, &err,
                          std::chrono::seconds(60), headers_);
    int n = docs_;
    buf_.clear();
    docs_ = 0;
    if (status == 0) return Status::Unavailable("crawl: _bulk to " + base_ + ": " + err);
    if (status < 200 || status > 299) {
      return Status::IOError("crawl: _bulk to " + base_ + ": HTTP " + std::to_string(status) + ": " + resp.substr(0, 300));
    }
    boost::system::error_code ec;
    json::value v = json::parse(resp, ec);
    if (ec || !v.is_object()) return Status::IOError("crawl: _bulk: response is not JSON");
    const auto* errors = v.as_object().if_contains("errors");
    if (errors && errors->is_bool() && errors->as_bool()) {
      std::string first;
      if (const auto* items = v.as_object().if_contains("items"); items && items->is_array()) {
        for (const auto& it : items->as_array()) {
          if (!it.is_object() || it.as_object().empty()) continue;
          const auto& op = it.as_object().begin()->value();
          if (op.is_object() && op.as_object().contains("error")) {
            first = json::serialize(op.as_object().at("error"));
            break;
          }
        }
      }
      return Status::IOError("crawl: _bulk: some of " + std::to_string(n) + " documents failed: " + first.substr(0, 300));
    }
    return Status::Ok();
  }

 private:
  void Add(const std::string& index, const std::string& id, const std::string& doc) {
    json::object action{{"index", json::object{{"_index", index}, {"_id", id}}}};
    buf_ += json::serialize(action);
    buf_ += '\n';
    buf_ += doc;
    buf_ += '\n';
    ++docs_;
  }
  Status MaybeFlush() { return docs_ >= max_docs_ ? Flush() : Status::Ok(); }

  std::string base_, pages_, jobs_;
  int max_docs_;
  bool emit_pages_;
  std::string buf_;
  int docs_ = 0;
  std::vector<std::string> headers_;
};

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS crawl_companies (
  company_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  url TEXT,
  first_seen BIGINT NOT NULL,
  last_seen BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS crawl_jobs (
  job_id TEXT PRIMARY KEY,
  company_id TEXT NOT NULL,
  title TEXT NOT NULL,
  url TEXT NOT NULL,
  date_posted TEXT,
  valid_through TEXT,
  employment_type TEXT,
  location TEXT,
  salary_currency TEXT,
  salary_min DOUBLE PRECISION,
  salary_max DOUBLE PRECISION,
  salary_unit TEXT,
  identifier TEXT,
  source TEXT NOT NULL,
  missing_properties TEXT NOT NULL,
  content_hash TEXT,
  first_seen BIGINT NOT NULL,
  last_seen BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS crawl_jobs_company ON crawl_jobs(company_id);
)";

constexpr const char* kUpsertCompany =
    "INSERT INTO crawl_companies(company_id,name,url,first_seen,last_seen) VALUES($1,$2,$3,$4,$4) "
    "ON CONFLICT(company_id) DO UPDATE SET name=excluded.name, "
    "url=COALESCE(NULLIF(excluded.url,''),crawl_companies.url), last_seen=excluded.last_seen";
constexpr const char* kUpsertJob =
    "INSERT INTO crawl_jobs(job_id,company_id,title,url,date_posted,valid_through,employment_type,location,"
    "salary_currency,salary_min,salary_max,salary_unit,identifier,source,missing_properties,content_hash,"
    "first_seen,last_seen) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$17) "
    "ON CONFLICT(job_id) DO UPDATE SET company_id=excluded.company_id, title=excluded.title, url=excluded.url, "
    "date_posted=excluded.date_posted, valid_through=excluded.valid_through, "
    "employment_type=excluded.employment_type, location=excluded.location, "
    "salary_currency=excluded.salary_currency, salary_min=excluded.salary_min, salary_max=excluded.salary_max, "
    "salary_unit=excluded.salary_unit, identifier=excluded.identifier, source=excluded.source, "
    "missing_properties=excluded.missing_properties, content_hash=excluded.content_hash, "
    "last_seen=excluded.last_seen";

std::vector<std::optional<std::string>> CompanyRow(const PostingDoc& d, int64_t now) {
  return {d.company_id, d.posting->org_name, d.posting->org_url, std::to_string(now)};
}

std::vector<std::optional<std::string>> JobRow(const PostingDoc& d, int64_t now) {
  const JobPosting& p = *d.posting;
  auto opt = [](const std::string& s) -> std::optional<std::string> {
    if (s.empty()) return std::nullopt;
    return s;
  };
  auto num = [](const std::optional<double>& v) -> std::optional<std::string> {
    if (!v) return std::nullopt;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", *v);
    return std::string(buf);
  };
  std::string missing;
  for (const auto& m : p.missing) missing += (missing.empty() ? "" : ",") + m;
  return {d.job_id, d.company_id, p.title, d.url, opt(p.date_posted), opt(p.valid_through),
          opt(p.employment_type), opt(p.location), opt(p.salary_currency), num(p.salary_min),
          num(p.salary_max), opt(p.salary_unit), opt(p.identifier), p.source, missing,
          d.content_hash, std::to_string(now)};
}

class SqliteTableOutput : public Output {
 public:
  static Result<std::unique_ptr<Output>> Open(const std::string& path) {
    auto out = std::make_unique<SqliteTableOutput>();
    HAKONE_ASSIGN_OR_RETURN(out->db_, SqliteDb::Open(path));
    HAKONE_RETURN_IF_ERROR(out->db_.Exec("PRAGMA cache_size=-512"));  // upserts by key: a small cache is enough
    HAKONE_RETURN_IF_ERROR(out->db_.Exec(kSchema));
    // SQLite takes ?NNN parameters; $N placeholders also work (named "$1"...), bound by index.
    HAKONE_ASSIGN_OR_RETURN(out->company_, out->db_.Prepare(kUpsertCompany));
    HAKONE_ASSIGN_OR_RETURN(out->job_, out->db_.Prepare(kUpsertJob));
    return std::unique_ptr<Output>(std::move(out));
  }
  Status Page(const PageDoc&) override { return Status::Ok(); }
  Status Posting(const PostingDoc& d) override {
    if (!in_tx_) {
      HAKONE_RETURN_IF_ERROR(db_.Exec("BEGIN"));
      in_tx_ = true;
    }
    int64_t now = NowUnix();
    if (!d.company_id.empty()) HAKONE_RETURN_IF_ERROR(Run(company_, CompanyRow(d, now)));
    HAKONE_RETURN_IF_ERROR(Run(job_, JobRow(d, now)));
    if (++pending_ >= 500) return Flush();
    return Status::Ok();
  }
  Status Flush() override {
    if (!in_tx_) return Status::Ok();
    in_tx_ = false;
    pending_ = 0;
    return db_.Exec("COMMIT");
  }

 private:
  static Status Run(SqliteStmt& st, const std::vector<std::optional<std::string>>& row) {
    HAKONE_RETURN_IF_ERROR(st.Reset());
    st.ClearBindings();
    for (size_t i = 0; i < row.size(); ++i) {
      if (row[i]) {
        HAKONE_RETURN_IF_ERROR(st.Bind(static_cast<int>(i + 1), std::string_view(*row[i])));
      } else {
        HAKONE_RETURN_IF_ERROR(st.Bind(static_cast<int>(i + 1), nullptr));
      }
    }
    auto r = st.Step();
    if (!r.ok()) return r.status();
    return Status::Ok();
  }
  SqliteDb db_;
  SqliteStmt company_, job_;
  bool in_tx_ = false;
  int pending_ = 0;
};

class PgTableOutput : public Output {
 public:
  static Result<std::unique_ptr<Output>> Open(const std::string& url) {
    auto out = std::make_unique<PgTableOutput>();
    HAKONE_ASSIGN_OR_RETURN(out->conn_, PgConn::Connect(url));
    HAKONE_RETURN_IF_ERROR(out->conn_.Exec(kSchema));
    return std::unique_ptr<Output>(std::move(out));
  }
  Status Page(const PageDoc&) override { return Status::Ok(); }
  Status Posting(const PostingDoc& d) override {
    int64_t now = NowUnix();
    if (!d.company_id.empty()) {
      auto r = conn_.Query(kUpsertCompany, CompanyRow(d, now));
      if (!r.ok()) return r.status();
    }
    auto r = conn_.Query(kUpsertJob, JobRow(d, now));
    if (!r.ok()) return r.status();
    return Status::Ok();
  }
  Status Flush() override { return Status::Ok(); }

 private:
  PgConn conn_;
};

}  // namespace

std::string CompanyId(std::string_view name) {
  std::string out;
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isspace(u)) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += static_cast<char>(std::tolower(u));
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string PageJson(const PageDoc& p) {
  json::object o;
  o["url"] = p.url;
  if (p.final_url != p.url) o["final_url"] = p.final_url;
  o["status"] = p.status;
  o["depth"] = p.depth;
  o["content_type"] = p.content_type;
  o["content_hash"] = p.content_hash;
  o["bytes"] = p.bytes;
  o["@timestamp"] = p.fetched_at;
  if (p.extract) {
    const PageExtract& e = *p.extract;
    o["title"] = e.title;
    if (!e.meta_description.empty()) o["description"] = e.meta_description;
    o["text"] = e.text;
    o["links"] = static_cast<int64_t>(e.links.size());
    o["postings"] = static_cast<int64_t>(e.postings.size());
    json::array invalid;
    for (size_t i = 0; i < e.postings.size(); ++i) {
      if (e.postings[i].missing.empty()) continue;
      json::object m;
      m["index"] = static_cast<int64_t>(i);
      m["title"] = e.postings[i].title;
      json::array miss;
      for (const auto& x : e.postings[i].missing) miss.emplace_back(x);
      m["missing"] = std::move(miss);
      invalid.push_back(std::move(m));
    }
    if (!invalid.empty()) o["invalid_postings"] = std::move(invalid);
    if (!e.errors.empty()) {
      json::array errs;
      for (const auto& x : e.errors) errs.emplace_back(x);
      o["extract_errors"] = std::move(errs);
    }
  }
  return json::serialize(o);
}

std::string PostingJson(const PostingDoc& p) { return json::serialize(PostingObject(p)); }

std::unique_ptr<Output> NewBulkOutput(std::string base_url, std::string pages_index, std::string jobs_index,
                                      int max_docs, bool emit_pages, std::string token) {
  auto out = std::make_unique<BulkOutput>(std::move(base_url), std::move(pages_index), std::move(jobs_index),
                                          max_docs, emit_pages);
  if (!token.empty()) out->SetToken(std::move(token));
  return out;
}

namespace {

class StoreOutput : public Output {
 public:
  StoreOutput(std::string pages, std::string jobs, int max_docs, bool emit_pages)
      : pages_(std::move(pages)), jobs_(std::move(jobs)), max_docs_(max_docs < 1 ? 1 : max_docs), emit_pages_(emit_pages) {}
  Status Page(const PageDoc& p) override {
    if (!emit_pages_) return Status::Ok();
    Add(pages_, p.url, PageJson(p));
    return MaybeFlush();
  }
  Status Posting(const PostingDoc& p) override {
    Add(jobs_, p.job_id, PostingJson(p));
    return MaybeFlush();
  }
  Status Flush() override {
    if (items_.empty()) return Status::Ok();
    store::EventStore* st = store::ProcessStore();
    if (!st) return Status::Unavailable("crawl: the in-process store is not open any more");
    std::vector<store::WriteResult> res;
    Status s = st->Write(items_, &res);
    size_t n = items_.size();
    if (!s.ok()) {
      items_.clear();
      return s.WithContext("crawl: store write of " + std::to_string(n) + " documents");
    }
    for (size_t i = 0; i < res.size() && i < n; i++)
      if (!res[i].status.ok()) {
        std::string what = items_[i].stream + "/" + items_[i].id.value_or("");
        items_.clear();
        return Status::IOError("crawl: store refused " + what + ": " + res[i].status.message());
      }
    items_.clear();
    return Status::Ok();
  }

 private:
  void Add(const std::string& stream, const std::string& id, std::string doc) {
    store::WriteItem w;
    w.op = store::WriteItem::Op::kIndex;
    w.stream = stream;
    w.id = id;
    w.source_json = std::move(doc);
    items_.push_back(std::move(w));
  }
  Status MaybeFlush() { return static_cast<int>(items_.size()) >= max_docs_ ? Flush() : Status::Ok(); }

  std::string pages_, jobs_;
  int max_docs_;
  bool emit_pages_;
  std::vector<store::WriteItem> items_;
};

}  // namespace

Result<std::unique_ptr<Output>> NewStoreOutput(std::string pages_index, std::string jobs_index, int max_docs, bool emit_pages) {
  if (!store::ProcessStore())
    return Status::InvalidArgument(
        "config: [crawl.output] store = true needs the in-process store: run the crawler inside `hakone serve` "
        "(or the demo), or use es_url");
  return std::unique_ptr<Output>(new StoreOutput(std::move(pages_index), std::move(jobs_index), max_docs, emit_pages));
}

Result<std::unique_ptr<Output>> NewTableOutput(const std::string& spec) {
  if (spec.starts_with("sqlite:")) return SqliteTableOutput::Open(spec.substr(7));
  if (spec.starts_with("postgresql://") || spec.starts_with("postgres://")) return PgTableOutput::Open(spec);
  return Status::InvalidArgument("config: [crawl.output] table: must be sqlite:PATH or postgresql://... (got '" +
                                 spec + "')");
}

}  // namespace hakone::crawl
