#include "store/es_bulk.h"

#include <zlib.h>

#include <boost/json.hpp>
#include <cctype>

namespace hakone::store::es {
namespace json = boost::json;

BulkParser::BulkParser(std::string default_index, size_t max_line)
    : default_index_(std::move(default_index)), max_line_(max_line) {}

Status BulkParser::Feed(std::string_view chunk, std::vector<BulkAction>* out) {
  size_t p = 0;
  while (p < chunk.size()) {
    size_t nl = chunk.find('\n', p);
    if (nl == std::string_view::npos) {
      if (partial_.size() + (chunk.size() - p) > max_line_) {
        return Status::InvalidArgument("illegal_argument_exception: bulk line " + std::to_string(line_no_ + 1) +
                                       " is longer than " + std::to_string(max_line_) + " bytes");
      }
      partial_.append(chunk.substr(p));
      return Status::Ok();
    }
    if (partial_.empty()) {
      if (Status st = Line(chunk.substr(p, nl - p), out); !st.ok()) return st;
    } else {
      partial_.append(chunk.substr(p, nl - p));
      std::string line = std::move(partial_);
      partial_.clear();
      if (Status st = Line(line, out); !st.ok()) return st;
    }
    p = nl + 1;
  }
  return Status::Ok();
}

Status BulkParser::Finish(std::vector<BulkAction>* out) {
  if (!partial_.empty()) {
    std::string line = std::move(partial_);
    partial_.clear();
    if (Status st = Line(line, out); !st.ok()) return st;
  }
  if (want_source_) {
    return Status::InvalidArgument("illegal_argument_exception: the bulk request must be terminated by a newline; action on line " +
                                   std::to_string(line_no_) + " has no source line");
  }
  return Status::Ok();
}

Status BulkParser::Line(std::string_view line, std::vector<BulkAction>* out) {
  line_no_++;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  bool blank = true;
  for (char c : line) blank = blank && std::isspace(static_cast<unsigned char>(c));
  if (want_source_) {
    want_source_ = false;
    BulkAction a = std::move(pending_);
    pending_ = BulkAction();
    size_t k = 0;
    while (k < line.size() && std::isspace(static_cast<unsigned char>(line[k]))) k++;
    if (a.error_type.empty()) {
      if (k >= line.size() || line[k] != '{') {
        a.error_status = 400;
        a.error_type = "mapper_parsing_exception";
        a.error_reason = "failed to parse: the source on line " + std::to_string(line_no_) + " is not a JSON object";
      } else if (a.op == "update") {
        // consumed, error already set
      } else {
        a.item.source_json = std::string(line.substr(k));
      }
    }
    out->push_back(std::move(a));
    return Status::Ok();
  }
  if (blank) return Status::Ok();
  auto fail = [&](const std::string& why) {
    return Status::InvalidArgument("illegal_argument_exception: Malformed action/metadata line [" + std::to_string(line_no_) +
                                   "], " + why);
  };
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec) return fail("not valid JSON: " + ec.message());
  if (!v.is_object() || v.get_object().size() != 1) return fail("expected an object with exactly one action");
  const auto& kv = *v.get_object().begin();
  BulkAction a;
  a.op = std::string(kv.key());
  if (a.op != "index" && a.op != "create" && a.op != "delete" && a.op != "update") {
    return fail("expected one of [create, delete, index, update] but found [" + a.op + "]");
  }
  if (!kv.value().is_object()) return fail("expected an object after [" + a.op + "]");
  std::string index = default_index_;
  for (const auto& m : kv.value().get_object()) {
    std::string k(m.key());
    if (k == "_index") {
      if (!m.value().is_string()) return fail("[_index] must be a string");
      index = std::string(m.value().get_string());
    } else if (k == "_id") {
      if (m.value().is_string()) a.item.id = std::string(m.value().get_string());
      else if (m.value().is_int64() || m.value().is_uint64()) a.item.id = json::serialize(m.value());
      else return fail("[_id] must be a string");
      if (a.item.id->empty() || a.item.id->size() > 512) return fail("[_id] must be 1 to 512 bytes long");
    } else if (k == "_type") {
      // 7.x clients may still send "_doc"; mapping types are gone.
    } else if (k == "routing" || k == "_routing" || k == "require_alias" || k == "retry_on_conflict" ||
               k == "dynamic_templates") {
    } else if (k == "pipeline" || k == "version" || k == "version_type" || k == "if_seq_no" || k == "if_primary_term") {
      a.error_status = 400;
      a.error_type = "illegal_argument_exception";
      a.error_reason = "bulk option [" + k + "] is not supported";
    } else {
      return fail("unknown key [" + k + "] for a [" + a.op + "] action");
    }
  }
  a.item.stream = index;
  if (a.op == "index") a.item.op = WriteItem::Op::kIndex;
  else if (a.op == "create") a.item.op = WriteItem::Op::kCreate;
  else if (a.op == "delete") a.item.op = WriteItem::Op::kDelete;
  if (a.error_type.empty() && index.empty()) {
    a.error_status = 400;
    a.error_type = "action_request_validation_exception";
    a.error_reason = "Validation Failed: 1: index is missing;";
  }
  if (a.error_type.empty() && a.op == "delete" && !a.item.id) {
    a.error_status = 400;
    a.error_type = "action_request_validation_exception";
    a.error_reason = "Validation Failed: 1: id is missing;";
  }
  if (a.op == "update" && a.error_type.empty()) {
    a.error_status = 400;
    a.error_type = "illegal_argument_exception";
    a.error_reason = "bulk action [update] is not supported; use index";
  }
  if (a.op == "delete") {
    out->push_back(std::move(a));
  } else {
    pending_ = std::move(a);
    want_source_ = true;
  }
  return Status::Ok();
}

struct Inflater::Impl {
  z_stream zs{};
  bool done = false;
  uint64_t produced = 0;
  uint64_t max_out;
};

Inflater::Inflater(uint64_t max_out) : impl_(std::make_unique<Impl>()) {
  impl_->max_out = max_out;
  inflateInit2(&impl_->zs, 15 + 32);  // gzip or zlib, detected from the header
}

Inflater::~Inflater() { inflateEnd(&impl_->zs); }

Status Inflater::Feed(std::string_view in, std::string* out) {
  return Feed(in, [out](std::string_view piece) {
    out->append(piece);
    return Status::Ok();
  });
}

Status Inflater::Feed(std::string_view in, const std::function<Status(std::string_view)>& sink) {
  z_stream& zs = impl_->zs;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char buf[64 << 10];
  while (zs.avail_in > 0) {
    if (impl_->done) {
      // Concatenated gzip members (allowed by RFC 1952).
      inflateReset(&zs);
      impl_->done = false;
    }
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    int rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      return Status::InvalidArgument("parse_exception: corrupt gzip request body: " + std::string(zs.msg ? zs.msg : "inflate failed"));
    }
    size_t n = sizeof buf - zs.avail_out;
    impl_->produced += n;
    if (impl_->produced > impl_->max_out) {
      return Status::ResourceExhausted("decompressed request body larger than " + std::to_string(impl_->max_out) + " bytes");
    }
    if (n > 0) {
      if (Status st = sink(std::string_view(buf, n)); !st.ok()) return st;
    }
    if (rc == Z_STREAM_END) impl_->done = true;
    if (rc == Z_BUF_ERROR && n == 0) break;
  }
  return Status::Ok();
}

Status Inflater::Finish() const {
  if (!impl_->done) return Status::InvalidArgument("parse_exception: truncated gzip request body");
  return Status::Ok();
}

}  // namespace hakone::store::es
