#include "core/flags.h"

#include <cstdio>

namespace hakone {

FlagSet::FlagSet(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {}

void FlagSet::String(const std::string& name, std::string* out, const std::string& metavar, const std::string& help) {
  flags_.push_back({name, metavar, help, false, [out](const std::string& v) {
                      *out = v;
                      return Status::Ok();
                    }});
}

void FlagSet::StringList(const std::string& name, std::vector<std::string>* out, const std::string& metavar,
                         const std::string& help) {
  auto cleared = std::make_shared<bool>(false);
  flags_.push_back({name, metavar, help, false, [out, cleared](const std::string& v) {
                      if (!*cleared) {  // the first occurrence replaces the default
                        out->clear();
                        *cleared = true;
                      }
                      size_t start = 0;
                      while (start <= v.size()) {
                        size_t comma = v.find(',', start);
                        if (comma == std::string::npos) comma = v.size();
                        if (comma > start) out->push_back(v.substr(start, comma - start));
                        start = comma + 1;
                      }
                      return Status::Ok();
                    }});
}

void FlagSet::Int(const std::string& name, int64_t* out, const std::string& metavar, const std::string& help) {
  flags_.push_back({name, metavar, help, false, [out, name](const std::string& v) {
                      try {
                        size_t pos = 0;
                        long long x = std::stoll(v, &pos);
                        if (pos == v.size()) {
                          *out = x;
                          return Status::Ok();
                        }
                      } catch (...) {
                      }
                      return Status::InvalidArgument("--" + name + ": '" + v + "' is not an integer");
                    }});
}

void FlagSet::Bool(const std::string& name, bool* out, const std::string& help) {
  flags_.push_back({name, "", help, true, [out, name](const std::string& v) {
                      if (v.empty() || v == "true" || v == "1" || v == "yes") *out = true;
                      else if (v == "false" || v == "0" || v == "no") *out = false;
                      else return Status::InvalidArgument("--" + name + ": '" + v + "' is not true or false");
                      return Status::Ok();
                    }});
}

void FlagSet::Positional(std::vector<std::string>* out, const std::string& usage) {
  positional_ = out;
  positional_usage_ = usage;
}

Status FlagSet::Parse(int argc, char** argv, int first) {
  bool only_positional = false;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (only_positional || a.size() < 2 || a[0] != '-') {
      if (!positional_) return Status::InvalidArgument("unexpected argument '" + a + "'");
      positional_->push_back(a);
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    if (a == "-h" || a == "--help") return Status::Cancelled("help");
    std::string name = a.substr(a[1] == '-' ? 2 : 1);
    std::string value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    Flag* f = nullptr;
    for (auto& fl : flags_) {
      if (fl.name == name) f = &fl;
    }
    if (!f) return Status::InvalidArgument("unknown flag --" + name);
    if (!f->is_bool && !has_value) {
      if (i + 1 >= argc) return Status::InvalidArgument("--" + name + " needs a value (" + f->metavar + ")");
      value = argv[++i];
    }
    f->seen = true;
    HAKONE_RETURN_IF_ERROR(f->set(value));
  }
  return Status::Ok();
}

int FlagSet::ParseOrExit(int argc, char** argv, int first) {
  Status st = Parse(argc, argv, first);
  if (st.ok()) return -1;
  if (st.code() == StatusCode::kCancelled) {
    std::fputs(Help().c_str(), stdout);
    return 0;
  }
  std::fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", command_.c_str(), st.message().c_str(), command_.c_str());
  return 2;
}

std::string FlagSet::Help() const {
  std::string h = "Usage: " + command_ + " [flags]";
  if (positional_) h += " " + positional_usage_;
  h += "\n\n" + summary_ + "\n\nFlags:\n";
  for (auto& f : flags_) {
    std::string left = "  --" + f.name + (f.metavar.empty() ? "" : " " + f.metavar);
    if (left.size() < 28) left.resize(28, ' ');
    else left += "\n" + std::string(28, ' ');
    h += left + f.help + "\n";
  }
  h += "  --help                    show this help\n";
  if (!epilog_.empty()) h += "\n" + epilog_ + "\n";
  return h;
}

bool FlagSet::WasSet(const std::string& name) const {
  for (auto& f : flags_) {
    if (f.name == name) return f.seen;
  }
  return false;
}

}  // namespace hakone
