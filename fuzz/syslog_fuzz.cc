// Fuzzes the syslog parser (RFC 5424 / 3164) and the TCP framing (octet-counted / newline).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pipeline/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  hakone::pipeline::SyslogMessage m;
  (void)hakone::pipeline::ParseSyslog(in, 1700000000LL * 1000000000, &m);
  hakone::pipeline::SyslogFramer f(4096);
  size_t total = 0;
  auto fn = [&](std::string_view msg) {
    total += msg.size();
    hakone::pipeline::SyslogMessage x;
    (void)hakone::pipeline::ParseSyslog(msg, 0, &x);
  };
  // Feed in two pieces to exercise partial frames.
  size_t cut = size ? data[0] % (size + 1) : 0;
  if (f.Feed(in.substr(0, cut), fn).ok()) (void)f.Feed(in.substr(cut), fn);
  f.Finish(fn);
  return 0;
}
