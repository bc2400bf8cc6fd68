#include "crawl/fetcher.h"

#include <curl/curl.h>

#include <cctype>
#include <mutex>

namespace hakone::crawl {

namespace {
std::once_flag g_curl_init;
void InitCurl() { std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); }); }
}  // namespace

struct FetcherPool::Shared {
  CURLSH* share = nullptr;
  std::mutex locks[CURL_LOCK_DATA_LAST];
  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Shared*>(user)->locks[data].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* user) { static_cast<Shared*>(user)->locks[data].unlock(); }
};

struct Fetcher::Impl {
  CURL* curl = nullptr;
  FetchOptions opts;
  FetchResult* cur = nullptr;
  bool too_large = false;
  ~Impl() {
    if (curl) curl_easy_cleanup(curl);
  }
  static size_t OnBody(char* p, size_t size, size_t n, void* user) {
    auto* self = static_cast<Impl*>(user);
    size_t len = size * n;
    if (self->cur->body.size() + len > self->opts.max_body) {
      self->too_large = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    self->cur->body.append(p, len);
    return len;
  }
  static size_t OnHeader(char* p, size_t size, size_t n, void* user) {
    auto* self = static_cast<Impl*>(user);
    size_t len = size * n;
    std::string_view line(p, len);
    if (line.starts_with("HTTP/")) {
      self->cur->headers.clear();  // a new response (after 100 Continue)
      return len;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return len;
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
    self->cur->headers.emplace_back(std::move(name), std::string(v));
    return len;
  }
};

std::string FetchResult::Header(const std::string& lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return v;
  }
  return "";
}

Fetcher::~Fetcher() = default;

FetchResult Fetcher::Get(const std::string& url, const std::vector<std::string>& extra_headers) {
  FetchResult res;
  Impl& im = *impl_;
  im.cur = &res;
  im.too_large = false;
  CURL* c = im.curl;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  curl_slist* hdrs = nullptr;
  for (const auto& h : extra_headers) hdrs = curl_slist_append(hdrs, h.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  auto start = std::chrono::steady_clock::now();
  CURLcode rc = curl_easy_perform(c);
  res.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(hdrs);
  curl_off_t hb = 0, db = 0;
  long header_size = 0;
  curl_easy_getinfo(c, CURLINFO_HEADER_SIZE, &header_size);
  curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &db);
  (void)hb;
  res.wire_bytes = static_cast<size_t>(header_size) + static_cast<size_t>(db);
  if (rc != CURLE_OK) {
    res.error_detail = curl_easy_strerror(rc);
    switch (rc) {
      case CURLE_OPERATION_TIMEDOUT: res.error = "timeout"; break;
      case CURLE_COULDNT_CONNECT: res.error = "connect"; break;
      case CURLE_COULDNT_RESOLVE_HOST: res.error = "dns"; break;
      case CURLE_SSL_CONNECT_ERROR: case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CERTPROBLEM:
        res.error = "tls"; break;
      case CURLE_WRITE_ERROR: case CURLE_FILESIZE_EXCEEDED:
        res.error = im.too_large || rc == CURLE_FILESIZE_EXCEEDED ? "too_large" : "protocol"; break;
      case CURLE_ABORTED_BY_CALLBACK: res.error = "aborted"; break;
      default: res.error = "protocol"; break;
    }
    res.body.clear();
  } else {
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    res.status = static_cast<int>(code);
  }
  im.cur = nullptr;
  return res;
}

FetcherPool::FetcherPool(FetchOptions options) : options_(std::move(options)), shared_(new Shared) {
  InitCurl();
  shared_->share = curl_share_init();
  curl_share_setopt(shared_->share, CURLSHOPT_LOCKFUNC, &Shared::Lock);
  curl_share_setopt(shared_->share, CURLSHOPT_UNLOCKFUNC, &Shared::Unlock);
  curl_share_setopt(shared_->share, CURLSHOPT_USERDATA, shared_.get());
  curl_share_setopt(shared_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(shared_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_share_setopt(shared_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
}

FetcherPool::~FetcherPool() {
  if (shared_->share) curl_share_cleanup(shared_->share);
}

std::unique_ptr<Fetcher> FetcherPool::NewFetcher() {
  std::unique_ptr<Fetcher> f(new Fetcher);
  f->impl_ = std::make_unique<Fetcher::Impl>();
  auto& im = *f->impl_;
  im.opts = options_;
  im.curl = curl_easy_init();
  CURL* c = im.curl;
  curl_easy_setopt(c, CURLOPT_SHARE, shared_->share);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // every encoding libcurl decodes: gzip, deflate, br, zstd
  curl_easy_setopt(c, CURLOPT_USERAGENT, im.opts.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(im.opts.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(im.opts.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(im.opts.max_body));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, im.opts.verify_tls ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, im.opts.verify_tls ? 2L : 0L);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Fetcher::Impl::OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &im);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Fetcher::Impl::OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &im);
  return f;
}

namespace {
size_t AppendBody(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}
}  // namespace

int HttpSend(const std::string& method, const std::string& url, const std::string& content_type,
             const std::string& body, std::string* response, std::string* error,
             std::chrono::milliseconds timeout, const std::vector<std::string>& extra_headers) {
  InitCurl();
  CURL* c = curl_easy_init();
  if (!c) {
    *error = "curl_easy_init failed";
    return 0;
  }
  response->clear();
  curl_slist* hdrs = curl_slist_append(nullptr, ("Content-Type: " + content_type).c_str());
  hdrs = curl_slist_append(hdrs, "Expect:");
  for (const auto& h : extra_headers) hdrs = curl_slist_append(hdrs, h.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, response);
  CURLcode rc = curl_easy_perform(c);
  long code = 0;
  if (rc == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  } else {
    *error = curl_easy_strerror(rc);
  }
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  return static_cast<int>(code);
}

}  // namespace hakone::crawl
