#include "torch_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>

namespace troika::testing {

namespace {

using convert::DType;

const char* storage_class(DType t) {
  switch (t) {
    case DType::kF32:
      return "FloatStorage";
    case DType::kF16:
      return "HalfStorage";
    case DType::kBF16:
      return "BFloat16Storage";
    case DType::kF64:
      return "DoubleStorage";
    case DType::kI64:
      return "LongStorage";
    case DType::kI32:
      return "IntStorage";
    case DType::kI16:
      return "ShortStorage";
    case DType::kI8:
      return "CharStorage";
    case DType::kU8:
      return "ByteStorage";
    case DType::kBool:
      return "BoolStorage";
    default:
      return nullptr;
  }
}

// `n_bytes` little-endian bytes of v (zeros past its eighth).
void put_le(std::string* out, uint64_t v, int n_bytes) {
  for (int i = 0; i < n_bytes; ++i) out->push_back(static_cast<char>(i < 8 ? v >> (8 * i) : 0));
}

// CPython's pickler at protocol 2, for the few types a state dict holds. It memoizes what
// CPython memoizes (strings, tuples, dicts, globals, reduce results), reusing a slot when the
// same object is pickled again; `shared` strings stand for one Python object used repeatedly
// (the literals 'storage' and 'cpu', a storage's key).
class Pickler {
 public:
  std::string out = std::string("\x80\x02", 2);  // PROTO 2

  void put() {  // BINPUT / LONG_BINPUT of the next memo slot
    if (memo_ < 256) {
      out += 'q';
      put_le(&out, memo_, 1);
    } else {
      out += 'r';
      put_le(&out, memo_, 4);
    }
    ++memo_;
  }
  bool get(const std::string& id) {  // BINGET / LONG_BINGET when `id` was memoized
    auto it = ids_.find(id);
    if (it == ids_.end()) return false;
    if (it->second < 256) {
      out += 'h';
      put_le(&out, it->second, 1);
    } else {
      out += 'j';
      put_le(&out, it->second, 4);
    }
    return true;
  }
  void remember(const std::string& id) { ids_[id] = memo_; }

  void str(const std::string& s, bool shared = false) {
    if (shared && get("s:" + s)) return;
    if (shared) remember("s:" + s);
    out += 'X';
    put_le(&out, s.size(), 4);
    out += s;
    put();
  }
  void global(const std::string& module, const std::string& name) {
    const std::string id = "g:" + module + "." + name;
    if (get(id)) return;
    remember(id);
    out += "c" + module + "\n" + name + "\n";
    put();
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      out += 'K';
      put_le(&out, v, 1);
    } else if (v >= 0 && v < 65536) {
      out += 'M';
      put_le(&out, v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      out += 'J';
      put_le(&out, static_cast<uint32_t>(v), 4);
    } else {  // LONG1 with CPython's minimal two's-complement length
      int n = 1;
      while (n < 8 && !(v >= -(int64_t{1} << (8 * n - 1)) && v < (int64_t{1} << (8 * n - 1)))) ++n;
      out += '\x8a';
      put_le(&out, n, 1);
      put_le(&out, static_cast<uint64_t>(v), n);
    }
  }
  void int_tuple(const std::vector<int64_t>& v) {
    if (v.empty()) {  // the empty tuple is a singleton CPython does not memoize
      out += ')';
      return;
    }
    if (v.size() > 3) out += '(';
    for (int64_t x : v) integer(x);
    out += v.size() > 3 ? 't' : static_cast<char>(0x84 + v.size());  // TUPLE or TUPLE1..3
    put();
  }
  // collections.OrderedDict(): GLOBAL, EMPTY_TUPLE, REDUCE.
  void ordered_dict() {
    global("collections", "OrderedDict");
    out += ")R";
    put();
  }

 private:
  uint32_t memo_ = 0;
  std::map<std::string, uint32_t> ids_;
};

std::vector<int64_t> row_major_stride(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) s[d - 1] = s[d] * shape[d];
  return s;
}

// Which storage each tensor uses: its own, numbered in first-use order, or its view_of's.
std::vector<int> storage_ids(const std::vector<TorchTensorData>& tensors) {
  std::vector<int> ids(tensors.size());
  int next = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    ids[i] = tensors[i].view_of >= 0 ? ids[tensors[i].view_of] : next++;
  }
  return ids;
}

// A storage's element count: all of its bytes, in elements of the owning tensor's dtype.
int64_t storage_numel(const TorchTensorData& owner) {
  const uint64_t n = owner.zero_bytes > 0 ? owner.zero_bytes : owner.bytes.size();
  return static_cast<int64_t>(n / convert::dtype_size(owner.dtype));
}

// CRC-32 after appending n zero bytes to data whose CRC-32 is `crc`: n applications of the
// linear map one zero byte makes on the CRC register, composed by repeated squaring (as zlib's
// crc32_combine), so a multi-gigabyte hole costs microseconds.
uint32_t gf2_times(const uint32_t* mat, uint32_t vec) {
  uint32_t sum = 0;
  for (int i = 0; vec; ++i, vec >>= 1) {
    if (vec & 1) sum ^= mat[i];
  }
  return sum;
}
void gf2_square(uint32_t* square, const uint32_t* mat) {
  for (int n = 0; n < 32; ++n) square[n] = gf2_times(mat, mat[n]);
}
uint32_t crc32_zeros(uint32_t crc, uint64_t n) {
  uint32_t odd[32], even[32];
  odd[0] = 0xEDB88320u;  // one zero bit
  for (uint32_t i = 1, row = 1; i < 32; ++i, row <<= 1) odd[i] = row;
  gf2_square(even, odd);  // two zero bits
  gf2_square(odd, even);  // four zero bits
  uint32_t reg = ~crc;
  while (n) {
    gf2_square(even, odd);  // first pass: one zero byte
    if (n & 1) reg = gf2_times(even, reg);
    n >>= 1;
    if (!n) break;
    gf2_square(odd, even);
    if (n & 1) reg = gf2_times(odd, reg);
    n >>= 1;
  }
  return ~reg;
}

uint32_t crc32_of(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return ~c;
}

// The archive folder torch uses: the file's base name up to its last dot (inline_container.cc
// basename), so model.ckpt holds "model/...".
std::string archive_name(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') + 1);
  const size_t dot = base.find_last_of('.');
  if (dot != std::string::npos) base.resize(dot);
  return base.empty() ? "archive" : base;
}

constexpr uint64_t kMax32 = 0xFFFFFFFFu;
constexpr uint16_t kDosDate = (1 << 5) | 1;  // 1980-01-01; torch stamps the current time

}  // namespace

std::string torch_pickle(const std::vector<TorchTensorData>& tensors, const std::string& dict_key) {
  Pickler p;
  if (!dict_key.empty()) {
    p.out += '}';  // the top-level dict, with one item: SETITEM below
    p.put();
    p.str(dict_key);
  }
  p.ordered_dict();  // the state dict
  const std::vector<int> ids = storage_ids(tensors);
  for (size_t i = 0; i < tensors.size(); ++i) {
    // CPython writes a dict's items in batches of up to 1000 (MARK ... SETITEMS), a batch of
    // one as a lone SETITEM.
    const size_t batch = std::min<size_t>(1000, tensors.size() - i / 1000 * 1000);
    if (i % 1000 == 0 && batch > 1) p.out += '(';
    const TorchTensorData& t = tensors[i];
    const TorchTensorData& owner = t.view_of >= 0 ? tensors[t.view_of] : t;
    p.str(t.name);
    // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.out += '(';
    p.out += '(';  // the persistent id ('storage', type, key, location, numel)
    p.str("storage", true);
    p.global("torch", storage_class(owner.dtype));
    p.str(std::to_string(ids[i]), true);
    p.str("cpu", true);
    p.integer(storage_numel(owner));
    p.out += 't';
    p.put();
    p.out += 'Q';  // BINPERSID
    p.integer(t.storage_offset);
    p.int_tuple(t.shape);
    p.int_tuple(t.stride.empty() ? row_major_stride(t.shape) : t.stride);
    p.out += '\x89';   // requires_grad False: state_dict() holds detached tensors
    p.ordered_dict();  // backward hooks: an empty OrderedDict
    p.out += 't';
    p.put();
    p.out += 'R';
    p.put();
    if ((i + 1) % 1000 == 0 || i + 1 == tensors.size()) p.out += batch > 1 ? 'u' : 's';
  }
  // The state dict's attributes: _metadata maps module prefixes to {'version': n}.
  p.out += '}';
  p.put();
  p.str("_metadata");
  p.ordered_dict();
  p.str("");
  p.out += '}';
  p.put();
  p.str("version");
  p.integer(1);
  p.out += "sssb";  // version into {}, '' into _metadata, _metadata into the state, BUILD
  if (!dict_key.empty()) p.out += 's';
  p.out += '.';
  return p.out;
}

Status write_torch_checkpoint(const std::string& path, const std::vector<TorchTensorData>& tensors,
                              const std::string& dict_key) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (t.view_of >= static_cast<int>(i)) {
      return invalid_argument("tensor '" + t.name + "': view_of must name an earlier tensor");
    }
    if (!storage_class(t.view_of >= 0 ? tensors[t.view_of].dtype : t.dtype)) {
      return invalid_argument("tensor '" + t.name + "': its dtype has no torch storage class");
    }
  }
  std::vector<TorchRecord> records;
  records.push_back({"data.pkl", torch_pickle(tensors, dict_key)});
  // torch/serialization.py _save writes these after data.pkl; version comes from the C++
  // writer's writeEndOfFile, and .data/serialization_id last.
  records.push_back({".format_version", "1"});
  records.push_back({".storage_alignment", "64"});
  records.push_back({"byteorder", "little"});
  const std::vector<int> ids = storage_ids(tensors);
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].view_of >= 0) continue;
    TorchRecord r{"data/" + std::to_string(ids[i]), "", tensors[i].zero_bytes};
    if (r.zero_bytes == 0) r.bytes.assign(tensors[i].bytes.begin(), tensors[i].bytes.end());
    records.push_back(std::move(r));
  }
  records.push_back({"version", "3\n"});
  records.push_back({".data/serialization_id", std::string(40, '0')});
  return write_torch_zip(path, records);
}

Status write_torch_zip(const std::string& path, const std::vector<TorchRecord>& records) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), std::fclose);
  if (!f) return unavailable(path + ": cannot create: " + std::strerror(errno));
  const std::string folder = archive_name(path) + "/";
  uint64_t cursor = 0;
  std::string central;
  bool ok = true;
  auto write = [&](const std::string& s) {
    ok = ok && std::fwrite(s.data(), 1, s.size(), f.get()) == s.size();
    cursor += s.size();
  };
  for (const TorchRecord& r : records) {
    const std::string name = folder + r.name;
    const uint64_t size = r.zero_bytes > 0 ? r.zero_bytes : r.bytes.size();
    const uint32_t crc = r.zero_bytes > 0 ? crc32_zeros(0, r.zero_bytes) : crc32_of(r.bytes);
    const uint64_t local = cursor;
    const bool zip64 = size >= kMax32 || local >= kMax32;
    // The ZIP64 field miniz puts in the local header: size, compressed size (not yet known: 0),
    // offset, each only when it overflows 32 bits.
    std::string local_zip64;
    if (zip64) {
      put_le(&local_zip64, 1, 2);
      put_le(&local_zip64, (size >= kMax32 ? 16 : 0) + (local >= kMax32 ? 8 : 0), 2);
      if (size >= kMax32) {
        put_le(&local_zip64, size, 8);
        put_le(&local_zip64, 0, 8);
      }
      if (local >= kMax32) put_le(&local_zip64, local, 8);
    }
    // PyTorchStreamWriter's padding (detail::getPadding): an "FB" extra field of 'Z's that ends
    // where the data starts, on a 64-byte boundary.
    const uint64_t start = local + 30 + name.size() + local_zip64.size() + 4;
    const uint64_t pad = (64 - start % 64) % 64;
    std::string extra = local_zip64 + "FB";
    put_le(&extra, pad, 2);
    extra.append(pad, 'Z');
    const uint16_t flags = 0x0800 | (size > 0 ? 0x0008 : 0);  // UTF-8 names; data descriptor
    std::string h;
    put_le(&h, 0x04034b50, 4);
    put_le(&h, 0, 2);  // version needed: 0 for stored entries, as miniz writes
    put_le(&h, flags, 2);
    put_le(&h, 0, 2);  // method: stored
    put_le(&h, 0, 2);  // time
    put_le(&h, kDosDate, 2);
    put_le(&h, 0, 12);  // CRC and sizes travel in the data descriptor
    put_le(&h, name.size(), 2);
    put_le(&h, extra.size(), 2);
    write(h + name + extra);
    if (r.zero_bytes > 0) {
      ok = ok && fseeko(f.get(), static_cast<off_t>(r.zero_bytes), SEEK_CUR) == 0;
      cursor += r.zero_bytes;
    } else {
      write(r.bytes);
    }
    if (size > 0) {  // data descriptor, 64-bit when the entry carries a ZIP64 field
      std::string d;
      put_le(&d, 0x08074b50, 4);
      put_le(&d, crc, 4);
      put_le(&d, size, zip64 ? 8 : 4);
      put_le(&d, size, zip64 ? 8 : 4);
      write(d);
    }
    std::string cd_zip64;
    if (zip64) {
      put_le(&cd_zip64, 1, 2);
      put_le(&cd_zip64, (size >= kMax32 ? 16 : 0) + (local >= kMax32 ? 8 : 0), 2);
      if (size >= kMax32) {
        put_le(&cd_zip64, size, 8);
        put_le(&cd_zip64, size, 8);
      }
      if (local >= kMax32) put_le(&cd_zip64, local, 8);
    }
    put_le(&central, 0x02014b50, 4);
    put_le(&central, 0, 4);  // version made by, version needed
    put_le(&central, flags, 2);
    put_le(&central, 0, 2);  // method
    put_le(&central, 0, 2);  // time
    put_le(&central, kDosDate, 2);
    put_le(&central, crc, 4);
    put_le(&central, std::min(size, kMax32), 4);
    put_le(&central, std::min(size, kMax32), 4);
    put_le(&central, name.size(), 2);
    put_le(&central, cd_zip64.size(), 2);
    put_le(&central, 0, 6);  // comment length, disk, internal attributes
    put_le(&central, 0, 4);  // external attributes
    put_le(&central, std::min(local, kMax32), 4);
    central += name + cd_zip64;
  }
  const uint64_t cd_offset = cursor, n = records.size();
  write(central);
  const uint64_t zip64_end = cursor;
  std::string tail;
  put_le(&tail, 0x06064b50, 4);  // ZIP64 end of central directory record
  put_le(&tail, 44, 8);
  put_le(&tail, 0x031E, 2);  // made by: Unix, 3.0 (what miniz writes)
  put_le(&tail, 0x002D, 2);  // needed: 4.5
  put_le(&tail, 0, 8);       // disk numbers
  put_le(&tail, n, 8);
  put_le(&tail, n, 8);
  put_le(&tail, central.size(), 8);
  put_le(&tail, cd_offset, 8);
  put_le(&tail, 0x07064b50, 4);  // ZIP64 locator
  put_le(&tail, 0, 4);
  put_le(&tail, zip64_end, 8);
  put_le(&tail, 1, 4);
  put_le(&tail, 0x06054b50, 4);  // end of central directory record
  put_le(&tail, 0, 4);
  put_le(&tail, std::min<uint64_t>(n, 0xFFFF), 2);
  put_le(&tail, std::min<uint64_t>(n, 0xFFFF), 2);
  put_le(&tail, std::min<uint64_t>(central.size(), kMax32), 4);
  put_le(&tail, std::min(cd_offset, kMax32), 4);
  put_le(&tail, 0, 2);
  write(tail);
  ok = ok && std::fflush(f.get()) == 0;
  if (!ok) return unavailable(path + ": write failed: " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace troika::testing
