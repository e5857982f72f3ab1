#include "convert/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

namespace troika::convert {

namespace {
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the format's own limit (100 MB)

Status bad(const std::string& name, const std::string& what) {
  return data_loss(name + ": not a valid safetensors file: " + what);
}
}  // namespace

Result<std::vector<RawTensor>> parse_safetensors(const uint8_t* data, size_t size,
                                                 const std::string& name,
                                                 std::map<std::string, std::string>* metadata) {
  if (size < 8) return bad(name, "shorter than the 8-byte header length");
  uint64_t n_header = 0;
  for (int i = 7; i >= 0; --i) n_header = (n_header << 8) | data[i];
  if (n_header > kMaxHeaderBytes) {
    return bad(name, "header length " + std::to_string(n_header) + " exceeds 100 MB");
  }
  if (n_header > size - 8) {
    return bad(name, "header length " + std::to_string(n_header) + " runs past the end of the " +
                         std::to_string(size) + "-byte file (truncated?)");
  }
  const uint8_t* base = data + 8 + n_header;
  const uint64_t n_data = size - 8 - n_header;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(data + 8, data + 8 + n_header);
  } catch (const std::exception& e) {
    return bad(name, std::string("header is not JSON: ") + e.what());
  }
  if (!header.is_object()) return bad(name, "header is not a JSON object");

  std::vector<RawTensor> out;
  for (const auto& [key, entry] : header.items()) {
    if (key == "__metadata__") {
      if (metadata && entry.is_object()) {
        for (const auto& [k, v] : entry.items()) {
          if (v.is_string()) (*metadata)[k] = v.get<std::string>();
        }
      }
      continue;
    }
    const std::string where = "tensor '" + key + "'";
    if (!entry.is_object()) return bad(name, where + " is not an object");
    const auto dt = entry.find("dtype");
    const auto sh = entry.find("shape");
    const auto off = entry.find("data_offsets");
    if (dt == entry.end() || !dt->is_string() || sh == entry.end() || !sh->is_array() ||
        off == entry.end() || !off->is_array() || off->size() != 2) {
      return bad(name, where + " lacks dtype, shape or data_offsets [begin, end]");
    }
    RawTensor t;
    t.name = key;
    t.file = name;
    if (!parse_safetensors_dtype(dt->get<std::string>(), &t.dtype)) {
      return bad(name, where + " has unknown dtype '" + dt->get<std::string>() + "'");
    }
    uint64_t numel = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) return bad(name, where + " has a negative or non-integer dim");
      const uint64_t v = d.get<uint64_t>();
      if (v != 0 && numel > std::numeric_limits<uint64_t>::max() / 16 / v) {
        return bad(name, where + " has an impossibly large shape");
      }
      numel *= v;
      t.shape.push_back(static_cast<int64_t>(v));
    }
    for (const auto& o : *off) {
      if (!o.is_number_unsigned()) return bad(name, where + " has non-integer data_offsets");
    }
    const uint64_t begin = (*off)[0].get<uint64_t>();
    const uint64_t end = (*off)[1].get<uint64_t>();
    if (begin > end || end > n_data) {
      return bad(name, where + " data range [" + std::to_string(begin) + ", " +
                           std::to_string(end) + ") lies outside the " + std::to_string(n_data) +
                           "-byte data section (truncated?)");
    }
    if (end - begin != numel * dtype_size(t.dtype)) {
      return bad(name, where + " holds " + std::to_string(end - begin) + " bytes but " +
                           std::to_string(numel) + " x " + std::string(dtype_name(t.dtype)) +
                           " needs " + std::to_string(numel * dtype_size(t.dtype)));
    }
    t.data = base + begin;
    t.n_bytes = end - begin;
    out.push_back(std::move(t));
  }
  // Ranges must not overlap: a crafted header could otherwise alias one tensor as another.
  std::vector<const RawTensor*> by_start;
  for (const auto& t : out) by_start.push_back(&t);
  std::sort(by_start.begin(), by_start.end(),
            [](const RawTensor* a, const RawTensor* b) { return a->data < b->data; });
  for (size_t i = 1; i < by_start.size(); ++i) {
    const RawTensor& prev = *by_start[i - 1];
    if (prev.n_bytes > 0 && prev.data + prev.n_bytes > by_start[i]->data) {
      return bad(name, "tensors '" + prev.name + "' and '" + by_start[i]->name + "' overlap");
    }
  }
  return out;
}

Result<SafetensorsFile> open_safetensors(const std::string& path) {
  SafetensorsFile f;
  TROIKA_ASSIGN_OR_RETURN(f.file, MappedFile::open(path));
  TROIKA_ASSIGN_OR_RETURN(f.tensors,
                          parse_safetensors(f.file->data(), f.file->size(), path, &f.metadata));
  return f;
}

}  // namespace troika::convert
