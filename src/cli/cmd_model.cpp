// troika info, troika tokenize
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/options.h"

namespace troika::cli {

namespace {

nlohmann::json info_json(const engine::ModelInfo& i) {
  nlohmann::json j = {
      {"path", i.path},
      {"architecture", i.architecture},
      {"name", i.name},
      {"description", i.description},
      {"file_type", i.file_type},
      {"n_params", i.n_params},
      {"size_bytes", i.size_bytes},
      {"n_ctx_train", i.n_ctx_train},
      {"n_embd", i.n_embd},
      {"n_layer", i.n_layer},
      {"n_head", i.n_head},
      {"n_head_kv", i.n_head_kv},
      {"n_swa", i.n_swa},
      {"n_vocab", i.n_vocab},
      {"vocab_type", i.vocab_type},
      {"special",
       {{"bos", i.special.bos},
        {"eos", i.special.eos},
        {"eot", i.special.eot},
        {"pad", i.special.pad},
        {"add_bos", i.special.add_bos},
        {"add_eos", i.special.add_eos},
        {"eog", i.special.eog}}},
      {"chat_template", i.chat_template},
  };
  return j;
}

void print_info_text(const engine::ModelInfo& i) {
  std::printf("model        %s\n", i.path.c_str());
  std::printf("name         %s\n", i.name.c_str());
  std::printf("architecture %s (%s)\n", i.architecture.c_str(), i.description.c_str());
  std::printf("file type    %s\n", i.file_type.c_str());
  std::printf("parameters   %llu (%.2f GiB of weights)\n",
              static_cast<unsigned long long>(i.n_params), i.size_bytes / 1073741824.0);
  std::printf("shape        n_embd %d, n_layer %d, n_head %d, n_head_kv %d\n", i.n_embd, i.n_layer,
              i.n_head, i.n_head_kv);
  std::printf("context      %d tokens (training)%s\n", i.n_ctx_train,
              i.n_swa > 0 ? (", sliding window " + std::to_string(i.n_swa)).c_str() : "");
  std::printf("vocabulary   %d tokens (%s), bos %d, eos %d, eot %d, add_bos %s\n", i.n_vocab,
              i.vocab_type.c_str(), i.special.bos, i.special.eos, i.special.eot,
              i.special.add_bos ? "yes" : "no");
  std::printf("chat         %s\n", i.chat_template.empty() ? "(no template)" : "template present");
}

}  // namespace

void add_model_commands(CLI::App& app, int* exit_code) {
  {
    auto* cmd = app.add_subcommand("info",
                                   "Print what a GGUF model is: architecture, shape, "
                                   "vocabulary, special tokens, chat template");
    auto flags = std::make_shared<ModelFlags>();
    auto as_json = std::make_shared<bool>(false);
    flags->add_to(cmd);
    cmd->add_flag("--json", *as_json, "print one JSON object");
    cmd->callback([=] {
      // A full load (mapped, so cheap): without weights llama.cpp reports no shape.
      auto model = engine::Model::load(flags->path, flags->options(false));
      if (!model.ok()) {
        *exit_code = report(model.status());
        return;
      }
      const engine::ModelInfo& info = (*model)->info();
      if (*as_json) {
        std::printf("%s\n", info_json(info).dump(2).c_str());
      } else {
        print_info_text(info);
      }
    });
  }
  {
    auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text");
    auto flags = std::make_shared<ModelFlags>();
    auto text = std::make_shared<std::string>();
    auto special = std::make_shared<bool>(false);
    auto no_add = std::make_shared<bool>(false);
    auto pieces = std::make_shared<bool>(false);
    flags->add_to(cmd);
    cmd->add_option("text", *text, "text to tokenize")->required();
    cmd->add_flag("--special", *special, "parse special-token text such as <|eot_id|> into its id");
    cmd->add_flag("--no-bos", *no_add, "do not add BOS/EOS even where the vocabulary would");
    cmd->add_flag("--pieces", *pieces, "print id and piece per line");
    cmd->callback([=] {
      auto model = engine::Model::load(flags->path, flags->options(true));
      if (!model.ok()) {
        *exit_code = report(model.status());
        return;
      }
      auto ids = (*model)->tokenize(*text, !*no_add, *special);
      if (!ids.ok()) {
        *exit_code = report(ids.status());
        return;
      }
      if (*pieces) {
        for (auto id : *ids) {
          std::printf("%d\t%s\n", id,
                      nlohmann::json((*model)->token_to_piece(id, true))
                          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                          .c_str());
        }
        return;
      }
      std::printf("%s\n", nlohmann::json(*ids).dump().c_str());
    });
  }
}

}  // namespace troika::cli
