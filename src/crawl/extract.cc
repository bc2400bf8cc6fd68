#include "crawl/extract.h"

#include <gumbo.h>

#include <boost/json.hpp>
#include <cctype>
#include <cstring>

namespace json = boost::json;

namespace hakone::crawl {
namespace {

constexpr int kMaxJsonDepth = 64;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

void CutUtf8(std::string* s, size_t limit) {
  if (s->size() <= limit) return;
  size_t n = limit;
  while (n > 0 && (static_cast<unsigned char>((*s)[n]) & 0xC0) == 0x80) --n;
  s->resize(n);
}

bool IsType(const json::value& t, std::string_view want) {
  auto match = [&](std::string_view s) {
    if (size_t slash = s.find_last_of("/:"); slash != std::string_view::npos) s.remove_prefix(slash + 1);
    return s == want;
  };
  if (t.is_string()) return match(t.as_string());
  if (t.is_array()) {
    for (const auto& v : t.as_array()) {
      if (v.is_string() && match(v.as_string())) return true;
    }
  }
  return false;
}

const json::value* Get(const json::object& o, std::string_view key) {
  if (auto it = o.find(key); it != o.end()) return &it->value();
  // schema.org keys are sometimes written with the vocabulary prefix
  std::string alt = "schema:" + std::string(key);
  if (auto it = o.find(alt); it != o.end()) return &it->value();
  return nullptr;
}

std::string Text(const json::value* v, int depth = 0) {
  if (!v || depth > 8) return "";
  switch (v->kind()) {
    case json::kind::string: return Trim(v->as_string());
    case json::kind::int64: return std::to_string(v->as_int64());
    case json::kind::uint64: return std::to_string(v->as_uint64());
    case json::kind::double_: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%g", v->as_double());
      return buf;
    }
    case json::kind::bool_: return v->as_bool() ? "true" : "false";
    case json::kind::object: {
      const auto& o = v->as_object();
      for (const char* k : {"name", "value", "@value", "@id", "url"}) {
        if (const auto* x = Get(o, k)) return Text(x, depth + 1);
      }
      return "";
    }
    case json::kind::array: {
      std::string out;
      for (const auto& x : v->as_array()) {
        std::string t = Text(&x, depth + 1);
        if (t.empty()) continue;
        if (!out.empty()) out += ", ";
        out += t;
      }
      return out;
    }
    default: return "";
  }
}

std::optional<double> Number(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_number()) return v->to_number<double>();
  if (v->is_string()) {
    std::string s(v->as_string());
    std::string digits;
    for (char c : s) {
      if (std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-') digits += c;
    }
    if (digits.empty()) return std::nullopt;
    char* end = nullptr;
    double d = std::strtod(digits.c_str(), &end);
    if (end == digits.c_str()) return std::nullopt;
    return d;
  }
  return std::nullopt;
}

std::string PlaceText(const json::value& v) {
  if (v.is_string()) return Trim(v.as_string());
  if (!v.is_object()) return "";
  const auto& o = v.as_object();
  const json::value* addr = Get(o, "address");
  if (addr && addr->is_object()) {
    const auto& a = addr->as_object();
    std::string out;
    for (const char* k : {"addressLocality", "addressRegion", "addressCountry"}) {
      std::string t = Text(Get(a, k));
      if (t.empty()) continue;
      if (!out.empty()) out += ", ";
      out += t;
    }
    if (!out.empty()) return out;
    return Text(Get(a, "streetAddress"));
  }
  if (addr) return Text(addr);
  return Text(Get(o, "name"));
}

JobPosting FromObject(const json::object& o, std::string source) {
  JobPosting p;
  p.source = std::move(source);
  p.title = Text(Get(o, "title"));
  if (p.title.empty()) p.title = Text(Get(o, "name"));
  p.description = Text(Get(o, "description"));
  p.date_posted = Text(Get(o, "datePosted"));
  p.valid_through = Text(Get(o, "validThrough"));
  if (const auto* org = Get(o, "hiringOrganization")) {
    if (org->is_object()) {
      p.org_name = Text(Get(org->as_object(), "name"));
      p.org_url = Text(Get(org->as_object(), "sameAs"));
      if (p.org_url.empty()) p.org_url = Text(Get(org->as_object(), "url"));
    } else {
      p.org_name = Text(org);
    }
  }
  if (const auto* loc = Get(o, "jobLocation")) {
    if (loc->is_array()) {
      for (const auto& x : loc->as_array()) {
        std::string t = PlaceText(x);
        if (t.empty()) continue;
        if (!p.location.empty()) p.location += "; ";
        p.location += t;
      }
    } else {
      p.location = PlaceText(*loc);
    }
  }
  bool remote = Lower(Text(Get(o, "jobLocationType"))).find("telecommute") != std::string::npos;
  if (p.location.empty() && remote) p.location = "remote";
  p.employment_type = Text(Get(o, "employmentType"));
  if (const auto* sal = Get(o, "baseSalary")) {
    if (sal->is_object()) {
      const auto& s = sal->as_object();
      p.salary_currency = Text(Get(s, "currency"));
      const json::value* val = Get(s, "value");
      if (val && val->is_object()) {
        const auto& q = val->as_object();
        p.salary_unit = Text(Get(q, "unitText"));
        p.salary_min = Number(Get(q, "minValue"));
        p.salary_max = Number(Get(q, "maxValue"));
        if (auto single = Number(Get(q, "value")); single && !p.salary_min && !p.salary_max) {
          p.salary_min = p.salary_max = single;
        }
      } else if (auto single = Number(val)) {
        p.salary_min = p.salary_max = single;
      }
    } else if (auto single = Number(sal)) {
      p.salary_min = p.salary_max = single;
    }
  }
  if (const auto* id = Get(o, "identifier")) {
    if (id->is_object()) {
      p.identifier = Text(Get(id->as_object(), "value"));
      if (p.identifier.empty()) p.identifier = Text(Get(id->as_object(), "name"));
    } else {
      p.identifier = Text(id);
    }
  }
  if (p.title.empty()) p.missing.push_back("title");
  if (p.description.empty()) p.missing.push_back("description");
  if (p.date_posted.empty()) p.missing.push_back("datePosted");
  if (p.org_name.empty()) p.missing.push_back("hiringOrganization");
  if (p.location.empty()) p.missing.push_back("jobLocation");
  return p;
}

void Walk(const json::value& v, std::vector<JobPosting>* out, int depth) {
  if (depth > kMaxJsonDepth) return;
  if (v.is_array()) {
    for (const auto& x : v.as_array()) Walk(x, out, depth + 1);
    return;
  }
  if (!v.is_object()) return;
  const auto& o = v.as_object();
  if (const auto* t = Get(o, "@type"); t && IsType(*t, "JobPosting")) {
    out->push_back(FromObject(o, "json-ld"));
    return;
  }
  if (const auto* g = Get(o, "@graph")) Walk(*g, out, depth + 1);
  // a JobPosting nested as mainEntity of a WebPage
  if (const auto* m = Get(o, "mainEntity")) Walk(*m, out, depth + 1);
}

// ---- gumbo helpers ----

const char* Attr(const GumboElement& e, const char* name) {
  const GumboAttribute* a = gumbo_get_attribute(&e.attributes, name);
  return a ? a->value : nullptr;
}

void AppendText(const GumboNode* n, std::string* out, size_t limit, int depth = 0) {
  if (out->size() > limit || depth > 400) return;
  if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_CDATA || n->type == GUMBO_NODE_WHITESPACE) {
    const char* t = n->v.text.text;
    for (const char* p = t; *p; ++p) {
      bool ws = std::isspace(static_cast<unsigned char>(*p));
      if (ws) {
        if (!out->empty() && out->back() != ' ') *out += ' ';
      } else {
        *out += *p;
      }
    }
    return;
  }
  if (n->type != GUMBO_NODE_ELEMENT && n->type != GUMBO_NODE_TEMPLATE) return;
  GumboTag tag = n->v.element.tag;
  if (tag == GUMBO_TAG_SCRIPT || tag == GUMBO_TAG_STYLE || tag == GUMBO_TAG_NOSCRIPT || tag == GUMBO_TAG_TEMPLATE) return;
  // Inline elements join their text; every other element separates words.
  bool inline_tag = tag == GUMBO_TAG_A || tag == GUMBO_TAG_SPAN || tag == GUMBO_TAG_B || tag == GUMBO_TAG_I ||
                    tag == GUMBO_TAG_EM || tag == GUMBO_TAG_STRONG || tag == GUMBO_TAG_CODE || tag == GUMBO_TAG_SMALL ||
                    tag == GUMBO_TAG_SUB || tag == GUMBO_TAG_SUP || tag == GUMBO_TAG_U || tag == GUMBO_TAG_ABBR;
  const GumboVector& kids = n->v.element.children;
  for (unsigned i = 0; i < kids.length; ++i) {
    AppendText(static_cast<const GumboNode*>(kids.data[i]), out, limit, depth + 1);
  }
  if (!inline_tag && !out->empty() && out->back() != ' ') *out += ' ';
}

std::string NodeText(const GumboNode* n) {
  std::string s;
  AppendText(n, &s, 1 << 20);
  return Trim(s);
}

// Microdata (HTML Living Standard §5.2): the value of an itemprop element.
json::value MicrodataItem(const GumboNode* scope, int depth);

json::value PropValue(const GumboNode* n, int depth) {
  const GumboElement& e = n->v.element;
  if (Attr(e, "itemscope")) return MicrodataItem(n, depth + 1);
  if (const char* c = Attr(e, "content")) return json::string(c);
  switch (e.tag) {
    case GUMBO_TAG_A: case GUMBO_TAG_AREA: case GUMBO_TAG_LINK:
      if (const char* h = Attr(e, "href")) return json::string(h);
      break;
    case GUMBO_TAG_IMG: case GUMBO_TAG_AUDIO: case GUMBO_TAG_VIDEO: case GUMBO_TAG_SOURCE: case GUMBO_TAG_IFRAME:
      if (const char* s = Attr(e, "src")) return json::string(s);
      break;
    case GUMBO_TAG_TIME:
      if (const char* d = Attr(e, "datetime")) return json::string(d);
      break;
    case GUMBO_TAG_DATA: case GUMBO_TAG_METER:
      if (const char* v = Attr(e, "value")) return json::string(v);
      break;
    default: break;
  }
  return json::string(NodeText(n));
}

void CollectProps(const GumboNode* n, json::object* obj, int depth) {
  if (depth > kMaxJsonDepth) return;
  const GumboVector& kids = n->v.element.children;
  for (unsigned i = 0; i < kids.length; ++i) {
    const GumboNode* c = static_cast<const GumboNode*>(kids.data[i]);
    if (c->type != GUMBO_NODE_ELEMENT) continue;
    const char* prop = Attr(c->v.element, "itemprop");
    if (prop) {
      json::value v = PropValue(c, depth);
      // itemprop may list several names separated by spaces
      std::string_view names(prop);
      size_t p = 0;
      while (p < names.size()) {
        size_t sp = names.find_first_of(" \t\n", p);
        std::string_view name = names.substr(p, sp == std::string_view::npos ? std::string_view::npos : sp - p);
        p = sp == std::string_view::npos ? names.size() : sp + 1;
        if (name.empty()) continue;
        auto it = obj->find(name);
        if (it == obj->end()) {
          obj->emplace(name, v);
        } else {
          if (!it->value().is_array()) {
            json::array a;
            a.push_back(it->value());
            it->value() = std::move(a);
          }
          it->value().as_array().push_back(v);
        }
      }
    }
    // a nested item scope owns the properties below it
    if (!Attr(c->v.element, "itemscope")) CollectProps(c, obj, depth + 1);
  }
}

json::value MicrodataItem(const GumboNode* scope, int depth) {
  json::object obj;
  if (depth > kMaxJsonDepth) return obj;
  if (const char* t = Attr(scope->v.element, "itemtype")) obj["@type"] = t;
  CollectProps(scope, &obj, depth);
  return obj;
}

struct Walker {
  PageExtract* out;
  size_t text_limit;
  const GumboNode* body = nullptr;

  void Visit(const GumboNode* n, int depth) {
    if (n->type != GUMBO_NODE_ELEMENT || depth > 400) return;
    const GumboElement& e = n->v.element;
    switch (e.tag) {
      case GUMBO_TAG_TITLE:
        if (out->title.empty()) out->title = NodeText(n);
        break;
      case GUMBO_TAG_BASE:
        if (const char* h = Attr(e, "href"); h && out->base_href.empty()) out->base_href = h;
        break;
      case GUMBO_TAG_LINK:
        if (const char* rel = Attr(e, "rel"); rel && Lower(rel) == "canonical") {
          if (const char* h = Attr(e, "href")) out->canonical = h;
        }
        break;
      case GUMBO_TAG_META: {
        const char* name = Attr(e, "name");
        const char* content = Attr(e, "content");
        if (name && content) {
          std::string ln = Lower(name);
          if (ln == "description" && out->meta_description.empty()) out->meta_description = Trim(content);
          if (ln == "robots") {
            std::string c = Lower(content);
            out->noindex = out->noindex || c.find("noindex") != std::string::npos || c.find("none") != std::string::npos;
            out->nofollow = out->nofollow || c.find("nofollow") != std::string::npos || c.find("none") != std::string::npos;
          }
        }
        break;
      }
      case GUMBO_TAG_A:
      case GUMBO_TAG_AREA:
        if (const char* h = Attr(e, "href")) {
          const char* rel = Attr(e, "rel");
          if (!(rel && Lower(rel).find("nofollow") != std::string::npos)) out->links.emplace_back(h);
        }
        break;
      case GUMBO_TAG_SCRIPT:
        if (const char* t = Attr(e, "type"); t && Lower(Trim(t)) == "application/ld+json") {
          std::string body;
          for (unsigned i = 0; i < e.children.length; ++i) {
            const GumboNode* c = static_cast<const GumboNode*>(e.children.data[i]);
            if (c->type == GUMBO_NODE_TEXT || c->type == GUMBO_NODE_CDATA || c->type == GUMBO_NODE_WHITESPACE) {
              body += c->v.text.text;
            }
          }
          std::string err = ExtractJsonLd(body, &out->postings);
          if (!err.empty()) out->errors.push_back("json-ld: " + err);
        }
        return;
      case GUMBO_TAG_BODY:
        body = n;
        break;
      default: break;
    }
    if (Attr(e, "itemscope")) {
      const char* t = Attr(e, "itemtype");
      if (t && std::string_view(t).find("JobPosting") != std::string_view::npos) {
        json::value item = MicrodataItem(n, 0);
        out->postings.push_back(FromObject(item.as_object(), "microdata"));
      }
    }
    for (unsigned i = 0; i < e.children.length; ++i) {
      Visit(static_cast<const GumboNode*>(e.children.data[i]), depth + 1);
    }
  }
};

}  // namespace

std::string ExtractJsonLd(std::string_view text, std::vector<JobPosting>* out) {
  json::parse_options opts;
  opts.allow_comments = true;
  opts.allow_trailing_commas = true;
  opts.allow_invalid_utf8 = true;
  opts.max_depth = kMaxJsonDepth;
  boost::system::error_code ec;
  std::string trimmed = Trim(text);
  // some sites wrap the JSON in an HTML comment or CDATA section
  for (auto [open, close] : {std::pair<std::string_view, std::string_view>{"<!--", "-->"}, {"<![CDATA[", "]]>"}}) {
    if (trimmed.starts_with(open) && trimmed.ends_with(close)) {
      trimmed = Trim(std::string_view(trimmed).substr(open.size(), trimmed.size() - open.size() - close.size()));
    }
  }
  if (trimmed.empty()) return "empty script";
  json::value v = json::parse(trimmed, ec, {}, opts);
  if (ec) return ec.message();
  Walk(v, out, 0);
  return "";
}

PageExtract ExtractHtml(std::string_view html, size_t text_limit) {
  PageExtract out;
  GumboOptions opts = kGumboDefaultOptions;
  opts.max_errors = 0;  // we do not read gumbo's error list; do not build it
  GumboOutput* g = gumbo_parse_with_options(&opts, html.data(), html.size());
  if (!g) return out;
  Walker w{&out, text_limit};
  w.Visit(g->root, 0);
  if (w.body) {
    AppendText(w.body, &out.text, text_limit);
    out.text = Trim(out.text);
    CutUtf8(&out.text, text_limit);
  }
  gumbo_destroy_output(&kGumboDefaultOptions, g);
  return out;
}

}  // namespace hakone::crawl
