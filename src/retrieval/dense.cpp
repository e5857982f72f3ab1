// VectorIndex: FAISS IndexIDMap2 over a flat index or IndexHNSWFlat, both on FlatIP storage; one
// file with a JSON header.
#include "dense.h"

#include "flat_ip.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_io.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace troika::retrieval::detail {

namespace {

using json = nlohmann::json;
using idx_t = faiss::Index::idx_t;  // faiss 1.7.3 (Debian 12); later releases: faiss::idx_t

constexpr int kHnswM = 16;
constexpr int kEfConstruction = 80;
constexpr int kEfSearch = 512;

faiss::IndexIDMap2* id_map(faiss::Index* i) { return static_cast<faiss::IndexIDMap2*>(i); }

}  // namespace

VectorIndex::~VectorIndex() = default;

void VectorIndex::make_flat() {
  auto* map = new faiss::IndexIDMap2(new FlatIP(dim_));
  map->own_fields = true;
  index_.reset(map);
  hnsw_ = false;
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::load(const std::string& path,
                                                       const std::string& model, int32_t dim,
                                                       int64_t hnsw_from) {
  std::unique_ptr<VectorIndex> v(new VectorIndex());
  v->hnsw_from_ = hnsw_from;
  v->path_ = path;
  v->model_ = model;
  v->dim_ = dim;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    v->make_flat();
    return v;
  }
  // The header: one JSON line.
  std::string line;
  for (int c; (c = std::fgetc(f)) != EOF && c != '\n';) line += static_cast<char>(c);
  const json h = json::parse(line, nullptr, false);
  if (!h.is_object() || !h.contains("troika_vectors")) {
    std::fclose(f);
    return data_loss(path + " is not a troika vector index; delete it and it is rebuilt");
  }
  if (h.value("model", "") != model || h.value("dim", 0) != dim) {
    std::fclose(f);
    return data_loss(path + " holds vectors of " + h.value("model", "?") + " (dim " +
                     std::to_string(h.value("dim", 0)) + "), not of " + model + " (dim " +
                     std::to_string(dim) + ")");
  }
  try {
    v->index_.reset(faiss::read_index(f));
  } catch (const faiss::FaissException& e) {
    std::fclose(f);
    return data_loss(path + ": " + e.what() + "; delete it and it is rebuilt");
  }
  std::fclose(f);
  v->change_ = h.value("change", int64_t{0});
  v->hnsw_ = h.value("kind", "") == "hnsw";
  try {  // FAISS reads the storage back as a plain IndexFlatIP
    auto* map = dynamic_cast<faiss::IndexIDMap2*>(v->index_.get());
    auto* hnsw = map ? dynamic_cast<faiss::IndexHNSW*>(map->index) : nullptr;
    if (!map || v->hnsw_ != (hnsw != nullptr)) throw faiss::FaissException("unexpected layout");
    if (hnsw) {
      hnsw->storage = take_flat(hnsw->storage);
    } else {
      map->index = take_flat(map->index);
    }
  } catch (const faiss::FaissException& e) {
    return data_loss(path + ": " + e.what() + "; delete it and it is rebuilt");
  }
  if (h.contains("removed") && h["removed"].is_array()) {
    for (const auto& id : h["removed"]) v->removed_.insert(id.get<int64_t>());
  }
  if (v->hnsw_) {
    auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(id_map(v->index_.get())->index);
    if (hnsw) hnsw->hnsw.efSearch = kEfSearch;
  }
  return v;
}

int64_t VectorIndex::size() const { return index_->ntotal - static_cast<int64_t>(removed_.size()); }

void VectorIndex::reset() {
  make_flat();
  removed_.clear();
  change_ = 0;
  dirty_ = true;
}

bool VectorIndex::add(const std::vector<int64_t>& ids, const std::vector<float>& vectors) {
  if (ids.empty()) return true;
  for (int64_t id : ids) {
    if (removed_.count(id)) return false;
  }
  dirty_ = true;
  const auto n = static_cast<idx_t>(ids.size());
  if (!hnsw_ && index_->ntotal + n > hnsw_from_) {
    // Move what the flat index holds into a fresh HNSW graph.
    auto* flat = id_map(index_.get());
    std::vector<float> old(static_cast<size_t>(flat->ntotal) * static_cast<size_t>(dim_));
    if (flat->ntotal > 0) flat->index->reconstruct_n(0, flat->ntotal, old.data());
    std::vector<idx_t> old_ids(flat->id_map.begin(), flat->id_map.end());
    auto* graph = new faiss::IndexHNSWFlat(dim_, kHnswM, faiss::METRIC_INNER_PRODUCT);
    delete graph->storage;
    graph->storage = new FlatIP(dim_);
    graph->hnsw.efConstruction = kEfConstruction;
    graph->hnsw.efSearch = kEfSearch;
    auto* map = new faiss::IndexIDMap2(graph);
    map->own_fields = true;
    if (!old_ids.empty()) {
      map->add_with_ids(static_cast<idx_t>(old_ids.size()), old.data(), old_ids.data());
    }
    index_.reset(map);
    hnsw_ = true;
  }
  std::vector<idx_t> fids(ids.begin(), ids.end());
  index_->add_with_ids(n, vectors.data(), fids.data());
  return true;
}

bool VectorIndex::remove(const std::vector<int64_t>& ids) {
  if (ids.empty()) return true;
  dirty_ = true;
  if (!hnsw_) {
    std::vector<idx_t> fids(ids.begin(), ids.end());
    faiss::IDSelectorArray sel(fids.size(), fids.data());
    index_->remove_ids(sel);
    return true;
  }
  const auto& held = id_map(index_.get())->rev_map;
  for (int64_t id : ids) {
    if (held.count(id)) removed_.insert(id);
  }
  return static_cast<int64_t>(removed_.size()) * 10 <= index_->ntotal;
}

std::vector<std::pair<int64_t, float>> VectorIndex::search(const std::vector<float>& query,
                                                           int32_t k) const {
  std::vector<std::pair<int64_t, float>> out;
  const int64_t live = size();
  if (live == 0 || k <= 0) return out;
  const int64_t want = std::min<int64_t>(k, live);
  // Removed vectors still in the graph take places in a result: ask for more until `want`
  // remain, or the whole graph was asked for.
  idx_t kk = removed_.empty() ? want : std::min<idx_t>(index_->ntotal, 2 * want + 16);
  for (;;) {
    std::vector<float> dist(static_cast<size_t>(kk));
    std::vector<idx_t> labels(static_cast<size_t>(kk));
    index_->search(1, query.data(), kk, dist.data(), labels.data());
    out.clear();
    for (idx_t i = 0; i < kk && static_cast<int64_t>(out.size()) < want; ++i) {
      if (labels[i] >= 0 && !removed_.count(labels[i])) out.emplace_back(labels[i], dist[i]);
    }
    if (static_cast<int64_t>(out.size()) >= want || kk >= index_->ntotal) return out;
    kk = std::min<idx_t>(index_->ntotal, kk * 4);
  }
}

Status VectorIndex::save() {
  if (!dirty_) return Status::Ok();
  const std::string tmp = path_ + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return unavailable("cannot write " + tmp);
  const json h = {{"troika_vectors", 1},
                  {"model", model_},
                  {"dim", dim_},
                  {"change", change_},
                  {"kind", hnsw_ ? "hnsw" : "flat"},
                  {"count", size()},
                  {"removed", std::vector<int64_t>(removed_.begin(), removed_.end())}};
  const std::string line = h.dump() + "\n";
  bool ok = std::fwrite(line.data(), 1, line.size(), f) == line.size();
  try {
    if (ok) faiss::write_index(index_.get(), f);
  } catch (const faiss::FaissException& e) {
    ok = false;
  }
  ok = std::fflush(f) == 0 && ok;
  ok = ::fsync(::fileno(f)) == 0 && ok;
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path_.c_str()) != 0) {
    std::remove(tmp.c_str());
    return unavailable("cannot write " + path_ + " (disk full?)");
  }
  dirty_ = false;
  return Status::Ok();
}

}  // namespace troika::retrieval::detail
