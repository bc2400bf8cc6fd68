// A synthetic applicant-tracking (ATS) database for demos, tests and benchmarks.
//
// Tables (SQLite): companies, people, recruiters, jobs, applications (with a stage), and
// work_history. Names are Japanese (漢字) and English; popularity is skewed (Zipf): a few
// companies get most applications and employ most people, a few people apply a lot.
// Deterministic for a given seed.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace hakone::graph {

struct SampleOptions {
  int64_t people = 10000;
  int64_t companies = 500;
  int64_t recruiters = 0;      // 0: companies / 10 + 5
  int64_t jobs_per_company = 4;  // average; skewed by company size
  double zipf = 1.1;           // skew exponent of company popularity
  uint64_t seed = 42;
};

struct SampleCounts {
  int64_t people = 0, companies = 0, recruiters = 0, jobs = 0, applications = 0, work_history = 0;
};

// Writes the database at `path` (replaced if it exists). Errors: IOError, InvalidArgument.
Result<SampleCounts> WriteSampleDb(const std::string& path, const SampleOptions& opts);

}  // namespace hakone::graph
