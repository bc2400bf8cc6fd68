#include "graph/build.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <toml++/toml.h>
#include <unordered_map>

#include "core/pg.h"
#include <sqlite3.h>
#include "store/audit_store.h"

namespace hakone::graph {

namespace fs = std::filesystem;

// ---------------------------------------------------------------- mapping

namespace {

struct MapErr {
  std::string file;
  Status At(const toml::node* n, const std::string& what) const {
    std::string line = n && n->source().begin.line ? " line " + std::to_string(n->source().begin.line) : "";
    return Status::InvalidArgument("mapping " + file + line + ": " + what);
  }
};

Result<std::string> GetString(const toml::table& t, const char* key, bool required, const MapErr& err,
                              const std::string& entry, const std::string& def = "") {
  const toml::node* n = t.get(key);
  if (!n) {
    if (required) return err.At(&t, entry + ": '" + key + "' is required");
    return def;
  }
  if (!n->is_string()) return err.At(n, entry + ": '" + key + "' must be a string");
  return std::string(*n->value<std::string>());
}

Result<std::vector<std::string>> GetStrings(const toml::table& t, const char* key, const MapErr& err,
                                            const std::string& entry) {
  std::vector<std::string> out;
  const toml::node* n = t.get(key);
  if (!n) return out;
  const toml::array* a = n->as_array();
  if (!a) return err.At(n, entry + ": '" + key + "' must be an array of strings");
  for (const auto& e : *a) {
    if (!e.is_string()) return err.At(&e, entry + ": '" + key + "' must be an array of strings");
    out.push_back(*e.value<std::string>());
  }
  return out;
}

Status CheckKeys(const toml::table& t, std::initializer_list<const char*> allowed, const MapErr& err,
                 const std::string& entry) {
  for (auto&& [k, v] : t) {
    bool ok = false;
    for (const char* a : allowed)
      if (k.str() == a) ok = true;
    if (!ok) {
      std::string list;
      for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
      return err.At(&v, entry + ": unknown key '" + std::string(k.str()) + "' (allowed: " + list + ")");
    }
  }
  return Status::Ok();
}

std::string ResolveSource(const std::string& src, const std::string& base) {
  for (const char* pfx : {"sqlite:", "csv:"}) {
    size_t n = std::strlen(pfx);
    if (src.compare(0, n, pfx) == 0) {
      std::string p = src.substr(n);
      if (!p.empty() && p[0] != '/' && !base.empty()) p = base + "/" + p;
      return pfx + p;
    }
  }
  return src;
}

Status CheckSource(const std::string& src, const toml::node* n, const MapErr& err, const std::string& entry) {
  if (src.rfind("sqlite:", 0) == 0 || src.rfind("csv:", 0) == 0 || src.rfind("postgresql://", 0) == 0 ||
      src.rfind("postgres://", 0) == 0)
    return Status::Ok();
  return err.At(n, entry + ": source '" + src + "' must be sqlite:PATH, csv:PATH or postgresql://...");
}

Result<EndpointSpec> GetEndpoint(const toml::table& t, const char* key, const MapErr& err, const std::string& entry) {
  const toml::node* n = t.get(key);
  if (!n) return err.At(&t, entry + ": '" + key + "' is required ({ label = \"...\", column = \"...\" })");
  const toml::table* e = n->as_table();
  if (!e) return err.At(n, entry + ": '" + key + "' must be a table { label = \"...\", column = \"...\" }");
  HAKONE_RETURN_IF_ERROR(CheckKeys(*e, {"label", "column"}, err, entry + " " + key));
  EndpointSpec s;
  HAKONE_ASSIGN_OR_RETURN(s.label, GetString(*e, "label", true, err, entry + " " + key));
  HAKONE_ASSIGN_OR_RETURN(s.column, GetString(*e, "column", true, err, entry + " " + key));
  return s;
}

}  // namespace

Result<Mapping> ParseMapping(std::string_view text, const std::string& name, const std::string& base_dir) {
  MapErr err{name};
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument("mapping " + name + " line " + std::to_string(e.source().begin.line) +
                                   " column " + std::to_string(e.source().begin.column) + ": " +
                                   std::string(e.description()));
  }
  Mapping m;
  m.path = name;
  HAKONE_RETURN_IF_ERROR(CheckKeys(root, {"source", "nodes", "relationships", "audit"}, err, "top level"));
  HAKONE_ASSIGN_OR_RETURN(std::string def_source, GetString(root, "source", false, err, "top level"));
  auto array_of_tables = [&](const char* key) -> Result<std::vector<const toml::table*>> {
    std::vector<const toml::table*> out;
    const toml::node* n = root.get(key);
    if (!n) return out;
    const toml::array* a = n->as_array();
    if (!a) return err.At(n, std::string("'") + key + "' must be an array of tables ([[" + key + "]])");
    for (const auto& e : *a) {
      if (!e.is_table()) return err.At(&e, std::string("[[") + key + "]] entries must be tables");
      out.push_back(e.as_table());
    }
    return out;
  };
  auto source_of = [&](const toml::table& t, const std::string& entry) -> Result<std::string> {
    HAKONE_ASSIGN_OR_RETURN(std::string s, GetString(t, "source", false, err, entry, def_source));
    if (s.empty()) return err.At(&t, entry + ": 'source' is required (or a top-level source)");
    HAKONE_RETURN_IF_ERROR(CheckSource(s, t.get("source") ? t.get("source") : &t, err, entry));
    return ResolveSource(s, base_dir);
  };
  auto query_of = [&](const toml::table& t, const std::string& entry, const std::string& src, std::string* query,
                      std::string* table) -> Status {
    HAKONE_ASSIGN_OR_RETURN(*query, GetString(t, "query", false, err, entry));
    HAKONE_ASSIGN_OR_RETURN(*table, GetString(t, "table", false, err, entry));
    bool csv = src.rfind("csv:", 0) == 0;
    if (!csv && query->empty() && table->empty()) return err.At(&t, entry + ": 'query' or 'table' is required");
    if (!query->empty() && !table->empty()) return err.At(&t, entry + ": give 'query' or 'table', not both");
    if (csv && (!query->empty() || !table->empty()))
      return err.At(&t, entry + ": csv sources take no 'query'/'table' (the file is the table)");
    for (char c : *table)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'))
        return err.At(t.get("table"), entry + ": table '" + *table + "' is not a plain identifier");
    return Status::Ok();
  };
  HAKONE_ASSIGN_OR_RETURN(auto nodes, array_of_tables("nodes"));
  int idx = 0;
  for (const toml::table* t : nodes) {
    ++idx;
    std::string entry = "[[nodes]] #" + std::to_string(idx);
    NodeSpec s;
    s.line = static_cast<int>(t->source().begin.line);
    HAKONE_ASSIGN_OR_RETURN(s.label, GetString(*t, "label", true, err, entry));
    entry = "[[nodes]] " + s.label;
    HAKONE_RETURN_IF_ERROR(CheckKeys(*t, {"label", "source", "query", "table", "id", "properties"}, err, entry));
    HAKONE_ASSIGN_OR_RETURN(s.source, source_of(*t, entry));
    HAKONE_RETURN_IF_ERROR(query_of(*t, entry, s.source, &s.query, &s.table));
    HAKONE_ASSIGN_OR_RETURN(s.id, GetString(*t, "id", false, err, entry, "id"));
    HAKONE_ASSIGN_OR_RETURN(s.properties, GetStrings(*t, "properties", err, entry));
    for (const auto& prev : m.nodes)
      if (prev.label == s.label)
        return err.At(t, entry + ": label " + s.label + " is already mapped (line " + std::to_string(prev.line) + ")");
    m.nodes.push_back(std::move(s));
  }
  HAKONE_ASSIGN_OR_RETURN(auto rels, array_of_tables("relationships"));
  idx = 0;
  for (const toml::table* t : rels) {
    ++idx;
    std::string entry = "[[relationships]] #" + std::to_string(idx);
    RelSpec s;
    s.line = static_cast<int>(t->source().begin.line);
    HAKONE_ASSIGN_OR_RETURN(s.type, GetString(*t, "type", true, err, entry));
    entry = "[[relationships]] " + s.type;
    HAKONE_RETURN_IF_ERROR(
        CheckKeys(*t, {"type", "source", "query", "table", "from", "to", "properties"}, err, entry));
    HAKONE_ASSIGN_OR_RETURN(s.source, source_of(*t, entry));
    HAKONE_RETURN_IF_ERROR(query_of(*t, entry, s.source, &s.query, &s.table));
    HAKONE_ASSIGN_OR_RETURN(s.from, GetEndpoint(*t, "from", err, entry));
    HAKONE_ASSIGN_OR_RETURN(s.to, GetEndpoint(*t, "to", err, entry));
    HAKONE_ASSIGN_OR_RETURN(s.properties, GetStrings(*t, "properties", err, entry));
    m.rels.push_back(std::move(s));
  }
  HAKONE_ASSIGN_OR_RETURN(auto audits, array_of_tables("audit"));
  idx = 0;
  for (const toml::table* t : audits) {
    ++idx;
    std::string entry = "[[audit]] #" + std::to_string(idx);
    HAKONE_RETURN_IF_ERROR(CheckKeys(
        *t, {"type", "data_dir", "route", "method", "from_label", "to_label", "create_missing", "since_hours"}, err,
        entry));
    AuditSpec s;
    s.line = static_cast<int>(t->source().begin.line);
    HAKONE_ASSIGN_OR_RETURN(s.type, GetString(*t, "type", false, err, entry, "VIEWED"));
    HAKONE_ASSIGN_OR_RETURN(s.data_dir, GetString(*t, "data_dir", true, err, entry));
    if (!s.data_dir.empty() && s.data_dir[0] != '/' && !base_dir.empty()) s.data_dir = base_dir + "/" + s.data_dir;
    HAKONE_ASSIGN_OR_RETURN(s.route, GetString(*t, "route", true, err, entry));
    if (s.route.find("{id}") == std::string::npos)
      return err.At(t->get("route"), entry + ": route '" + s.route + "' must contain {id}");
    HAKONE_ASSIGN_OR_RETURN(s.method, GetString(*t, "method", false, err, entry));
    HAKONE_ASSIGN_OR_RETURN(s.from_label, GetString(*t, "from_label", false, err, entry, "User"));
    HAKONE_ASSIGN_OR_RETURN(s.to_label, GetString(*t, "to_label", true, err, entry));
    if (const toml::node* n = t->get("create_missing")) {
      if (!n->is_boolean()) return err.At(n, entry + ": 'create_missing' must be true or false");
      s.create_missing = *n->value<bool>();
    }
    if (const toml::node* n = t->get("since_hours")) {
      if (!n->is_integer()) return err.At(n, entry + ": 'since_hours' must be an integer");
      s.since_hours = *n->value<int64_t>();
    }
    m.audit.push_back(std::move(s));
  }
  if (m.nodes.empty()) return Status::InvalidArgument("mapping " + name + ": no [[nodes]] entries");
  // Endpoints must name mapped labels.
  auto has_label = [&](const std::string& l) {
    for (const auto& n : m.nodes)
      if (n.label == l) return true;
    for (const auto& a : m.audit)
      if (a.from_label == l && a.create_missing) return true;
    return false;
  };
  for (const auto& r : m.rels) {
    for (const auto* e : {&r.from, &r.to})
      if (!has_label(e->label))
        return Status::InvalidArgument("mapping " + name + " line " + std::to_string(r.line) + ": [[relationships]] " +
                                       r.type + ": label '" + e->label + "' has no [[nodes]] entry");
  }
  for (const auto& a : m.audit)
    if (!has_label(a.to_label))
      return Status::InvalidArgument("mapping " + name + " line " + std::to_string(a.line) + ": [[audit]] " + a.type +
                                     ": label '" + a.to_label + "' has no [[nodes]] entry");
  return m;
}

Result<Mapping> LoadMapping(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::IOError("mapping: cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string base = fs::path(path).parent_path().string();
  return ParseMapping(ss.str(), path, base);
}

// ---------------------------------------------------------------- sources

namespace {

// Text from PostgreSQL / CSV becomes an integer or float when it is exactly one.
Value InferValue(std::string_view s) {
  if (s.empty()) return Value(std::string());
  char* end = nullptr;
  std::string tmp(s);
  if ((std::isdigit(static_cast<unsigned char>(s[0])) || ((s[0] == '-' || s[0] == '+') && s.size() > 1)) &&
      !(s.size() > 1 && s[0] == '0' && std::isdigit(static_cast<unsigned char>(s[1])))) {
    errno = 0;
    long long v = std::strtoll(tmp.c_str(), &end, 10);
    if (*end == 0 && errno == 0) return Value(static_cast<int64_t>(v));
    double d = std::strtod(tmp.c_str(), &end);
    if (*end == 0) return Value(d);
  }
  if (s == "true" || s == "t") return Value(true);
  if (s == "false" || s == "f") return Value(false);
  return Value(std::move(tmp));
}

class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual const std::vector<std::string>& columns() const = 0;
  // false at the end.
  virtual Result<bool> Next(std::vector<Value>* row) = 0;
  virtual int64_t estimated_rows() const { return -1; }
};

// Uses the raw SQLite API (column names and types are not in core/sqlite.h), read-only.
class SqliteSource : public RowSource {
 public:
  ~SqliteSource() override {
    sqlite3_finalize(st_);
    sqlite3_close(db_);
  }
  static Result<std::unique_ptr<RowSource>> Open(const std::string& path, const std::string& sql) {
    if (!fs::exists(path)) return Status::NotFound("sqlite database " + path + " does not exist");
    auto s = std::make_unique<SqliteSource>();
    // One thread uses the connection: no SQLite mutexes (they showed up in the build profile).
    if (sqlite3_open_v2(path.c_str(), &s->db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
      return Status::IOError("sqlite " + path + ": " + sqlite3_errmsg(s->db_));
    s->sql_ = sql;
    if (sqlite3_prepare_v2(s->db_, sql.c_str(), -1, &s->st_, nullptr) != SQLITE_OK)
      return Status::InvalidArgument("sqlite " + path + ": " + sqlite3_errmsg(s->db_) + " in `" + sql + "`");
    int n = sqlite3_column_count(s->st_);
    for (int i = 0; i < n; ++i) {
      const char* name = sqlite3_column_name(s->st_, i);
      s->cols_.push_back(name ? name : "");
    }
    return std::unique_ptr<RowSource>(std::move(s));
  }
  const std::vector<std::string>& columns() const override { return cols_; }
  // Counted on first use only (a second scan of the query: the progress bar asks, --no-progress
  // does not).
  int64_t estimated_rows() const override {
    if (estimate_ < -1) {
      estimate_ = -1;
      sqlite3_stmt* cnt = nullptr;
      std::string csql = "SELECT count(*) FROM (" + sql_ + ")";
      if (sqlite3_prepare_v2(db_, csql.c_str(), -1, &cnt, nullptr) == SQLITE_OK && sqlite3_step(cnt) == SQLITE_ROW)
        estimate_ = sqlite3_column_int64(cnt, 0);
      sqlite3_finalize(cnt);
    }
    return estimate_;
  }
  Result<bool> Next(std::vector<Value>* row) override {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_DONE) return false;
    if (rc != SQLITE_ROW) return Status::IOError(std::string("sqlite: ") + sqlite3_errmsg(db_));
    row->resize(cols_.size());
    for (int i = 0; i < static_cast<int>(cols_.size()); ++i) {
      switch (sqlite3_column_type(st_, i)) {
        case SQLITE_INTEGER: (*row)[i] = Value(static_cast<int64_t>(sqlite3_column_int64(st_, i))); break;
        case SQLITE_FLOAT: (*row)[i] = Value(sqlite3_column_double(st_, i)); break;
        case SQLITE_NULL: (*row)[i] = Value(); break;
        default: {
          const char* t = reinterpret_cast<const char*>(sqlite3_column_text(st_, i));
          size_t len = static_cast<size_t>(sqlite3_column_bytes(st_, i));
          Value& cell = (*row)[i];
          // Reuse the previous row's string buffer (no allocation per cell once warm).
          if (cell.kind() == Value::kString) std::get<std::string>(cell.v).assign(t ? t : "", len);
          else cell = Value(std::string(t ? t : "", len));
        }
      }
    }
    return true;
  }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* st_ = nullptr;
  std::vector<std::string> cols_;
  std::string sql_;
  mutable int64_t estimate_ = -2;  // -2: not counted yet
};

class PgSource : public RowSource {
 public:
  static Result<std::unique_ptr<RowSource>> Open(const std::string& url, const std::string& sql) {
    auto s = std::make_unique<PgSource>();
    HAKONE_ASSIGN_OR_RETURN(s->conn_, PgConn::Connect(url));
    {
      auto r = s->conn_.Query("SELECT count(*) FROM (" + sql + ") AS hakone_count");
      if (r.ok() && r->rows() == 1)
        s->estimate_ = std::strtoll(std::string(r->Get(0, 0).value_or("-1")).c_str(), nullptr, 10);
    }
    HAKONE_RETURN_IF_ERROR(s->conn_.Exec("BEGIN READ ONLY"));
    HAKONE_RETURN_IF_ERROR(s->conn_.Exec("DECLARE hakone_graph_cursor NO SCROLL CURSOR FOR " + sql));
    HAKONE_RETURN_IF_ERROR(s->Fetch());
    for (int c = 0; c < s->res_.cols(); ++c) s->cols_.emplace_back(s->res_.ColumnName(c));
    return std::unique_ptr<RowSource>(std::move(s));
  }
  const std::vector<std::string>& columns() const override { return cols_; }
  int64_t estimated_rows() const override { return estimate_; }
  Result<bool> Next(std::vector<Value>* row) override {
    if (pos_ >= res_.rows()) {
      if (done_) return false;
      HAKONE_RETURN_IF_ERROR(Fetch());
      if (res_.rows() == 0) return false;
    }
    row->resize(cols_.size());
    for (size_t c = 0; c < cols_.size(); ++c) {
      auto v = res_.Get(pos_, static_cast<int>(c));
      (*row)[c] = v ? InferValue(*v) : Value();
    }
    ++pos_;
    return true;
  }

 private:
  Status Fetch() {
    HAKONE_ASSIGN_OR_RETURN(res_, conn_.Query("FETCH 20000 FROM hakone_graph_cursor"));
    pos_ = 0;
    if (res_.rows() < 20000) {
      done_ = true;
      (void)conn_.Exec("COMMIT");
    }
    return Status::Ok();
  }
  PgConn conn_;
  PgResult res_;
  int pos_ = 0;
  bool done_ = false;
  std::vector<std::string> cols_;
  int64_t estimate_ = -1;
};

// RFC 4180 CSV with a header row: quoted fields, "" escapes, CRLF or LF.
class CsvSource : public RowSource {
 public:
  static Result<std::unique_ptr<RowSource>> Open(const std::string& path) {
    auto s = std::make_unique<CsvSource>();
    s->in_.open(path, std::ios::binary);
    if (!s->in_) return Status::NotFound("csv file " + path + " cannot be read");
    std::vector<std::string> header;
    HAKONE_ASSIGN_OR_RETURN(bool ok, s->ReadRecord(&header));
    if (!ok || header.empty()) return Status::InvalidArgument("csv file " + path + " has no header row");
    s->cols_ = header;
    s->path_ = path;
    return std::unique_ptr<RowSource>(std::move(s));
  }
  const std::vector<std::string>& columns() const override { return cols_; }
  Result<bool> Next(std::vector<Value>* row) override {
    std::vector<std::string> f;
    HAKONE_ASSIGN_OR_RETURN(bool ok, ReadRecord(&f));
    if (!ok) return false;
    if (f.size() == 1 && f[0].empty()) return Next(row);  // blank line
    if (f.size() != cols_.size())
      return Status::InvalidArgument("csv " + path_ + " line " + std::to_string(line_) + ": " +
                                     std::to_string(f.size()) + " fields, header has " + std::to_string(cols_.size()));
    row->resize(f.size());
    for (size_t i = 0; i < f.size(); ++i) (*row)[i] = f[i].empty() ? Value() : InferValue(f[i]);
    return true;
  }

 private:
  Result<bool> ReadRecord(std::vector<std::string>* out) {
    out->clear();
    int c = in_.get();
    if (c == EOF) return false;
    ++line_;
    std::string field;
    bool quoted = false, was_quoted = false;
    for (;; c = in_.get()) {
      if (c == EOF) {
        if (quoted) return Status::InvalidArgument("csv " + path_ + " line " + std::to_string(line_) + ": unterminated quote");
        out->push_back(field);
        return true;
      }
      if (quoted) {
        if (c == '"') {
          if (in_.peek() == '"') {
            in_.get();
            field += '"';
          } else {
            quoted = false;
          }
        } else {
          if (c == '\n') ++line_;
          field += static_cast<char>(c);
        }
        continue;
      }
      if (c == '"' && field.empty() && !was_quoted) {
        quoted = was_quoted = true;
      } else if (c == ',') {
        out->push_back(std::move(field));
        field.clear();
        was_quoted = false;
      } else if (c == '\n') {
        if (!field.empty() && field.back() == '\r') field.pop_back();
        out->push_back(std::move(field));
        return true;
      } else {
        field += static_cast<char>(c);
      }
    }
  }
  std::ifstream in_;
  std::vector<std::string> cols_;
  std::string path_;
  int64_t line_ = 0;
};

// Reads another source's rows on a thread of its own, a batch ahead of the builder: decoding
// rows (SQLite's VM, libpq, CSV parsing) and building the graph each took about half of a build
// in the profile, so they overlap on two cores. Rows travel by swap, so their string buffers
// circulate between the threads instead of being reallocated.
class PrefetchSource : public RowSource {
 public:
  PrefetchSource(std::unique_ptr<RowSource> inner, int64_t estimate)
      : inner_(std::move(inner)), estimate_(estimate) {}
  ~PrefetchSource() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  const std::vector<std::string>& columns() const override { return inner_->columns(); }
  int64_t estimated_rows() const override { return estimate_; }
  Result<bool> Next(std::vector<Value>* row) override {
    if (!started_) {
      started_ = true;
      for (int i = 0; i < kBatches; ++i) free_.push_back(std::make_unique<Batch>());
      thread_ = std::thread([this] { Produce(); });
    }
    while (!cur_ || pos_ >= cur_->n) {
      if (cur_ && cur_->end) return cur_->status.ok() ? Result<bool>(false) : Result<bool>(cur_->status);
      std::unique_lock<std::mutex> l(mu_);
      if (cur_) {
        free_.push_back(std::move(cur_));
        cv_.notify_all();
      }
      cv_.wait(l, [&] { return !full_.empty(); });
      cur_ = std::move(full_.front());
      full_.pop_front();
      pos_ = 0;
    }
    std::swap(*row, cur_->rows[pos_++]);
    return true;
  }

 private:
  static constexpr int kBatches = 4;
  static constexpr size_t kBatchRows = 1024;
  struct Batch {
    std::vector<std::vector<Value>> rows = std::vector<std::vector<Value>>(kBatchRows);
    size_t n = 0;
    bool end = false;
    Status status;
  };
  void Produce() {
    for (;;) {
      std::unique_ptr<Batch> b;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return stop_ || !free_.empty(); });
        if (stop_) return;
        b = std::move(free_.front());
        free_.pop_front();
      }
      b->n = 0;
      while (b->n < kBatchRows) {
        auto more = inner_->Next(&b->rows[b->n]);
        if (!more.ok()) {
          b->status = more.status();
          b->end = true;
          break;
        }
        if (!*more) {
          b->end = true;
          break;
        }
        ++b->n;
      }
      bool end = b->end;
      {
        std::lock_guard<std::mutex> l(mu_);
        full_.push_back(std::move(b));
      }
      cv_.notify_all();
      if (end) return;
    }
  }

  std::unique_ptr<RowSource> inner_;
  int64_t estimate_;
  bool started_ = false;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::deque<std::unique_ptr<Batch>> free_, full_;
  std::unique_ptr<Batch> cur_;  // the batch Next() is reading (consumer thread only)
  size_t pos_ = 0;
};

// `estimate`: count the rows first (for the progress bar).
Result<std::unique_ptr<RowSource>> OpenSource(const std::string& source, const std::string& query,
                                              const std::string& table, bool estimate) {
  std::string sql = query.empty() ? "SELECT * FROM " + table : query;
  Result<std::unique_ptr<RowSource>> r = Status::Internal("no source");
  if (source.rfind("sqlite:", 0) == 0) r = SqliteSource::Open(source.substr(7), sql);
  else if (source.rfind("csv:", 0) == 0) r = CsvSource::Open(source.substr(4));
  else r = PgSource::Open(source, sql);
  if (!r.ok()) return r;
  int64_t rows = estimate ? (*r)->estimated_rows() : -1;
  return std::unique_ptr<RowSource>(std::make_unique<PrefetchSource>(std::move(*r), rows));
}

}  // namespace

// ---------------------------------------------------------------- build

namespace {

class Progress {
 public:
  explicit Progress(bool on) : on_(on) {}
  bool on() const { return on_; }
  void Update(const std::string& what, uint64_t done, int64_t total, bool force = false) {
    if (!on_) return;
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    char bar[32];
    int width = 24;
    if (total > 0) {
      int filled = static_cast<int>(std::min<double>(1.0, static_cast<double>(done) / total) * width);
      for (int i = 0; i < width; ++i) bar[i] = i < filled ? '#' : '.';
      bar[width] = 0;
      std::fprintf(stderr, "\r  [%s] %3d%% %-28s %llu/%lld rows   ", bar,
                   static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total)), what.c_str(),
                   static_cast<unsigned long long>(done), static_cast<long long>(total));
    } else {
      std::fprintf(stderr, "\r  %-28s %llu rows   ", what.c_str(), static_cast<unsigned long long>(done));
    }
    std::fflush(stderr);
  }
  void Done() {
    if (on_) std::fprintf(stderr, "\n");
  }

 private:
  bool on_;
  std::chrono::steady_clock::time_point last_{};
};

// Node ids of one label, by source id (integers and strings kept apart; "12" == 12).
// Integer ids are usually dense (1..N): those go to a direct array, the rest to a hash map.
struct IdIndex {
  std::vector<uint32_t> dense;  // id -> node, kNone when absent
  size_t dense_count = 0;
  std::unordered_map<int64_t, uint32_t> ints;
  std::unordered_map<std::string, uint32_t> strs;
  uint32_t FindInt(int64_t id) const {
    if (id >= 0 && static_cast<uint64_t>(id) < dense.size()) {
      uint32_t n = dense[static_cast<size_t>(id)];
      if (n != kNone || ints.empty()) return n;
    }
    if (ints.empty()) return kNone;
    auto it = ints.find(id);
    return it == ints.end() ? kNone : it->second;
  }
  bool InsertInt(int64_t id, uint32_t n) {
    // The array may grow to cover `id` while it stays at most ~4x the ids it holds.
    if (id >= 0 && (static_cast<uint64_t>(id) < dense.size() ||
                    static_cast<uint64_t>(id) < 4 * (dense_count + 1) + 4096)) {
      size_t i = static_cast<size_t>(id);
      if (i >= dense.size()) dense.resize(std::max(i + 1, dense.size() * 2), kNone);
      if (dense[i] != kNone || ints.count(id)) return false;
      dense[i] = n;
      ++dense_count;
      return true;
    }
    return ints.emplace(id, n).second;
  }
  uint32_t Find(const Value& v) const {
    if (v.kind() == Value::kInt) return FindInt(v.i());
    if (v.kind() == Value::kString) {
      auto it = strs.find(v.s());
      if (it != strs.end()) return it->second;
      Value iv = InferValue(v.s());
      if (iv.kind() == Value::kInt) return Find(iv);
      return kNone;
    }
    if (v.kind() == Value::kFloat && v.f() == static_cast<double>(static_cast<int64_t>(v.f())))
      return Find(Value(static_cast<int64_t>(v.f())));
    return kNone;
  }
  bool Insert(const Value& v, uint32_t n) {
    if (v.kind() == Value::kInt) return InsertInt(v.i(), n);
    if (v.kind() == Value::kString) {
      Value iv = InferValue(v.s());
      if (iv.kind() == Value::kInt) return InsertInt(iv.i(), n);
      return strs.emplace(v.s(), n).second;
    }
    if (v.kind() == Value::kFloat) return Insert(Value(static_cast<int64_t>(v.f())), n);
    return false;
  }
};

class Rejects {
 public:
  explicit Rejects(BuildReport* r) : r_(r) {}
  void Add(const std::string& entry, const std::string& reason, const std::string& example) {
    ++r_->rejected;
    for (auto& x : r_->rejects) {
      if (x.entry == entry && x.reason == reason) {
        ++x.count;
        if (x.examples.size() < 3) x.examples.push_back(example);
        return;
      }
    }
    r_->rejects.push_back({entry, reason, 1, {example}});
  }

 private:
  BuildReport* r_;
};

std::string Short(const Value& v) {
  std::string s = ToCypherString(v, nullptr);
  if (s.size() > 40) s = s.substr(0, 40) + "...";
  return s;
}

Result<std::vector<int>> ResolveColumns(const std::vector<std::string>& cols, const std::vector<std::string>& wanted,
                                        const std::string& entry, const std::string& source) {
  std::vector<int> out;
  for (const auto& w : wanted) {
    auto it = std::find(cols.begin(), cols.end(), w);
    if (it == cols.end()) {
      std::string have;
      for (const auto& c : cols) have += (have.empty() ? "" : ", ") + c;
      return Status::InvalidArgument(entry + ": column '" + w + "' is not in the rows of " + source +
                                     " (columns: " + have + ")");
    }
    out.push_back(static_cast<int>(it - cols.begin()));
  }
  return out;
}

std::string SourceName(const std::string& source, const std::string& query, const std::string& table) {
  std::string s = RedactPgUrl(source);
  if (!table.empty()) s += " table " + table;
  else if (!query.empty()) s += " query `" + (query.size() > 80 ? query.substr(0, 80) + "..." : query) + "`";
  return s;
}

}  // namespace

Result<std::shared_ptr<const Graph>> BuildGraph(const Mapping& m, const BuildOptions& opts, BuildReport* report) {
  auto t0 = std::chrono::steady_clock::now();
  GraphBuilder b;
  Progress progress(opts.progress);
  Rejects rejects(report);
  std::unordered_map<std::string, IdIndex> ids;
  std::vector<Value> row;
  std::vector<const Value*> cells;
  std::vector<uint32_t> keys;
  uint32_t id_key = b.InternKey("id");

  for (const auto& ns : m.nodes) {
    std::string entry = "[[nodes]] " + ns.label + " (line " + std::to_string(ns.line) + ")";
    std::string src = SourceName(ns.source, ns.query, ns.table);
    auto source = OpenSource(ns.source, ns.query, ns.table, opts.progress);
    if (!source.ok()) return source.status().WithContext("mapping " + m.path + ": " + entry + ": " + src);
    const auto& cols = (*source)->columns();
    auto idc = ResolveColumns(cols, {ns.id}, "mapping " + m.path + ": " + entry + " id", src);
    if (!idc.ok()) return idc.status();
    std::vector<std::string> props = ns.properties;
    if (props.empty())
      for (const auto& c : cols)
        if (c != ns.id) props.push_back(c);
    auto pc = ResolveColumns(cols, props, "mapping " + m.path + ": " + entry + " properties", src);
    if (!pc.ok()) return pc.status();
    uint32_t label = b.InternLabel(ns.label);
    keys.assign(1, id_key);
    for (const auto& p : props) keys.push_back(b.InternKey(p == "id" ? "source_id" : p));
    IdIndex& index = ids[ns.label];
    uint64_t n = 0;
    int64_t total = (*source)->estimated_rows();
    for (;;) {
      auto more = (*source)->Next(&row);
      if (!more.ok()) return more.status().WithContext("mapping " + m.path + ": " + entry + ": " + src);
      if (!*more) break;
      ++n;
      ++report->rows_read;
      const Value& idv = row[(*idc)[0]];
      if (idv.is_null() || (idv.kind() != Value::kInt && idv.kind() != Value::kString)) {
        rejects.Add(entry, "id column '" + ns.id + "' is null or not an integer/string",
                    "row " + std::to_string(n) + ": " + ns.id + "=" + Short(idv));
        continue;
      }
      // The cells point into the row (no copies); the id goes first, as an integer when the
      // text is one.
      Value id_int;
      const Value* id_cell = &idv;
      if (idv.kind() == Value::kString && (id_int = InferValue(idv.s())).kind() == Value::kInt) id_cell = &id_int;
      cells.resize(pc->size() + 1);
      cells[0] = id_cell;
      for (size_t k = 0; k < pc->size(); ++k) cells[k + 1] = &row[(*pc)[k]];
      uint32_t node = b.node_count();
      if (!index.Insert(idv, node)) {
        rejects.Add(entry, "duplicate id", "row " + std::to_string(n) + ": " + ns.id + "=" + Short(idv));
        continue;
      }
      b.AddNodeCells(label, keys, cells.data());
      if ((n & 1023) == 0) progress.Update(ns.label, n, total);
    }
    progress.Update(ns.label, n, total, true);
    progress.Done();
    report->nodes_per_label[ns.label] += n;
  }
  for (const auto& rs : m.rels) {
    std::string entry = "[[relationships]] " + rs.type + " (line " + std::to_string(rs.line) + ")";
    std::string src = SourceName(rs.source, rs.query, rs.table);
    auto source = OpenSource(rs.source, rs.query, rs.table, opts.progress);
    if (!source.ok()) return source.status().WithContext("mapping " + m.path + ": " + entry + ": " + src);
    const auto& cols = (*source)->columns();
    auto ec = ResolveColumns(cols, {rs.from.column, rs.to.column}, "mapping " + m.path + ": " + entry + " from/to", src);
    if (!ec.ok()) return ec.status();
    std::vector<std::string> props = rs.properties;
    if (props.empty())
      for (const auto& c : cols)
        if (c != rs.from.column && c != rs.to.column) props.push_back(c);
    auto pc = ResolveColumns(cols, props, "mapping " + m.path + ": " + entry + " properties", src);
    if (!pc.ok()) return pc.status();
    uint32_t type = b.InternType(rs.type);
    keys.clear();
    for (const auto& p : props) keys.push_back(b.InternKey(p));
    const IdIndex& fi = ids[rs.from.label];
    const IdIndex& ti = ids[rs.to.label];
    uint64_t n = 0, added = 0;
    int64_t total = (*source)->estimated_rows();
    for (;;) {
      auto more = (*source)->Next(&row);
      if (!more.ok()) return more.status().WithContext("mapping " + m.path + ": " + entry + ": " + src);
      if (!*more) break;
      ++n;
      ++report->rows_read;
      const Value& fv = row[(*ec)[0]];
      const Value& tv = row[(*ec)[1]];
      uint32_t f = fi.Find(fv);
      uint32_t t = ti.Find(tv);
      if (f == kNone || t == kNone) {
        bool from_bad = f == kNone;
        const EndpointSpec& e = from_bad ? rs.from : rs.to;
        const Value& v = from_bad ? fv : tv;
        rejects.Add(entry,
                    std::string(v.is_null() ? "null " : "dangling ") + (from_bad ? "from" : "to") + " id (no " +
                        e.label + " with that id)",
                    "row " + std::to_string(n) + ": " + e.column + "=" + Short(v));
        continue;
      }
      cells.resize(pc->size());
      for (size_t k = 0; k < pc->size(); ++k) cells[k] = &row[(*pc)[k]];
      b.AddRelCells(f, t, type, keys, cells.data());
      ++added;
      if ((n & 4095) == 0) progress.Update(rs.type, n, total);
    }
    progress.Update(rs.type, n, total, true);
    progress.Done();
    report->rels_per_type[rs.type] += added;
  }
  for (const auto& as : m.audit) {
    std::string entry = "[[audit]] " + as.type + " (line " + std::to_string(as.line) + ")";
    auto st = store::AuditStore::Open(store::AuditStoreDir(as.data_dir), nullptr);
    if (!st.ok()) return st.status().WithContext("mapping " + m.path + ": " + entry + ": operation log in " + as.data_dir);
    store::AuditQuery q;
    q.limit = 0;
    q.newest_first = false;
    std::string glob = as.route;
    size_t pos = glob.find("{id}");
    std::string prefix = as.route.substr(0, pos), suffix = as.route.substr(pos + 4);
    glob.replace(pos, 4, "*");
    q.path_glob = glob;
    if (!as.method.empty()) q.method = as.method;
    if (as.since_hours > 0)
      q.since_us = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch() - std::chrono::hours(as.since_hours))
                       .count();
    uint32_t type = b.InternType(as.type);
    uint32_t from_label = b.InternLabel(as.from_label);
    uint32_t at_key = b.InternKey("at"), method_key = b.InternKey("method");
    IdIndex& fi = ids[as.from_label];
    const IdIndex& ti = ids[as.to_label];
    uint64_t n = 0, added = 0;
    Status qs = (*st)->Query(q, [&](std::string_view line) {
      ++n;
      ++report->rows_read;
      std::string user, path, method, time;
      store::ForEachTopLevelMember(line, [&](std::string_view k, std::string_view raw) {
        if (k == "user") user = store::JsonStringValue(raw).value_or("");
        else if (k == "path") path = store::JsonStringValue(raw).value_or("");
        else if (k == "method") method = store::JsonStringValue(raw).value_or("");
        else if (k == "time") time = store::JsonStringValue(raw).value_or("");
        return true;
      });
      if (path.size() < prefix.size() + suffix.size() || path.compare(0, prefix.size(), prefix) != 0 ||
          path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0) {
        rejects.Add(entry, "path does not match route " + as.route, "event " + std::to_string(n) + ": " + path);
        return true;
      }
      std::string id = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
      if (user.empty()) {
        rejects.Add(entry, "event has no user", "event " + std::to_string(n) + ": " + path);
        return true;
      }
      uint32_t t = ti.Find(Value(id));
      if (t == kNone) {
        rejects.Add(entry, "dangling to id (no " + as.to_label + " with that id)", "event " + std::to_string(n) + ": " + path);
        return true;
      }
      uint32_t f = fi.Find(Value(user));
      if (f == kNone) {
        if (!as.create_missing) {
          rejects.Add(entry, "unknown user (no " + as.from_label + " with that id)", "event " + std::to_string(n) + ": " + user);
          return true;
        }
        f = b.AddNodeFast(from_label, {id_key}, {InferValue(user)});
        fi.Insert(Value(user), f);
        report->nodes_per_label[as.from_label]++;
      }
      b.AddRelFast(f, t, type, {at_key, method_key}, {Value(time), Value(method)});
      ++added;
      return true;
    });
    if (!qs.ok()) return qs.WithContext("mapping " + m.path + ": " + entry);
    report->rels_per_type[as.type] += added;
  }
  auto g = b.Freeze();
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return g;
}

std::string BuildReport::ToText() const {
  std::string out;
  char buf[256];
  uint64_t nn = 0, nr = 0;
  for (const auto& [l, c] : nodes_per_label) nn += c;
  for (const auto& [t, c] : rels_per_type) nr += c;
  std::snprintf(buf, sizeof buf, "graph: %llu nodes, %llu relationships from %llu rows in %.2fs (+%.2fs write)%s%s\n",
                static_cast<unsigned long long>(nn), static_cast<unsigned long long>(nr),
                static_cast<unsigned long long>(rows_read), seconds, write_seconds,
                version.empty() ? "" : ", version ", version.c_str());
  out += buf;
  for (const auto& [l, c] : nodes_per_label) {
    std::snprintf(buf, sizeof buf, "  (:%s) %llu\n", l.c_str(), static_cast<unsigned long long>(c));
    out += buf;
  }
  for (const auto& [t, c] : rels_per_type) {
    std::snprintf(buf, sizeof buf, "  [:%s] %llu\n", t.c_str(), static_cast<unsigned long long>(c));
    out += buf;
  }
  if (rejected) {
    std::snprintf(buf, sizeof buf, "rejected: %llu rows\n", static_cast<unsigned long long>(rejected));
    out += buf;
    for (const auto& r : rejects) {
      out += "  " + r.entry + ": " + std::to_string(r.count) + " x " + r.reason;
      for (const auto& e : r.examples) out += "\n      " + e;
      out += "\n";
    }
  }
  return out;
}

std::string BuildReport::ToJson() const {
  std::string out = "{\"nodes\":{";
  bool first = true;
  for (const auto& [l, c] : nodes_per_label) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(&out, l);
    out += ":" + std::to_string(c);
  }
  out += "},\"relationships\":{";
  first = true;
  for (const auto& [t, c] : rels_per_type) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(&out, t);
    out += ":" + std::to_string(c);
  }
  out += "},\"rows_read\":" + std::to_string(rows_read) + ",\"rejected\":" + std::to_string(rejected) + ",\"rejects\":[";
  first = true;
  for (const auto& r : rejects) {
    if (!first) out += ',';
    first = false;
    out += "{\"entry\":";
    AppendJsonString(&out, r.entry);
    out += ",\"reason\":";
    AppendJsonString(&out, r.reason);
    out += ",\"count\":" + std::to_string(r.count) + ",\"examples\":[";
    for (size_t i = 0; i < r.examples.size(); ++i) {
      if (i) out += ',';
      AppendJsonString(&out, r.examples[i]);
    }
    out += "]}";
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "],\"seconds\":%.3f,\"write_seconds\":%.3f,\"version\":", seconds, write_seconds);
  out += buf;
  AppendJsonString(&out, version);
  return out + "}";
}

}  // namespace hakone::graph
