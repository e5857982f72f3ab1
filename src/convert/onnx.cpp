// ONNX checkpoints from onnxruntime-genai's builder: MatMulNBits dequantisation and the mapping
// from builder node names to Hugging Face tensor names. Parsing lives in onnx_graph.cpp.
#include "convert/onnx.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <string_view>
#include <system_error>
#include <utility>

#include "convert/onnx_graph.h"

namespace troika::convert {
namespace {

namespace fs = std::filesystem;
using onnx::float_dtype;
using onnx::Graph;
using onnx::Initializer;
using onnx::load_float;
using onnx::Node;
using onnx::Resolver;
using onnx::type_name;

// A weight found in the graph, in Hugging Face orientation.
struct Part {
  std::vector<int64_t> shape;
  std::string format, file, source;
  std::function<Status(float*)> read;
};

// Which module a node or initializer name speaks of: "/model/layers.3/attn/qkv_proj/MatMul_Q4"
// and "model.layers.3.attn.qkv_proj.MatMul.weight_Q4" both give {3, "qkv_proj"}.
struct Role {
  int layer = -1;
  std::string module;
};

constexpr std::string_view kModules[] = {
    "embed_tokens",
    "input_layernorm",
    "post_attention_layernorm",
    "final_norm_layernorm",
    "q_proj",
    "k_proj",
    "v_proj",
    "qkv_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "gate_up_proj",
    "down_proj",
    "lm_head",
};

Role role_of(std::string_view text) {
  std::vector<std::string_view> tokens;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '/' || text[i] == '.') {
      if (i > start) tokens.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  Role role;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string_view t = tokens[i];
    if (t == "layers" && i + 1 < tokens.size() && !tokens[i + 1].empty() &&
        tokens[i + 1].size() <= 6 &&
        std::all_of(tokens[i + 1].begin(), tokens[i + 1].end(),
                    [](char ch) { return ch >= '0' && ch <= '9'; })) {
      role.layer = std::stoi(std::string(tokens[i + 1]));
    }
    if (role.module.empty() &&
        std::find(std::begin(kModules), std::end(kModules), t) != std::end(kModules)) {
      role.module = std::string(t);
    }
  }
  return role;
}

Part float_part(const Initializer& t, std::vector<int64_t> shape, const std::string& source) {
  DType dt = DType::kF32;
  float_dtype(t.type, &dt);
  const uint8_t* p = t.data;
  const int64_t n = t.numel();
  Part part{std::move(shape), "ONNX " + type_name(t.type), t.file, source, nullptr};
  part.read = [p, n, dt, keep = t.typed](float* out) {
    for (int64_t i = 0; i < n; ++i) out[i] = load_float(dt, p, i);
    return Status::Ok();
  };
  return part;
}

// A float MatMul weight is B in y = x B, so [in, out]; nn.Linear wants [out, in].
Part matmul_part(const Initializer& t, const std::string& source) {
  DType dt = DType::kF32;
  float_dtype(t.type, &dt);
  const uint8_t* p = t.data;
  const int64_t k = t.dims[0], n = t.dims[1];
  Part part{{n, k}, "ONNX " + type_name(t.type) + " [in,out]", t.file, source, nullptr};
  part.read = [p, n, k, dt, keep = t.typed](float* out) {
    for (int64_t i = 0; i < k; ++i) {
      for (int64_t j = 0; j < n; ++j) out[j * k + i] = load_float(dt, p, i * n + j);
    }
    return Status::Ok();
  };
  return part;
}

// Checks a MatMulNBits weight's attributes and buffer sizes before anything is read.
Status check_matmul_nbits(const MatMulNBits& w) {
  if (w.bits != 4 && w.bits != 8) {
    return unimplemented("MatMulNBits with bits=" + std::to_string(w.bits) +
                         " (only 4 and 8 are supported)");
  }
  if (w.scales_dtype != DType::kF32 && w.scales_dtype != DType::kF16 &&
      w.scales_dtype != DType::kBF16) {
    return unimplemented("MatMulNBits scales of type " + std::string(dtype_name(w.scales_dtype)));
  }
  const std::string dims = "MatMulNBits N=" + std::to_string(w.n) + " K=" + std::to_string(w.k) +
                           " bits=" + std::to_string(w.bits) +
                           " block_size=" + std::to_string(w.block_size);
  // The limits keep the size products below 2^63 whatever a corrupt file says.
  constexpr int64_t kMaxDim = int64_t{1} << 31;
  if (w.n <= 0 || w.k <= 0 || w.n >= kMaxDim || w.k >= kMaxDim || w.block_size <= 0 ||
      w.block_size > 65536 || (w.block_size * w.bits) % 8 != 0) {
    return data_loss(dims + ": impossible attributes");
  }
  const int64_t n_blocks = w.k_blocks();
  const size_t want_b = size_t(w.n * n_blocks * (w.block_size * w.bits / 8));
  const size_t want_scales = size_t(w.n * n_blocks) * dtype_size(w.scales_dtype);
  const size_t want_zp = size_t(w.n * ((n_blocks * w.bits + 7) / 8));
  if (w.b_bytes != want_b || w.scales_bytes != want_scales ||
      (w.zero_points != nullptr && w.zero_points_bytes != want_zp)) {
    return data_loss(dims + " needs " + std::to_string(want_b) + " weight, " +
                     std::to_string(want_scales) + " scale and " + std::to_string(want_zp) +
                     " zero-point bytes; got " + std::to_string(w.b_bytes) + ", " +
                     std::to_string(w.scales_bytes) + ", " + std::to_string(w.zero_points_bytes));
  }
  return Status::Ok();
}

}  // namespace

Status dequant_matmul_nbits(const MatMulNBits& w, float* out) {
  TROIKA_RETURN_IF_ERROR(check_matmul_nbits(w));
  const int64_t n_blocks = w.k_blocks();
  const int64_t blob = w.block_size * w.bits / 8;      // bytes per block
  const int64_t zp_row = (n_blocks * w.bits + 7) / 8;  // zero-point bytes per row
  const uint32_t mask = (1u << w.bits) - 1;
  for (int64_t row = 0; row < w.n; ++row) {
    float* dst = out + row * w.k;
    for (int64_t blk = 0; blk < n_blocks; ++blk) {
      const float scale = load_float(w.scales_dtype, w.scales, row * n_blocks + blk);
      int zp = 1 << (w.bits - 1);
      if (w.zero_points != nullptr) {
        const int64_t bit = blk * w.bits;
        zp = (w.zero_points[row * zp_row + bit / 8] >> (bit % 8)) & mask;
      }
      const uint8_t* q = w.b + (row * n_blocks + blk) * blob;
      const int64_t k0 = blk * w.block_size;
      const int64_t n_in_block = std::min(w.block_size, w.k - k0);  // the last block is padded
      for (int64_t j = 0; j < n_in_block; ++j) {
        const int v = w.bits == 8 ? q[j] : (q[j / 2] >> ((j & 1) * 4)) & 0xF;
        dst[k0 + j] = static_cast<float>(v - zp) * scale;
      }
    }
  }
  return Status::Ok();
}

namespace {

// Builds the Part for a MatMulNBits node from its resolved inputs.
Result<Part> nbits_part(const std::string& path, const Node& node, const Initializer& b,
                        const Initializer& scales, const Initializer* zp) {
  const std::string what = path + ": node '" + node.name + "' (MatMulNBits)";
  for (const char* key : {"K", "N", "block_size"}) {
    if (!node.ints.count(key)) return data_loss(what + " has no attribute " + key);
  }
  MatMulNBits w;
  w.k = node.ints.at("K");
  w.n = node.ints.at("N");
  w.block_size = node.ints.at("block_size");
  w.bits = node.ints.count("bits") ? node.ints.at("bits") : 4;
  if (b.type != onnx::kUint8 || b.dims.empty() || b.dims[0] != w.n) {
    return data_loss(what + ": weight '" + b.name + "' is not UINT8 [N=" + std::to_string(w.n) +
                     ", k_blocks, blob]");
  }
  if (!float_dtype(scales.type, &w.scales_dtype) || w.scales_dtype == DType::kF64) {
    return unimplemented(what + ": scales '" + scales.name + "' of " + type_name(scales.type));
  }
  if (zp != nullptr && zp->type != onnx::kUint8) {
    // Zero points of the scales' type are unpacked floats whose exact use by the kernel is not
    // confirmed here; refuse rather than guess.
    return unimplemented(what + ": zero points '" + zp->name + "' of " + type_name(zp->type) +
                         " (only packed UINT8 zero points are supported)");
  }
  w.b = b.data;
  w.b_bytes = b.n_bytes;
  w.scales = scales.data;
  w.scales_bytes = scales.n_bytes;
  if (zp != nullptr) {
    w.zero_points = zp->data;
    w.zero_points_bytes = zp->n_bytes;
  }
  // Check sizes now, so a corrupt file fails while reading the graph, not during conversion.
  if (const Status s = check_matmul_nbits(w); !s.ok()) {
    return Status(s.code(), what + " with inputs '" + b.name + "', '" + scales.name + "'" +
                                (zp ? ", '" + zp->name + "'" : std::string()) + ": " + s.message());
  }
  std::string format = "ONNX MatMulNBits int" + std::to_string(w.bits) + " b" +
                       std::to_string(w.block_size) + (zp ? " zp" : "");
  Part part{{w.n, w.k}, std::move(format), b.file, node.name, nullptr};
  // Inline int32_data copies live in the initializers; the reader must keep them.
  part.read = [w, keep = std::vector{b.typed, scales.typed, zp ? zp->typed : nullptr}](float* out) {
    return dequant_matmul_nbits(w, out);
  };
  return part;
}

bool is_norm_op(const std::string& op) {
  return op == "SimplifiedLayerNormalization" || op == "SkipSimplifiedLayerNormalization" ||
         op == "LayerNormalization" || op == "SkipLayerNormalization" || op == "RMSNormalization";
}

bool is_norm_module(const std::string& m) { return m.find("layernorm") != std::string::npos; }

bool is_global_module(const std::string& m) {
  return m == "embed_tokens" || m == "final_norm_layernorm" || m == "lm_head";
}

// Walks the graph's nodes, turning each weight-bearing one into a Part under its module, then
// assembles the Hugging Face tensors.
class Walker {
 public:
  Walker(std::string path, Graph* g, Resolver* resolver)
      : path_(std::move(path)), g_(g), resolver_(resolver) {}

  Status visit(const Node& n) {
    const std::string& op = n.op_type;
    const bool nbits = op == "MatMulNBits", matmul = op == "MatMul", norm = is_norm_op(op);
    const bool gather = op == "Gather" || op == "GatherBlockQuantized";
    if (!nbits && !matmul && !norm && !gather) return Status::Ok();
    // Which input holds the weight: the table for Gather, B for MatMul(NBits), the scale
    // (gamma) for norms, which comes after the skip input in the Skip* variants.
    const size_t wi = gather ? 0 : (norm && op.rfind("Skip", 0) == 0) ? 2 : 1;
    const std::string wname = wi < n.inputs.size() ? n.inputs[wi] : "";
    Initializer* w = find(wname);
    Role role = role_of(n.name);
    if (role.module.empty()) role = role_of(wname);
    const std::string what = path_ + ": node '" + n.name + "' (" + op + ")";
    if (gather) {
      if (role.module != "embed_tokens") return Status::Ok();  // index lookups, not weights
      if (op != "Gather" || w == nullptr) {
        return unimplemented(what +
                             ": the embedding table is computed or quantized (tied or "
                             "quantized embeddings are not supported)");
      }
    } else if (w == nullptr) {
      if (matmul) return Status::Ok();  // activations times activations (attention)
      return unimplemented(what + ": weight input '" + wname + "' is not an initializer");
    }
    // The op must fit the module: norms carry *_layernorm, only Gather carries the table.
    if (role.module.empty() || norm != is_norm_module(role.module) ||
        (!gather && role.module == "embed_tokens")) {
      return unimplemented(what + " holds initializer '" + wname +
                           "' but its names do not say which Phi-3 weight it is");
    }
    TROIKA_RETURN_IF_ERROR(resolver_->resolve(w));
    if (nbits) return visit_nbits(n, *w, role, what);
    DType dt;
    if (!float_dtype(w->type, &dt)) {
      return unimplemented(what + ": initializer '" + wname + "' is " + type_name(w->type));
    }
    const size_t want_rank = norm ? 1 : 2;
    if (w->dims.size() != want_rank) {
      return data_loss(what + ": initializer '" + wname + "' has rank " +
                       std::to_string(w->dims.size()) + ", expected " + std::to_string(want_rank));
    }
    if (norm && op.find("Simplified") == std::string::npos && op != "RMSNormalization" &&
        wi + 1 < n.inputs.size() && !n.inputs[wi + 1].empty()) {
      return unimplemented(what + ": a LayerNormalization bias (not a Phi-3 graph)");
    }
    return place(role, matmul ? matmul_part(*w, n.name) : float_part(*w, w->dims, n.name), n);
  }

  Result<std::vector<SourceTensor>> assemble() {
    std::vector<SourceTensor> out;
    const auto emit = [&](std::string name, Part p) {
      out.push_back(SourceTensor{std::move(name), std::move(p.shape), std::move(p.format),
                                 std::move(p.file), std::move(p.read)});
    };
    TROIKA_ASSIGN_OR_RETURN(Part embed, take(globals_, "embed_tokens", "the model"));
    const int64_t hidden = embed.shape[1];
    emit("model.embed_tokens.weight", std::move(embed));
    const int n_layers = layers_.empty() ? 0 : layers_.rbegin()->first + 1;
    for (int i = 0; i < n_layers; ++i) {
      const std::string layer = "layer " + std::to_string(i);
      auto& m = layers_[i];
      TROIKA_ASSIGN_OR_RETURN(Part in_norm, take(m, "input_layernorm", layer));
      TROIKA_ASSIGN_OR_RETURN(Part qkv, fuse(m, "qkv_proj", {"q_proj", "k_proj", "v_proj"}, layer));
      TROIKA_ASSIGN_OR_RETURN(Part o, take(m, "o_proj", layer));
      TROIKA_ASSIGN_OR_RETURN(Part post_norm, take(m, "post_attention_layernorm", layer));
      TROIKA_ASSIGN_OR_RETURN(Part gate_up,
                              fuse(m, "gate_up_proj", {"gate_proj", "up_proj"}, layer));
      TROIKA_ASSIGN_OR_RETURN(Part down, take(m, "down_proj", layer));
      // Shapes must agree with the embedding's width, or the file mixes models.
      const bool fits = in_norm.shape[0] == hidden && post_norm.shape[0] == hidden &&
                        qkv.shape[1] == hidden && o.shape[0] == hidden &&
                        gate_up.shape[1] == hidden && gate_up.shape[0] % 2 == 0 &&
                        down.shape[0] == hidden && down.shape[1] == gate_up.shape[0] / 2;
      if (!fits) {
        return data_loss(path_ + ": " + layer + "'s weight shapes do not fit hidden size " +
                         std::to_string(hidden) + " (qkv " + shape_str(qkv.shape) + ", o " +
                         shape_str(o.shape) + ", gate_up " + shape_str(gate_up.shape) + ", down " +
                         shape_str(down.shape) + ")");
      }
      const std::string prefix = "model.layers." + std::to_string(i) + ".";
      emit(prefix + "input_layernorm.weight", std::move(in_norm));
      emit(prefix + "self_attn.qkv_proj.weight", std::move(qkv));
      emit(prefix + "self_attn.o_proj.weight", std::move(o));
      emit(prefix + "post_attention_layernorm.weight", std::move(post_norm));
      emit(prefix + "mlp.gate_up_proj.weight", std::move(gate_up));
      emit(prefix + "mlp.down_proj.weight", std::move(down));
    }
    TROIKA_ASSIGN_OR_RETURN(Part norm, take(globals_, "final_norm_layernorm", "the model"));
    emit("model.norm.weight", std::move(norm));
    if (globals_.count("lm_head")) emit("lm_head.weight", std::move(globals_["lm_head"]));
    return out;
  }

 private:
  Initializer* find(const std::string& name) {
    const auto it = g_->by_name.find(name);
    return name.empty() || it == g_->by_name.end() ? nullptr : &g_->inits[it->second];
  }

  Status visit_nbits(const Node& n, const Initializer& b, const Role& role,
                     const std::string& what) {
    for (size_t i = 4; i < n.inputs.size(); ++i) {
      if (!n.inputs[i].empty()) {
        return unimplemented(what + ": input " + std::to_string(i) + " ('" + n.inputs[i] +
                             "', g_idx or bias) is not supported");
      }
    }
    Initializer* scales = find(n.inputs.size() > 2 ? n.inputs[2] : "");
    Initializer* zp = find(n.inputs.size() > 3 ? n.inputs[3] : "");
    if (scales == nullptr) return data_loss(what + ": scales input is not an initializer");
    if (n.inputs.size() > 3 && !n.inputs[3].empty() && zp == nullptr) {
      return data_loss(what + ": zero-point input '" + n.inputs[3] + "' is not an initializer");
    }
    TROIKA_RETURN_IF_ERROR(resolver_->resolve(scales));
    if (zp != nullptr) TROIKA_RETURN_IF_ERROR(resolver_->resolve(zp));
    TROIKA_ASSIGN_OR_RETURN(Part part, nbits_part(path_, n, b, *scales, zp));
    return place(role, std::move(part), n);
  }

  Status place(const Role& role, Part part, const Node& n) {
    const bool global = is_global_module(role.module);
    if (!global && role.layer < 0) {
      return unimplemented(path_ + ": node '" + n.name + "' (" + role.module +
                           ") names no layer index");
    }
    auto& slot = global ? globals_ : layers_[role.layer];
    const auto [it, inserted] = slot.emplace(role.module, std::move(part));
    if (!inserted) {
      return data_loss(path_ + ": nodes '" + it->second.source + "' and '" + n.name +
                       "' both hold " + role.module +
                       (global ? "" : " of layer " + std::to_string(role.layer)));
    }
    return Status::Ok();
  }

  Result<Part> take(std::map<std::string, Part>& m, const std::string& module,
                    const std::string& where) {
    const auto it = m.find(module);
    if (it == m.end()) {
      return data_loss(path_ + ": " + where + " has no " + module +
                       " weight (no node or initializer named after it)");
    }
    return std::move(it->second);
  }

  // The fused weight, or its pieces stacked row-wise in the order given (q|k|v, gate|up).
  Result<Part> fuse(std::map<std::string, Part>& m, const std::string& whole,
                    const std::vector<std::string>& pieces, const std::string& where) {
    const size_t n_found = std::count_if(pieces.begin(), pieces.end(),
                                         [&](const std::string& p) { return m.count(p) > 0; });
    if (m.count(whole) && n_found == 0) return std::move(m[whole]);
    if (m.count(whole) || n_found != pieces.size()) {
      std::string list;
      for (const auto& p : pieces) list += " " + p;
      return data_loss(path_ + ": " + where + " needs either " + whole + " or all of" + list +
                       (m.count(whole) ? " but has both forms" : " but some are missing"));
    }
    std::vector<Part> parts;
    Part out{{0, m[pieces[0]].shape[1]}, m[pieces[0]].format, m[pieces[0]].file, "", nullptr};
    for (const auto& name : pieces) {
      Part& p = m[name];
      if (p.shape[1] != out.shape[1]) {
        return data_loss(path_ + ": " + where + "'s " + name + " has " +
                         std::to_string(p.shape[1]) + " inputs, " + pieces[0] + " has " +
                         std::to_string(out.shape[1]));
      }
      if (p.format != out.format) out.format += " + " + p.format;
      out.shape[0] += p.shape[0];
      out.source += (out.source.empty() ? "" : ", ") + p.source;
      parts.push_back(std::move(p));
    }
    out.read = [parts = std::move(parts), k = out.shape[1]](float* dst) {
      for (const Part& p : parts) {
        TROIKA_RETURN_IF_ERROR(p.read(dst));
        dst += p.shape[0] * k;
      }
      return Status::Ok();
    };
    return out;
  }

  std::string path_;
  Graph* g_;
  Resolver* resolver_;
  std::map<int, std::map<std::string, Part>> layers_;
  std::map<std::string, Part> globals_;
};

}  // namespace

Result<std::vector<SourceTensor>> read_onnx_checkpoint(
    const std::string& onnx_path, std::vector<std::shared_ptr<MappedFile>>* keep_alive) {
  TROIKA_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::open(onnx_path));
  TROIKA_ASSIGN_OR_RETURN(Graph graph, onnx::parse_model(*file));
  std::vector<std::shared_ptr<MappedFile>> files{file};
  Resolver resolver(onnx_path, &files);
  Walker walker(onnx_path, &graph, &resolver);
  for (const Node& n : graph.nodes) TROIKA_RETURN_IF_ERROR(walker.visit(n));
  TROIKA_ASSIGN_OR_RETURN(std::vector<SourceTensor> tensors, walker.assemble());
  keep_alive->insert(keep_alive->end(), files.begin(), files.end());
  return tensors;
}

Result<std::string> find_onnx_model(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return not_found(dir + ": no such folder");
  if (!fs::is_directory(dir, ec)) return invalid_argument(dir + ": not a folder");
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".onnx" && entry.is_regular_file(ec)) {
      found.push_back(entry.path().string());
    }
  }
  if (ec) return invalid_argument(dir + ": cannot list: " + ec.message());
  std::sort(found.begin(), found.end());
  if (found.empty()) return not_found(dir + ": no *.onnx file");
  if (found.size() > 1) {
    std::string list;
    for (const auto& f : found) list += " " + f;
    return invalid_argument(dir + ": several .onnx files, pass the one you mean:" + list);
  }
  return found[0];
}

}  // namespace troika::convert
