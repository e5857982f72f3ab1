// The troika binary as a user runs it: output shapes and one exit code per error category.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_run.h"
#include "test_models.h"

namespace troika {
namespace {

using testing::CliRun;
using testing::slurp;
using testing::troika;

TEST(Cli, HelpForEveryCommand) {
  for (std::string c :
       {"", "info", "tokenize", "generate", "chat", "mkmodel", "score", "json", "validate",
        "repair", "constrain-bench", "convert", "logits", "catalog", "models", "plan", "up"}) {
    CliRun r = troika(c + " --help");
    EXPECT_EQ(r.exit_code, 0) << c;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << c << r.out;
  }
  EXPECT_EQ(troika("").exit_code, 1);  // a subcommand is required
  EXPECT_EQ(troika("frobnicate").exit_code, 1);
}

TEST(Cli, InfoJson) {
  CliRun r = troika("info --json -m " + testing::tiny_model("phi3"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["architecture"], "phi3");
  EXPECT_EQ(j["n_vocab"], 32064);
  EXPECT_EQ(j["special"]["eot"], 32007);
}

TEST(Cli, TokenizePrintsIds) {
  const std::string vocab = testing::llama_models_dir() + "/ggml-vocab-llama-bpe.gguf";
  CliRun r = troika("tokenize -m " + vocab + " --special '<|eot_id|>Hello world'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out), nlohmann::json({128000, 128009, 9906, 1917}));
  r = troika("tokenize --no-bos -m " + vocab + " 'Hello world'");
  EXPECT_EQ(nlohmann::json::parse(r.out), nlohmann::json({9906, 1917}));
}

TEST(Cli, GenerateWithStatsAndMessages) {
  const std::string model = testing::tiny_model("llama");
  CliRun r = troika("generate -m " + model + " -p 'Hello' -n 8 --seed 3 --ignore-eos --stats");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto stats = nlohmann::json::parse(r.err.substr(r.err.rfind('{')));
  EXPECT_EQ(stats["n_generated"], 8);
  EXPECT_EQ(stats["n_prompt"], 2);  // BOS + "Hello"
  for (auto key : {"prompt_ms", "gen_ms", "gen_tokens_per_s"}) EXPECT_TRUE(stats.contains(key));
  CliRun again = troika("generate -m " + model + " -p 'Hello' -n 8 --seed 3 --ignore-eos");
  EXPECT_EQ(again.out, r.out) << "same seed, different text";

  const std::string msgs = testing::temp_dir() + "/messages.json";
  std::ofstream(msgs) << R"([{"role":"user","content":"Hi"}])";
  r = troika("generate -m " + model + " --messages " + msgs + " -n 4 --stats");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  stats = nlohmann::json::parse(r.err.substr(r.err.rfind('{')));
  EXPECT_GT(stats["n_prompt"].get<int>(), 20);  // system header with dates + user turn
}

TEST(Cli, GenerateSeveralSamples) {
  const std::string model = testing::tiny_model("llama");
  CliRun r =
      troika("generate -m " + model + " -p 'Once' -n 6 --n 3 --seed 4 --ignore-eos --json --stats");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto samples = nlohmann::json::parse(r.out);
  ASSERT_EQ(samples.size(), 3u);
  for (const auto& s : samples) EXPECT_EQ(s["n_tokens"], 6);
  auto stats = nlohmann::json::parse(r.err.substr(r.err.rfind('{')));
  EXPECT_EQ(stats["n_generated"], 18);
  // Reproducible: sample 1 of a --n 2 run equals a --n 1 run with seed + 1.
  r = troika("generate -m " + model +
             " -p 'Once' -n 6 --n 2 --seed 4 --ignore-eos --json --reproducible");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  CliRun one = troika("generate -m " + model +
                      " -p 'Once' -n 6 --n 1 --seed 5 --ignore-eos --json --reproducible");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)[1]["text"], nlohmann::json::parse(one.out)[0]["text"]);
}

TEST(Cli, ScoreChoices) {
  const std::string model = testing::tiny_model("llama");
  CliRun r =
      troika("score -m " + model +
             " --prefix 'Sentiment:' --choice ' positive' --choice ' negative' --json --stats");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  double p = 0;
  for (const auto& c : j) {
    EXPECT_LT(c["logprob"].get<double>(), 0.0);
    EXPECT_GE(c["n_tokens"].get<int>(), 1);
    p += c["p"].get<double>();
  }
  EXPECT_NEAR(p, 1.0, 1e-9);
  EXPECT_NE(r.err.find("score_ms"), std::string::npos);
  EXPECT_EQ(troika("score -m " + model + " --prefix x").exit_code, 1);  // no --choice
}

TEST(Cli, ChatReadsTurnsUntilExit) {
  CliRun r =
      troika("chat -m " + testing::tiny_model("phi3") + " -n 4", "Hi\n/reset\nAgain\n/exit\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GE(std::count(r.out.begin(), r.out.end(), '>'), 3);
}

TEST(Cli, ExitCodesPerErrorCategory) {
  CliRun r = troika("info -m /nonexistent.gguf");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("not_found"), std::string::npos) << r.err;

  const std::string junk = testing::temp_dir() + "/junk.gguf";
  std::ofstream(junk) << "this is not a model at all";
  r = troika("info -m " + junk);
  EXPECT_EQ(r.exit_code, 8);
  EXPECT_NE(r.err.find("data_loss"), std::string::npos) << r.err;

  const std::string model = testing::tiny_model("llama");
  r = troika("generate -m " + model);
  EXPECT_EQ(r.exit_code, 2) << r.err;  // no prompt
  r = troika("generate -m " + model + " -p hi --top-p 0");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = troika("generate -m " + model + " --messages /nonexistent.json");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  r = troika("mkmodel --arch gpt5 -o " + testing::temp_dir() + "/x.gguf");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = troika("mkmodel --vocab nosuchvocab -o " + testing::temp_dir() + "/x.gguf");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  r = troika("generate -m " + model + " -c 256 -p \"$(printf 'word %.0s' $(seq 400))\"");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("context"), std::string::npos) << r.err;
}

std::string write_file(const std::string& name, const std::string& text) {
  std::string path = testing::temp_dir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

const char* kPersonSchema =
    R"({"type":"object","properties":{"name":{"type":"string","maxLength":8},)"
    R"("age":{"type":"integer","minimum":0,"maximum":130},)"
    R"("tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":3}},)"
    R"("required":["name","age","tags"],"additionalProperties":false})";

TEST(Cli, JsonOutputIsValidAgainstTheSchema) {
  const std::string schema = write_file("person.json", kPersonSchema);
  const std::string model = testing::tiny_model("llama");
  for (int seed : {1, 2, 3}) {
    CliRun r = troika("json -m " + model + " --schema " + schema +
                      " -p 'A person:' --temp 0.8 --seed " + std::to_string(seed) + " --stats");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string out = write_file("out.json", r.out);
    auto v = nlohmann::json::parse(r.out);  // one JSON value on stdout
    EXPECT_TRUE(v.contains("name") && v.contains("age") && v.contains("tags")) << r.out;
    CliRun check = troika("validate --schema " + schema + " " + out);
    EXPECT_EQ(check.exit_code, 0) << r.out << check.err;
    auto stats = nlohmann::json::parse(r.err.substr(r.err.rfind('{')));
    EXPECT_GT(stats["forced_tokens"].get<int>(), 0);  // {"name":" is forced
    EXPECT_GT(stats["masks"].get<int>(), 0);
  }
}

TEST(Cli, JsonErrors) {
  const std::string model = testing::tiny_model("llama");
  const std::string bad = write_file("bad.json", R"({"type":"strng"})");
  EXPECT_EQ(troika("json -m " + model + " --schema " + bad + " -p x").exit_code, 2);
  const std::string refused = write_file("refused.json", R"({"$recursiveRef":"#"})");
  CliRun r = troika("json -m " + model + " --schema " + refused + " -p x");
  EXPECT_EQ(r.exit_code, 9) << r.err;  // unimplemented
  EXPECT_NE(r.err.find("$recursiveRef"), std::string::npos);
  EXPECT_EQ(troika("json -m " + model + " --schema /nonexistent.json -p x").exit_code, 3);
  // Too few tokens for the value to close.
  const std::string schema = write_file("person.json", kPersonSchema);
  EXPECT_EQ(troika("json -m " + model + " --schema " + schema + " -p x -n 2").exit_code, 4);
}

TEST(Cli, ValidateReportsPathsAndExitCodes) {
  const std::string schema = write_file("person.json", kPersonSchema);
  const std::string good = write_file("good.json", R"({"name":"Ada","age":36,"tags":["a"]})");
  const std::string bad = write_file("bad.json", R"({"name":"Ada","age":-1,"tags":["c"]})");
  EXPECT_EQ(troika("validate --schema " + schema + " " + good).exit_code, 0);
  CliRun r = troika("validate --schema " + schema + " " + bad);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/age"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/tags/0"), std::string::npos) << r.err;
  const std::string broken = write_file("broken.json", "{");
  EXPECT_EQ(troika("validate --schema " + schema + " " + broken).exit_code, 2);
}

TEST(Cli, RepairFixesAndValidates) {
  CliRun r = troika("repair", "Sure! ```json\n{name: 'Ada', age: 36, tags: ['a',],}\n```");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out),
            nlohmann::json::parse(R"({"name":"Ada","age":36,"tags":["a"]})"));
  EXPECT_NE(r.err.find("repair:"), std::string::npos);
  const std::string schema = write_file("person.json", kPersonSchema);
  r = troika("repair --schema " + schema, "{name: 'Ada', age: 36, tags: ['a']}");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = troika("repair --schema " + schema, "{name: 'Ada', age: -5, tags: []}");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(troika("repair", "no json here").exit_code, 2);
}

TEST(Cli, ConstrainBenchOnMaskBenchLayout) {
  const std::string file =
      write_file("mb.json", R"({"schema":{"type":"array","items":{"type":"integer"}},"tests":[)"
                            R"({"data":[1,2],"valid":true},{"data":["x"],"valid":false}]})");
  const std::string vocab = testing::llama_models_dir() + "/ggml-vocab-llama-bpe.gguf";
  CliRun r = troika("constrain-bench --vocab " + vocab + " " + file);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["schemas"], 1);
  EXPECT_EQ(j["tests"], 2);
  EXPECT_EQ(j["pass"], 2);
  EXPECT_EQ(j["false_accept"], 0);
  for (auto k : {"refused", "false_reject", "compile_p50_us", "compile_p99_us", "mask_p50_us",
                 "mask_p99_us"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  EXPECT_EQ(troika("constrain-bench --vocab " + vocab + " /nonexistent").exit_code, 3);
}

TEST(Cli, ConvertThenLogits) {
  const std::string fixture = testing::repo_root() + "/../shared/fixtures/phi3";
  const std::string out = testing::temp_dir() + "/phi3.gguf";
  CliRun r = troika("convert " + fixture + " -o " + out + " --type f32 --json -q");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["architecture"], "phi3");
  EXPECT_EQ(j["type"], "f32");
  r = troika("convert " + fixture + " --list");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("model.layers.0.self_attn.qkv_proj.weight"), std::string::npos) << r.out;
  const std::string logits = testing::temp_dir() + "/phi3.f32";
  r = troika("logits -m " + out + " --ids 1,2,3 -o " + logits);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(slurp(logits).size(), 3u * 1011u * sizeof(float));  // [n_tokens, n_vocab] f32
  EXPECT_EQ(troika("logits -m " + out + " --ids 1,x -o " + logits).exit_code, 2);
  EXPECT_EQ(troika("logits -m " + out + " --ids 999999 -o " + logits).exit_code, 2);
  EXPECT_EQ(troika("convert /nonexistent -o " + out).exit_code, 3);
  EXPECT_EQ(troika("convert " + fixture + " -o " + out + " --type q9_9").exit_code, 2);
  EXPECT_EQ(troika("convert " + fixture).exit_code, 2);  // no -o
}

}  // namespace
}  // namespace troika
