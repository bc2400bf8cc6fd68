// Fuzzes multiline grouping: lines of arbitrary bytes against start and continuation patterns,
// with the line and byte caps; checks that no byte is lost or invented.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pipeline/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using hakone::pipeline::MultilineAssembler;
  using hakone::pipeline::Regex;
  static auto start = *Regex::Compile(R"(^\d{4}-\d{2}-\d{2}|^\[)");
  static auto cont = *Regex::Compile(R"(^\s+|^Caused by:)");
  if (size == 0) return 0;
  MultilineAssembler::Options o;
  if (data[0] & 1) o.start = start;
  else o.continuation = cont;
  o.max_lines = 1 + (data[0] >> 1) % 8;
  o.max_bytes = 64 + data[0];
  MultilineAssembler m(o);
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  size_t in_bytes = 0, out_bytes = 0, lines = 0;
  auto fn = [&](std::string&& rec) { out_bytes += rec.size(); };
  size_t pos = 0;
  while (pos <= in.size()) {
    size_t nl = in.find('\n', pos);
    if (nl == std::string_view::npos) nl = in.size();
    std::string_view line = in.substr(pos, nl - pos);
    in_bytes += line.size();
    lines++;
    m.Add(line, fn);
    pos = nl + 1;
  }
  m.Flush(fn);
  // Records are the lines joined by '\n': every byte arrives, plus one separator per join.
  if (out_bytes < in_bytes || out_bytes > in_bytes + lines) std::abort();
  return 0;
}
