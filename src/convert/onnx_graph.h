// Private to onnx.cpp: the parts of an ONNX model the weight reader needs (nodes with their
// inputs and integer attributes, initializers with where their bytes are), parsed straight from
// the protobuf wire format, and the lookup of initializer bytes inline or in external files.
//
// Thread safety: parse_model is a pure function; a Resolver is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "convert/tensor.h"

namespace troika::convert::onnx {

// TensorProto.DataType values whose width this reader knows.
enum : int32_t {
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kInt32 = 6,
  kInt64 = 7,
  kFloat16 = 10,
  kDouble = 11,
  kBFloat16 = 16,
};

std::string type_name(int32_t t);  // "FLOAT16", or "type 8" for ones not listed above
size_t type_size(int32_t t);       // bytes per element; 0 when unknown
// The DType of a floating-point TensorProto type; false for integer and unknown types.
bool float_dtype(int32_t t, DType* out);
// Element i of a little-endian F32/F16/BF16/F64 array; `p` need not be aligned.
float load_float(DType t, const uint8_t* p, int64_t i);

struct Initializer {
  std::string name;
  int32_t type = 0;  // TensorProto.DataType
  std::vector<int64_t> dims;
  bool external = false;                             // data_location == EXTERNAL
  bool segmented = false;                            // has a Segment (not supported)
  std::map<std::string, std::string> external_data;  // "location", "offset", "length", ...
  const uint8_t* raw = nullptr;                      // raw_data, inside the .onnx mapping
  size_t raw_size = 0;
  bool has_raw = false;
  // float_data / int32_data / double_data re-encoded as the little-endian bytes of `type`.
  std::shared_ptr<std::vector<uint8_t>> typed;
  // Set by Resolver::resolve: the tensor's bytes and the file they are in.
  const uint8_t* data = nullptr;
  size_t n_bytes = 0;
  std::string file;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
};

struct Node {
  std::string name, op_type, domain;
  std::vector<std::string> inputs;      // "" marks an omitted optional input
  std::map<std::string, int64_t> ints;  // integer attributes (K, N, bits, block_size, ...)
};

struct Graph {
  std::vector<Node> nodes;  // in file order (topological)
  std::vector<Initializer> inits;
  std::map<std::string, size_t> by_name;  // initializer name -> index in inits
};

// Parses the main graph of a ModelProto held in `file` (subgraphs of If/Loop are not entered).
// Initializers point into `file`, which must outlive the Graph. Errors: data_loss naming the file,
// the byte offset and the node or initializer being read when the protobuf is malformed or
// truncated, or when there is no graph.
Result<Graph> parse_model(const MappedFile& file);

// Finds initializers' bytes, opening external data files (relative to the model's folder) once
// each and appending them to `keep_alive`.
class Resolver {
 public:
  Resolver(std::string onnx_path, std::vector<std::shared_ptr<MappedFile>>* keep_alive);

  // Sets t->data, n_bytes and file. Errors: data_loss when the bytes do not match dims and type
  // or an external range falls outside its file (naming the file and the initializer);
  // not_found when the external file is missing; unimplemented for segmented tensors and
  // types of unknown width.
  Status resolve(Initializer* t);

 private:
  Status resolve_external(Initializer* t, const std::string& what, uint64_t expected);

  std::string onnx_path_;
  std::vector<std::shared_ptr<MappedFile>>* keep_alive_;
  std::map<std::string, std::shared_ptr<MappedFile>> files_;  // by path
};

}  // namespace troika::convert::onnx
