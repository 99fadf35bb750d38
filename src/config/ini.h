#pragma once
// Pass 1 of loading the INI file: sections and key/value entries with their line
// numbers. inih splits the lines (our reader numbers them, since Debian's inih is
// built without INI_HANDLER_LINENO); syntax problems are collected, not fatal.

#include <string>
#include <vector>

#include "config/config.h"

namespace ringway {

struct RawEntry {
  std::string key;
  std::string value;
  int line = 0;
};

struct RawSection {
  std::string name;
  int line = 0;
  std::vector<RawEntry> entries;
};

struct RawIni {
  std::vector<RawSection> sections;
  std::vector<ConfigError> errors;
};

RawIni lex_ini(const std::string& text);

// The section's entries with repeated keys dropped (each reported, |prefix| first), so
// validators see every key at most once.
std::vector<const RawEntry*> unique_entries(const RawSection& section, const std::string& prefix,
                                            std::vector<ConfigError>& errors);

}  // namespace ringway
