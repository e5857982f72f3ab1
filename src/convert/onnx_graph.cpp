// ONNX protobuf parsing and initializer data lookup for onnx.cpp; see onnx_graph.h.
//
// Field numbers are onnx/onnx.proto's (proto2; unchanged since IR version 3): ModelProto.graph 7;
// GraphProto node 1, initializer 5; NodeProto input 1, output 2, name 3, op_type 4, attribute 5,
// doc_string 6, domain 7; AttributeProto name 1, i 3; TensorProto dims 1, data_type 2, segment 3,
// float_data 4, int32_data 5, name 8, raw_data 9, double_data 10, external_data 13,
// data_location 14 (EXTERNAL = 1); StringStringEntryProto key 1, value 2.
#include "convert/onnx_graph.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <utility>

#include "convert/proto_wire.h"

namespace troika::convert::onnx {

namespace fs = std::filesystem;
using proto::Field;
using proto::WireReader;
using proto::WireType;

std::string type_name(int32_t t) {
  switch (t) {
    case kFloat:
      return "FLOAT";
    case kUint8:
      return "UINT8";
    case kInt8:
      return "INT8";
    case kInt32:
      return "INT32";
    case kInt64:
      return "INT64";
    case kFloat16:
      return "FLOAT16";
    case kDouble:
      return "DOUBLE";
    case kBFloat16:
      return "BFLOAT16";
  }
  return "type " + std::to_string(t);
}

size_t type_size(int32_t t) {
  switch (t) {
    case kUint8:
    case kInt8:
      return 1;
    case kFloat16:
    case kBFloat16:
      return 2;
    case kFloat:
    case kInt32:
      return 4;
    case kDouble:
    case kInt64:
      return 8;
  }
  return 0;
}

bool float_dtype(int32_t t, DType* out) {
  switch (t) {
    case kFloat:
      *out = DType::kF32;
      return true;
    case kFloat16:
      *out = DType::kF16;
      return true;
    case kBFloat16:
      *out = DType::kBF16;
      return true;
    case kDouble:
      *out = DType::kF64;
      return true;
  }
  return false;
}

namespace {

float half_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t man = h & 0x3FF;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000 | (man << 13);  // inf or NaN
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else {  // subnormal: shift the mantissa up until it is normal
    exp = 113;
    while ((man & 0x400) == 0) {
      man <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((man & 0x3FF) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

}  // namespace

float load_float(DType t, const uint8_t* p, int64_t i) {
  switch (t) {
    case DType::kF16: {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      return half_bits_to_float(h);
    }
    case DType::kBF16: {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      const uint32_t bits = static_cast<uint32_t>(h) << 16;
      float f;
      std::memcpy(&f, &bits, sizeof f);
      return f;
    }
    case DType::kF64: {
      double d;
      std::memcpy(&d, p + 8 * i, 8);
      return static_cast<float>(d);
    }
    default: {
      float f;
      std::memcpy(&f, p + 4 * i, 4);
      return f;
    }
  }
}

namespace {

// The file being parsed, for messages, and its first byte, so errors give absolute offsets.
struct Ctx {
  std::string path;
  const uint8_t* base = nullptr;
};

Status wire_error(const Ctx& c, const WireReader& r, const uint8_t* msg, const std::string& where) {
  return data_loss(c.path + ": corrupt ONNX protobuf: " + r.error() + " at byte " +
                   std::to_string(static_cast<size_t>(msg - c.base) + r.offset()) + " (" + where +
                   ")");
}

Status type_error(const Ctx& c, const Field& f, const std::string& where) {
  return data_loss(c.path + ": corrupt ONNX protobuf: field " + std::to_string(f.number) + " of " +
                   where + " has wire type " + std::to_string(int(f.type)));
}

Status parse_entry(const Field& msg, const Ctx& c, std::map<std::string, std::string>* out) {
  WireReader r(msg);
  Field f;
  std::string key, value;
  while (r.next(&f)) {
    if (f.number != 1 && f.number != 2) continue;
    if (f.type != WireType::kLen) return type_error(c, f, "external_data entry");
    (f.number == 1 ? key : value) = f.str();
  }
  if (!r.ok()) return wire_error(c, r, msg.data, "external_data entry");
  (*out)[key] = value;
  return Status::Ok();
}

// Re-encodes int32_data (which holds 8- and 16-bit types widened to int32) as `type`'s bytes.
void encode_int32_data(const std::vector<int64_t>& values, int32_t type,
                       std::vector<uint8_t>* out) {
  const size_t w = type == kInt32 ? 4 : type_size(type) <= 2 ? type_size(type) : 0;
  for (int64_t v : values) {
    const uint32_t u = static_cast<uint32_t>(v);
    for (size_t i = 0; i < w; ++i) out->push_back(static_cast<uint8_t>(u >> (8 * i)));
  }
}

Status parse_tensor(const Field& msg, const Ctx& c, Initializer* t) {
  WireReader r(msg);
  Field f;
  std::vector<uint8_t> typed;
  std::vector<int64_t> int32_values;
  bool has_typed = false;
  const auto where = [&] { return "initializer '" + t->name + "'"; };
  while (r.next(&f)) {
    switch (f.number) {
      case 1:  // dims
        if (!proto::for_each_varint(f, [&](uint64_t v) { t->dims.push_back(int64_t(v)); })) {
          return type_error(c, f, where());
        }
        break;
      case 2:  // data_type
        if (f.type != WireType::kVarint) return type_error(c, f, where());
        t->type = static_cast<int32_t>(f.scalar);
        break;
      case 3:  // segment
        t->segmented = true;
        break;
      case 4:   // float_data: packed fixed32, or one fixed32 per element
      case 10:  // double_data: likewise with fixed64
        has_typed = true;
        if (f.type == WireType::kLen) {
          typed.insert(typed.end(), f.data, f.data + f.size);
        } else {
          const size_t w = f.type == WireType::kFixed32 ? 4 : 8;
          for (size_t i = 0; i < w; ++i) typed.push_back(static_cast<uint8_t>(f.scalar >> (8 * i)));
        }
        break;
      case 5:  // int32_data
        has_typed = true;
        if (!proto::for_each_varint(f, [&](uint64_t v) { int32_values.push_back(int64_t(v)); })) {
          return type_error(c, f, where());
        }
        break;
      case 8:  // name
        if (f.type != WireType::kLen) return type_error(c, f, where());
        t->name = f.str();
        break;
      case 9:  // raw_data
        if (f.type != WireType::kLen) return type_error(c, f, where());
        t->raw = f.data;
        t->raw_size = f.size;
        t->has_raw = true;
        break;
      case 13:  // external_data
        if (f.type != WireType::kLen) return type_error(c, f, where());
        TROIKA_RETURN_IF_ERROR(parse_entry(f, c, &t->external_data));
        break;
      case 14:  // data_location: 1 is EXTERNAL
        if (f.type != WireType::kVarint) return type_error(c, f, where());
        t->external = f.scalar == 1;
        break;
      default:
        break;
    }
  }
  if (!r.ok()) return wire_error(c, r, msg.data, where());
  encode_int32_data(int32_values, t->type, &typed);
  if (has_typed) t->typed = std::make_shared<std::vector<uint8_t>>(std::move(typed));
  return Status::Ok();
}

Status parse_node(const Field& msg, const Ctx& c, Node* n) {
  WireReader r(msg);
  Field f;
  while (r.next(&f)) {
    if (f.number == 5) {  // attribute: keep integer ones (K, N, bits, block_size)
      if (f.type != WireType::kLen) return type_error(c, f, "node '" + n->name + "'");
      WireReader a(f);
      Field af;
      std::string name;
      int64_t value = 0;
      bool has_int = false;
      while (a.next(&af)) {
        if (af.number == 1 && af.type == WireType::kLen) name = af.str();
        if (af.number == 3 && af.type == WireType::kVarint) value = af.as_int64(), has_int = true;
      }
      if (!a.ok()) return wire_error(c, a, f.data, "attribute of node '" + n->name + "'");
      if (has_int) n->ints[name] = value;
      continue;
    }
    if (f.number > 7 || f.number == 6) continue;  // doc_string and unknown fields
    if (f.type != WireType::kLen) return type_error(c, f, "node '" + n->name + "'");
    switch (f.number) {
      case 1:
        n->inputs.push_back(f.str());
        break;
      case 3:
        n->name = f.str();
        break;
      case 4:
        n->op_type = f.str();
        break;
      case 7:
        n->domain = f.str();
        break;
      default:
        break;  // outputs are not needed
    }
  }
  if (!r.ok()) return wire_error(c, r, msg.data, "node '" + n->name + "'");
  return Status::Ok();
}

bool parse_u64(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + static_cast<uint64_t>(ch - '0');
  }
  *out = v;
  return true;
}

}  // namespace

Result<Graph> parse_model(const MappedFile& file) {
  const Ctx c{file.path(), file.data()};
  WireReader model(file.data(), file.size());
  Field f;
  Graph g;
  bool has_graph = false;
  while (model.next(&f)) {
    if (f.number != 7) continue;
    if (f.type != WireType::kLen) return type_error(c, f, "ModelProto");
    has_graph = true;
    WireReader r(f);
    Field gf;
    while (r.next(&gf)) {
      if (gf.number != 1 && gf.number != 5) continue;
      if (gf.type != WireType::kLen) return type_error(c, gf, "GraphProto");
      if (gf.number == 1) {
        g.nodes.emplace_back();
        TROIKA_RETURN_IF_ERROR(parse_node(gf, c, &g.nodes.back()));
      } else {
        g.inits.emplace_back();
        TROIKA_RETURN_IF_ERROR(parse_tensor(gf, c, &g.inits.back()));
      }
    }
    if (!r.ok()) return wire_error(c, r, f.data, "GraphProto");
  }
  if (!model.ok()) return wire_error(c, model, file.data(), "ModelProto");
  if (!has_graph) return data_loss(c.path + ": not an ONNX model (no graph)");
  for (size_t i = 0; i < g.inits.size(); ++i) g.by_name[g.inits[i].name] = i;
  return g;
}

Resolver::Resolver(std::string onnx_path, std::vector<std::shared_ptr<MappedFile>>* keep_alive)
    : onnx_path_(std::move(onnx_path)), keep_alive_(keep_alive) {}

Status Resolver::resolve(Initializer* t) {
  if (t->data != nullptr || !t->file.empty()) return Status::Ok();
  const std::string what = onnx_path_ + ": initializer '" + t->name + "'";
  if (t->segmented) return unimplemented(what + " is stored in segments");
  const size_t esize = type_size(t->type);
  if (esize == 0) return unimplemented(what + " has " + type_name(t->type));
  uint64_t numel = 1;
  for (int64_t d : t->dims) {
    if (d < 0 || (d > 0 && numel > (uint64_t{1} << 50) / uint64_t(d))) {
      return data_loss(what + " has an impossible dimension " + std::to_string(d));
    }
    numel *= uint64_t(d);
  }
  const uint64_t expected = numel * esize;
  if (t->external) return resolve_external(t, what, expected);
  const uint8_t* p = t->has_raw ? t->raw : t->typed ? t->typed->data() : nullptr;
  const size_t n = t->has_raw ? t->raw_size : t->typed ? t->typed->size() : 0;
  if (n != expected) {
    return data_loss(what + " holds " + std::to_string(n) + " bytes of data, its dims and " +
                     type_name(t->type) + " need " + std::to_string(expected));
  }
  t->data = p;
  t->n_bytes = n;
  t->file = onnx_path_;
  return Status::Ok();
}

Status Resolver::resolve_external(Initializer* t, const std::string& what, uint64_t expected) {
  const std::string& location = t->external_data["location"];
  // The format makes locations relative to the model's folder; refusing anything that climbs
  // out keeps a crafted model from reading arbitrary files.
  const fs::path rel(location);
  if (location.empty() || rel.is_absolute() ||
      std::any_of(rel.begin(), rel.end(), [](const fs::path& p) { return p == ".."; })) {
    return data_loss(what + " has external data location '" + location +
                     "' (expected a file name next to the model)");
  }
  uint64_t offset = 0, length = expected;
  const auto off = t->external_data.find("offset");
  const auto len = t->external_data.find("length");
  if ((off != t->external_data.end() && !parse_u64(off->second, &offset)) ||
      (len != t->external_data.end() && !parse_u64(len->second, &length))) {
    return data_loss(what + " has a malformed external data offset or length");
  }
  if (length != expected) {
    return data_loss(what + " has external length " + std::to_string(length) + ", its dims and " +
                     type_name(t->type) + " need " + std::to_string(expected));
  }
  const std::string path = (fs::path(onnx_path_).parent_path() / rel).string();
  auto& file = files_[path];
  if (!file) {
    auto opened = MappedFile::open(path);
    if (!opened.ok()) {
      return Status(opened.status().code(), what + ": external data: " + opened.status().message());
    }
    file = *opened;
    keep_alive_->push_back(file);
  }
  if (offset > file->size() || file->size() - offset < expected) {
    return data_loss(what + " needs bytes [" + std::to_string(offset) + ", " +
                     std::to_string(offset + expected) + ") of " + path + ", which has " +
                     std::to_string(file->size()) + " (truncated download?)");
  }
  t->data = file->data() + offset;
  t->n_bytes = static_cast<size_t>(expected);
  t->file = path;
  return Status::Ok();
}

}  // namespace troika::convert::onnx
