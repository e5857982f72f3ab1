#include "convert/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "convert/quantized.h"
#include "convert/safetensors.h"

namespace troika::convert {

namespace fs = std::filesystem;

Result<nlohmann::json> read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return nlohmann::json::parse(ss.str());
  } catch (const std::exception& e) {
    return data_loss(path + ": not valid JSON: " + e.what());
  }
}

namespace {


// The safetensors files of a Hugging Face folder, in shard order.
Result<std::vector<std::string>> weight_files(const std::string& dir,
                                              std::map<std::string, std::string>* index) {
  const std::string index_path = dir + "/model.safetensors.index.json";
  std::vector<std::string> files;
  if (fs::exists(index_path)) {
    TROIKA_ASSIGN_OR_RETURN(nlohmann::json idx, read_json_file(index_path));
    if (!idx.contains("weight_map") || !idx["weight_map"].is_object()) {
      return data_loss(index_path + ": no \"weight_map\" object");
    }
    std::set<std::string> seen;
    for (const auto& [tensor, file] : idx["weight_map"].items()) {
      if (!file.is_string()) return data_loss(index_path + ": weight_map[" + tensor + "] is not a file name");
      const std::string f = file.get<std::string>();
      if (f.find('/') != std::string::npos) return data_loss(index_path + ": file name '" + f + "' has a path in it");
      (*index)[tensor] = f;
      if (seen.insert(f).second) files.push_back(dir + "/" + f);
    }
    std::sort(files.begin(), files.end());
    return files;
  }
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".safetensors") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    for (const char* other : {"pytorch_model.bin", "pytorch_model.bin.index.json", "model.bin"}) {
      if (fs::exists(dir + "/" + other)) {
        return unimplemented(dir + ": weights are in pickled PyTorch files (" + other +
                             "); Troika reads safetensors (re-save with safe_serialization)");
      }
    }
    return not_found(dir + ": no *.safetensors weight files");
  }
  return files;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Which quantisation the folder declares: config.json's quantization_config, or ModelOpt's
// hf_quant_config.json. Returns "" for plain float checkpoints.
Result<QuantConfig> detect_quantization(const std::string& dir, const nlohmann::json& config) {
  QuantConfig q;
  if (config.contains("quantization_config") && config["quantization_config"].is_object()) {
    q.params = config["quantization_config"];
    q.method = lower(q.params.value("quant_method", ""));
    if (q.method.empty() && lower(q.params.value("quant_library", "")) == "modelopt") q.method = "modelopt";
  }
  const std::string hq_path = dir + "/hf_quant_config.json";
  if (fs::exists(hq_path)) {
    TROIKA_ASSIGN_OR_RETURN(nlohmann::json hq, read_json_file(hq_path));
    if (q.method.empty()) {
      q.method = "modelopt";
      q.params = hq.contains("quantization") ? hq["quantization"] : hq;
    }
  }
  if (q.method == "modelopt") {
    q.algo = lower(q.params.value("quant_algo", ""));
    if (q.algo.empty()) return data_loss(dir + ": ModelOpt checkpoint without quant_algo");
  }
  return q;
}

}  // namespace

Result<std::shared_ptr<Checkpoint>> open_hf_folder(const std::string& dir) {
  auto ck = std::make_shared<Checkpoint>();
  ck->dir = dir;
  ck->layout = "hf";
  TROIKA_ASSIGN_OR_RETURN(ck->config, read_json_file(dir + "/config.json"));
  std::map<std::string, std::string> index;
  TROIKA_ASSIGN_OR_RETURN(std::vector<std::string> files, weight_files(dir, &index));

  std::vector<RawTensor> raw;
  std::map<std::string, size_t> raw_by_name;
  for (const std::string& path : files) {
    TROIKA_ASSIGN_OR_RETURN(SafetensorsFile f, open_safetensors(path));
    ck->bytes_on_disk += f.file->size();
    ck->files.push_back(f.file);
    for (RawTensor& t : f.tensors) {
      if (!raw_by_name.emplace(t.name, raw.size()).second) {
        return data_loss(path + ": tensor '" + t.name + "' appears in more than one file");
      }
      raw.push_back(std::move(t));
    }
  }
  for (const auto& [tensor, file] : index) {
    auto it = raw_by_name.find(tensor);
    if (it == raw_by_name.end()) {
      return data_loss(dir + "/model.safetensors.index.json lists '" + tensor + "' in " + file +
                       " but no weight file holds it (incomplete download?)");
    }
    if (fs::path(raw[it->second].file).filename() != file) {
      return data_loss(dir + "/model.safetensors.index.json puts '" + tensor + "' in " + file +
                       " but it is in " + raw[it->second].file);
    }
  }
  TROIKA_ASSIGN_OR_RETURN(QuantConfig quant, detect_quantization(dir, ck->config));
  TROIKA_ASSIGN_OR_RETURN(ck->tensors, decode_tensors(raw, quant));
  ck->quantization = quant.describe();
  TROIKA_RETURN_IF_ERROR(ck->index(dir));
  return ck;
}

namespace {
Result<std::shared_ptr<Checkpoint>> open_any(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return not_found(path + ": no such file or folder");
  if (!fs::is_directory(path, ec)) {
    if (ends_with(path, ".gguf")) return invalid_argument(path + " is already a GGUF file; nothing to convert");
    if (ends_with(path, ".ckpt")) return open_gemma_pytorch(path);
    if (ends_with(path, ".onnx")) return open_onnx(path);
    return invalid_argument(path + ": give the checkpoint's folder (with config.json), a model.ckpt or an .onnx file");
  }
  const std::string dir = fs::path(path).lexically_normal().string();
  if (fs::exists(dir + "/config.json")) {
    // ONNX folders carry a config.json too; their weights are not safetensors.
    bool has_safetensors = false, has_onnx = false;
    for (const auto& e : fs::directory_iterator(dir)) {
      has_safetensors |= e.path().extension() == ".safetensors";
      has_onnx |= e.path().extension() == ".onnx";
    }
    if (has_onnx && !has_safetensors) return open_onnx(dir);
    return open_hf_folder(dir);
  }
  if (fs::exists(dir + "/params.json")) return open_mistral_native(dir);
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".ckpt") return open_gemma_pytorch(e.path().string());
    if (e.path().extension() == ".onnx") return open_onnx(dir);
  }
  return not_found(dir + ": no config.json (Hugging Face), params.json (Mistral native), "
                   "model.ckpt (gemma_pytorch) or .onnx file; not a checkpoint folder");
}

}  // namespace

Result<std::shared_ptr<Checkpoint>> open_checkpoint(const std::string& path) {
  try {
    return open_any(path);
  } catch (const nlohmann::json::exception& e) {
    return data_loss(path + ": a JSON file holds a value of an unexpected type: " + e.what());
  }
}

}  // namespace troika::convert
