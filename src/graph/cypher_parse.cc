// Cypher lexer and recursive-descent parser (see cypher_ast.h). Errors carry line:column.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

#include "graph/cypher_ast.h"

namespace hakone::graph::cypher {
namespace {

enum class T { kEnd, kIdent, kQuoted, kInt, kFloat, kString, kParam, kSym };

struct Token {
  T t = T::kEnd;
  std::string text;  // identifier / symbol / decoded string / param name
  Value num;
  Pos pos;
  size_t begin = 0, end = 0;  // byte offsets in the source
};

std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

[[noreturn]] void SyntaxError(const Pos& p, const std::string& msg) {
  throw Error(Error::kSyntax, "syntax error at " + p.str() + ": " + msg);
}

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xC0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out += static_cast<char>(0xE0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out += static_cast<char>(0xF0 | (cp >> 18));
    *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::vector<Token> Lex(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  int line = 1;
  size_t line_start = 0;
  auto pos_at = [&](size_t k) { return Pos{line, static_cast<int>(k - line_start) + 1}; };
  auto is_ident_start = [](unsigned char c) { return std::isalpha(c) || c == '_' || c >= 0x80; };
  auto is_ident = [](unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; };
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\n') {
      ++line;
      line_start = ++i;
      continue;
    }
    if (std::isspace(c)) {
      ++i;
      continue;
    }
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '/') {
      while (i < s.size() && s[i] != '\n') ++i;
      continue;
    }
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      Pos p = pos_at(i);
      i += 2;
      while (i + 1 < s.size() && !(s[i] == '*' && s[i + 1] == '/')) {
        if (s[i] == '\n') {
          ++line;
          line_start = i + 1;
        }
        ++i;
      }
      if (i + 1 >= s.size()) SyntaxError(p, "unterminated /* comment");
      i += 2;
      continue;
    }
    Token tok;
    tok.pos = pos_at(i);
    tok.begin = i;
    if (is_ident_start(c)) {
      size_t j = i;
      while (j < s.size() && is_ident(static_cast<unsigned char>(s[j]))) ++j;
      tok.t = T::kIdent;
      tok.text = std::string(s.substr(i, j - i));
      i = j;
    } else if (c == '`') {
      size_t j = i + 1;
      std::string name;
      for (;;) {
        if (j >= s.size()) SyntaxError(tok.pos, "unterminated `quoted name`");
        if (s[j] == '`') {
          if (j + 1 < s.size() && s[j + 1] == '`') {
            name += '`';
            j += 2;
            continue;
          }
          break;
        }
        name += s[j++];
      }
      tok.t = T::kQuoted;
      tok.text = name;
      i = j + 1;
    } else if (std::isdigit(c) || (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      size_t j = i;
      bool is_float = false;
      bool hex = c == '0' && j + 1 < s.size() && (s[j + 1] == 'x' || s[j + 1] == 'X');
      bool oct = c == '0' && j + 1 < s.size() && s[j + 1] == 'o';
      if (hex || oct) {
        j += 2;
        size_t k = j;
        auto digit = [&](unsigned char d) { return hex ? std::isxdigit(d) != 0 : (d >= '0' && d <= '7'); };
        while (j < s.size() && digit(static_cast<unsigned char>(s[j]))) ++j;
        if (j == k) SyntaxError(tok.pos, hex ? "bad hexadecimal literal" : "bad octal literal");
        if (j < s.size() && (is_ident_start(static_cast<unsigned char>(s[j])) || std::isdigit(static_cast<unsigned char>(s[j]))))
          SyntaxError(tok.pos, "invalid number literal '" + std::string(s.substr(i, j - i + 1)) + "'");
        errno = 0;
        unsigned long long v = std::strtoull(std::string(s.substr(k, j - k)).c_str(), nullptr, hex ? 16 : 8);
        tok.t = T::kInt;
        // 2^63 is legal only after unary minus (the smallest integer): the same marker as below.
        if (!errno && v == static_cast<unsigned long long>(INT64_MAX) + 1)
          tok.num = Value(std::string("-9223372036854775808"));
        else if (errno || v > static_cast<unsigned long long>(INT64_MAX))
          SyntaxError(tok.pos, "integer literal out of range: " + std::string(s.substr(i, j - i)));
        else
          tok.num = Value(static_cast<int64_t>(v));
      } else {
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
        if (j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]))) {
          is_float = true;
          ++j;
          while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
        }
        if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
          size_t k = j + 1;
          if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
          if (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) {
            is_float = true;
            j = k;
            while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
          }
        }
        if (j < s.size() && is_ident_start(static_cast<unsigned char>(s[j])))
          SyntaxError(tok.pos, "invalid number literal '" + std::string(s.substr(i, j - i + 1)) + "'");
        std::string txt(s.substr(i, j - i));
        if (is_float) {
          tok.t = T::kFloat;
          errno = 0;
          double d = std::strtod(txt.c_str(), nullptr);
          if (errno == ERANGE && std::isinf(d)) SyntaxError(tok.pos, "floating point literal out of range: " + txt);
          tok.num = Value(d);
        } else {
          errno = 0;
          long long v = std::strtoll(txt.c_str(), nullptr, 10);
          tok.t = T::kInt;
          // 9223372036854775808 is legal only after unary minus; keep it as a marker float.
          if (errno == ERANGE) {
            if (txt == "9223372036854775808") tok.num = Value(std::string("-9223372036854775808"));
            else SyntaxError(tok.pos, "integer literal out of range: " + txt);
          } else {
            tok.num = Value(static_cast<int64_t>(v));
          }
        }
      }
      i = j;
    } else if (c == '\'' || c == '"') {
      size_t j = i + 1;
      std::string str;
      for (;;) {
        if (j >= s.size()) SyntaxError(tok.pos, "unterminated string literal");
        char d = s[j];
        if (d == static_cast<char>(c)) break;
        if (d == '\n') {
          ++line;
          line_start = j + 1;
        }
        if (d == '\\') {
          if (j + 1 >= s.size()) SyntaxError(tok.pos, "unterminated string literal");
          char e = s[j + 1];
          j += 2;
          switch (e) {
            case '\\': str += '\\'; break;
            case '\'': str += '\''; break;
            case '"': str += '"'; break;
            case 'n': str += '\n'; break;
            case 't': str += '\t'; break;
            case 'r': str += '\r'; break;
            case 'b': str += '\b'; break;
            case 'f': str += '\f'; break;
            case 'u':
            case 'U': {
              size_t n = e == 'u' ? 4 : 8;
              if (j + n > s.size()) SyntaxError(tok.pos, "bad \\u escape in string");
              uint32_t cp = 0;
              for (size_t k = 0; k < n; ++k) {
                char h = s[j + k];
                if (!std::isxdigit(static_cast<unsigned char>(h))) SyntaxError(tok.pos, "bad \\u escape in string");
                cp = cp * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
              }
              if (cp > 0x10FFFF) SyntaxError(tok.pos, "bad \\u escape in string");
              AppendUtf8(&str, cp);
              j += n;
              break;
            }
            default: SyntaxError(tok.pos, std::string("unknown escape \\") + e + " in string");
          }
          continue;
        }
        str += d;
        ++j;
      }
      tok.t = T::kString;
      tok.text = str;
      i = j + 1;
    } else if (c == '$') {
      size_t j = i + 1;
      if (j < s.size() && s[j] == '`') {
        size_t k = s.find('`', j + 1);
        if (k == std::string_view::npos) SyntaxError(tok.pos, "unterminated parameter name");
        tok.text = std::string(s.substr(j + 1, k - j - 1));
        j = k + 1;
      } else {
        while (j < s.size() && is_ident(static_cast<unsigned char>(s[j]))) ++j;
        if (j == i + 1) SyntaxError(tok.pos, "expected a parameter name after '$'");
        tok.text = std::string(s.substr(i + 1, j - i - 1));
      }
      tok.t = T::kParam;
      i = j;
    } else {
      static const char* kTwo[] = {"<=", ">=", "<>", "!=", "=~", "..", "+="};
      tok.t = T::kSym;
      bool two = false;
      for (const char* t2 : kTwo) {
        if (i + 1 < s.size() && s[i] == t2[0] && s[i + 1] == t2[1]) {
          // "<-" before "->"? Keep '<' '-' separate; "..": range. "<>" inside patterns ("<-->") is not
          // produced because '-' follows '<' there.
          tok.text = t2;
          i += 2;
          two = true;
          break;
        }
      }
      if (!two) {
        if (std::string_view("()[]{},.:;|*+-/%^=<>").find(static_cast<char>(c)) == std::string_view::npos)
          SyntaxError(tok.pos, std::string("unexpected character '") + static_cast<char>(c) + "'");
        tok.text = std::string(1, static_cast<char>(c));
        ++i;
      }
    }
    tok.end = i;
    out.push_back(std::move(tok));
  }
  Token end;
  end.t = T::kEnd;
  end.pos = pos_at(i);
  end.begin = end.end = i;
  out.push_back(end);
  return out;
}

const char* kUnsupported[] = {"MERGE", "DELETE", "DETACH", "SET", "REMOVE", "CALL", "UNION", "FOREACH",
                              "LOAD", "USING", "PROFILE", "START", "DROP", "YIELD"};

class Parser {
 public:
  Parser(std::string_view src) : src_(src), toks_(Lex(src)) {}

  Query ParseQuery() {
    Query q;
    if (IsKw("EXPLAIN")) {
      Next();
      q.explain = true;
    }
    while (!At(T::kEnd) && !IsSym(";")) q.clauses.push_back(ParseClause());
    if (IsSym(";")) Next();
    if (!At(T::kEnd)) SyntaxError(Cur().pos, "unexpected " + Describe(Cur()) + " after the end of the query");
    if (q.clauses.empty()) SyntaxError(Cur().pos, "empty query");
    const Clause& last = q.clauses.back();
    if (last.kind != Clause::kReturn && last.kind != Clause::kCreate)
      throw Error(Error::kSyntax, "syntax error at " + last.pos.str() + ": a query must end with RETURN (or CREATE)");
    for (size_t i = 0; i + 1 < q.clauses.size(); ++i)
      if (q.clauses[i].kind == Clause::kReturn)
        throw Error(Error::kSyntax, "syntax error at " + q.clauses[i + 1].pos.str() +
                                        ": RETURN can only be the last clause (use WITH to chain)");
    return q;
  }

 private:
  const Token& Cur() const { return toks_[i_]; }
  const Token& Peek(size_t k = 1) const { return toks_[std::min(i_ + k, toks_.size() - 1)]; }
  void Next() {
    if (i_ + 1 < toks_.size()) ++i_;
  }
  bool At(T t) const { return Cur().t == t; }
  bool IsSym(const char* s) const { return Cur().t == T::kSym && Cur().text == s; }
  bool IsKw(const char* kw, size_t k = 0) const {
    const Token& t = Peek(k);
    return t.t == T::kIdent && Upper(t.text) == kw;
  }
  static std::string Describe(const Token& t) {
    switch (t.t) {
      case T::kEnd: return "end of input";
      case T::kString: return "string '" + t.text + "'";
      case T::kParam: return "$" + t.text;
      case T::kInt:
      case T::kFloat: return "number";
      default: return "'" + t.text + "'";
    }
  }
  void ExpectSym(const char* s) {
    if (!IsSym(s)) SyntaxError(Cur().pos, std::string("expected '") + s + "' but found " + Describe(Cur()));
    Next();
  }
  void ExpectKw(const char* kw) {
    if (!IsKw(kw)) SyntaxError(Cur().pos, std::string("expected ") + kw + " but found " + Describe(Cur()));
    Next();
  }
  std::string ExpectName(const char* what) {
    if (!At(T::kIdent) && !At(T::kQuoted))
      SyntaxError(Cur().pos, std::string("expected ") + what + " but found " + Describe(Cur()));
    std::string n = Cur().text;
    Next();
    return n;
  }
  bool AtName() const { return At(T::kIdent) || At(T::kQuoted); }

  Clause ParseClause() {
    Clause c;
    c.pos = Cur().pos;
    if (At(T::kIdent)) {
      std::string kw = Upper(Cur().text);
      for (const char* u : kUnsupported)
        if (kw == u)
          throw Error(Error::kSyntax, "unsupported: " + kw + " at " + c.pos.str() +
                                          " (hakone's Cypher reads snapshots; it supports MATCH, OPTIONAL MATCH, "
                                          "WITH, UNWIND, RETURN and CREATE)");
      if (kw == "MATCH") {
        Next();
        c.kind = Clause::kMatch;
        ParsePatterns(&c.patterns);
        if (IsKw("WHERE")) {
          Next();
          c.where = ParseExpr();
        }
        return c;
      }
      if (kw == "OPTIONAL") {
        Next();
        ExpectKw("MATCH");
        c.kind = Clause::kOptionalMatch;
        ParsePatterns(&c.patterns);
        if (IsKw("WHERE")) {
          Next();
          c.where = ParseExpr();
        }
        return c;
      }
      if (kw == "CREATE") {
        Next();
        c.kind = Clause::kCreate;
        ParsePatterns(&c.patterns);
        for (const auto& p : c.patterns) {
          if (p.shortest) SyntaxError(p.pos, "shortestPath cannot be used in CREATE");
          for (const auto& r : p.rels) {
            if (r.types.size() != 1) SyntaxError(r.pos, "a relationship in CREATE needs exactly one type");
            if (r.dir == 0) SyntaxError(r.pos, "a relationship in CREATE needs a direction (-> or <-)");
            if (r.varlen) SyntaxError(r.pos, "variable-length relationships cannot be created");
          }
        }
        return c;
      }
      if (kw == "UNWIND") {
        Next();
        c.kind = Clause::kUnwind;
        c.unwind = ParseExpr();
        ExpectKw("AS");
        c.alias = ExpectName("a variable name after AS");
        return c;
      }
      if (kw == "WITH" || kw == "RETURN") {
        Next();
        c.kind = kw == "WITH" ? Clause::kWith : Clause::kReturn;
        if (IsKw("DISTINCT")) {
          Next();
          c.distinct = true;
        }
        if (IsSym("*")) {
          Next();
          c.star = true;
          if (IsSym(",")) Next();
          else goto tail;
        }
        for (;;) {
          ProjItem it;
          size_t b = Cur().begin;
          it.expr = ParseExpr();
          size_t e = toks_[i_ - 1].end;
          it.expr->text = std::string(src_.substr(b, e - b));
          if (IsKw("AS")) {
            Next();
            it.alias = ExpectName("a name after AS");
            it.has_alias = true;
          } else {
            it.alias = it.expr->op == Expr::kVar ? it.expr->name : it.expr->text;
          }
          c.items.push_back(std::move(it));
          if (!IsSym(",")) break;
          Next();
        }
      tail:
        if (IsKw("ORDER")) {
          Next();
          ExpectKw("BY");
          for (;;) {
            SortItem s;
            s.expr = ParseExpr();
            if (IsKw("DESC") || IsKw("DESCENDING")) {
              s.desc = true;
              Next();
            } else if (IsKw("ASC") || IsKw("ASCENDING")) {
              Next();
            }
            c.order.push_back(std::move(s));
            if (!IsSym(",")) break;
            Next();
          }
        }
        if (IsKw("SKIP")) {
          Next();
          c.skip = ParseExpr();
        }
        if (IsKw("LIMIT")) {
          Next();
          c.limit = ParseExpr();
        }
        if (c.kind == Clause::kWith && IsKw("WHERE")) {
          Next();
          c.where = ParseExpr();
        }
        return c;
      }
    }
    SyntaxError(Cur().pos, "expected a clause (MATCH, OPTIONAL MATCH, WITH, UNWIND, RETURN, CREATE) but found " +
                               Describe(Cur()));
  }

  void ParsePatterns(std::vector<PathPat>* out) {
    for (;;) {
      out->push_back(ParsePath());
      if (!IsSym(",")) break;
      Next();
    }
  }

  PathPat ParsePath() {
    PathPat p;
    p.pos = Cur().pos;
    if (AtName() && Peek().t == T::kSym && Peek().text == "=") {
      p.var = Cur().text;
      Next();
      Next();
    }
    if (At(T::kIdent) && (Upper(Cur().text) == "SHORTESTPATH" || Upper(Cur().text) == "ALLSHORTESTPATHS") &&
        Peek().t == T::kSym && Peek().text == "(") {
      p.shortest = Upper(Cur().text) == "SHORTESTPATH" ? 1 : 2;
      Next();
      Next();
      ParseChain(&p);
      ExpectSym(")");
      if (p.rels.size() != 1)
        SyntaxError(p.pos, "shortestPath needs exactly one relationship pattern, e.g. shortestPath((a)-[*..5]-(b))");
      return p;
    }
    ParseChain(&p);
    return p;
  }

  void ParseChain(PathPat* p) {
    p->nodes.push_back(ParseNode());
    for (;;) {
      if (!(IsSym("-") || IsSym("<"))) break;
      RelPat r;
      r.pos = Cur().pos;
      bool left = false;
      if (IsSym("<")) {
        left = true;
        Next();
        if (!IsSym("-")) SyntaxError(Cur().pos, "expected '-' after '<' in a relationship pattern");
      }
      Next();  // '-'
      if (IsSym("[")) {
        Next();
        ParseRelDetail(&r);
        ExpectSym("]");
      }
      if (!IsSym("-")) SyntaxError(Cur().pos, "expected '-' to close the relationship pattern but found " + Describe(Cur()));
      Next();
      bool right = false;
      if (IsSym(">")) {
        right = true;
        Next();
      }
      // <--> matches either direction, like --.
      r.dir = left && right ? 0 : right ? 1 : left ? -1 : 0;
      p->rels.push_back(std::move(r));
      if (!IsSym("(")) SyntaxError(Cur().pos, "expected '(' for the node after a relationship but found " + Describe(Cur()));
      p->nodes.push_back(ParseNode());
    }
  }

  NodePat ParseNode() {
    NodePat n;
    n.pos = Cur().pos;
    ExpectSym("(");
    if (AtName()) n.var = ExpectName("a variable");
    while (IsSym(":")) {
      Next();
      n.labels.push_back(ExpectName("a label name after ':'"));
    }
    if (IsSym("{") || At(T::kParam)) n.props = IsSym("{") ? ParseMapLiteral() : ParseAtom();
    if (!IsSym(")")) SyntaxError(Cur().pos, "expected ')' to close the node pattern but found " + Describe(Cur()));
    Next();
    return n;
  }

  void ParseRelDetail(RelPat* r) {
    if (AtName()) r->var = ExpectName("a variable");
    if (IsSym(":")) {
      Next();
      r->types.push_back(ExpectName("a relationship type after ':'"));
      while (IsSym("|")) {
        Next();
        if (IsSym(":")) Next();
        r->types.push_back(ExpectName("a relationship type after '|'"));
      }
    }
    if (IsSym("*")) {
      Next();
      r->varlen = true;
      r->min = 1;
      r->max = -1;
      if (At(T::kInt)) {
        r->min = Cur().num.kind() == Value::kInt ? Cur().num.i() : 0;
        r->max = r->min;
        Next();
      }
      if (IsSym("..")) {
        Next();
        r->max = -1;
        if (At(T::kInt)) {
          r->max = Cur().num.kind() == Value::kInt ? Cur().num.i() : 0;
          Next();
        }
      }
      // max below min is an empty interval: the pattern matches nothing (as openCypher says).
    }
    if (IsSym("{") || At(T::kParam)) r->props = IsSym("{") ? ParseMapLiteral() : ParseAtom();
  }

  ExprPtr Make(Expr::Op op, Pos pos) {
    auto e = std::make_shared<Expr>();
    e->op = op;
    e->pos = pos;
    return e;
  }
  ExprPtr Bin(Expr::Op op, Pos pos, ExprPtr a, ExprPtr b) {
    auto e = Make(op, pos);
    e->args = {std::move(a), std::move(b)};
    return e;
  }

  ExprPtr ParseExpr() {
    if (++depth_ > 200) SyntaxError(Cur().pos, "expression nested too deeply");
    auto e = ParseOr();
    --depth_;
    return e;
  }
  ExprPtr ParseOr() {
    auto l = ParseXor();
    while (IsKw("OR")) {
      Pos p = Cur().pos;
      Next();
      l = Bin(Expr::kOr, p, l, ParseXor());
    }
    return l;
  }
  ExprPtr ParseXor() {
    auto l = ParseAnd();
    while (IsKw("XOR")) {
      Pos p = Cur().pos;
      Next();
      l = Bin(Expr::kXor, p, l, ParseAnd());
    }
    return l;
  }
  ExprPtr ParseAnd() {
    auto l = ParseNot();
    while (IsKw("AND")) {
      Pos p = Cur().pos;
      Next();
      l = Bin(Expr::kAnd, p, l, ParseNot());
    }
    return l;
  }
  ExprPtr ParseNot() {
    if (IsKw("NOT")) {
      Pos p = Cur().pos;
      Next();
      if (++depth_ > 200) SyntaxError(p, "expression nested too deeply");
      auto e = Make(Expr::kNot, p);
      e->args = {ParseNot()};
      --depth_;
      return e;
    }
    return ParseComparison();
  }
  ExprPtr ParseComparison() {
    auto l = ParsePredicate();
    ExprPtr result;
    for (;;) {
      Expr::Op op;
      if (IsSym("=")) op = Expr::kEq;
      else if (IsSym("<>") || IsSym("!=")) op = Expr::kNe;
      else if (IsSym("<")) op = Expr::kLt;
      else if (IsSym("<=")) op = Expr::kLe;
      else if (IsSym(">")) op = Expr::kGt;
      else if (IsSym(">=")) op = Expr::kGe;
      else break;
      Pos p = Cur().pos;
      Next();
      auto r = ParsePredicate();
      auto cmp = Bin(op, p, l, r);
      result = result ? Bin(Expr::kAnd, p, result, cmp) : cmp;  // a < b < c == a < b AND b < c
      l = r;
    }
    return result ? result : l;
  }
  ExprPtr ParsePredicate() {
    auto l = ParseAddSub();
    for (;;) {
      Pos p = Cur().pos;
      if (IsKw("IS")) {
        Next();
        bool neg = false;
        if (IsKw("NOT")) {
          Next();
          neg = true;
        }
        ExpectKw("NULL");
        auto e = Make(neg ? Expr::kIsNotNull : Expr::kIsNull, p);
        e->args = {l};
        l = e;
      } else if (IsKw("IN")) {
        Next();
        l = Bin(Expr::kIn, p, l, ParseAddSub());
      } else if (IsKw("STARTS") && IsKw("WITH", 1)) {
        Next();
        Next();
        l = Bin(Expr::kStartsWith, p, l, ParseAddSub());
      } else if (IsKw("ENDS") && IsKw("WITH", 1)) {
        Next();
        Next();
        l = Bin(Expr::kEndsWith, p, l, ParseAddSub());
      } else if (IsKw("CONTAINS")) {
        Next();
        l = Bin(Expr::kContains, p, l, ParseAddSub());
      } else if (IsSym("=~")) {
        Next();
        l = Bin(Expr::kRegex, p, l, ParseAddSub());
      } else {
        break;
      }
    }
    return l;
  }
  ExprPtr ParseAddSub() {
    auto l = ParseMulDiv();
    for (;;) {
      Pos p = Cur().pos;
      if (IsSym("+")) {
        Next();
        l = Bin(Expr::kAdd, p, l, ParseMulDiv());
      } else if (IsSym("-")) {
        Next();
        l = Bin(Expr::kSub, p, l, ParseMulDiv());
      } else {
        return l;
      }
    }
  }
  ExprPtr ParseMulDiv() {
    auto l = ParsePow();
    for (;;) {
      Pos p = Cur().pos;
      Expr::Op op;
      if (IsSym("*")) op = Expr::kMul;
      else if (IsSym("/")) op = Expr::kDiv;
      else if (IsSym("%")) op = Expr::kMod;
      else return l;
      Next();
      l = Bin(op, p, l, ParsePow());
    }
  }
  ExprPtr ParsePow() {
    auto l = ParseUnary();
    while (IsSym("^")) {
      Pos p = Cur().pos;
      Next();
      l = Bin(Expr::kPow, p, l, ParseUnary());
    }
    return l;
  }
  ExprPtr ParseUnary() {
    if (IsSym("-") || IsSym("+")) {
      Pos p = Cur().pos;
      bool neg = IsSym("-");
      Next();
      if (++depth_ > 200) SyntaxError(p, "expression nested too deeply");
      // -9223372036854775808 is the one literal that only exists negated.
      if (neg && At(T::kInt) && Cur().num.kind() == Value::kString) {
        Next();
        --depth_;
        auto e = Make(Expr::kLit, p);
        e->lit = Value(static_cast<int64_t>(INT64_MIN));
        return e;
      }
      auto e = Make(neg ? Expr::kNeg : Expr::kPlus, p);
      e->args = {ParseUnary()};
      --depth_;
      return e;
    }
    return ParsePostfix();
  }
  ExprPtr ParsePostfix() {
    auto e = ParseAtom();
    for (;;) {
      Pos p = Cur().pos;
      if (IsSym(".")) {
        Next();
        auto x = Make(Expr::kProp, p);
        x->name = ExpectName("a property name after '.'");
        x->args = {e};
        e = x;
      } else if (IsSym("[")) {
        Next();
        ExprPtr a, b;
        if (!IsSym("..")) a = ParseExpr();
        if (IsSym("..")) {
          Next();
          if (!IsSym("]")) b = ParseExpr();
          ExpectSym("]");
          auto x = Make(Expr::kSlice, p);
          x->args = {e, a, b};
          e = x;
        } else {
          ExpectSym("]");
          auto x = Make(Expr::kIndex, p);
          x->args = {e, a};
          e = x;
        }
      } else if (IsSym(":") && (e->op == Expr::kVar)) {
        auto x = Make(Expr::kHasLabels, p);
        while (IsSym(":")) {
          Next();
          x->labels.push_back(ExpectName("a label name after ':'"));
        }
        x->args = {e};
        e = x;
      } else {
        return e;
      }
    }
  }

  ExprPtr ParseMapLiteral() {
    auto m = Make(Expr::kMap, Cur().pos);
    ExpectSym("{");
    if (!IsSym("}")) {
      for (;;) {
        auto key = Make(Expr::kLit, Cur().pos);
        key->lit = Value(ExpectName("a map key"));
        ExpectSym(":");
        m->args.push_back(key);
        m->args.push_back(ParseExpr());
        if (!IsSym(",")) break;
        Next();
      }
    }
    ExpectSym("}");
    return m;
  }

  ExprPtr ParseAtom() {
    const Token& t = Cur();
    Pos p = t.pos;
    switch (t.t) {
      case T::kInt:
        if (t.num.kind() == Value::kString) SyntaxError(p, "integer literal out of range: 2^63 (only -2^63 exists)");
        [[fallthrough]];
      case T::kFloat: {
        auto e = Make(Expr::kLit, p);
        e->lit = t.num;
        Next();
        return e;
      }
      case T::kString: {
        auto e = Make(Expr::kLit, p);
        e->lit = Value(t.text);
        Next();
        return e;
      }
      case T::kParam: {
        auto e = Make(Expr::kParam, p);
        e->name = t.text;
        Next();
        return e;
      }
      case T::kQuoted: {
        auto e = Make(Expr::kVar, p);
        e->name = t.text;
        Next();
        return e;
      }
      case T::kSym: {
        if (t.text == "(") {
          Next();
          // A pattern in an expression ("(a)-->(b)") is not supported.
          auto e = ParseExpr();
          if (IsSym("-") && (Peek().text == "[" || Peek().text == "-" || Peek().text == ">"))
            throw Error(Error::kSyntax, "unsupported: pattern expressions at " + p.str() +
                                            " (use MATCH or OPTIONAL MATCH instead)");
          ExpectSym(")");
          return e;
        }
        if (t.text == "[") return ParseListOrComprehension();
        if (t.text == "{") return ParseMapLiteral();
        SyntaxError(p, "expected an expression but found " + Describe(t));
      }
      case T::kEnd: SyntaxError(p, "expected an expression but found end of input");
      case T::kIdent: break;
    }
    std::string up = Upper(t.text);
    if (up == "TRUE" || up == "FALSE" || up == "NULL") {
      auto e = Make(Expr::kLit, p);
      if (up != "NULL") e->lit = Value(up == "TRUE");
      Next();
      return e;
    }
    if (up == "CASE") return ParseCase();
    if ((up == "ANY" || up == "ALL" || up == "NONE" || up == "SINGLE") && Peek().t == T::kSym && Peek().text == "(" &&
        (Peek(2).t == T::kIdent || Peek(2).t == T::kQuoted) && Peek(3).t == T::kIdent && Upper(Peek(3).text) == "IN") {
      Next();
      Next();
      auto e = Make(Expr::kQuantifier, p);
      e->name = up;
      std::string var = ExpectName("a variable");
      ExpectKw("IN");
      auto list = ParseExpr();
      ExprPtr pred;
      if (IsKw("WHERE")) {
        Next();
        pred = ParseExpr();
      } else {
        SyntaxError(Cur().pos, up + "(...) needs a WHERE predicate");
      }
      ExpectSym(")");
      auto v = Make(Expr::kLit, p);
      v->lit = Value(var);
      e->args = {v, list, pred};
      return e;
    }
    if (up == "REDUCE" && Peek().t == T::kSym && Peek().text == "(") {
      Next();
      Next();
      auto e = Make(Expr::kReduce, p);
      auto acc = Make(Expr::kLit, Cur().pos);
      acc->lit = Value(ExpectName("an accumulator variable"));
      ExpectSym("=");
      auto init = ParseExpr();
      ExpectSym(",");
      auto var = Make(Expr::kLit, Cur().pos);
      var->lit = Value(ExpectName("a variable"));
      ExpectKw("IN");
      auto list = ParseExpr();
      ExpectSym("|");
      auto body = ParseExpr();
      ExpectSym(")");
      e->args = {acc, init, var, list, body};
      return e;
    }
    if (up == "EXISTS" && Peek().t == T::kSym && Peek().text == "{")
      throw Error(Error::kSyntax, "unsupported: EXISTS { subquery } at " + p.str());
    // Function call?
    if (Peek().t == T::kSym && (Peek().text == "(" || Peek().text == ".")) {
      // namespaced functions: a.b.c(...)
      size_t k = 0;
      std::string fname = t.text;
      while (Peek(k + 1).t == T::kSym && Peek(k + 1).text == "." && Peek(k + 2).t == T::kIdent &&
             Peek(k + 3).t == T::kSym && (Peek(k + 3).text == "(" || Peek(k + 3).text == ".")) {
        fname += "." + Peek(k + 2).text;
        k += 2;
      }
      if (Peek(k + 1).t == T::kSym && Peek(k + 1).text == "(") {
        for (size_t j = 0; j <= k; ++j) Next();
        Next();  // (
        std::string lower = Lower(fname);
        if (lower == "count" && IsSym("*")) {
          Next();
          ExpectSym(")");
          auto e = Make(Expr::kCountStar, p);
          e->is_agg = true;
          return e;
        }
        auto e = Make(Expr::kFunc, p);
        e->name = lower;
        e->is_agg = IsAggregateName(lower);
        if (IsKw("DISTINCT")) {
          Next();
          e->distinct = true;
        }
        if (!IsSym(")")) {
          for (;;) {
            e->args.push_back(ParseExpr());
            if (!IsSym(",")) break;
            Next();
          }
        }
        ExpectSym(")");
        return e;
      }
    }
    auto e = Make(Expr::kVar, p);
    e->name = t.text;
    Next();
    return e;
  }

  ExprPtr ParseCase() {
    Pos p = Cur().pos;
    Next();
    auto e = Make(Expr::kCase, p);
    ExprPtr subject;
    if (!IsKw("WHEN")) subject = ParseExpr();
    e->args.push_back(subject);
    if (!IsKw("WHEN")) SyntaxError(Cur().pos, "expected WHEN in CASE but found " + Describe(Cur()));
    while (IsKw("WHEN")) {
      Next();
      e->args.push_back(ParseExpr());
      ExpectKw("THEN");
      e->args.push_back(ParseExpr());
    }
    ExprPtr els;
    if (IsKw("ELSE")) {
      Next();
      els = ParseExpr();
    }
    ExpectKw("END");
    e->args.push_back(els);
    return e;
  }

  ExprPtr ParseListOrComprehension() {
    Pos p = Cur().pos;
    Next();  // [
    if (AtName() && IsKw("IN", 1)) {
      auto e = Make(Expr::kListComp, p);
      auto v = Make(Expr::kLit, p);
      v->lit = Value(ExpectName("a variable"));
      Next();  // IN
      auto list = ParseExpr();
      ExprPtr pred, proj;
      if (IsKw("WHERE")) {
        Next();
        pred = ParseExpr();
      }
      if (IsSym("|")) {
        Next();
        proj = ParseExpr();
      }
      ExpectSym("]");
      e->args = {v, list, pred, proj};
      return e;
    }
    auto e = Make(Expr::kList, p);
    if (!IsSym("]")) {
      for (;;) {
        e->args.push_back(ParseExpr());
        if (!IsSym(",")) break;
        Next();
      }
    }
    ExpectSym("]");
    return e;
  }

  std::string_view src_;
  std::vector<Token> toks_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

bool IsAggregateName(const std::string& n) {
  return n == "count" || n == "collect" || n == "sum" || n == "avg" || n == "min" || n == "max" || n == "stdev" ||
         n == "stdevp" || n == "percentiledisc" || n == "percentilecont";
}

Query Parse(std::string_view text) {
  Parser p(text);
  return p.ParseQuery();
}

}  // namespace hakone::graph::cypher
