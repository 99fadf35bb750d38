#include "config/ini.h"

#include <cstring>
#include <map>
#include <string_view>

#include <ini.h>

#include "config/values.h"

namespace ringway {
namespace {

// Mirrors inih's find_chars_or_comment(): the position of the first of |chars|, or of
// a ';' that follows whitespace (an inline comment), whichever comes first.
size_t find_chars_or_comment(std::string_view s, std::string_view chars) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (chars.find(s[i]) != std::string_view::npos) return i;
    if (s[i] == ';' && i > 0 && is_blank(s[i - 1])) return i;
  }
  return s.size();
}

// State shared by the inih reader and handler callbacks.
struct IniLexer {
  std::string_view text;
  size_t pos = 0;
  int line = 0;  // number of the line last handed to inih; the handler runs on it
  RawIni* raw = nullptr;

  void error(int at, std::string message) { raw->errors.push_back({at, std::move(message)}); }

  void add_entry(std::string_view key, std::string_view value) {
    if (raw->sections.empty()) {
      error(line, "key '" + std::string(key) + "' appears before any [section]");
      return;
    }
    if (key.empty()) {
      error(line, "missing key name before '='");
      return;
    }
    raw->sections.back().entries.push_back({std::string(key), std::string(value), line});
  }

  // Classifies one physical line and returns what inih should see: comments, section
  // headers and syntax errors are handled here (so they carry line numbers and every
  // section is known, even an empty one); key/value lines go through inih unchanged
  // except for leading whitespace, which inih would read as a continuation line.
  std::string_view next_line(int buffer_size) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view physical = text.substr(pos, end - pos);
    pos = end < text.size() ? end + 1 : end;
    ++line;
    if (line == 1 && physical.substr(0, 3) == "\xEF\xBB\xBF") physical.remove_prefix(3);
    std::string_view s = trim(physical);

    if (s.find('\0') != std::string_view::npos) {
      error(line, "line contains a NUL byte");
      return {};
    }
    if (s.empty() || s.front() == ';' || s.front() == '#') return {};
    if (s.front() == '[') {
      size_t close = s.find(']');
      if (close == std::string_view::npos) {
        error(line, "section header is missing its closing ']'");
        return {};
      }
      std::string_view after = trim(s.substr(close + 1));
      if (!after.empty() && after.front() != ';' && after.front() != '#') {
        error(line, "unexpected text after section header: '" + std::string(after) + "'");
      }
      std::string_view name = trim(s.substr(1, close - 1));
      raw->sections.push_back({std::string(name), line, {}});
      return {};
    }
    size_t sep = find_chars_or_comment(s, "=:");
    if (sep == s.size() || s[sep] == ';') {
      error(line, "expected 'key = value', a [section] header or a comment");
      return {};
    }
    // Debian's inih reads lines into a fixed 200-byte buffer and would cut a long
    // `hosts` or `listen` list; such lines are split here with inih's own rules.
    if (s.size() + 2 > static_cast<size_t>(buffer_size)) {
      std::string_view value = trim(s.substr(sep + 1));
      add_entry(trim(s.substr(0, sep)), trim(value.substr(0, find_chars_or_comment(value, ""))));
      return {};
    }
    return s;
  }
};

char* ini_reader(char* buffer, int size, void* stream) {
  auto* lexer = static_cast<IniLexer*>(stream);
  if (lexer->pos >= lexer->text.size() || size < 2) return nullptr;
  std::string_view line = lexer->next_line(size);
  if (!line.empty()) std::memcpy(buffer, line.data(), line.size());
  buffer[line.size()] = '\n';
  buffer[line.size() + 1] = '\0';
  return buffer;
}

int ini_handler(void* user, const char* /*section*/, const char* name, const char* value) {
  auto* lexer = static_cast<IniLexer*>(user);
  lexer->add_entry(name, value);
  return 1;  // keep going: errors are collected, not fatal
}

}  // namespace

RawIni lex_ini(const std::string& text) {
  RawIni raw;
  IniLexer lexer;
  lexer.text = text;
  lexer.raw = &raw;
  int rc = ini_parse_stream(ini_reader, &lexer, ini_handler, &lexer);
  if (rc > 0) {
    // Lines are pre-checked above, so inih should never reject one; keep its verdict.
    raw.errors.push_back({rc, "syntax error"});
  } else if (rc < 0) {
    raw.errors.push_back({0, "INI parser failed (error " + std::to_string(rc) + ")"});
  }
  return raw;
}


std::vector<const RawEntry*> unique_entries(const RawSection& section, const std::string& prefix,
                                            std::vector<ConfigError>& errors) {
  std::map<std::string, int> seen;
  std::vector<const RawEntry*> entries;
  for (const RawEntry& entry : section.entries) {
    auto [it, inserted] = seen.emplace(entry.key, entry.line);
    if (!inserted) {
      errors.push_back({entry.line, prefix + "duplicate key '" + entry.key +
                                        "' (first set at line " + std::to_string(it->second) +
                                        ")"});
      continue;
    }
    entries.push_back(&entry);
  }
  return entries;
}

}  // namespace ringway
