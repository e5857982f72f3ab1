// JSON Schema string formats as automata, built from regular expressions and DFA operations.
//
// What each format accepts (exactly; a string outside these languages is rejected):
//   date       RFC 3339 full-date: 4-digit year, month 01-12, the month's day count, 29 February
//              only in Gregorian leap years (divisible by 4, centuries only when by 400).
//   time       RFC 3339 full-time: HH:MM:SS, optional .fraction, then Z, z or +HH:MM / -HH:MM.
//              Second 60 only when the time converted to UTC is 23:59 (a leap second).
//   date-time  date, 'T' or 't', time.
//   uuid       8-4-4-4-12 hex digits, either case.
//   email      RFC 5321 Mailbox without internationalisation: a dot-atom or quoted-string local
//              part of at most 64 characters, '@', then a hostname (below) or an address
//              literal [IPv4] / [IPv6:...]. No comments, no folding whitespace.
//   ipv4       dotted quad, each part 0-255 in decimal without leading zeros.
//   ipv6       every RFC 4291 text form: eight groups, :: compression, a trailing dotted quad.
//   uri        RFC 3986 URI (absolute, fragment allowed) with its character classes and
//              percent-encodings; hosts are IP literals or reg-names; no non-ASCII characters.
//   hostname   RFC 1123: labels of 1-63 letters, digits and '-', not starting or ending with
//              '-', joined by '.', at most 253 characters. Punycode labels (xn--) are checked
//              for shape only, not decoded.

#include <initializer_list>
#include <string>
#include <string_view>

#include "constrain/dfa.h"
#include "constrain/dfa_internal.h"

namespace troika::constrain {
namespace {

const std::string kDate =
    "(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    "|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)";
const std::string kHour = "(?:[01][0-9]|2[0-3])";
const std::string kMinute = "[0-5][0-9]";
const std::string kFraction = "(?:\\.[0-9]+)?";
const std::string kTimeNoLeap = kHour + ":" + kMinute + ":" + kMinute + kFraction + "(?:[Zz]|[+-]" +
                                kHour + ":" + kMinute + ")";
const std::string kOctet = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
const std::string kIpv4 = kOctet + "(?:\\." + kOctet + "){3}";
const std::string kH16 = "[0-9A-Fa-f]{1,4}";
const std::string kLs32 = "(?:" + kH16 + ":" + kH16 + "|" + kIpv4 + ")";
// Joins pieces of a pattern (std::string's operator+ trips a false -Wrestrict in GCC 12).
std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}

// RFC 3986's IPv6address: n groups before "::" and m after, n + m <= 7 (or 8 without "::").
std::string ipv6_pattern() {
  auto groups = [](int n) { return cat({"(?:", kH16, ":){", std::to_string(n), "}"}); };
  auto before = [](int n) {  // up to n groups, the last without its ':'
    return cat({"(?:(?:", kH16, ":){0,", std::to_string(n - 1), "}", kH16, ")?"});
  };
  return cat({"(?:", groups(6), kLs32,                           //
              "|::", groups(5), kLs32,                           //
              "|",   before(1), "::",  groups(4), kLs32,         //
              "|",   before(2), "::",  groups(3), kLs32,         //
              "|",   before(3), "::",  groups(2), kLs32,         //
              "|",   before(4), "::",  kH16,      ":",   kLs32,  //
              "|",   before(5), "::",  kLs32,                    //
              "|",   before(6), "::",  kH16,                     //
              "|",   before(7), "::)"});
}
const std::string kLabel = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";

std::string two(int v) {
  return {static_cast<char>('0' + v / 10), static_cast<char>('0' + v % 10)};
}

std::string hh_mm(int minutes) { return cat({two(minutes / 60), ":", two(minutes % 60)}); }

Result<Dfa> build_date() { return regex_full_dfa(kDate); }

// A leap second is valid only at 23:59:60 UTC, so HH:MM:60 ties the local time to the offset:
// +o is allowed when local - o = 23:59, -o when local + o = 23:59 (mod 24 h).
Result<Dfa> build_time() {
  Result<Dfa> plain = regex_full_dfa(kTimeNoLeap);
  if (!plain.ok()) return plain;
  Nfa nfa(INT32_MAX / 2);
  std::vector<Nfa::Frag> branches{nfa.embed(*plain)};
  constexpr int kDay = 24 * 60;
  for (int local = 0; local < kDay; ++local) {
    std::vector<Nfa::Frag> offsets{nfa.literal(cat({"+", hh_mm((local + 1) % kDay)})),
                                   nfa.literal(cat({"-", hh_mm(kDay - 1 - local)}))};
    if (local == kDay - 1) {
      offsets.push_back(nfa.literal("Z"));
      offsets.push_back(nfa.literal("z"));
    }
    const Nfa::Frag fraction = nfa.opt(nfa.concat(nfa.literal("."), nfa.plus(nfa.bytes('0', '9'))));
    branches.push_back(nfa.concat(nfa.literal(cat({hh_mm(local), ":60"})),
                                  nfa.concat(fraction, nfa.alt(offsets))));
  }
  const Nfa::Frag all = nfa.alt(branches);
  DeterminizeOptions options;
  options.what = "format 'time'";
  return determinize(nfa, all.in, all.out, DfaLimits{}, options);
}

Result<Dfa> build_date_time() {
  Result<Dfa> date = format_dfa("date");
  Result<Dfa> t = regex_full_dfa("[Tt]");
  Result<Dfa> time = format_dfa("time");
  if (!date.ok()) return date;
  if (!time.ok()) return time;
  return concat_dfas({&*date, &*t, &*time}, DfaLimits{}, "format 'date-time'");
}

Result<Dfa> build_uuid() {
  return regex_full_dfa(
      "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");
}

Result<Dfa> build_ipv4() { return regex_full_dfa(kIpv4); }

Result<Dfa> build_ipv6() { return regex_full_dfa(ipv6_pattern()); }

Result<Dfa> build_hostname() {
  Result<Dfa> labels = regex_full_dfa(cat({kLabel, "(?:\\.", kLabel, ")*"}));
  Result<Dfa> length = length_dfa(1, 253);
  if (!labels.ok()) return labels;
  if (!length.ok()) return length;
  return intersect(*labels, *length);
}

Result<Dfa> build_email() {
  const std::string atext = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
  const std::string dot_atom = cat({atext, "+(?:\\.", atext, "+)*"});
  const std::string quoted = "\"(?:[ !#-\\[\\]-~]|\\\\[ -~])*\"";
  Result<Dfa> local_shape = regex_full_dfa(cat({"(?:", dot_atom, "|", quoted, ")"}));
  Result<Dfa> local_length = length_dfa(1, 64);
  if (!local_shape.ok()) return local_shape;
  if (!local_length.ok()) return local_length;
  Result<Dfa> local = intersect(*local_shape, *local_length);
  Result<Dfa> host = format_dfa("hostname");
  Result<Dfa> literal = regex_full_dfa(cat({"@\\[(?:", kIpv4, "|IPv6:", ipv6_pattern(), ")\\]"}));
  if (!local.ok()) return local;
  if (!host.ok()) return host;
  if (!literal.ok()) return literal;
  // One subset construction for local "@" (hostname | address literal).
  Nfa nfa(INT32_MAX / 2);
  const Nfa::Frag domain =
      nfa.alt({nfa.concat(nfa.literal("@"), nfa.embed(*host)), nfa.embed(*literal)});
  const Nfa::Frag all = nfa.concat(nfa.embed(*local), domain);
  DeterminizeOptions options;
  options.what = "format 'email'";
  return determinize(nfa, all.in, all.out, DfaLimits{}, options);
}

Result<Dfa> build_uri() {
  const std::string pct = "%[0-9A-Fa-f]{2}";
  // Unreserved and sub-delims characters as a class body; '-' goes last in each class.
  const std::string unreserved_sub = "A-Za-z0-9._~!$&'()*+,;=";
  const std::string userinfo = cat({"(?:[", unreserved_sub, ":-]|", pct, ")*"});
  const std::string ip_literal =
      cat({"\\[(?:", ipv6_pattern(), "|v[0-9A-Fa-f]+\\.[", unreserved_sub, ":-]+)\\]"});
  const std::string reg_name = cat({"(?:[", unreserved_sub, "-]|", pct, ")*"});
  const std::string authority =
      cat({"(?:", userinfo, "@)?(?:", ip_literal, "|", reg_name, ")(?::[0-9]*)?"});
  const std::string pchar = cat({"(?:[", unreserved_sub, ":@-]|", pct, ")"});
  const std::string segment = cat({pchar, "*"});
  const std::string path_rest = cat({"(?:/", segment, ")*"});
  // hier-part: "//" authority path-abempty, path-absolute, path-rootless or path-empty.
  const std::string hier = cat({"(?://", authority, path_rest, "|/(?:", pchar, "+", path_rest,
                                ")?|", pchar, "+", path_rest, "|)"});
  const std::string query = cat({"(?:", pchar, "|[/?])*"});
  return regex_full_dfa(
      cat({"[A-Za-z][A-Za-z0-9+.-]*:", hier, "(?:\\?", query, ")?(?:#", query, ")?"}));
}

using Builder = Result<Dfa> (*)();

// Formats are built once per process; Dfas are immutable, so the copies handed out are
// independent of the cached one.
template <Builder build>
const Result<Dfa>& cached() {
  static const Result<Dfa> dfa = build();
  return dfa;
}

struct Format {
  std::string_view name;
  const Result<Dfa>& (*get)();
};

constexpr Format kFormats[] = {
    {"date", &cached<build_date>},           {"time", &cached<build_time>},
    {"date-time", &cached<build_date_time>}, {"uuid", &cached<build_uuid>},
    {"email", &cached<build_email>},         {"ipv4", &cached<build_ipv4>},
    {"ipv6", &cached<build_ipv6>},           {"uri", &cached<build_uri>},
    {"hostname", &cached<build_hostname>},
};

}  // namespace

Result<Dfa> format_dfa(std::string_view format) {
  for (const Format& f : kFormats) {
    if (f.name == format) return f.get();
  }
  return unimplemented("format '" + std::string(format) +
                       "' cannot be enforced; supported: date, time, date-time, uuid, email, "
                       "ipv4, ipv6, uri, hostname");
}

}  // namespace troika::constrain
