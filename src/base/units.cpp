#include "troika/units.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <string>

#include "base/ascii.h"

namespace troika {

Result<uint64_t> parse_bytes(std::string_view text) {
  auto bad = [&] {
    std::string m(1, '\'');
    m.append(text);
    m += "' is not a size; write bytes or a number with a unit, e.g. 20GiB, 512MiB, 9.5GB";
    return invalid_argument(m);
  };
  size_t i = 0;
  while (i < text.size() && text[i] == ' ') ++i;
  size_t num_begin = i;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == num_begin) return bad();
  std::string num(text.substr(num_begin, i - num_begin));
  if (num.find('.') != num.rfind('.')) return bad();
  while (i < text.size() && text[i] == ' ') ++i;
  std::string unit = ascii_lower(text.substr(i));
  while (!unit.empty() && unit.back() == ' ') unit.pop_back();
  double scale = 0;
  if (unit.empty() || unit == "b")
    scale = 1;
  else if (unit == "k" || unit == "kb")
    scale = 1e3;
  else if (unit == "m" || unit == "mb")
    scale = 1e6;
  else if (unit == "g" || unit == "gb")
    scale = 1e9;
  else if (unit == "t" || unit == "tb")
    scale = 1e12;
  else if (unit == "kib")
    scale = 1024.0;
  else if (unit == "mib")
    scale = 1024.0 * 1024;
  else if (unit == "gib")
    scale = 1024.0 * 1024 * 1024;
  else if (unit == "tib")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else
    return bad();
  double v = std::strtod(num.c_str(), nullptr) * scale;
  if (!std::isfinite(v) || v >= 1.8e19) return bad();
  return static_cast<uint64_t>(std::llround(v));
}

std::string format_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof(buf), "%.2f %s", v, units[u]);
  }
  return buf;
}

std::string format_bytes_signed(int64_t bytes) {
  std::string s = format_bytes(static_cast<uint64_t>(bytes < 0 ? -bytes : bytes));
  s.insert(s.begin(), bytes < 0 ? '-' : '+');
  return s;
}

}  // namespace troika
