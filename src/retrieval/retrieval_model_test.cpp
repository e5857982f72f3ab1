// The knowledge base with an embedding model (a tiny random-weight BERT): chunks cut by its
// tokens, vectors kept in step with SQLite through adds, removals, kills and lost index files,
// flat and HNSW search, and hybrid fusion by reciprocal rank.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "test_models.h"
#include "troika/retrieval.h"

namespace troika::retrieval {
namespace {

namespace fs = std::filesystem;

std::string fresh(const std::string& name) {
  const std::string p = testing::temp_dir() + "/" + name;
  for (const std::string& x : {p, p + ".xapian", p + ".faiss", p + "-wal", p + "-shm"}) {
    fs::remove_all(x);
  }
  return p;
}

std::shared_ptr<Embedding> bert() {
  static std::shared_ptr<Embedding> e = [] {
    auto r = gguf_embedding(testing::tiny_model("bert"), 2, 256);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : nullptr;
  }();
  return e;
}

// Documents of made-up sentences, each distinct.
std::vector<Document> corpus(int n, int first = 0) {
  static const char* kWords[] = {"river", "mountain", "market", "bond",  "forest", "engine",
                                 "cat",   "dog",      "winter", "train", "garden", "signal",
                                 "кошка", "собака",   "рынок",  "лес",   "зима",   "поезд"};
  std::vector<Document> out;
  for (int i = first; i < first + n; ++i) {
    std::ostringstream text;
    for (int s = 0; s < 3; ++s) {
      text << "Sentence " << s << " of document " << i << " mentions "
           << kWords[(i * 7 + s * 3) % 18] << " and " << kWords[(i * 5 + s) % 18] << ". ";
    }
    out.push_back({"doc" + std::to_string(i), "Doc " + std::to_string(i), text.str(), {}});
  }
  return out;
}

StoreOptions with_bert(int64_t hnsw_from = 200000) {
  StoreOptions o;
  o.embedding = bert();
  o.chunking = {.size = 24, .overlap = 4};
  o.hnsw_from = hnsw_from;
  return o;
}

TEST(RetrievalDense, ChunksAreCutByTheModelsTokens) {
  auto e = bert();
  ASSERT_TRUE(e);
  std::string text;
  for (int i = 0; i < 60; ++i)
    text += "Tokenization of sentence number " + std::to_string(i) + ". ";
  ChunkOptions o{
      .size = 32, .overlap = 6, .count = [&](std::string_view w) { return e->count_tokens(w); }};
  const auto spans = chunk_text(text, o);
  ASSERT_GT(spans.size(), 3u);
  for (const auto& sp : spans) {
    // Counted word by word, as the chunker counts.
    int32_t tokens = 0;
    std::istringstream words(text.substr(sp.start, sp.end - sp.start));
    for (std::string w; words >> w;) tokens += e->count_tokens(w);
    EXPECT_LE(tokens, 32);
    EXPECT_GT(tokens, 16);  // cut in the second half of the window
  }
  // Token counts differ from word counts: the same text by words makes other chunks.
  EXPECT_NE(chunk_text(text, {.size = 32, .overlap = 6}).size(), spans.size());
}

TEST(RetrievalDense, AChunkFindsItselfAndHybridFusesByRank) {
  ASSERT_TRUE(bert());
  auto store = Store::open(fresh("dense.sqlite"), with_bert());
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  auto added = (*store)->add(corpus(40));
  ASSERT_TRUE(added.ok()) << added.status().to_string();
  auto st = (*store)->stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->vectors, st->chunks);
  EXPECT_EQ(st->indexed_vectors, st->chunks);
  EXPECT_EQ(st->vector_kind, "flat");
  EXPECT_EQ(st->dim, bert()->dim());
  // Every chunk's own text is its nearest neighbour (the same vector: inner product 1).
  auto all = (*store)->search("document", {.k = 1000});
  ASSERT_TRUE(all.ok());
  int checked = 0;
  for (const Hit& h : *all) {
    if (++checked > 12) break;
    auto d = (*store)->search(h.text, {.k = 3, .mode = "dense"});
    ASSERT_TRUE(d.ok()) << d.status().to_string();
    ASSERT_FALSE(d->empty());
    EXPECT_EQ((*d)[0].chunk_id, h.chunk_id) << h.text;
    EXPECT_NEAR((*d)[0].score, 1.0, 1e-4);
    EXPECT_EQ((*d)[0].dense_rank, 1);
  }
  // Hybrid = reciprocal rank fusion of the two lists at the same depth.
  const std::string q = "river market собака";
  auto lex = (*store)->search(q, {.k = 20, .mode = "bm25"});
  auto sem = (*store)->search(q, {.k = 20, .mode = "dense"});
  auto hyb = (*store)->search(q, {.k = 10, .mode = "hybrid", .depth = 20});
  ASSERT_TRUE(lex.ok() && sem.ok() && hyb.ok());
  std::map<int64_t, double> fused;
  for (const Hit& h : *lex) fused[h.chunk_id] += 1.0 / (60.0 + h.rank);
  for (const Hit& h : *sem) fused[h.chunk_id] += 1.0 / (60.0 + h.rank);
  ASSERT_EQ(hyb->size(), 10u);
  for (size_t r = 0; r < hyb->size(); ++r) {
    const Hit& h = (*hyb)[r];
    EXPECT_NEAR(h.score, fused[h.chunk_id], 1e-12);
    if (r > 0) {
      EXPECT_GE((*hyb)[r - 1].score, h.score);
    }
    for (const auto& [id, s] : fused) {
      if (s > h.score + 1e-12 && r == hyb->size() - 1) {
        // Everything fused above the last hit is in the list.
        bool found = false;
        for (const Hit& x : *hyb) found = found || x.chunk_id == id;
        EXPECT_TRUE(found) << id;
      }
    }
  }
}

TEST(RetrievalDense, VectorsStayInStepThroughRemovalAndLostIndexFiles) {
  ASSERT_TRUE(bert());
  const std::string path = fresh("step.sqlite");
  int64_t removed_chunk = 0;
  std::string removed_text;
  {
    auto store = Store::open(path, with_bert());
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->add(corpus(20)).ok());
    auto h = (*store)->search("\"document 3 mentions\"", {.k = 1});
    ASSERT_TRUE(h.ok() && !h->empty());
    removed_chunk = (*h)[0].chunk_id;
    removed_text = (*h)[0].text;
    ASSERT_TRUE((*store)->remove("doc3").ok());
    auto d = (*store)->search(removed_text, {.k = 5, .mode = "dense"});
    ASSERT_TRUE(d.ok());
    for (const Hit& x : *d) EXPECT_NE(x.chunk_id, removed_chunk);
  }  // closing writes PATH.faiss
  ASSERT_TRUE(fs::exists(path + ".faiss"));
  const std::string saved = testing::temp_dir() + "/step.faiss.old";
  fs::copy_file(path + ".faiss", saved, fs::copy_options::overwrite_existing);
  {
    auto store = Store::open(path, with_bert());
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->add(corpus(10, 100)).ok());
  }
  // A stale index file (from before the last add) is caught up; a missing one is rebuilt; a
  // corrupt one is rebuilt.
  for (const std::string how : {"stale", "missing", "corrupt"}) {
    if (how == "stale") fs::copy_file(saved, path + ".faiss", fs::copy_options::overwrite_existing);
    if (how == "missing") fs::remove(path + ".faiss");
    if (how == "corrupt") std::ofstream(path + ".faiss") << "{\"troika_vectors\":1,\"model\"";
    auto store = Store::open(path, with_bert());
    ASSERT_TRUE(store.ok()) << how << ": " << store.status().to_string();
    auto st = (*store)->stats();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->indexed_vectors, st->vectors) << how;
    EXPECT_EQ(st->vector_change, st->store_change) << how;
    auto d = (*store)->search(removed_text, {.k = 5, .mode = "dense"});
    ASSERT_TRUE(d.ok());
    for (const Hit& x : *d) EXPECT_NE(x.chunk_id, removed_chunk) << how;
  }
}

TEST(RetrievalDense, ABm25StoreGainsVectorsAndRefusesAnotherModel) {
  ASSERT_TRUE(bert());
  const std::string path = fresh("late.sqlite");
  {
    StoreOptions plain;
    plain.chunking = {.size = 24, .overlap = 4};
    auto store = Store::open(path, plain);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->add(corpus(8)).ok());
    EXPECT_EQ((*store)->search("river", {.mode = "hybrid"}).status().code(),
              Code::kInvalidArgument);
  }
  {
    auto store = Store::open(path, with_bert());  // embeds what is there
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    auto st = (*store)->stats();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->vectors, st->chunks);
    EXPECT_EQ(st->indexed_vectors, st->chunks);
    EXPECT_EQ(st->embedding_model, bert()->model_id());
  }
  auto other = gguf_embedding(testing::tiny_model("llama"), 2, 256);
  ASSERT_TRUE(other.ok()) << other.status().to_string();
  StoreOptions o;
  o.embedding = *other;
  auto refused = Store::open(path, o);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("holds vectors of"), std::string::npos);
}

// An HNSW graph cannot drop vectors: removed ones are skipped by searches (and remembered across
// a reopen) until more than a tenth are removed, or SQLite gives a removed chunk id out again;
// then the graph is rebuilt.
TEST(RetrievalDense, HnswPastTheThresholdSkipsRemovedVectorsAndIsRebuilt) {
  ASSERT_TRUE(bert());
  const std::string path = fresh("hnsw.sqlite");
  auto store = Store::open(path, with_bert(/*hnsw_from=*/60));
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->add(corpus(50)).ok());
  auto st = (*store)->stats();
  ASSERT_TRUE(st.ok());
  ASSERT_GT(st->chunks, 60);
  EXPECT_EQ(st->vector_kind, "hnsw");
  auto h = (*store)->search("\"document 7 mentions\"", {.k = 1});
  ASSERT_TRUE(h.ok() && !h->empty());
  const Hit target = (*h)[0];
  auto d = (*store)->search(target.text, {.k = 1, .mode = "dense"});
  ASSERT_TRUE(d.ok() && !d->empty());
  EXPECT_EQ((*d)[0].chunk_id, target.chunk_id);
  ASSERT_TRUE((*store)->remove("doc7").ok());
  st = (*store)->stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->indexed_vectors, st->vectors);
  d = (*store)->search(target.text, {.k = 5, .mode = "dense"});
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 5u);
  for (const Hit& x : *d) EXPECT_NE(x.chunk_id, target.chunk_id);
  store->reset();
  store = Store::open(path, with_bert(60));
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  st = (*store)->stats();
  EXPECT_EQ(st->indexed_vectors, st->vectors);
  EXPECT_EQ(st->vector_kind, "hnsw");
  d = (*store)->search(target.text, {.k = (int32_t)st->vectors, .mode = "dense"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(static_cast<int64_t>(d->size()), st->vectors);
  for (const Hit& x : *d) EXPECT_NE(x.chunk_id, target.chunk_id);
  // The last document's chunks have the highest ids: SQLite hands them out again to the next one.
  auto last = (*store)->search("\"document 49 mentions\"", {.k = 1});
  ASSERT_TRUE(last.ok() && !last->empty());
  ASSERT_TRUE((*store)->remove("doc49").ok());
  std::vector<Document> fresh_doc = corpus(1, 77);
  fresh_doc[0].source = "new";
  ASSERT_TRUE((*store)->add(fresh_doc).ok());
  auto again = (*store)->search("\"document 77 mentions\"", {.k = 1});
  ASSERT_TRUE(again.ok() && !again->empty());
  EXPECT_EQ((*again)[0].chunk_id, (*last)[0].chunk_id);  // the id was given out again
  d = (*store)->search((*again)[0].text, {.k = 1, .mode = "dense"});
  ASSERT_TRUE(d.ok() && !d->empty());
  EXPECT_EQ((*d)[0].source, "new");
  st = (*store)->stats();
  EXPECT_EQ(st->indexed_vectors, st->vectors);
  // Removing more than a tenth: rebuilt, the removed ones gone for good.
  for (int i = 10; i < 20; ++i) ASSERT_TRUE((*store)->remove("doc" + std::to_string(i)).ok());
  st = (*store)->stats();
  EXPECT_EQ(st->indexed_vectors, st->vectors);
  d = (*store)->search("document 13 mentions", {.k = (int32_t)st->vectors, .mode = "dense"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(static_cast<int64_t>(d->size()), st->vectors);
  for (const Hit& x : *d) EXPECT_NE(x.source, "doc13");
}

TEST(RetrievalDense, KilledIngestWithVectorsReopensConsistent) {
  ASSERT_TRUE(bert());
  const std::string path = fresh("killed-dense.sqlite");
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(pipefd[0]);
    auto e = gguf_embedding(testing::tiny_model("bert"), 1, 256);
    StoreOptions o = with_bert();
    o.embedding = e.ok() ? *e : nullptr;
    auto store = Store::open(path, o);
    if (!store.ok()) ::_exit(3);
    for (int i = 0;; i += 5) {
      if (!(*store)->add(corpus(5, i)).ok()) ::_exit(4);
      if (i == 20) (void)!::write(pipefd[1], "x", 1);  // some batches are in
    }
  }
  ::close(pipefd[1]);
  char c;
  ASSERT_EQ(::read(pipefd[0], &c, 1), 1);
  ::usleep(150000);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(pipefd[0]);
  ASSERT_TRUE(WIFSIGNALED(status));
  auto store = Store::open(path, with_bert());
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  auto st = (*store)->stats();
  ASSERT_TRUE(st.ok());
  EXPECT_GT(st->documents, 20);
  EXPECT_EQ(st->vectors, st->chunks);
  EXPECT_EQ(st->indexed_vectors, st->chunks);
  EXPECT_EQ(st->indexed_chunks, st->chunks);
  EXPECT_EQ(st->vector_change, st->store_change);
  EXPECT_EQ(st->index_change, st->store_change);
}

}  // namespace
}  // namespace troika::retrieval
