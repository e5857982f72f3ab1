// Text into documents, chunks and index terms.
#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>
#include <xapian.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_map>

#include "base/hash.h"
#include "troika/retrieval.h"

namespace troika::retrieval {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

bool is_cyrillic(unsigned c) { return c >= 0x0400 && c <= 0x052F; }

const std::set<std::string>& stop_words() {
  static const std::set<std::string> kWords = {
      // English
      "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "he", "in", "is", "it",
      "its", "of", "on", "or", "that", "the", "to", "was", "were", "will", "with", "this", "these",
      "those", "not", "but", "they", "their", "them", "which", "who", "what",
      // Russian
      "и", "в", "во", "не", "что", "он", "на", "я", "с", "со", "как", "а", "то", "все", "она",
      "так", "его", "но", "да", "ты", "к", "у", "же", "вы", "за", "бы", "по", "только", "ее", "мне",
      "было", "вот", "от", "меня", "еще", "нет", "о", "из", "ему", "ли", "если", "или", "ни",
      "быть", "был", "него", "до", "вас", "нибудь", "уже", "вам", "ведь", "там", "потом", "себя",
      "ей", "может", "они", "тут", "где", "есть", "надо", "ней", "для", "мы", "тебя", "их", "чем",
      "была", "сам", "чтоб", "без", "будто", "чего", "раз", "тоже", "себе", "под", "это", "этот",
      "эта", "эти"};
  return kWords;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Collapses runs of spaces and tabs, keeps paragraph breaks (two newlines at most), drops other
// control characters and a UTF-8 byte-order mark.
std::string normalise(const std::string& in) {
  std::string s = in.rfind("\xEF\xBB\xBF", 0) == 0 ? in.substr(3) : in;
  std::string out;
  out.reserve(s.size());
  int newlines = 0;
  bool space = false;
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '\r') continue;
    if (c == '\n') {
      ++newlines;
      space = false;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\f' || c == '\v') {
      space = true;
      continue;
    }
    if (c < 0x20) continue;
    if (!out.empty()) {
      if (newlines > 0) {
        out += newlines > 1 ? "\n\n" : "\n";
      } else if (space) {
        out += ' ';
      }
    }
    newlines = 0;
    space = false;
    out += ch;
  }
  return out;
}

void append_utf8(std::string& out, unsigned cp) { Xapian::Unicode::append_utf8(out, cp); }

// The text of an HTML page: script and style elements dropped, tags removed (block elements
// become line breaks), character references decoded.
std::string html_text(const std::string& html, std::string* title) {
  std::string lower = html;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::string out;
  size_t i = 0;
  auto skip_element = [&](const std::string& name) {
    const size_t end = lower.find("</" + name, i);
    i = end == std::string::npos ? html.size() : lower.find('>', end);
    i = i == std::string::npos ? html.size() : i + 1;
  };
  while (i < html.size()) {
    if (html[i] == '<') {
      const size_t close = html.find('>', i);
      if (close == std::string::npos) break;
      std::string tag = lower.substr(i + 1, close - i - 1);
      const size_t sp = tag.find_first_of(" \t\n/");
      const std::string name = tag.substr(0, sp == 0 ? tag.find_first_of(" \t\n>", 1) : sp);
      i = close + 1;
      if (name == "script" || name == "style" || name == "noscript") {
        skip_element(name);
      } else if (name == "title" && title) {
        const size_t end = lower.find("</title", i);
        if (end != std::string::npos) *title = html_text(html.substr(i, end - i), nullptr);
        skip_element("title");
      } else if (name == "p" || name == "/p" || name == "br" || name == "div" || name == "/div" ||
                 name == "li" || name == "tr" || name[0] == 'h' || name == "/h1" || name == "/h2" ||
                 name == "/h3") {
        out += "\n\n";
      } else {
        out += ' ';
      }
      continue;
    }
    if (html[i] == '&') {
      const size_t semi = html.find(';', i);
      if (semi != std::string::npos && semi - i <= 10) {
        const std::string ent = html.substr(i + 1, semi - i - 1);
        static const std::map<std::string, unsigned> kNamed = {
            {"amp", '&'},    {"lt", '<'},     {"gt", '>'},       {"quot", '"'},
            {"apos", '\''},  {"nbsp", ' '},   {"mdash", 0x2014}, {"ndash", 0x2013},
            {"laquo", 0xAB}, {"raquo", 0xBB}, {"hellip", 0x2026}};
        unsigned cp = 0;
        if (!ent.empty() && ent[0] == '#') {
          try {
            cp = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X')
                     ? static_cast<unsigned>(std::stoul(ent.substr(2), nullptr, 16))
                     : static_cast<unsigned>(std::stoul(ent.substr(1)));
          } catch (...) {
            cp = 0;
          }
        } else if (auto it = kNamed.find(ent); it != kNamed.end()) {
          cp = it->second;
        }
        if (cp) {
          append_utf8(out, cp);
          i = semi + 1;
          continue;
        }
      }
    }
    out += html[i++];
  }
  return normalise(out);
}

Result<std::vector<Document>> read_records(const std::string& path, const ReadOptions& o,
                                           bool csv) {
  std::ifstream in(path, std::ios::binary);
  std::vector<Document> out;
  std::string line;
  int64_t n = 0;
  std::vector<std::string> header;
  auto split_csv = [](const std::string& s) {
    std::vector<std::string> cells;
    std::string cur;
    bool quoted = false;
    for (size_t i = 0; i < s.size(); ++i) {
      const char c = s[i];
      if (quoted) {
        if (c == '"' && i + 1 < s.size() && s[i + 1] == '"') {
          cur += '"';
          ++i;
        } else if (c == '"') {
          quoted = false;
        } else {
          cur += c;
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        cells.push_back(cur);
        cur.clear();
      } else if (c != '\r') {
        cur += c;
      }
    }
    cells.push_back(cur);
    return cells;
  };
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(n);
    Document d;
    std::string id = std::to_string(n);
    if (csv) {
      std::vector<std::string> cells = split_csv(line);
      if (header.empty()) {
        header = cells;
        if (std::find(header.begin(), header.end(), o.text_field) == header.end()) {
          return invalid_argument(where + ": the CSV header has no column '" + o.text_field +
                                  "' (give --text-field)");
        }
        continue;
      }
      for (size_t c = 0; c < header.size() && c < cells.size(); ++c) {
        if (header[c] == o.text_field) {
          d.text = cells[c];
        } else if (header[c] == o.title_field) {
          d.title = cells[c];
        } else if (header[c] == o.id_field && !o.id_field.empty()) {
          id = cells[c];
        } else {
          d.metadata[header[c]] = cells[c];
        }
      }
    } else {
      const json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object())
        return invalid_argument(where + ": not a JSON object");
      if (!j.contains(o.text_field) || !j[o.text_field].is_string()) {
        return invalid_argument(where + ": no string field '" + o.text_field +
                                "' (give --text-field)");
      }
      for (const auto& [k, v] : j.items()) {
        const std::string value = v.is_string() ? v.get<std::string>() : v.dump();
        if (k == o.text_field) {
          d.text = value;
        } else if (k == o.title_field) {
          d.title = value;
        } else if (k == o.id_field && !o.id_field.empty()) {
          id = value;
        } else {
          d.metadata[k] = value;
        }
      }
    }
    d.text = normalise(d.text);
    if (d.text.empty()) continue;
    d.source = path + "#" + id;
    out.push_back(std::move(d));
  }
  return out;
}

// The text of a PDF, page by page (poppler), pages separated as paragraphs.
Result<std::string> pdf_text(const std::string& path, std::string* title) {
  // poppler's own complaints about a damaged file would go to stderr; the Status says it.
  static const bool quiet = [] {
    poppler::set_debug_error_function([](const std::string&, void*) {}, nullptr);
    return true;
  }();
  (void)quiet;
  std::unique_ptr<poppler::document> doc(poppler::document::load_from_file(path));
  if (!doc) return invalid_argument(path + ": not a readable PDF (damaged, or not a PDF)");
  if (doc->is_locked()) return invalid_argument(path + ": the PDF is encrypted; unlock it first");
  const poppler::ustring t = doc->get_title();
  if (!t.empty()) {
    const auto bytes = t.to_utf8();
    *title = normalise(std::string(bytes.begin(), bytes.end()));
  }
  std::string text;
  for (int i = 0; i < doc->pages(); ++i) {
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    if (!page) continue;
    const auto bytes = page->text().to_utf8();
    if (!text.empty()) text += "\n\n";
    text.append(bytes.begin(), bytes.end());
  }
  return normalise(text);
}

}  // namespace

Result<std::vector<Document>> read_documents(const std::string& path, const ReadOptions& o) {
  if (!fs::is_regular_file(path)) return not_found("no file to ingest: " + path);
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (ext == ".jsonl" || ext == ".ndjson") return read_records(path, o, false);
  if (ext == ".csv") return read_records(path, o, true);
  Document d;
  d.source = path;
  if (ext == ".html" || ext == ".htm") {
    d.text = html_text(slurp(path), &d.title);
  } else if (ext == ".txt" || ext == ".md" || ext == ".markdown" || ext == ".text" ||
             ext == ".rst") {
    d.text = normalise(slurp(path));
  } else if (ext == ".pdf") {
    TROIKA_ASSIGN_OR_RETURN(d.text, pdf_text(path, &d.title));
  } else {
    return invalid_argument(path + ": unknown format '" + ext +
                            "' (.txt, .md, .html, .pdf, .jsonl, .csv)");
  }
  if (d.title.empty()) d.title = fs::path(path).stem().string();
  if (d.text.empty()) return std::vector<Document>{};
  return std::vector<Document>{std::move(d)};
}

std::vector<Span> chunk_text(const std::string& text, const ChunkOptions& o) {
  // Words with their byte ranges; a sentence or paragraph end after a word is a preferred cut.
  struct Word {
    int64_t start, end;
    int boundary;  // 0 none, 1 sentence end, 2 paragraph end
  };
  std::vector<Word> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n')) ++i;
    if (i >= text.size()) break;
    const size_t s = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\n') ++i;
    int boundary = 0;
    const char last = text[i - 1];
    if (last == '.' || last == '!' || last == '?' || last == ':' || last == ';') boundary = 1;
    if (i + 1 < text.size() && text[i] == '\n' && text[i + 1] == '\n') boundary = 2;
    words.push_back({static_cast<int64_t>(s), static_cast<int64_t>(i), boundary});
  }
  // Each word's cost: 1, or its tokens.
  std::vector<int64_t> cost(words.size(), 1);
  if (o.count) {
    std::unordered_map<std::string_view, int32_t> seen;
    for (size_t w = 0; w < words.size(); ++w) {
      const std::string_view word(text.data() + words[w].start,
                                  static_cast<size_t>(words[w].end - words[w].start));
      auto [it, fresh] = seen.try_emplace(word, 0);
      if (fresh) it->second = std::max(1, o.count(word));
      cost[w] = it->second;
    }
  }
  std::vector<Span> out;
  const int64_t size = std::max(1, o.size);
  const int64_t overlap = std::clamp<int64_t>(o.overlap, 0, size - 1);
  size_t begin = 0;
  while (begin < words.size()) {
    // The longest run of words from `begin` within the size (at least one word).
    size_t end = begin;
    int64_t used = 0;
    while (end < words.size() && (end == begin || used + cost[end] <= size)) used += cost[end++];
    if (end < words.size()) {
      // Cut at the last paragraph end in the second half of the window, else the last sentence end.
      size_t best = 0;
      for (int want = 2; want >= 1 && best == 0; --want) {
        int64_t tail = 0;
        for (size_t k = end; k > begin + 1 && used - tail > size / 2; --k) {
          if (words[k - 1].boundary >= want) {
            best = k;
            break;
          }
          tail += cost[k - 1];
        }
      }
      if (best) end = best;
    }
    out.push_back({words[begin].start, words[end - 1].end});
    if (end >= words.size()) break;
    // The next chunk starts with the last `overlap` units of this one, and always moves on.
    size_t next = end;
    int64_t back = 0;
    while (next > begin + 1 && back + cost[next - 1] <= overlap) back += cost[--next];
    begin = next;
  }
  return out;
}

std::vector<std::string> index_terms(const std::string& text) {
  // Snowball runs once per word and cache slot: a corpus's words are Zipf-distributed, so most
  // lookups hit (stemming each occurrence was half of an ingest's indexing time). The cache is a
  // direct-mapped array per thread, which stays in the CPU caches better than a node-based map;
  // it starts small (a server thread stemming queries keeps 1k slots) and grows fourfold, up to
  // 32k slots, when a thread misses more often than it has slots.
  struct Terms {
    Xapian::Stem russian{"russian"}, english{"english"};
    struct Slot {
      uint64_t hash = 0;       // 0: empty
      std::string word, term;  // term "" for a stop word
    };
    int bits = 10;
    std::vector<Slot> slots = std::vector<Slot>(size_t{1} << 10);
    size_t misses = 0;
  };
  thread_local Terms terms;
  std::vector<std::string> out;
  out.reserve(text.size() / 6);
  std::string word;
  bool cyrillic = false;
  auto flush = [&] {
    if (word.empty()) return;
    const uint64_t h = fnv1a64(word) | 1;
    Terms::Slot* slot = &terms.slots[h >> (64 - terms.bits)];
    if (slot->hash != h || slot->word != word) {
      if (++terms.misses > terms.slots.size() && terms.bits < 15) {
        terms.bits = std::min(terms.bits + 2, 15);
        terms.slots.assign(size_t{1} << terms.bits, Terms::Slot{});
        terms.misses = 0;
        slot = &terms.slots[h >> (64 - terms.bits)];
      }
      slot->hash = h;
      slot->word = word;
      slot->term.clear();
      if (!stop_words().count(word)) {
        slot->term = cyrillic ? terms.russian(word) : terms.english(word);
      }
    }
    if (!slot->term.empty()) out.push_back(slot->term);
    word.clear();
    cyrillic = false;
  };
  for (Xapian::Utf8Iterator it(text); it != Xapian::Utf8Iterator(); ++it) {
    const unsigned c = *it;
    if (c < 0x80) {  // ASCII: the word characters are letters, digits and '_'
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') {
        word += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        if (word.size() > 120) flush();
      } else {
        flush();
      }
    } else if (Xapian::Unicode::is_wordchar(c)) {
      const unsigned l = Xapian::Unicode::tolower(c);
      // Russian text often writes ё as е: index them alike.
      append_utf8(word, l == 0x0451 ? 0x0435 : l);
      cyrillic = cyrillic || is_cyrillic(l);
      if (word.size() > 120) flush();
    } else {
      flush();
    }
  }
  flush();
  return out;
}

}  // namespace troika::retrieval
