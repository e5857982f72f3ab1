// TextIndex: Xapian shards written by one thread each, searched as one database.
#include "lexical.h"

#include <xapian.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

namespace troika::retrieval::detail {

namespace {

namespace fs = std::filesystem;

constexpr const char* kChangeKey = "troika_change";
constexpr const char* kShardsKey = "troika_shards";  // the shard count a shard was made for
// The layout of a shard's documents (see chunk_document); a shard of another is rebuilt.
constexpr const char* kFormatKey = "troika_format";
constexpr const char* kFormat = "sequence-1";

// Runs a job once per shard at a time: shard 0 on the caller, the others on threads that live
// as long as the index (so each keeps its own warm stemming cache, see index_terms).
class Workers {
 public:
  explicit Workers(int32_t n) {
    for (int32_t i = 1; i < n; ++i) threads_.emplace_back([this, i] { loop(i); });
  }
  ~Workers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  // `job` must not throw.
  void run(const std::function<void(int32_t)>& job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &job;
      pending_ = threads_.size();
      ++generation_;
    }
    wake_.notify_all();
    job(0);
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return pending_ == 0; });
    job_ = nullptr;
  }

 private:
  void loop(int32_t i) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int32_t)>* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
      }
      (*job)(i);
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) done_.notify_one();
    }
  }
  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  const std::function<void(int32_t)>* job_ = nullptr;
  size_t pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

void put_varint(std::string& out, uint32_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

// A chunk as a Xapian document: its terms with their frequencies (no positions) and, as the
// document's data, its word sequence: for each kept word the index of its term in the
// document's sorted term list, a varint. Phrases are matched against that sequence (see
// PhraseSource): Xapian's own position lists, one B-tree entry per term and document, were
// half of the indexing time and two thirds of the index.
Xapian::Document chunk_document(const std::string& text) {
  const std::vector<std::string> words = index_terms(text);
  std::vector<std::string> terms = words;
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
  std::vector<Xapian::termcount> wdf(terms.size(), 0);
  std::string sequence;
  sequence.reserve(words.size() + 8);
  for (const auto& w : words) {
    const auto i =
        static_cast<uint32_t>(std::lower_bound(terms.begin(), terms.end(), w) - terms.begin());
    ++wdf[i];
    put_varint(sequence, i);
  }
  Xapian::Document d;
  for (size_t i = 0; i < terms.size(); ++i) d.add_term(terms[i], wdf[i]);
  d.set_data(sequence);
  return d;
}

// True when a document's word sequence holds the phrase's terms one after another.
bool holds_phrase(const Xapian::Document& doc, const std::vector<std::string>& phrase) {
  std::vector<int64_t> want(phrase.size(), -1);  // each phrase word's index in the term list
  int64_t i = 0;
  for (auto t = doc.termlist_begin(); t != doc.termlist_end(); ++t, ++i) {
    const std::string term = *t;
    for (size_t k = 0; k < phrase.size(); ++k) {
      if (phrase[k] == term) want[k] = i;
    }
  }
  for (int64_t w : want) {
    if (w < 0) return false;
  }
  const std::string data = doc.get_data();
  std::vector<int64_t> seq;
  seq.reserve(data.size());
  uint32_t v = 0;
  int shift = 0;
  for (char c : data) {
    v |= static_cast<uint32_t>(static_cast<unsigned char>(c) & 0x7f) << shift;
    if (static_cast<unsigned char>(c) & 0x80) {
      shift += 7;
      if (shift > 28) return false;  // not a sequence this code wrote
      continue;
    }
    seq.push_back(v);
    v = 0;
    shift = 0;
  }
  return std::search(seq.begin(), seq.end(), want.begin(), want.end()) != seq.end();
}

// The documents of one shard that hold a phrase, for OP_FILTER beside the AND of its terms
// (which gives the weight, as Xapian's OP_PHRASE would). Driven by the rarest term's postings
// when the matcher asks for the next match; checks one document when it asks about one.
class PhraseSource : public Xapian::PostingSource {
 public:
  explicit PhraseSource(std::vector<std::string> phrase) : phrase_(std::move(phrase)) {}
  Xapian::PostingSource* clone() const override { return new PhraseSource(phrase_); }
  void init(const Xapian::Database& db) override {
    db_ = db;
    current_ = 0;
    accepted_ = false;
    ended_ = false;
    termfreq_ = db.get_doccount();
    for (const auto& t : phrase_) {
      const Xapian::doccount f = db.get_termfreq(t);
      if (f <= termfreq_) {
        termfreq_ = f;
        rarest_ = t;
      }
    }
    postings_ = db.postlist_begin(rarest_);
    set_maxweight(0);
  }
  Xapian::doccount get_termfreq_min() const override { return 0; }
  Xapian::doccount get_termfreq_est() const override { return termfreq_; }
  Xapian::doccount get_termfreq_max() const override { return termfreq_; }
  void next(double) override { advance(current_ + 1); }
  void skip_to(Xapian::docid did, double) override {
    if (!accepted_) {
      advance(std::max(did, current_ + 1));
    } else if (did > current_) {
      advance(did);
    }
  }
  bool check(Xapian::docid did, double) override {
    current_ = did;
    ended_ = false;
    accepted_ = holds_phrase(db_.get_document(did, Xapian::DOC_ASSUME_VALID), phrase_);
    return accepted_;
  }
  bool at_end() const override { return ended_; }
  Xapian::docid get_docid() const override { return current_; }
  double get_weight() const override { return 0; }
  std::string get_description() const override { return "PhraseSource"; }

 private:
  // Moves to the first document at or after `from` that holds the phrase.
  void advance(Xapian::docid from) {
    if (postings_ != db_.postlist_end(rarest_) && *postings_ > from) {
      postings_ = db_.postlist_begin(rarest_);  // asked for an earlier one: start over
    }
    postings_.skip_to(from);
    for (; postings_ != db_.postlist_end(rarest_); ++postings_) {
      if (holds_phrase(db_.get_document(*postings_, Xapian::DOC_ASSUME_VALID), phrase_)) {
        current_ = *postings_;
        accepted_ = true;
        return;
      }
    }
    ended_ = true;
  }

  std::vector<std::string> phrase_;
  Xapian::Database db_;
  std::string rarest_;
  Xapian::doccount termfreq_ = 0;
  Xapian::PostingIterator postings_;
  Xapian::docid current_ = 0;
  bool accepted_ = false, ended_ = false;
};

}  // namespace

struct TextIndex::Impl {
  std::string dir;
  std::vector<std::unique_ptr<Xapian::WritableDatabase>> shards;
  std::vector<int64_t> held;         // per shard: the last change it holds (committed or not)
  std::vector<int64_t> uncommitted;  // per shard: updates since its last commit
  Xapian::Database all;              // every shard, searched together
  std::unique_ptr<Workers> workers;

  int32_t n() const { return static_cast<int32_t>(shards.size()); }
  std::string shard_path(int32_t s) const { return dir + "/" + std::to_string(s); }

  // Runs job(s) on every shard in parallel; the first Xapian error is returned.
  Status each(const std::function<void(int32_t)>& job) {
    std::vector<std::string> errors(shards.size());
    workers->run([&](int32_t s) {
      try {
        job(s);
      } catch (const Xapian::Error& e) {
        errors[static_cast<size_t>(s)] = shard_path(s) + ": " + e.get_description();
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(s)] = shard_path(s) + ": " + e.what();
      }
    });
    for (const auto& e : errors) {
      if (!e.empty()) return data_loss(e);
    }
    return Status::Ok();
  }
};

TextIndex::TextIndex() : impl_(std::make_unique<Impl>()) {}
TextIndex::~TextIndex() = default;

Result<std::unique_ptr<TextIndex>> TextIndex::open(const std::string& dir, int32_t shards) {
  std::unique_ptr<TextIndex> index(new TextIndex());
  Impl& m = *index->impl_;
  m.dir = dir;
  std::error_code ec;
  // The one-database layout of earlier versions: derived data, rebuilt from the store.
  if (fs::exists(dir + "/iamglass", ec)) fs::remove_all(dir, ec);
  int32_t have = 0;
  while (fs::is_directory(m.shard_path(have), ec)) ++have;
  const int32_t n = have > 0 ? have : std::max(1, shards);
  auto open_all = [&](int32_t count) {
    m.shards.clear();
    m.held.clear();
    m.uncommitted.clear();
    m.all = Xapian::Database();
    fs::create_directories(dir, ec);
    bool whole = true;  // every shard was made for `count` shards
    for (int32_t s = 0; s < count; ++s) {
      m.shards.push_back(
          std::make_unique<Xapian::WritableDatabase>(m.shard_path(s), Xapian::DB_CREATE_OR_OPEN));
      Xapian::WritableDatabase& db = *m.shards.back();
      const std::string v = db.get_metadata(kChangeKey);
      if (v.empty() && db.get_doccount() == 0) {  // new
        db.set_metadata(kShardsKey, std::to_string(count));
        db.set_metadata(kFormatKey, kFormat);
      }
      whole = whole && db.get_metadata(kShardsKey) == std::to_string(count) &&
              db.get_metadata(kFormatKey) == kFormat;
      m.held.push_back(v.empty() ? 0 : std::stoll(v));
      m.uncommitted.push_back(1);  // the shard count, at least, to commit
      m.all.add_database(db);
    }
    return whole;
  };
  try {
    if (!open_all(n)) {
      // A shard went missing: the chunk-to-shard numbering no longer holds. Rebuilt.
      m.shards.clear();
      m.all = Xapian::Database();
      fs::remove_all(dir, ec);
      open_all(std::max(1, shards));
    }
  } catch (const Xapian::DatabaseLockError&) {
    return unavailable(dir + " is open for writing in another process; wait for it");
  } catch (const Xapian::Error& e) {
    return data_loss(dir + ": " + e.get_description());
  } catch (const std::exception& e) {
    return data_loss(dir + ": " + e.what());
  }
  m.workers = std::make_unique<Workers>(static_cast<int32_t>(m.shards.size()));
  return index;
}

int32_t TextIndex::shards() const { return impl_->n(); }

int64_t TextIndex::change() const {
  return *std::min_element(impl_->held.begin(), impl_->held.end());
}

Status TextIndex::apply(const std::vector<Op>& ops, int64_t upto) {
  Impl& m = *impl_;
  const int64_t n = m.n();
  return m.each([&](int32_t s) {
    Xapian::WritableDatabase& db = *m.shards[static_cast<size_t>(s)];
    const int64_t held = m.held[static_cast<size_t>(s)];
    int64_t updates = 0;
    for (const Op& op : ops) {
      if (op.change <= held || (op.chunk_id - 1) % n != s) continue;
      const auto doc = static_cast<Xapian::docid>((op.chunk_id - 1) / n + 1);
      if (op.remove) {
        try {
          db.delete_document(doc);
        } catch (const Xapian::DocNotFoundError&) {
        }
      } else {
        db.replace_document(doc, chunk_document(op.text));
      }
      ++updates;
    }
    if (upto > held) {
      db.set_metadata(kChangeKey, std::to_string(upto));
      m.held[static_cast<size_t>(s)] = upto;
      ++updates;
    }
    m.uncommitted[static_cast<size_t>(s)] += updates;
  });
}

Status TextIndex::commit(int64_t every) {
  Impl& m = *impl_;
  int64_t pending = 0;
  for (int64_t u : m.uncommitted) pending += u;
  if (pending == 0 || (every > 0 && pending < every)) return Status::Ok();
  TROIKA_RETURN_IF_ERROR(m.each([&](int32_t s) {
    if (m.uncommitted[static_cast<size_t>(s)] == 0) return;
    m.shards[static_cast<size_t>(s)]->commit();
    m.uncommitted[static_cast<size_t>(s)] = 0;
  }));
  return Status::Ok();
}

int64_t TextIndex::documents() const { return static_cast<int64_t>(impl_->all.get_doccount()); }

Result<std::vector<std::pair<int64_t, double>>> TextIndex::search(const std::string& query,
                                                                  int32_t k,
                                                                  const Bm25& bm25) const {
  // Words are ORed; a "quoted phrase" is one sub-query whose terms must appear in order.
  std::vector<Xapian::Query> parts;
  bool in_quote = false;
  std::string seg;
  auto flush = [&] {
    std::vector<std::string> terms = index_terms(seg);
    seg.clear();
    if (terms.empty()) return;
    if (in_quote && terms.size() > 1) {
      parts.emplace_back(Xapian::Query::OP_FILTER,
                         Xapian::Query(Xapian::Query::OP_AND, terms.begin(), terms.end()),
                         Xapian::Query((new PhraseSource(terms))->release()));
    } else {
      for (const auto& t : terms) parts.emplace_back(t);
    }
  };
  for (char c : query) {
    if (c == '"') {
      flush();
      in_quote = !in_quote;
    } else {
      seg += c;
    }
  }
  flush();
  std::vector<std::pair<int64_t, double>> out;
  if (parts.empty()) return out;
  try {
    Xapian::Enquire enquire(impl_->all);
    enquire.set_query(Xapian::Query(Xapian::Query::OP_OR, parts.begin(), parts.end()));
    enquire.set_weighting_scheme(Xapian::BM25Weight(bm25.k1, 0, 1, bm25.b, 0));
    Xapian::MSet mset = enquire.get_mset(0, static_cast<Xapian::doccount>(k));
    for (auto it = mset.begin(); it != mset.end(); ++it) {
      out.emplace_back(static_cast<int64_t>(*it), it.get_weight());
    }
  } catch (const Xapian::Error& e) {
    return data_loss(impl_->dir + ": " + e.get_description());
  }
  return out;
}

}  // namespace troika::retrieval::detail
