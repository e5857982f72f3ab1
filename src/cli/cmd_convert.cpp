// troika convert: a published checkpoint -> GGUF. troika logits: raw logits for fidelity checks.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli.h"
#include "cli/options.h"
#include "troika/convert.h"

namespace troika::cli {

namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Result<std::vector<engine::Token>> parse_ids(const std::string& text) {
  std::vector<engine::Token> ids;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      const long v = std::stol(item, &used);
      if (used != item.size() || v < 0) throw std::invalid_argument(item);
      ids.push_back(static_cast<engine::Token>(v));
    } catch (const std::exception&) {
      return invalid_argument("--ids: '" + item + "' is not a token id (give e.g. 1,2,3)");
    }
  }
  if (ids.empty()) return invalid_argument("--ids is empty");
  return ids;
}

void add_convert(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "convert",
      "Convert a checkpoint (Hugging Face folder in BF16/F16/F32, FP8, NVFP4, AWQ, bitsandbytes "
      "4-bit; Mistral native; gemma_pytorch model.ckpt; ONNX int4) to one GGUF file");
  struct Flags {
    std::string src, out, type = "auto", name;
    int n_threads = 0;
    bool list = false, quiet = false, json = false;
  };
  auto f = std::make_shared<Flags>();
  cmd->add_option("SRC", f->src, "checkpoint folder (or model.ckpt / .onnx file)")->required();
  cmd->add_option("-o,--output", f->out, "output .gguf path (written atomically)");
  std::string types;
  for (const auto& t : convert::output_types()) types += (types.empty() ? "" : "|") + t;
  cmd->add_option("--type", f->type, "output type: " + types);
  cmd->add_option("--name", f->name, "general.name (default: the folder's name)");
  cmd->add_option("-t,--threads", f->n_threads, "threads (0 = all)");
  cmd->add_flag("--list", f->list, "list the checkpoint's tensors as the converter reads them, and stop");
  cmd->add_flag("-q,--quiet", f->quiet, "no progress bar");
  cmd->add_flag("--json", f->json, "print the report as JSON");
  cmd->callback([f, exit_code] {
    if (f->list) {
      auto tensors = convert::list_tensors(f->src);
      if (!tensors.ok()) {
        *exit_code = report(tensors.status());
        return;
      }
      for (const auto& t : *tensors) {
        std::printf("%-60s %-18s %-24s %s\n", t.name.c_str(), shape_str(t.shape).c_str(), t.format.c_str(), t.file.c_str());
      }
      return;
    }
    if (f->out.empty()) {
      *exit_code = report(invalid_argument("convert needs -o OUT.gguf"));
      return;
    }
    convert::ConvertOptions o;
    o.type = f->type;
    o.name = f->name;
    o.n_threads = f->n_threads;
    o.progress = !f->quiet;
    auto r = convert::convert(f->src, f->out, o);
    if (!r.ok()) {
      *exit_code = report(r.status());
      return;
    }
    if (f->json) {
      nlohmann::json j = {{"output", f->out}, {"architecture", r->architecture}, {"source", r->source},
                          {"tokenizer", r->tokenizer}, {"type", r->out_type}, {"tensors", r->n_tensors},
                          {"bytes_in", r->bytes_in}, {"bytes_out", r->bytes_out}, {"seconds", r->seconds},
                          {"notes", r->notes}};
      std::printf("%s\n", j.dump().c_str());
      return;
    }
    std::printf("%s: %s (%s, %s) -> %s, %lld tensors, %.2f GB in %.1f s\n", f->out.c_str(), r->architecture.c_str(),
                r->source.c_str(), r->tokenizer.c_str(), r->out_type.c_str(), static_cast<long long>(r->n_tensors),
                static_cast<double>(r->bytes_out) / 1e9, r->seconds);
    for (const auto& n : r->notes) std::printf("note: %s\n", n.c_str());
  });
}

void add_logits(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "logits",
      "Run the model on token ids and write every position's logits as raw float32, row-major "
      "[n_tokens, n_vocab] (f32 KV cache, flash attention off: comparable with a reference)");
  struct Flags {
    ModelFlags model;
    std::string ids, out;
    int n_threads = 0;
  };
  auto f = std::make_shared<Flags>();
  f->model.add_to(cmd);
  cmd->add_option("--ids", f->ids, "comma-separated token ids, e.g. 1,2,3")->required();
  cmd->add_option("-o,--output", f->out, "output file (.f32)")->required();
  cmd->add_option("-t,--threads", f->n_threads, "CPU threads (0 = all)");
  cmd->callback([f, exit_code] {
    auto ids = parse_ids(f->ids);
    if (!ids.ok()) {
      *exit_code = report(ids.status());
      return;
    }
    auto model = engine::Model::load(f->model.path, f->model.options());
    if (!model.ok()) {
      *exit_code = report(model.status());
      return;
    }
    for (engine::Token t : *ids) {
      if (!(*model)->is_valid(t)) {
        *exit_code = report(invalid_argument("--ids: token " + std::to_string(t) + " is outside the vocabulary of " +
                                             std::to_string((*model)->info().n_vocab)));
        return;
      }
    }
    engine::ContextOptions co;
    co.n_ctx = static_cast<int32_t>(ids->size());
    co.n_batch = co.n_ubatch = static_cast<int32_t>(ids->size());
    co.f32_kv = true;
    co.flash_attn = engine::FlashAttn::kOff;
    co.n_threads = f->n_threads;
    auto ctx = engine::Context::create(*model, co);
    if (!ctx.ok()) {
      *exit_code = report(ctx.status());
      return;
    }
    engine::Batch batch;
    for (size_t i = 0; i < ids->size(); ++i) batch.add((*ids)[i], static_cast<engine::Pos>(i), 0, true);
    if (Status st = (*ctx)->decode(batch); !st.ok()) {
      *exit_code = report(st);
      return;
    }
    const std::string tmp = f->out + ".partial";
    FILE* out = std::fopen(tmp.c_str(), "wb");
    if (!out) {
      *exit_code = report(invalid_argument("cannot write " + tmp));
      return;
    }
    bool ok = true;
    for (int32_t i = 0; i < batch.size(); ++i) {
      auto row = (*ctx)->logits(i);
      ok &= std::fwrite(row.data(), sizeof(float), row.size(), out) == row.size();
    }
    ok &= std::fclose(out) == 0;
    if (!ok || std::rename(tmp.c_str(), f->out.c_str()) != 0) {
      std::remove(tmp.c_str());
      *exit_code = report(resource_exhausted("could not write " + f->out));
      return;
    }
    std::fprintf(stderr, "logits: %d x %d floats -> %s\n", batch.size(), (*model)->info().n_vocab, f->out.c_str());
  });
}

}  // namespace

void add_convert_commands(CLI::App& app, int* exit_code) {
  add_convert(app, exit_code);
  add_logits(app, exit_code);
}

}  // namespace troika::cli
