#include "graph/sample.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "core/sqlite.h"

namespace hakone::graph {
namespace {

const char* kJaFamily[] = {"佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤",
                           "吉田", "山田", "佐々木", "山口", "松本", "井上", "木村", "林", "斎藤", "清水"};
const char* kJaGiven[] = {"太郎", "花子", "翔", "陽菜", "大翔", "結衣", "蓮", "美咲", "健太", "さくら",
                          "悠真", "葵", "湊", "凛", "拓海", "彩", "颯太", "真央", "亮", "優子"};
const char* kEnFirst[] = {"James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David",
                          "Emily", "Daniel", "Sarah", "Kevin", "Laura", "Thomas", "Emma", "Ken", "Aiko", "Ryan", "Mei"};
const char* kEnLast[] = {"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson",
                         "Anderson", "Taylor", "Moore", "Martin", "Lee", "Clark", "Walker", "Young", "King"};
const char* kCoJa[] = {"さくら", "みらい", "あおば", "ひかり", "つばさ", "やまと", "富士", "東京", "大阪", "北斗"};
const char* kCoEn[] = {"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell",
                       "Cyberdyne", "Soylent", "Aperture", "Nakatomi", "Oscorp", "Pied Piper"};
const char* kCoSuffix[] = {"テクノロジー", "ソリューションズ", "Labs", "Systems", "Holdings", "Works", "商事", "Inc."};
const char* kIndustry[] = {"software", "finance", "retail", "manufacturing", "healthcare", "logistics", "media",
                           "consulting"};
const char* kCity[] = {"Tokyo", "Osaka", "Nagoya", "Fukuoka", "Sapporo", "Kyoto", "Yokohama", "Sendai", "Singapore",
                       "London", "New York", "San Francisco"};
const char* kTitle[] = {"Software Engineer", "Senior Software Engineer", "SRE", "Data Engineer", "Product Manager",
                        "Designer", "Sales", "Account Executive", "QA Engineer", "Engineering Manager",
                        "バックエンドエンジニア", "フロントエンドエンジニア", "インフラエンジニア", "営業", "人事"};
const char* kSkill[] = {"go", "java", "scala", "python", "typescript", "react", "kubernetes", "aws", "gcp", "sql",
                        "ruby", "rust", "c++", "terraform", "ml"};
const char* kStages[] = {"applied", "screening", "interview", "offer", "hired", "rejected", "withdrawn"};

template <size_t N>
const char* Pick(std::mt19937_64& rng, const char* (&arr)[N]) {
  return arr[rng() % N];
}

// Zipf sampler over [0, n) with exponent s (inverse CDF over a precomputed table).
class Zipf {
 public:
  Zipf(int64_t n, double s) : cdf_(static_cast<size_t>(std::max<int64_t>(n, 1))) {
    double sum = 0;
    for (size_t i = 0; i < cdf_.size(); ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i + 1), s);
      cdf_[i] = sum;
    }
    for (auto& c : cdf_) c /= sum;
  }
  int64_t operator()(std::mt19937_64& rng) {
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
  }

 private:
  std::vector<double> cdf_;
};

}  // namespace

Result<SampleCounts> WriteSampleDb(const std::string& path, const SampleOptions& o) {
  if (o.people < 1 || o.companies < 1) return Status::InvalidArgument("sample: --people and --companies must be >= 1");
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
  HAKONE_ASSIGN_OR_RETURN(SqliteDb db, SqliteDb::Open(path, false));
  HAKONE_RETURN_IF_ERROR(db.Exec(
      "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
      "CREATE TABLE companies (id INTEGER PRIMARY KEY, name TEXT NOT NULL, industry TEXT, size INTEGER, city TEXT,"
      " founded INTEGER);"
      "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, city TEXT, title TEXT,"
      " years_experience INTEGER, skills TEXT);"
      "CREATE TABLE recruiters (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, team TEXT);"
      "CREATE TABLE jobs (id INTEGER PRIMARY KEY, company_id INTEGER NOT NULL, title TEXT, city TEXT,"
      " salary_min INTEGER, salary_max INTEGER, posted_at TEXT, recruiter_id INTEGER);"
      "CREATE TABLE applications (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL, job_id INTEGER NOT NULL,"
      " stage TEXT NOT NULL, applied_at TEXT, recruiter_id INTEGER);"
      "CREATE TABLE work_history (person_id INTEGER NOT NULL, company_id INTEGER NOT NULL, title TEXT,"
      " since INTEGER, until INTEGER);"
      "BEGIN;"));
  std::mt19937_64 rng(o.seed);
  SampleCounts n;
  char buf[256];
  auto date = [&](int y0, int y1) {
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y0 + static_cast<int>(rng() % (y1 - y0 + 1)),
                  1 + static_cast<int>(rng() % 12), 1 + static_cast<int>(rng() % 28));
    return std::string(buf);
  };
  {
    HAKONE_ASSIGN_OR_RETURN(SqliteStmt st, db.Prepare("INSERT INTO companies VALUES (?,?,?,?,?,?)"));
    for (int64_t i = 1; i <= o.companies; ++i) {
      std::string name = (rng() % 2) ? std::string(Pick(rng, kCoJa)) + Pick(rng, kCoSuffix)
                                     : std::string(Pick(rng, kCoEn)) + " " + Pick(rng, kCoSuffix);
      if (i > 20) name += " " + std::to_string(i);
      HAKONE_RETURN_IF_ERROR(st.Bind(1, i));
      HAKONE_RETURN_IF_ERROR(st.Bind(2, name));
      HAKONE_RETURN_IF_ERROR(st.Bind(3, Pick(rng, kIndustry)));
      // Size follows popularity rank (company 1 is the biggest).
      HAKONE_RETURN_IF_ERROR(st.Bind(4, static_cast<int64_t>(50000.0 / std::pow(static_cast<double>(i), 0.9)) + 5));
      HAKONE_RETURN_IF_ERROR(st.Bind(5, Pick(rng, kCity)));
      HAKONE_RETURN_IF_ERROR(st.Bind(6, static_cast<int64_t>(1950 + rng() % 74)));
      HAKONE_RETURN_IF_ERROR(st.Step().status());
      HAKONE_RETURN_IF_ERROR(st.Reset());
      ++n.companies;
    }
  }
  int64_t nrec = o.recruiters > 0 ? o.recruiters : o.companies / 10 + 5;
  {
    HAKONE_ASSIGN_OR_RETURN(SqliteStmt st, db.Prepare("INSERT INTO recruiters VALUES (?,?,?,?)"));
    for (int64_t i = 1; i <= nrec; ++i) {
      std::string name = (i % 2) ? std::string(kJaFamily[rng() % 20]) + " " + kJaGiven[rng() % 20]
                                 : std::string(kEnFirst[rng() % 20]) + " " + kEnLast[rng() % 18];
      HAKONE_RETURN_IF_ERROR(st.Bind(1, i));
      HAKONE_RETURN_IF_ERROR(st.Bind(2, name));
      HAKONE_RETURN_IF_ERROR(st.Bind(3, "recruiter" + std::to_string(i) + "@example.com"));
      HAKONE_RETURN_IF_ERROR(st.Bind(4, (i % 3) ? "engineering" : "business"));
      HAKONE_RETURN_IF_ERROR(st.Step().status());
      HAKONE_RETURN_IF_ERROR(st.Reset());
      ++n.recruiters;
    }
  }
  Zipf company_pop(o.companies, o.zipf);
  std::vector<std::vector<int64_t>> jobs_of(o.companies + 1);
  {
    HAKONE_ASSIGN_OR_RETURN(SqliteStmt st, db.Prepare("INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?)"));
    int64_t total_jobs = o.companies * o.jobs_per_company;
    for (int64_t i = 1; i <= total_jobs; ++i) {
      // Every company gets one job; the rest follow popularity.
      int64_t c = i <= o.companies ? i : company_pop(rng) + 1;
      int64_t lo = 300 + static_cast<int64_t>(rng() % 700);
      HAKONE_RETURN_IF_ERROR(st.Bind(1, i));
      HAKONE_RETURN_IF_ERROR(st.Bind(2, c));
      HAKONE_RETURN_IF_ERROR(st.Bind(3, Pick(rng, kTitle)));
      HAKONE_RETURN_IF_ERROR(st.Bind(4, Pick(rng, kCity)));
      HAKONE_RETURN_IF_ERROR(st.Bind(5, lo * 10000));
      HAKONE_RETURN_IF_ERROR(st.Bind(6, (lo + 100 + static_cast<int64_t>(rng() % 500)) * 10000));
      HAKONE_RETURN_IF_ERROR(st.Bind(7, date(2023, 2026)));
      HAKONE_RETURN_IF_ERROR(st.Bind(8, static_cast<int64_t>(1 + rng() % nrec)));
      HAKONE_RETURN_IF_ERROR(st.Step().status());
      HAKONE_RETURN_IF_ERROR(st.Reset());
      jobs_of[c].push_back(i);
      ++n.jobs;
    }
  }
  {
    HAKONE_ASSIGN_OR_RETURN(SqliteStmt sp, db.Prepare("INSERT INTO people VALUES (?,?,?,?,?,?,?)"));
    HAKONE_ASSIGN_OR_RETURN(SqliteStmt sw, db.Prepare("INSERT INTO work_history VALUES (?,?,?,?,?)"));
    HAKONE_ASSIGN_OR_RETURN(SqliteStmt sa, db.Prepare("INSERT INTO applications VALUES (?,?,?,?,?,?)"));
    std::geometric_distribution<int> napps(0.35);   // mean ~1.9, long tail
    std::geometric_distribution<int> njobs_hist(0.45);
    int64_t app_id = 0;
    for (int64_t p = 1; p <= o.people; ++p) {
      bool ja = rng() % 10 < 6;
      std::string name = ja ? std::string(kJaFamily[rng() % 20]) + " " + kJaGiven[rng() % 20]
                            : std::string(kEnFirst[rng() % 20]) + " " + kEnLast[rng() % 18];
      int years = static_cast<int>(rng() % 30);
      std::string skills;
      int ns = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < ns; ++k) {
        if (k) skills += ",";
        skills += Pick(rng, kSkill);
      }
      HAKONE_RETURN_IF_ERROR(sp.Bind(1, p));
      HAKONE_RETURN_IF_ERROR(sp.Bind(2, name));
      HAKONE_RETURN_IF_ERROR(sp.Bind(3, "person" + std::to_string(p) + "@example.com"));
      HAKONE_RETURN_IF_ERROR(sp.Bind(4, Pick(rng, kCity)));
      HAKONE_RETURN_IF_ERROR(sp.Bind(5, Pick(rng, kTitle)));
      HAKONE_RETURN_IF_ERROR(sp.Bind(6, years));
      HAKONE_RETURN_IF_ERROR(sp.Bind(7, skills));
      HAKONE_RETURN_IF_ERROR(sp.Step().status());
      HAKONE_RETURN_IF_ERROR(sp.Reset());
      ++n.people;
      int hist = 1 + std::min(njobs_hist(rng), 8);
      int year = 2026 - years;
      for (int h = 0; h < hist; ++h) {
        int64_t c = company_pop(rng) + 1;
        int span = 1 + static_cast<int>(rng() % 5);
        HAKONE_RETURN_IF_ERROR(sw.Bind(1, p));
        HAKONE_RETURN_IF_ERROR(sw.Bind(2, c));
        HAKONE_RETURN_IF_ERROR(sw.Bind(3, Pick(rng, kTitle)));
        HAKONE_RETURN_IF_ERROR(sw.Bind(4, year));
        if (h + 1 == hist) HAKONE_RETURN_IF_ERROR(sw.Bind(5, nullptr));
        else HAKONE_RETURN_IF_ERROR(sw.Bind(5, year + span));
        HAKONE_RETURN_IF_ERROR(sw.Step().status());
        HAKONE_RETURN_IF_ERROR(sw.Reset());
        year += span;
        ++n.work_history;
      }
      int apps = std::min(napps(rng), 40);
      for (int a = 0; a < apps; ++a) {
        int64_t c = company_pop(rng) + 1;
        const auto& js = jobs_of[c];
        if (js.empty()) continue;
        int64_t job = js[rng() % js.size()];
        // Stage funnel: most applications stop early.
        uint64_t r = rng() % 100;
        const char* stage = r < 30 ? kStages[0] : r < 50 ? kStages[1] : r < 65 ? kStages[2] : r < 70 ? kStages[3]
                          : r < 74 ? kStages[4] : r < 94 ? kStages[5] : kStages[6];
        HAKONE_RETURN_IF_ERROR(sa.Bind(1, ++app_id));
        HAKONE_RETURN_IF_ERROR(sa.Bind(2, p));
        HAKONE_RETURN_IF_ERROR(sa.Bind(3, job));
        HAKONE_RETURN_IF_ERROR(sa.Bind(4, stage));
        HAKONE_RETURN_IF_ERROR(sa.Bind(5, date(2024, 2026)));
        HAKONE_RETURN_IF_ERROR(sa.Bind(6, static_cast<int64_t>(1 + rng() % nrec)));
        HAKONE_RETURN_IF_ERROR(sa.Step().status());
        HAKONE_RETURN_IF_ERROR(sa.Reset());
        ++n.applications;
      }
    }
  }
  HAKONE_RETURN_IF_ERROR(db.Exec("COMMIT;"));
  return n;
}

}  // namespace hakone::graph
