// A minimal reader for the protocol buffers wire format, enough to walk ONNX and SentencePiece
// model files without protoc or libprotobuf.
//
// A message is a sequence of fields, each a varint key (field number << 3 | wire type) followed
// by a value: a varint (0), 8 little-endian bytes (1), a length-delimited byte run (2) holding a
// string, bytes, a nested message or a packed repeated scalar, or 4 little-endian bytes (5).
// Groups (3, 4) are a proto2 relic that neither format uses; meeting one is reported as an
// error rather than skipped, because skipping needs the group's own nesting.
//
// Nothing here allocates or copies: a Field's bytes point into the caller's buffer, which must
// outlive them. Callers skip fields they do not know by simply not looking at them, which is
// what protobuf itself does with unknown fields.
//
// Thread safety: a WireReader is a cursor over const memory; use one per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace troika::convert::proto {

enum class WireType : uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLen = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

// One decoded field. For kVarint, kFixed64 and kFixed32 the value is in `scalar`; for kLen the
// payload is [data, data + size).
struct Field {
  uint32_t number = 0;
  WireType type = WireType::kVarint;
  uint64_t scalar = 0;
  const uint8_t* data = nullptr;
  size_t size = 0;

  std::string_view bytes() const { return {reinterpret_cast<const char*>(data), size}; }
  std::string str() const { return std::string(bytes()); }
  // Varint fields hold int32/int64 as two's complement widened to 64 bits.
  int64_t as_int64() const { return static_cast<int64_t>(scalar); }
  float as_float() const {
    const uint32_t bits = static_cast<uint32_t>(scalar);
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }
  double as_double() const {
    double d;
    std::memcpy(&d, &scalar, sizeof d);
    return d;
  }
};

// Decodes one varint at `*p` (at most 10 bytes, not past `end`), advancing `*p`.
// Returns false when it is truncated or longer than 10 bytes.
inline bool read_varint(const uint8_t** p, const uint8_t* end, uint64_t* out) {
  uint64_t v = 0;
  const uint8_t* q = *p;
  for (int shift = 0; shift < 70; shift += 7) {
    if (q >= end) return false;
    const uint8_t b = *q++;
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) {
      *out = v;
      *p = q;
      return true;
    }
  }
  return false;
}

inline uint32_t load_le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

inline uint64_t load_le64(const uint8_t* p) {
  return static_cast<uint64_t>(load_le32(p)) | static_cast<uint64_t>(load_le32(p + 4)) << 32;
}

// Walks the fields of one message. Usage:
//   WireReader r(data, size);
//   Field f;
//   while (r.next(&f)) { switch (f.number) { ... } }
//   if (!r.ok()) report r.error() at r.offset();
class WireReader {
 public:
  WireReader(const uint8_t* data, size_t size) : begin_(data), p_(data), end_(data + size) {}
  explicit WireReader(const Field& f) : WireReader(f.data, f.size) {}

  // Reads the next field into `*f`. Returns false at the clean end of the message or on a
  // malformed field; ok() tells which.
  bool next(Field* f) {
    if (p_ == end_ || error_ != nullptr) return false;
    const uint8_t* field_start = p_;
    uint64_t key = 0;
    if (!read_varint(&p_, end_, &key)) return fail(field_start, "truncated or overlong field key");
    if ((key >> 3) == 0 || (key >> 3) > 0x1FFFFFFF) {
      return fail(field_start, "field number outside 1..2^29-1");
    }
    f->number = static_cast<uint32_t>(key >> 3);
    f->type = static_cast<WireType>(key & 7);
    f->data = nullptr;
    f->size = 0;
    f->scalar = 0;
    switch (f->type) {
      case WireType::kVarint:
        if (!read_varint(&p_, end_, &f->scalar)) return fail(field_start, "truncated varint");
        return true;
      case WireType::kFixed64:
        if (end_ - p_ < 8) return fail(field_start, "truncated fixed64");
        f->scalar = load_le64(p_);
        p_ += 8;
        return true;
      case WireType::kFixed32:
        if (end_ - p_ < 4) return fail(field_start, "truncated fixed32");
        f->scalar = load_le32(p_);
        p_ += 4;
        return true;
      case WireType::kLen: {
        uint64_t n = 0;
        if (!read_varint(&p_, end_, &n)) return fail(field_start, "truncated length");
        if (n > static_cast<uint64_t>(end_ - p_)) {
          return fail(field_start, "length-delimited field runs past the end of its message");
        }
        f->data = p_;
        f->size = static_cast<size_t>(n);
        p_ += n;
        return true;
      }
      case WireType::kStartGroup:
      case WireType::kEndGroup:
        return fail(field_start, "group fields are not supported");
    }
    return fail(field_start, "unknown wire type");
  }

  bool ok() const { return error_ == nullptr; }
  // What went wrong, or "" when ok().
  const char* error() const { return error_ ? error_ : ""; }
  // Byte offset of the failing field (or of the cursor) from the start of this message.
  size_t offset() const { return static_cast<size_t>((error_ ? error_at_ : p_) - begin_); }

 private:
  bool fail(const uint8_t* at, const char* what) {
    error_ = what;
    error_at_ = at;
    return false;
  }

  const uint8_t* begin_;
  const uint8_t* p_;
  const uint8_t* end_;
  const char* error_ = nullptr;
  const uint8_t* error_at_ = nullptr;
};

// A repeated varint field may arrive packed (one kLen field holding many varints) or unpacked
// (one kVarint field per element); parsers must accept both. Calls fn(uint64_t) per element
// and returns false on a malformed packed run.
template <typename Fn>
bool for_each_varint(const Field& f, Fn&& fn) {
  if (f.type == WireType::kVarint) {
    fn(f.scalar);
    return true;
  }
  if (f.type != WireType::kLen) return false;
  const uint8_t* p = f.data;
  const uint8_t* end = f.data + f.size;
  while (p < end) {
    uint64_t v = 0;
    if (!read_varint(&p, end, &v)) return false;
    fn(v);
  }
  return true;
}

}  // namespace troika::convert::proto
