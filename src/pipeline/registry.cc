// The one place that lists every source, transform and sink type of the agent.
#include "pipeline/component.h"

namespace hakone::pipeline {

void RegisterBuiltins(Registry* r) {
  r->sources["file"] = ReadFileSource;
  r->sources["syslog"] = ReadSyslogSource;
  r->sources["http"] = ReadHttpSource;
  r->sources["stdin"] = ReadStdinSource;
  r->sources["exec"] = ReadExecSource;
  for (const char* t : {"json", "logfmt", "regex", "nginx", "apache", "syslog", "set", "rename", "remove", "redact",
                        "filter", "sample", "timestamp"}) {
    std::string type = t;
    r->transforms[type] = [type](const ConfigSection& s) { return ReadTransform(type, s); };
  }
  r->sinks["stdout"] = ReadStdoutSink;
  r->sinks["blackhole"] = ReadBlackholeSink;
  r->sinks["archive"] = ReadArchiveSink;
  r->sinks["store"] = ReadStoreSink;
  r->sinks["elasticsearch"] = ReadElasticsearchSink;
  r->sinks["slack"] = ReadSlackSink;
}

}  // namespace hakone::pipeline
