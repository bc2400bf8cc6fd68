#include "sessions/commands.h"

#include <cctype>

namespace hakone::sessions {

bool User::AllowedCommand(std::string_view lower_name) const {
  if (commands.empty()) return true;
  for (const auto& c : commands) {
    if (c == lower_name || c == "all" || c == "+@all") return true;
  }
  return false;
}

std::string ErrArity(std::string_view name) {
  std::string s = "ERR wrong number of arguments for '";
  s.append(name);
  s.append("' command");
  return s;
}

std::string ErrInvalidExpire(std::string_view cmd) {
  std::string s = "ERR invalid expire time in '";
  s.append(cmd);
  s.append("' command");
  return s;
}

std::string_view LowerName(std::string_view s, char* buf, size_t cap) {
  if (s.size() > cap) return {};
  for (size_t i = 0; i < s.size(); i++) buf[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
  return {buf, s.size()};
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

void CommandTable::Add(CommandSpec spec) {
  index_[spec.name] = specs_.size();
  specs_.push_back(std::move(spec));
}

const CommandSpec* CommandTable::Find(std::string_view name) const {
  char buf[32];
  std::string_view l = LowerName(name, buf, sizeof(buf));
  if (l.empty()) return nullptr;
  // std::unordered_map<std::string> without heterogeneous look-up: a small string stays in SSO.
  auto it = index_.find(std::string(l));
  return it == index_.end() ? nullptr : &specs_[it->second];
}

void CommandKeys(const CommandSpec& spec, std::span<const std::string_view> argv, std::vector<std::string_view>* keys) {
  keys->clear();
  if (spec.first_key <= 0) return;
  int argc = static_cast<int>(argv.size());
  int last = spec.last_key >= 0 ? spec.last_key : argc + spec.last_key;
  for (int i = spec.first_key; i <= last && i < argc; i += spec.step) keys->push_back(argv[i]);
}

void RegisterAllCommands(CommandTable& t) {
  RegisterStringCommands(t);
  RegisterKeyCommands(t);
  RegisterHashCommands(t);
  RegisterSetCommands(t);
  RegisterServerCommands(t);
  RegisterTransactionCommands(t);
}

}  // namespace hakone::sessions
