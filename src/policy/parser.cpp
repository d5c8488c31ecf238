#include "policy/parser.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <utility>

#include "policy/builtins_internal.h"

namespace statehouse::policy {

namespace {

// Deep enough for any real policy; bounds recursion (and so stack use) on hostile input.
constexpr int kMaxDepth = 256;

enum class Tok {
  kEof,
  kIllegal,  // a lexical error; text holds the message
  kIdent,
  kString,
  kNumber,
  // Keywords.
  kPackage,
  kImport,
  kAs,
  kDefault,
  kElse,
  kNot,
  kSome,
  kWith,
  kNull,
  kTrue,
  kFalse,
  kIn,
  kEvery,
  kIf,
  kContains,
  // Punctuation and operators.
  kLBrace,
  kRBrace,
  kLBrack,
  kRBrack,
  kLParen,
  kRParen,
  kDot,
  kComma,
  kSemicolon,
  kColon,
  kAssign,
  kUnify,
  kEqual,
  kNeq,
  kLt,
  kLte,
  kGt,
  kGte,
  kAdd,
  kSub,
  kMul,
  kQuo,
  kRem,
  kAnd,
  kOr,
};

struct Keyword {
  const char* text;
  Tok tok;
};

constexpr Keyword kKeywords[] = {
    {"package", Tok::kPackage}, {"import", Tok::kImport}, {"as", Tok::kAs},
    {"default", Tok::kDefault}, {"else", Tok::kElse},     {"not", Tok::kNot},
    {"some", Tok::kSome},       {"with", Tok::kWith},     {"null", Tok::kNull},
    {"true", Tok::kTrue},       {"false", Tok::kFalse},   {"in", Tok::kIn},
    {"every", Tok::kEvery},     {"if", Tok::kIf},         {"contains", Tok::kContains},
};

bool IsKeyword(Tok t) { return t >= Tok::kPackage && t <= Tok::kContains; }

const char* Symbol(Tok t) {
  switch (t) {
    case Tok::kEof:
      return "eof";
    case Tok::kIllegal:
      return "illegal";
    case Tok::kIdent:
      return "ident";
    case Tok::kString:
      return "string";
    case Tok::kNumber:
      return "number";
    case Tok::kLBrace:
      return "{";
    case Tok::kRBrace:
      return "}";
    case Tok::kLBrack:
      return "[";
    case Tok::kRBrack:
      return "]";
    case Tok::kLParen:
      return "(";
    case Tok::kRParen:
      return ")";
    case Tok::kDot:
      return ".";
    case Tok::kComma:
      return ",";
    case Tok::kSemicolon:
      return ";";
    case Tok::kColon:
      return ":";
    case Tok::kAssign:
      return ":=";
    case Tok::kUnify:
      return "=";
    case Tok::kEqual:
      return "==";
    case Tok::kNeq:
      return "!=";
    case Tok::kLt:
      return "<";
    case Tok::kLte:
      return "<=";
    case Tok::kGt:
      return ">";
    case Tok::kGte:
      return ">=";
    case Tok::kAdd:
      return "+";
    case Tok::kSub:
      return "-";
    case Tok::kMul:
      return "*";
    case Tok::kQuo:
      return "/";
    case Tok::kRem:
      return "%";
    case Tok::kAnd:
      return "&";
    case Tok::kOr:
      return "|";
    default:
      for (const Keyword& k : kKeywords) {
        if (k.tok == t) return k.text;
      }
      return "?";
  }
}

struct Token {
  Tok type = Tok::kEof;
  std::string text;  // identifier or number lexeme, decoded string, or error message
  int line = 1;
  int column = 1;
  size_t offset = 0;
  size_t end = 0;
  bool ws_before = false;  // whitespace or a comment separates it from the previous token
  bool nl_before = false;  // ... and that gap holds a newline
};

// Length of the valid UTF-8 sequence at s[pos] (which is >= 0x80), or 0 when invalid
// (overlong forms, surrogates and code points past U+10FFFF are invalid).
size_t Utf8SequenceLength(std::string_view s, size_t pos) {
  auto byte = [&](size_t i) -> unsigned { return static_cast<unsigned char>(s[i]); };
  unsigned c = byte(pos);
  size_t len;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (pos + len > s.size()) return 0;
  if (byte(pos + 1) < lo || byte(pos + 1) > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    if (byte(pos + i) < 0x80 || byte(pos + i) > 0xBF) return 0;
  }
  return len;
}

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits the source into tokens. A lexical error ends the list with a kIllegal token, which
// the parser reports when it reaches it (so earlier syntax errors are reported first).
class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  std::vector<Token> Run() {
    std::vector<Token> out;
    // A UTF-8 byte order mark (some editors write one) is not part of the source.
    if (src_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    while (true) {
      Token tok;
      if (!SkipSpace(tok)) {
        out.push_back(std::move(tok));
        return out;
      }
      tok.line = line_;
      tok.column = col_;
      tok.offset = pos_;
      if (pos_ >= src_.size()) {
        tok.type = Tok::kEof;
        tok.end = pos_;
        out.push_back(std::move(tok));
        return out;
      }
      bool ok = Scan(tok);
      tok.end = pos_;
      out.push_back(std::move(tok));
      if (!ok) return out;
    }
  }

 private:
  // Consumes bytes holding cols characters (columns count characters, as OPA's do).
  void Advance(size_t bytes, int cols = 1) {
    pos_ += bytes;
    col_ += cols;
  }

  // Reports a lexical error on tok.
  bool Error(Token& tok, std::string message) {
    tok.type = Tok::kIllegal;
    tok.text = std::move(message);
    return false;
  }

  // Skips whitespace and comments, noting them on tok. False on invalid UTF-8 in a comment.
  bool SkipSpace(Token& tok) {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\r') {
        tok.ws_before = true;
        Advance(1);
      } else if (c == '\n') {
        tok.ws_before = tok.nl_before = true;
        ++pos_;
        ++line_;
        col_ = 1;
      } else if (c == '#') {
        tok.ws_before = true;
        while (pos_ < src_.size() && src_[pos_] != '\n') {
          if (static_cast<unsigned char>(src_[pos_]) < 0x80) {
            Advance(1);
            continue;
          }
          size_t len = Utf8SequenceLength(src_, pos_);
          if (len == 0) {
            tok.line = line_;
            tok.column = col_;
            tok.offset = tok.end = pos_;
            return Error(tok, "illegal utf-8 character");
          }
          Advance(len);
        }
      } else {
        break;
      }
    }
    return true;
  }

  bool Scan(Token& tok) {
    char c = src_[pos_];
    if (IsIdentStart(c)) {
      size_t start = pos_;
      while (pos_ < src_.size() && IsIdentChar(src_[pos_])) Advance(1);
      tok.text = std::string(src_.substr(start, pos_ - start));
      tok.type = Tok::kIdent;
      for (const Keyword& k : kKeywords) {
        if (tok.text == k.text) tok.type = k.tok;
      }
      return true;
    }
    if (IsDigit(c)) return ScanNumber(tok);
    if (c == '"') return ScanString(tok);
    if (c == '`') return ScanRawString(tok);
    auto one = [&](Tok t) {
      tok.type = t;
      Advance(1);
      return true;
    };
    auto two = [&](char next, Tok pair, Tok single) {
      if (pos_ + 1 < src_.size() && src_[pos_ + 1] == next) {
        tok.type = pair;
        Advance(2, 2);
        return true;
      }
      return one(single);
    };
    switch (c) {
      case '{':
        return one(Tok::kLBrace);
      case '}':
        return one(Tok::kRBrace);
      case '[':
        return one(Tok::kLBrack);
      case ']':
        return one(Tok::kRBrack);
      case '(':
        return one(Tok::kLParen);
      case ')':
        return one(Tok::kRParen);
      case '.':
        return one(Tok::kDot);
      case ',':
        return one(Tok::kComma);
      case ';':
        return one(Tok::kSemicolon);
      case ':':
        return two('=', Tok::kAssign, Tok::kColon);
      case '=':
        return two('=', Tok::kEqual, Tok::kUnify);
      case '<':
        return two('=', Tok::kLte, Tok::kLt);
      case '>':
        return two('=', Tok::kGte, Tok::kGt);
      case '+':
        return one(Tok::kAdd);
      case '-':
        return one(Tok::kSub);
      case '*':
        return one(Tok::kMul);
      case '/':
        return one(Tok::kQuo);
      case '%':
        return one(Tok::kRem);
      case '&':
        return one(Tok::kAnd);
      case '|':
        return one(Tok::kOr);
      case '!':
        if (pos_ + 1 < src_.size() && src_[pos_ + 1] == '=') {
          tok.type = Tok::kNeq;
          Advance(2, 2);
          return true;
        }
        return Error(tok, "illegal ! character");
      default:
        break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      size_t len = Utf8SequenceLength(src_, pos_);
      if (len == 0) return Error(tok, "illegal utf-8 character");
      return Error(tok, "illegal token: '" + std::string(src_.substr(pos_, len)) + "'");
    }
    if (u >= 0x20 && u < 0x7F) return Error(tok, std::string("illegal token: '") + c + "'");
    char buf[48];
    std::snprintf(buf, sizeof buf, "illegal token: byte 0x%02X", u);
    return Error(tok, buf);
  }

  // JSON numbers (without the sign, which the parser handles): digits, an optional fraction
  // and an optional exponent. Like OPA's scanner, a letter right after a number is an error
  // (`2w` is not a number followed by a name).
  bool ScanNumber(Token& tok) {
    size_t start = pos_;
    while (pos_ < src_.size() && IsDigit(src_[pos_])) Advance(1);
    if (pos_ < src_.size() && src_[pos_] == '.') {
      Advance(1);
      if (pos_ >= src_.size() || !IsDigit(src_[pos_])) return Error(tok, "expected fraction");
      while (pos_ < src_.size() && IsDigit(src_[pos_])) Advance(1);
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      Advance(1);
      if (pos_ < src_.size() && (src_[pos_] == '+' || src_[pos_] == '-')) Advance(1);
      if (pos_ >= src_.size() || !IsDigit(src_[pos_])) return Error(tok, "expected exponent");
      while (pos_ < src_.size() && IsDigit(src_[pos_])) Advance(1);
    }
    if (pos_ < src_.size() && IsIdentStart(src_[pos_])) return Error(tok, "illegal number format");
    tok.type = Tok::kNumber;
    tok.text = std::string(src_.substr(start, pos_ - start));
    return true;
  }

  bool ScanString(Token& tok) {
    Advance(1);
    std::string out;
    while (true) {
      if (pos_ >= src_.size() || src_[pos_] == '\n') return Error(tok, "non-terminated string");
      char c = src_[pos_];
      if (c == '"') {
        Advance(1);
        break;
      }
      if (c == '\\') {
        if (pos_ + 1 >= src_.size()) return Error(tok, "non-terminated string");
        char e = src_[pos_ + 1];
        Advance(2, 2);
        switch (e) {
          case '"':
          case '\\':
          case '/':
            out += e;
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'n':
            out += '\n';
            break;
          case 'r':
            out += '\r';
            break;
          case 't':
            out += '\t';
            break;
          case 'u': {
            int unit = ReadHex4();
            if (unit < 0) return Error(tok, "illegal escape sequence");
            uint32_t cp = static_cast<uint32_t>(unit);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              // A high surrogate pairs with a following \uDC00-\uDFFF escape.
              if (pos_ + 1 < src_.size() && src_[pos_] == '\\' && src_[pos_ + 1] == 'u') {
                size_t save_pos = pos_;
                int save_col = col_;
                Advance(2, 2);
                int low = ReadHex4();
                if (low >= 0xDC00 && low <= 0xDFFF) {
                  cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<uint32_t>(low) - 0xDC00);
                } else {
                  pos_ = save_pos;
                  col_ = save_col;
                  cp = 0xFFFD;
                }
              } else {
                cp = 0xFFFD;
              }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
              cp = 0xFFFD;  // a lone low surrogate, as Go's JSON decoder reads it
            }
            internal::AppendUtf8(out, cp);
            break;
          }
          default:
            return Error(tok, "illegal escape sequence");
        }
        continue;
      }
      if (static_cast<unsigned char>(c) < 0x80) {
        out += c;
        Advance(1);
        continue;
      }
      size_t len = Utf8SequenceLength(src_, pos_);
      if (len == 0) return Error(tok, "illegal utf-8 character");
      out.append(src_.substr(pos_, len));
      Advance(len);
    }
    tok.type = Tok::kString;
    tok.text = std::move(out);
    return true;
  }

  // Four hex digits at pos_ (consumed), or -1.
  int ReadHex4() {
    if (pos_ + 4 > src_.size()) return -1;
    int v = 0;
    for (int i = 0; i < 4; ++i) {
      int h = HexValue(src_[pos_ + i]);
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    Advance(4, 4);
    return v;
  }

  bool ScanRawString(Token& tok) {
    Advance(1);
    size_t start = pos_;
    while (true) {
      if (pos_ >= src_.size()) return Error(tok, "non-terminated raw string");
      char c = src_[pos_];
      if (c == '`') break;
      if (c == '\n') {
        ++pos_;
        ++line_;
        col_ = 1;
      } else if (static_cast<unsigned char>(c) < 0x80) {
        Advance(1);
      } else {
        size_t len = Utf8SequenceLength(src_, pos_);
        if (len == 0) return Error(tok, "illegal utf-8 character");
        Advance(len);
      }
    }
    tok.type = Tok::kString;
    tok.text = std::string(src_.substr(start, pos_ - start));
    Advance(1);
    return true;
  }

  std::string_view src_;
  size_t pos_ = 0;
  int line_ = 1;
  int col_ = 1;
};

// Binary operators above `:=`/`=` and `in`: precedence (higher binds tighter) and OPA's name.
struct BinaryOperator {
  Tok tok;
  int prec;
  const char* name;
};

constexpr BinaryOperator kBinaryOperators[] = {
    {Tok::kEqual, 1, "equal"}, {Tok::kNeq, 1, "neq"}, {Tok::kLt, 1, "lt"},
    {Tok::kLte, 1, "lte"},     {Tok::kGt, 1, "gt"},   {Tok::kGte, 1, "gte"},
    {Tok::kOr, 2, "or"},       {Tok::kAnd, 3, "and"}, {Tok::kAdd, 4, "plus"},
    {Tok::kSub, 4, "minus"},   {Tok::kMul, 5, "mul"}, {Tok::kQuo, 5, "div"},
    {Tok::kRem, 5, "rem"},
};

// The precedence just above `|`: comprehension heads are parsed up to it.
constexpr int kAboveUnion = 3;

const BinaryOperator* FindBinaryOperator(Tok t) {
  for (const BinaryOperator& op : kBinaryOperators) {
    if (op.tok == t) return &op;
  }
  return nullptr;
}

constexpr const char* kMember2 = "internal.member_2";
constexpr const char* kMember3 = "internal.member_3";

// OPA's names of value types, for messages.
const char* ScalarTypeName(const Value& v) {
  switch (v.kind()) {
    case Kind::kNull:
      return "null";
    case Kind::kBoolean:
      return "boolean";
    case Kind::kNumber:
      return "number";
    case Kind::kString:
      return "string";
    default:
      return "value";
  }
}

const char* TermTypeName(const Term& t) {
  switch (t.kind) {
    case TermKind::kScalar:
      return ScalarTypeName(t.value);
    case TermKind::kVar:
      return "var";
    case TermKind::kRef:
      return "ref";
    case TermKind::kArray:
      return "array";
    case TermKind::kObject:
      return "object";
    case TermKind::kSet:
      return "set";
    case TermKind::kArrayCompr:
      return "arraycomprehension";
    case TermKind::kSetCompr:
      return "setcomprehension";
    case TermKind::kObjectCompr:
      return "objectcomprehension";
    case TermKind::kCall:
      return "call";
  }
  return "term";
}

bool IsStringScalar(const TermPtr& t) {
  return t->kind == TermKind::kScalar && t->value.IsString();
}

class Parser {
 public:
  Parser(std::string_view file, std::string_view text)
      : file_(file), text_(text), toks_(Lexer(text).Run()) {
    if (toks_[0].type == Tok::kIllegal) Fail(toks_[0], toks_[0].text);
  }

  Module ParseModule() {
    Module module;
    module.file = file_;
    // `import rego.v1` switches the whole module to v1 rules, wherever the import stands
    // (OPA checks v1 syntax after parsing the module).
    for (size_t i = 0; i + 3 < toks_.size(); ++i) {
      if (toks_[i].type == Tok::kImport && toks_[i + 1].type == Tok::kIdent &&
          toks_[i + 1].text == "rego" && toks_[i + 2].type == Tok::kDot &&
          toks_[i + 3].text == "v1") {
        v1_ = true;
      }
    }
    if (Is(Tok::kEof)) Fail(Cur(), "empty module");
    if (!Is(Tok::kPackage)) Fail(Cur(), "package expected");
    module.package = ParsePackage();
    while (!Is(Tok::kEof)) {
      if (Is(Tok::kPackage)) Fail(Cur(), "unexpected package");
      if (Is(Tok::kImport)) {
        module.imports.push_back(ParseImport());
      } else {
        ParseRules(module.rules);
      }
    }
    module.rego_v1 = v1_;
    return module;
  }

  Body ParseQuery(std::vector<std::string>* texts) {
    if (Is(Tok::kEof)) Fail(Cur(), "empty query");
    NewlineMode mode(this, true);
    Body body;
    while (true) {
      size_t start = Cur().offset;
      body.push_back(ParseLiteral());
      if (texts) texts->emplace_back(text_.substr(start, last_end_ - start));
      if (Is(Tok::kSemicolon)) {
        Next();
        continue;
      }
      if (Is(Tok::kEof)) return body;
      if (!Cur().nl_before) Illegal("expected \\n or ;");
    }
  }

 private:
  // Counts nesting (terms within terms, bodies within terms) so hostile input cannot exhaust
  // the stack.
  class DepthGuard {
   public:
    explicit DepthGuard(Parser* p) : p_(p) {
      if (++p_->depth_ > kMaxDepth) {
        --p_->depth_;
        p_->Fail(p_->Cur(), "nesting too deep");
      }
    }
    ~DepthGuard() { --p_->depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    Parser* p_;
  };

  // Newlines end expressions in bodies and rule heads, but not inside (), [] and {}.
  class NewlineMode {
   public:
    NewlineMode(Parser* p, bool significant) : p_(p), saved_(p->nl_sig_) {
      p_->nl_sig_ = significant;
    }
    ~NewlineMode() { p_->nl_sig_ = saved_; }
    NewlineMode(const NewlineMode&) = delete;
    NewlineMode& operator=(const NewlineMode&) = delete;

   private:
    Parser* p_;
    bool saved_;
  };

  // Where the parser stands, to try a parse and step back.
  struct Mark {
    size_t pos;
    size_t last_end;
    int wildcards;
  };
  Mark Save() const { return {pos_, last_end_, wildcards_}; }
  void Restore(const Mark& m) {
    pos_ = m.pos;
    last_end_ = m.last_end;
    wildcards_ = m.wildcards;
  }

  const Token& Cur() const { return toks_[pos_]; }
  const Token& Peek(size_t k) const { return toks_[std::min(pos_ + k, toks_.size() - 1)]; }
  bool Is(Tok t) const { return toks_[pos_].type == t; }
  // An operator continues the expression unless a newline ends the expression before it.
  bool AtInfix(Tok t) const { return Is(t) && !(nl_sig_ && Cur().nl_before); }
  static bool IsWord(const Token& t) { return t.type == Tok::kIdent || IsKeyword(t.type); }

  void Next() {
    if (toks_[pos_].type == Tok::kEof) return;
    last_end_ = toks_[pos_].end;
    ++pos_;
    if (toks_[pos_].type == Tok::kIllegal) Fail(toks_[pos_], toks_[pos_].text);
  }

  Location LocOf(const Token& t) const { return Location{file_, t.line, t.column}; }

  [[noreturn]] void Fail(const Location& loc, const std::string& message) const {
    throw PolicyError(PolicyErrorKind::kParse, loc, message);
  }
  [[noreturn]] void Fail(const Token& t, const std::string& message) const {
    Fail(LocOf(t), message);
  }
  // OPA's "unexpected <token> token[: note]" about the current token.
  [[noreturn]] void Illegal(const std::string& note = "") const {
    const Token& t = Cur();
    std::string msg =
        std::string("unexpected ") + Symbol(t.type) + (IsKeyword(t.type) ? " keyword" : " token");
    if (!note.empty()) msg += ": " + note;
    Fail(t, msg);
  }

  // --- Terms ---------------------------------------------------------------------------------

  static TermPtr NewTerm(TermKind kind, Location loc) {
    auto t = std::make_shared<Term>();
    t->kind = kind;
    t->loc = std::move(loc);
    return t;
  }
  static TermPtr Scalar(Value v, Location loc) {
    TermPtr t = NewTerm(TermKind::kScalar, std::move(loc));
    t->value = std::move(v);
    return t;
  }
  static TermPtr CallTerm(std::string name, std::vector<TermPtr> args, Location loc) {
    TermPtr t = NewTerm(TermKind::kCall, std::move(loc));
    t->name = std::move(name);
    t->items = std::move(args);
    return t;
  }
  std::string Wildcard() { return "$_" + std::to_string(wildcards_++); }
  TermPtr VarTerm(const Token& t) {
    TermPtr v = NewTerm(TermKind::kVar, LocOf(t));
    v->name = t.text == "_" ? Wildcard() : t.text;
    return v;
  }

  // The number token t, with prefix ("-", "0.", "-0.") before its text.
  Value NumberValue(const Token& t, const std::string& prefix) {
    if (prefix.find('.') == std::string::npos && t.text.size() > 1 && t.text[0] == '0' &&
        IsDigit(t.text[1])) {
      Illegal("expected number without leading zero");
    }
    std::string s = prefix + t.text;
    const char* first = s.data();
    const char* last = s.data() + s.size();
    if (s.find_first_of(".eE") == std::string::npos) {
      int64_t i = 0;
      auto [ptr, ec] = std::from_chars(first, last, i);
      if (ec == std::errc() && ptr == last) return Value::Int(i);
    }
    double d = 0;
    auto [ptr, ec] = std::from_chars(first, last, d);
    if (ec == std::errc::result_out_of_range) {
      // Underflow reads as zero; overflow is refused, as OPA refuses numbers it cannot hold.
      if (s.find("e-") == std::string::npos && s.find("E-") == std::string::npos) {
        Fail(t, "number too big");
      }
      d = 0;
    } else if (ec != std::errc() || ptr != last) {
      Fail(t, "invalid number");
    }
    if (!std::isfinite(d)) Fail(t, "number too big");
    return Value::Double(d);
  }

  TermPtr ParsePrimary() {
    DepthGuard guard(this);
    const Token& t = Cur();
    Location loc = LocOf(t);
    TermPtr term;
    switch (t.type) {
      case Tok::kNull:
        term = Scalar(Value::Null(), loc);
        Next();
        break;
      case Tok::kTrue:
      case Tok::kFalse:
        term = Scalar(Value::Bool(t.type == Tok::kTrue), loc);
        Next();
        break;
      case Tok::kNumber:
        term = Scalar(NumberValue(t, ""), loc);
        Next();
        break;
      case Tok::kSub: {
        // A negative literal: `-` in operand position directly before a number.
        Next();
        if (Is(Tok::kNumber)) {
          term = Scalar(NumberValue(Cur(), "-"), loc);
          Next();
        } else if (Is(Tok::kDot) && Peek(1).type == Tok::kNumber && !Peek(1).ws_before) {
          Next();
          term = Scalar(NumberValue(Cur(), "-0."), loc);
          Next();
        } else {
          Illegal("expected number");
        }
        break;
      }
      case Tok::kDot:
        // `.5`, as OPA reads it.
        if (Peek(1).type != Tok::kNumber || Peek(1).ws_before) Illegal();
        Next();
        term = Scalar(NumberValue(Cur(), "0."), loc);
        Next();
        break;
      case Tok::kString:
        term = Scalar(Value::String(t.text), loc);
        Next();
        break;
      case Tok::kIdent:
      case Tok::kContains:  // `contains` is a keyword only in rule heads; elsewhere the builtin
        term = VarTerm(t);
        Next();
        break;
      case Tok::kLBrack:
        term = ParseArray();
        break;
      case Tok::kLBrace:
        term = ParseSetOrObject();
        break;
      case Tok::kLParen: {
        Next();
        {
          NewlineMode mode(this, false);
          term = ParseInfix(true);
        }
        if (!Is(Tok::kRParen)) Illegal("non-terminated expression");
        Next();
        break;
      }
      default:
        Illegal();
    }
    return ParsePostfix(std::move(term));
  }

  // Refs and calls written directly after a term: a.b, a[b], f(x), f(x).y, [1, 2][0].
  TermPtr ParsePostfix(TermPtr term) {
    while (!Cur().ws_before) {
      if (Is(Tok::kDot)) {
        CheckRefHead(term);
        Next();
        if (!IsWord(Cur()) || Cur().ws_before) Illegal("expected ident");
        term = AppendRef(std::move(term), Scalar(Value::String(Cur().text), LocOf(Cur())));
        Next();
      } else if (Is(Tok::kLBrack)) {
        CheckRefHead(term);
        Next();
        TermPtr key;
        {
          NewlineMode mode(this, false);
          key = ParseInfix(true);
        }
        if (!Is(Tok::kRBrack)) Illegal("expected ]");
        Next();
        term = AppendRef(std::move(term), std::move(key));
      } else if (Is(Tok::kLParen)) {
        std::string name;
        if (!CallName(*term, &name)) Fail(term->loc, "illegal call (operator must be a name)");
        Next();
        std::vector<TermPtr> args = ParseTermList(Tok::kRParen);
        if (name == "set" && args.empty()) {
          term = NewTerm(TermKind::kSet, term->loc);
        } else {
          term = CallTerm(std::move(name), std::move(args), term->loc);
        }
      } else {
        break;
      }
    }
    return term;
  }

  void CheckRefHead(const TermPtr& head) {
    if (head->kind == TermKind::kScalar) {
      Fail(head->loc, std::string("illegal ref (head cannot be ") + TermTypeName(*head) + ")");
    }
  }

  static TermPtr AppendRef(TermPtr term, TermPtr elem) {
    if (term->kind != TermKind::kRef) {
      TermPtr ref = NewTerm(TermKind::kRef, term->loc);
      ref->head = std::move(term);
      term = std::move(ref);
    }
    term->path.push_back(std::move(elem));
    return term;
  }

  // The dotted name of a called function: f, a.b.c, data.lib.f.
  static bool CallName(const Term& t, std::string* name) {
    if (t.kind == TermKind::kVar) {
      *name = t.name;
      return true;
    }
    if (t.kind != TermKind::kRef || t.head->kind != TermKind::kVar) return false;
    std::string out = t.head->name;
    for (const TermPtr& p : t.path) {
      if (!IsStringScalar(p)) return false;
      out += "." + p->value.AsString();
    }
    *name = std::move(out);
    return true;
  }

  // Comma-separated terms up to `end` (consumed); the opener is already consumed. Trailing
  // commas are allowed.
  std::vector<TermPtr> ParseTermList(Tok end) {
    NewlineMode mode(this, false);
    std::vector<TermPtr> items;
    if (Is(end)) {
      Next();
      return items;
    }
    items.push_back(ParseInfix(false));
    ParseTermListRest(end, &items);
    return items;
  }

  void ParseTermListRest(Tok end, std::vector<TermPtr>* items) {
    while (true) {
      if (Is(end)) {
        Next();
        return;
      }
      if (!Is(Tok::kComma)) Illegal(std::string("expected \",\" or \"") + Symbol(end) + "\"");
      Next();
      if (Is(end)) {
        Next();
        return;
      }
      items->push_back(ParseInfix(false));
    }
  }

  // A comprehension body up to `end` (consumed); the `|` is already consumed.
  std::shared_ptr<Body> ParseComprehensionBody(Tok end) {
    NewlineMode mode(this, true);
    auto body = std::make_shared<Body>(ParseBodyUntil(end));
    Next();
    return body;
  }

  TermPtr ParseArray() {
    Location loc = LocOf(Cur());
    Next();
    NewlineMode mode(this, false);
    if (Is(Tok::kRBrack)) {
      Next();
      return NewTerm(TermKind::kArray, loc);
    }
    // A term followed by `|` makes a comprehension, as in OPA: `[x | ...]` is never read as a
    // set union, and the head may use operators that bind tighter (`[x * 2 | ...]`).
    TermPtr head = ParseBinary(kAboveUnion, nullptr);
    if (Is(Tok::kOr)) {
      Next();
      TermPtr t = NewTerm(TermKind::kArrayCompr, loc);
      t->compr_head = std::move(head);
      t->body = ParseComprehensionBody(Tok::kRBrack);
      return t;
    }
    TermPtr t = NewTerm(TermKind::kArray, loc);
    t->items.push_back(ParseInfix(false, std::move(head)));
    ParseTermListRest(Tok::kRBrack, &t->items);
    return t;
  }

  TermPtr ParseSetOrObject() {
    Location loc = LocOf(Cur());
    Next();
    NewlineMode mode(this, false);
    if (Is(Tok::kRBrace)) {
      Next();
      return NewTerm(TermKind::kObject, loc);
    }
    TermPtr head = ParseBinary(kAboveUnion, nullptr);
    if (Is(Tok::kOr)) {
      Next();
      TermPtr t = NewTerm(TermKind::kSetCompr, loc);
      t->compr_head = std::move(head);
      t->body = ParseComprehensionBody(Tok::kRBrace);
      return t;
    }
    if (!Is(Tok::kColon)) head = ParseInfix(false, std::move(head));
    if (Is(Tok::kColon)) return ParseObjectRest(loc, std::move(head));
    if (!Is(Tok::kComma) && !Is(Tok::kRBrace)) Illegal("non-terminated set");
    TermPtr t = NewTerm(TermKind::kSet, loc);
    t->items.push_back(std::move(head));
    ParseTermListRest(Tok::kRBrace, &t->items);
    return t;
  }

  // The rest of an object (or object comprehension) after its first key; at the colon.
  TermPtr ParseObjectRest(const Location& loc, TermPtr key) {
    Next();
    TermPtr value = ParseBinary(kAboveUnion, nullptr);
    if (Is(Tok::kOr)) {
      Next();
      TermPtr t = NewTerm(TermKind::kObjectCompr, loc);
      t->key = std::move(key);
      t->compr_head = std::move(value);
      t->body = ParseComprehensionBody(Tok::kRBrace);
      return t;
    }
    TermPtr t = NewTerm(TermKind::kObject, loc);
    t->entries.emplace_back(std::move(key), ParseInfix(false, std::move(value)));
    while (true) {
      if (Is(Tok::kRBrace)) {
        Next();
        return t;
      }
      if (!Is(Tok::kComma)) Illegal("expected \",\" or \"}\"");
      Next();
      if (Is(Tok::kRBrace)) {
        Next();
        return t;
      }
      TermPtr k = ParseInfix(false);
      if (!Is(Tok::kColon)) Illegal("expected \":\"");
      Next();
      TermPtr v = ParseInfix(false);
      t->entries.emplace_back(std::move(k), std::move(v));
    }
  }

  // Binary operators of precedence >= min_prec (all but `in`, `:=`, `=`), left associative.
  // lhs, when given, is an operand already parsed.
  TermPtr ParseBinary(int min_prec, TermPtr lhs) {
    if (!lhs) lhs = ParsePrimary();
    while (true) {
      const BinaryOperator* op = FindBinaryOperator(Cur().type);
      if (!op || op->prec < min_prec || (nl_sig_ && Cur().nl_before)) break;
      Next();
      TermPtr rhs = ParseBinary(op->prec + 1, nullptr);
      Location loc = lhs->loc;
      lhs = CallTerm(op->name, {std::move(lhs), std::move(rhs)}, std::move(loc));
    }
    return lhs;
  }

  // A term with infix operators, `in` binding loosest. With key_val (outside collections and
  // call arguments), `k, v in xs` is a member_3 call.
  TermPtr ParseInfix(bool key_val, TermPtr lhs = nullptr) {
    DepthGuard guard(this);
    lhs = ParseBinary(1, std::move(lhs));
    if (key_val && AtInfix(Tok::kComma)) {
      Mark mark = Save();
      Next();
      TermPtr mhs = ParseBinary(1, nullptr);
      if (AtInfix(Tok::kIn)) {
        Next();
        TermPtr rhs = ParseBinary(1, nullptr);
        Location loc = lhs->loc;
        lhs = CallTerm(kMember3, {std::move(lhs), std::move(mhs), std::move(rhs)}, loc);
      } else {
        Restore(mark);  // not `k, v in xs`: the comma belongs to the caller (`some x, y`)
      }
    }
    while (AtInfix(Tok::kIn)) {
      Next();
      TermPtr rhs = ParseBinary(1, nullptr);
      Location loc = lhs->loc;
      lhs = CallTerm(kMember2, {std::move(lhs), std::move(rhs)}, std::move(loc));
    }
    return lhs;
  }

  // --- Bodies and expressions ----------------------------------------------------------------

  // Expressions separated by ';' or newlines, up to `end` (not consumed).
  Body ParseBodyUntil(Tok end) {
    DepthGuard guard(this);
    NewlineMode mode(this, true);
    if (Is(end)) Fail(Cur(), "found empty body");
    Body body;
    while (true) {
      body.push_back(ParseLiteral());
      if (Is(Tok::kSemicolon)) {
        Next();
        continue;
      }
      if (Is(end)) return body;
      if (!Cur().nl_before) Illegal(std::string("expected \\n or ; or ") + Symbol(end));
    }
  }

  // `{ body }` at the brace; consumes both braces.
  Body ParseBracedBody() {
    Next();
    Body body = ParseBodyUntil(Tok::kRBrace);
    Next();
    return body;
  }

  Expr ParseLiteral() {
    const Token& first = Cur();
    Location loc = LocOf(first);
    bool negated = false;
    if (Is(Tok::kNot)) {
      Next();
      negated = true;
    }
    Expr expr;
    if (Is(Tok::kSome)) {
      if (negated) Illegal("illegal negation of 'some'");
      expr = ParseSome();
    } else if (Is(Tok::kEvery)) {
      if (negated) Illegal("illegal negation of 'every'");
      expr = ParseEvery();
    } else {
      expr.kind = ExprKind::kTerm;
      expr.negated = negated;
      expr.term = ParseExprTerm();
    }
    expr.loc = std::move(loc);
    if (expr.kind != ExprKind::kSome) {
      while (Is(Tok::kWith)) expr.with.push_back(ParseWith());
    }
    return expr;
  }

  // A term, or `lhs := rhs` / `lhs = rhs` (only at the top of an expression).
  TermPtr ParseExprTerm() {
    TermPtr lhs = ParseInfix(true);
    if (AtInfix(Tok::kAssign) || AtInfix(Tok::kUnify)) {
      const char* name = Is(Tok::kAssign) ? "assign" : "eq";
      Next();
      TermPtr rhs = ParseInfix(true);
      Location loc = lhs->loc;
      return CallTerm(name, {std::move(lhs), std::move(rhs)}, std::move(loc));
    }
    return lhs;
  }

  static bool IsMemberCall(const TermPtr& t) {
    return t->kind == TermKind::kCall && (t->name == kMember2 || t->name == kMember3);
  }

  Expr ParseSome() {
    Next();
    Expr expr;
    // `some x in xs` / `some k, v in xs`: one term, a member call.
    Mark mark = Save();
    TermPtr term = ParseInfix(true);
    if (IsMemberCall(term)) {
      expr.kind = ExprKind::kSomeIn;
      expr.vars.assign(term->items.begin(), term->items.end() - 1);
      expr.domain = term->items.back();
      expr.term = std::move(term);
      return expr;
    }
    if (term->kind == TermKind::kCall) Illegal("expected `x in xs` or `x, y in xs` expression");
    // `some x, y`: declarations.
    Restore(mark);
    expr.kind = ExprKind::kSome;
    while (true) {
      if (!Is(Tok::kIdent)) Illegal("expected var");
      expr.vars.push_back(VarTerm(Cur()));
      Next();
      if (!AtInfix(Tok::kComma)) break;
      Next();
    }
    return expr;
  }

  Expr ParseEvery() {
    Next();
    Expr expr;
    expr.kind = ExprKind::kEvery;
    TermPtr term = ParseInfix(true);
    if (!IsMemberCall(term)) Illegal("expected `x[, y] in xs { ... }` expression");
    expr.vars.assign(term->items.begin(), term->items.end() - 1);
    expr.domain = term->items.back();
    if (expr.vars.size() == 2 && expr.vars[0]->kind != TermKind::kVar) {
      Illegal("expected key to be a variable");
    }
    if (expr.vars.back()->kind != TermKind::kVar) Illegal("expected value to be a variable");
    if (!Is(Tok::kLBrace)) Illegal("missing body");
    expr.body = std::make_shared<Body>(ParseBracedBody());
    return expr;
  }

  WithModifier ParseWith() {
    WithModifier with;
    with.loc = LocOf(Cur());
    Next();
    if (!Is(Tok::kIdent)) Illegal("expected ident");
    with.target = ParsePrimary();
    bool ok = with.target->kind == TermKind::kVar ||
              (with.target->kind == TermKind::kRef && with.target->head->kind == TermKind::kVar);
    if (!ok) Illegal("expected with target path");
    if (!Is(Tok::kAs)) Illegal("expected as keyword");
    Next();
    with.value = ParseInfix(true);
    return with;
  }

  // --- Module statements ---------------------------------------------------------------------

  // A var or a ref of strings (`a.b["c"]`) as a path; what names packages and imports.
  std::vector<std::string> TermPath(const TermPtr& t) {
    if (t->kind == TermKind::kVar) return {t->name};
    if (t->kind != TermKind::kRef || t->head->kind != TermKind::kVar) {
      Fail(t->loc, std::string("unexpected ") + TermTypeName(*t) + " token: expected path");
    }
    std::vector<std::string> path{t->head->name};
    for (const TermPtr& p : t->path) {
      if (!IsStringScalar(p)) {
        Fail(p->loc, std::string("unexpected ") + TermTypeName(*p) + " token: expecting string");
      }
      path.push_back(p->value.AsString());
    }
    return path;
  }

  std::vector<std::string> ParsePackage() {
    Next();
    if (!Is(Tok::kIdent)) Illegal("expected package path");
    return TermPath(ParsePrimary());
  }

  Import ParseImport() {
    Import imp;
    imp.loc = LocOf(Cur());
    Next();
    if (!Is(Tok::kIdent)) Illegal("expected import path");
    TermPtr term = ParsePrimary();
    imp.path = TermPath(term);
    const std::string& root = imp.path[0];
    if (root != "data" && root != "input" && root != "future" && root != "rego") {
      Fail(term->loc,
           "unexpected import path, must begin with one of: {data, future, input, rego}, got: " +
               root);
    }
    if (Is(Tok::kAs)) {
      Next();
      if (!Is(Tok::kIdent)) Illegal("expected var");
      imp.alias = Cur().text;
      Next();
    }
    if (root == "future") {
      if (imp.path.size() < 2 || imp.path[1] != "keywords" || imp.path.size() > 3) {
        Fail(term->loc, "invalid import, must be `future.keywords`");
      }
      if (!imp.alias.empty()) Fail(term->loc, "`future` imports cannot be aliased");
      if (imp.path.size() == 3) {
        const std::string& kw = imp.path[2];
        if (kw != "in" && kw != "every" && kw != "if" && kw != "contains") {
          Fail(term->loc, "unexpected keyword, must be one of [contains every if in]");
        }
      }
    } else if (root == "rego") {
      if (imp.path.size() != 2 || imp.path[1] != "v1") {
        std::string text = imp.path[0];
        for (size_t i = 1; i < imp.path.size(); ++i) text += "." + imp.path[i];
        Fail(term->loc, "invalid import `" + text + "`, must be `rego.v1`");
      }
      if (!imp.alias.empty()) Fail(term->loc, "`rego` imports cannot be aliased");
      v1_ = true;
    } else if (imp.alias.empty()) {
      for (const Keyword& k : kKeywords) {
        if (imp.path.back() == k.text) {
          Fail(term->loc,
               "unexpected import path, must not end with a keyword, got: " + imp.path.back());
        }
      }
    }
    return imp;
  }

  // Why a default rule's value is not a constant: "var", "ref", "call"; empty when it is.
  static const char* NonConstant(const Term& t) {
    switch (t.kind) {
      case TermKind::kVar:
      case TermKind::kRef:
      case TermKind::kCall:
        return TermTypeName(t);
      case TermKind::kArray:
      case TermKind::kSet:
        for (const TermPtr& item : t.items) {
          if (const char* why = NonConstant(*item)) return why;
        }
        return nullptr;
      case TermKind::kObject:
        for (const auto& [k, v] : t.entries) {
          if (const char* why = NonConstant(*k)) return why;
          if (const char* why = NonConstant(*v)) return why;
        }
        return nullptr;
      default:
        return nullptr;  // scalars, and comprehensions (closures may use vars)
    }
  }

  // A copy that shares no node with t (the compiler annotates terms in place), with fresh
  // wildcard names.
  TermPtr DeepCopy(const TermPtr& t) {
    if (!t) return nullptr;
    auto c = std::make_shared<Term>(*t);
    if (c->kind == TermKind::kVar && c->name.rfind("$_", 0) == 0) c->name = Wildcard();
    c->head = DeepCopy(t->head);
    for (TermPtr& p : c->path) p = DeepCopy(p);
    for (TermPtr& i : c->items) i = DeepCopy(i);
    for (auto& [k, v] : c->entries) {
      k = DeepCopy(k);
      v = DeepCopy(v);
    }
    c->key = DeepCopy(t->key);
    c->compr_head = DeepCopy(t->compr_head);
    if (t->body) c->body = std::make_shared<Body>(DeepCopyBody(*t->body));
    return c;
  }

  Body DeepCopyBody(const Body& body) {
    Body out;
    for (const Expr& e : body) {
      Expr c = e;
      c.term = DeepCopy(e.term);
      for (TermPtr& v : c.vars) v = DeepCopy(v);
      c.domain = DeepCopy(e.domain);
      if (e.body) c.body = std::make_shared<Body>(DeepCopyBody(*e.body));
      for (WithModifier& w : c.with) {
        w.target = DeepCopy(w.target);
        w.value = DeepCopy(w.value);
      }
      out.push_back(std::move(c));
    }
    return out;
  }

  // The body after `if`: `{ ... }` or a single expression.
  Body ParseIfBody() {
    Next();
    if (Is(Tok::kLBrace)) return ParseBracedBody();
    NewlineMode mode(this, true);
    Body body;
    body.push_back(ParseLiteral());
    return body;
  }

  // One rule statement (plus the rules of chained bodies `p { a } { b }`).
  void ParseRules(std::vector<Rule>& out) {
    NewlineMode mode(this, true);
    Rule rule;
    rule.loc = LocOf(Cur());
    if (Is(Tok::kDefault)) {
      rule.is_default = true;
      Next();
    }
    if (!Is(Tok::kIdent)) Illegal(rule.is_default ? "expected rule head name" : "");

    // The head: a name, then `.name` / `[term]` elements, or arguments.
    struct Elem {
      TermPtr term;
      bool bracket;
    };
    std::vector<Elem> elems;
    std::vector<std::string> names{Cur().text};
    if (Cur().text == "_") Illegal("expected rule head name");
    Next();
    bool has_args = false;
    for (bool first = true;; first = false) {
      // Whitespace may stand between the name and its first element (`p [x]`), not later.
      if (Cur().ws_before && (!first || Cur().nl_before)) break;
      if (Is(Tok::kDot)) {
        Next();
        if (!IsWord(Cur()) || Cur().ws_before) Illegal("expected ident");
        elems.push_back({Scalar(Value::String(Cur().text), LocOf(Cur())), false});
        Next();
      } else if (Is(Tok::kLBrack)) {
        Next();
        TermPtr key;
        {
          NewlineMode inner(this, false);
          key = ParseInfix(true);
        }
        if (!Is(Tok::kRBrack)) Illegal("expected ]");
        Next();
        elems.push_back({std::move(key), true});
      } else if (Is(Tok::kLParen)) {
        Next();
        rule.args = ParseTermList(Tok::kRParen);
        has_args = true;
        break;
      } else {
        break;
      }
    }
    // Every element but a final non-string one is a path name; that one is the key.
    TermPtr key;
    for (size_t i = 0; i < elems.size(); ++i) {
      if (IsStringScalar(elems[i].term)) {
        names.push_back(elems[i].term->value.AsString());
      } else if (i + 1 == elems.size() && !has_args) {
        key = elems[i].term;
      } else {
        Fail(elems[i].term->loc, "illegal rule head ref (only the last element may be a term)");
      }
    }
    // `p[x]` with nothing before the brackets: v0's partial set head.
    bool bracket_head = elems.size() == 1 && elems[0].bracket && !has_args;

    bool uses_contains = false;
    if (Is(Tok::kContains)) {
      if (has_args) {
        Illegal("the contains keyword can only be used with multi-value rule definitions (e.g., " +
                names.back() + " contains <VALUE> { ... })");
      }
      if (key) Fail(key->loc, "illegal rule head ref (a multi-value rule takes no key)");
      uses_contains = true;
      Next();
      rule.key = ParseInfix(true);
    } else if (Is(Tok::kAssign) || Is(Tok::kUnify)) {
      rule.assign = Is(Tok::kAssign);
      Next();
      rule.value = ParseInfix(true);
    }

    rule.name = names.back();
    rule.path = names;
    bool has_if = Is(Tok::kIf);
    bool has_brace = Is(Tok::kLBrace);
    const char* body_kind = has_args ? "function" : "rule";

    if (rule.is_default) {
      if (uses_contains || !rule.value) Fail(rule.loc, "illegal default rule (must have a value)");
      if (key) Fail(rule.loc, "illegal default rule (cannot have a key)");
      if (const char* why = NonConstant(*rule.value)) {
        Fail(rule.loc, std::string("illegal default rule (value cannot contain ") + why + ")");
      }
      rule.kind = RuleKind::kComplete;
      if (has_args) {
        rule.kind = RuleKind::kFunction;
        for (const TermPtr& arg : rule.args) {
          if (arg->kind != TermKind::kVar) {
            Fail(rule.loc, std::string("illegal default rule (arguments cannot contain ") +
                               TermTypeName(*arg) + ")");
          }
        }
      }
      out.push_back(std::move(rule));
      return;
    }

    if (v1_ && has_brace)
      Fail(rule.loc, std::string("`if` keyword is required before ") + body_kind + " body");

    if (uses_contains) {
      rule.kind = RuleKind::kPartialSet;
    } else if (has_args) {
      rule.kind = RuleKind::kFunction;
    } else if (bracket_head && !rule.value && (!v1_ || (!has_if && !has_brace))) {
      // v0: `p[x] { ... }`, `p[x] if ...`, `p[x]`, also with a string key.
      if (v1_) Fail(rule.loc, "`contains` keyword is required for partial set rules");
      rule.kind = RuleKind::kPartialSet;
      rule.key = elems[0].term;
      rule.path = {names[0]};
      rule.name = names[0];
    } else if (key) {
      // `p[k] = v`, and a key without a value (`a.b[x] if`, v1's `p[x] if`) maps to true.
      rule.kind = RuleKind::kPartialObject;
      rule.key = key;
      if (!rule.value) rule.value = Scalar(Value::Bool(true), rule.loc);
    } else {
      rule.kind = RuleKind::kComplete;
      if (!rule.value && elems.empty() && !has_if && !has_brace) {
        if (!Is(Tok::kEof) && !Cur().nl_before) Illegal();
        Fail(rule.loc, "var cannot be used for rule name");
      }
    }

    bool has_body = has_if || has_brace;
    if (has_if) {
      rule.body = ParseIfBody();
    } else if (has_brace) {
      rule.body = ParseBracedBody();
    }

    while (Is(Tok::kElse)) {
      if (rule.kind != RuleKind::kComplete && rule.kind != RuleKind::kFunction) {
        Fail(Cur(), "else keyword cannot be used on multi-value rules");
      }
      RuleElse branch;
      branch.loc = LocOf(Cur());
      Next();
      if (Is(Tok::kAssign) || Is(Tok::kUnify)) {
        Next();
        branch.value = ParseInfix(true);
      } else if (!Is(Tok::kIf) && !Is(Tok::kLBrace)) {
        Illegal("expected else value term or rule body");
      }
      if (Is(Tok::kIf)) {
        if (Peek(1).type == Tok::kEof) {
          Next();
          Illegal("rule body expected");
        }
        branch.body = ParseIfBody();
      } else if (Is(Tok::kLBrace)) {
        if (v1_) Fail(branch.loc, "`if` keyword is required before rule body");
        branch.body = ParseBracedBody();
      }
      rule.elses.push_back(std::move(branch));
    }

    // `p { a } { b }`: each further body is a rule of its own with the same head (v0 only).
    std::vector<Rule> chained;
    while (has_body && Is(Tok::kLBrace)) {
      if (!rule.elses.empty()) Fail(Cur(), "expected else keyword");
      if (v1_) Fail(Cur(), std::string("`if` keyword is required before ") + body_kind + " body");
      Rule next;
      next.kind = rule.kind;
      next.loc = LocOf(Cur());
      next.name = rule.name;
      next.path = rule.path;
      next.assign = rule.assign;
      next.key = DeepCopy(rule.key);
      next.value = DeepCopy(rule.value);
      for (const TermPtr& arg : rule.args) next.args.push_back(DeepCopy(arg));
      next.body = ParseBracedBody();
      chained.push_back(std::move(next));
    }
    out.push_back(std::move(rule));
    for (Rule& r : chained) out.push_back(std::move(r));
  }

  std::string file_;
  std::string_view text_;
  std::vector<Token> toks_;
  size_t pos_ = 0;
  size_t last_end_ = 0;  // end offset of the last consumed token
  int depth_ = 0;
  int wildcards_ = 0;
  bool nl_sig_ = true;
  bool v1_ = false;
};

}  // namespace

Module ParseModule(std::string_view file, std::string_view text) {
  return Parser(file, text).ParseModule();
}

Body ParseQuery(std::string_view text, std::vector<std::string>* expr_texts,
                std::string_view file) {
  if (expr_texts) expr_texts->clear();
  return Parser(file, text).ParseQuery(expr_texts);
}

}  // namespace statehouse::policy
