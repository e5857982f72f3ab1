#include "uri.h"

#include <cctype>

#include <vector>

namespace troika::constrain {

namespace {

struct Uri {
  std::string scheme, authority, path, query, fragment;
  bool has_scheme = false, has_authority = false, has_query = false, has_fragment = false;
};

Uri parse(std::string_view s) {
  Uri u;
  if (auto hash = s.find('#'); hash != std::string_view::npos) {
    u.has_fragment = true;
    u.fragment = s.substr(hash + 1);
    s = s.substr(0, hash);
  }
  if (auto q = s.find('?'); q != std::string_view::npos) {
    u.has_query = true;
    u.query = s.substr(q + 1);
    s = s.substr(0, q);
  }
  // A scheme is letters, digits, + - . before the first ':' that comes before any '/'.
  if (auto colon = s.find(':'); colon != std::string_view::npos && colon > 0) {
    auto slash = s.find('/');
    bool ok = slash == std::string_view::npos || colon < slash;
    for (size_t i = 0; ok && i < colon; ++i) {
      char c = s[i];
      ok = std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
    }
    if (ok) {
      u.has_scheme = true;
      u.scheme = s.substr(0, colon);
      s = s.substr(colon + 1);
    }
  }
  if (s.substr(0, 2) == "//") {
    s = s.substr(2);
    auto end = s.find('/');
    u.has_authority = true;
    u.authority = s.substr(0, end);
    s = end == std::string_view::npos ? std::string_view() : s.substr(end);
  }
  u.path = s;
  return u;
}

std::string remove_dot_segments(const std::string& path) {
  std::vector<std::string> out;
  bool absolute = !path.empty() && path[0] == '/';
  size_t i = absolute ? 1 : 0;
  bool trailing = false;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string seg = path.substr(i, j - i);
    trailing = false;
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
      trailing = true;
    } else if (seg == ".") {
      trailing = true;
    } else {
      out.push_back(seg);
    }
    i = j + 1;
  }
  std::string r = absolute ? "/" : "";
  for (size_t k = 0; k < out.size(); ++k) r += (k ? "/" : "") + out[k];
  if (trailing && !r.empty() && r.back() != '/') r += '/';
  return r;
}

std::string merge(const Uri& base, const std::string& ref_path) {
  if (base.has_authority && base.path.empty()) return "/" + ref_path;
  auto slash = base.path.rfind('/');
  if (slash == std::string::npos) return ref_path;
  return base.path.substr(0, slash + 1) + ref_path;
}

std::string to_string(const Uri& u) {
  std::string r;
  if (u.has_scheme) r += u.scheme + ":";
  if (u.has_authority) r += "//" + u.authority;
  r += u.path;
  if (u.has_query) r += "?" + u.query;
  if (u.has_fragment) r += "#" + u.fragment;
  return r;
}

}  // namespace

std::string resolve_uri(std::string_view base_text, std::string_view ref_text) {
  Uri r = parse(ref_text), b = parse(base_text), t;
  if (r.has_scheme) {
    t = r;
    t.path = remove_dot_segments(r.path);
  } else {
    if (r.has_authority) {
      t = r;
      t.path = remove_dot_segments(r.path);
    } else {
      if (r.path.empty()) {
        t.path = b.path;
        t.has_query = r.has_query || b.has_query;
        t.query = r.has_query ? r.query : b.query;
      } else {
        t.path = remove_dot_segments(r.path[0] == '/' ? r.path : merge(b, r.path));
        t.has_query = r.has_query;
        t.query = r.query;
      }
      t.has_authority = b.has_authority;
      t.authority = b.authority;
    }
    t.has_scheme = b.has_scheme;
    t.scheme = b.scheme;
  }
  t.has_fragment = r.has_fragment;
  t.fragment = r.fragment;
  return to_string(t);
}

std::pair<std::string, std::string> split_fragment(std::string_view uri) {
  auto hash = uri.find('#');
  if (hash == std::string_view::npos) return {std::string(uri), ""};
  return {std::string(uri.substr(0, hash)), std::string(uri.substr(hash + 1))};
}

std::string escape_pointer_token(std::string_view token) {
  std::string r;
  for (char c : token) {
    if (c == '~') {
      r += "~0";
    } else if (c == '/') {
      r += "~1";
    } else {
      r += c;
    }
  }
  return r;
}

std::string percent_decode(std::string_view s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      r += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      r += s[i];
    }
  }
  return r;
}

}  // namespace troika::constrain
