// Extraction from HTML (parsed with gumbo, which accepts any byte soup the way browsers do):
// links, schema.org JobPosting items from JSON-LD and microdata, and generic title/meta/text.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hakone::crawl {

struct JobPosting {
  std::string source;  // "json-ld" or "microdata"
  std::string title, description, date_posted, valid_through;
  std::string org_name, org_url;  // hiringOrganization: name, and sameAs/url when given
  std::string location;           // "Locality, Region, Country" per place, places joined by "; "
  std::string employment_type;    // comma-separated when several
  std::string salary_currency, salary_unit;
  std::optional<double> salary_min, salary_max;
  std::string identifier;
  // Required properties absent or empty: title, description, datePosted, hiringOrganization,
  // jobLocation (a jobLocationType of TELECOMMUTE stands in for jobLocation).
  std::vector<std::string> missing;
};

struct PageExtract {
  std::string title, meta_description, canonical, base_href;
  std::string text;                // visible text, whitespace collapsed, cut at the text limit
  std::vector<std::string> links;  // raw href values of <a>/<area> (not resolved), in order
  bool noindex = false, nofollow = false;  // <meta name="robots">
  std::vector<JobPosting> postings;
  std::vector<std::string> errors;  // "json-ld: <parse error>" and the like
};

// Extracts everything from `html`. Never fails: broken HTML gives whatever could be recovered.
// `text_limit` caps `text` in bytes (cut on a UTF-8 boundary).
PageExtract ExtractHtml(std::string_view html, size_t text_limit = 4096);

// Extracts JobPostings from one JSON-LD document (an object, an array, or an @graph). Appends
// to `out`; returns "" or a parse error message. Exposed for tests and fuzzing.
std::string ExtractJsonLd(std::string_view json, std::vector<JobPosting>* out);

}  // namespace hakone::crawl
