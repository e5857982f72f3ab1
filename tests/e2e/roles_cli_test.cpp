// troika catalog, models, plan and up as a user runs them: output shapes and exit codes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_run.h"
#include "test_models.h"

namespace troika {
namespace {

using testing::CliRun;
using testing::troika;

TEST(RolesCli, CatalogPrintsTheSeedMap) {
  CliRun text = troika("catalog");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("nvidia/Llama-3.1-8B-Instruct-FP4"), std::string::npos);
  EXPECT_NE(text.out.find("brain"), std::string::npos);
  CliRun json = troika("catalog --json");
  ASSERT_EQ(json.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(json.out)["variants"].size(), 18u);
  // An override that breaks the schema: invalid_argument (exit 2), naming the file.
  const std::string bad = testing::temp_dir() + "/bad-catalog.toml";
  std::ofstream(bad) << "schema = 1\n[families.x]\nname = 1\n";
  CliRun b = troika("catalog --catalog " + bad);
  EXPECT_EQ(b.exit_code, 2);
  EXPECT_NE(b.err.find("bad-catalog.toml"), std::string::npos) << b.err;
  EXPECT_EQ(troika("catalog --catalog /nonexistent.toml").exit_code, 3);  // not_found
}

TEST(RolesCli, ModelsFindsGgufAndCheckpoints) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(testing::temp_dir()) / "models-e2e";
  fs::create_directories(dir / "Phi-3-mini-4k-instruct");
  fs::copy_file(testing::tiny_model("phi3", "q8_0"), dir / "phi.gguf",
                fs::copy_options::overwrite_existing);
  std::ofstream(dir / "Phi-3-mini-4k-instruct" / "config.json")
      << R"({"model_type": "phi3", "hidden_size": 3072, "num_hidden_layers": 32, "vocab_size": 32064})";
  std::ofstream(dir / "Phi-3-mini-4k-instruct" / "model.safetensors") << "x";
  CliRun r = troika("models --json --dir " + dir.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  bool gguf = false, ckpt = false;
  for (const auto& f : j) {
    if (f["layout"] == "gguf") gguf = !f["needs_convert"].get<bool>();
    if (f["layout"] == "hf-folder") {
      ckpt = f["needs_convert"].get<bool>() && f["variant"] == "microsoft/Phi-3-mini-4k-instruct";
      EXPECT_NE(f["convert_command"].get<std::string>().find("--type q4_k_m"), std::string::npos);
    }
  }
  EXPECT_TRUE(gguf);
  EXPECT_TRUE(ckpt);
  EXPECT_NE(troika("models --dir " + dir.string()).out.find("troika convert"), std::string::npos);
  EXPECT_EQ(troika("models --dir /nonexistent-dir").exit_code, 3);
}

TEST(RolesCli, PlanFitsOrSaysWhatToChange) {
  CliRun fits = troika("plan --json");
  ASSERT_EQ(fits.exit_code, 0) << fits.err;
  auto j = nlohmann::json::parse(fits.out);
  EXPECT_TRUE(j["fits"].get<bool>());
  EXPECT_EQ(j["models"].size(), 4u);
  // Over budget: the exit code of resource_exhausted (4), with ranked alternatives.
  CliRun over = troika("plan --vram 12GiB --ctx brain=32768 --type brain=Q8_0");
  EXPECT_EQ(over.exit_code, 4) << over.out << over.err;
  EXPECT_NE(over.out.find("DOES NOT FIT"), std::string::npos);
  EXPECT_NE(over.out.find("alternatives"), std::string::npos);
  CliRun roles = troika("plan --roles brain,tool --parallel tool=16 --kv-type f16 --json");
  ASSERT_EQ(roles.exit_code, 0) << roles.err;
  auto r = nlohmann::json::parse(roles.out);
  ASSERT_EQ(r["models"].size(), 2u);
  EXPECT_EQ(r["models"][1]["n_seq"], 16);
  EXPECT_EQ(r["models"][1]["kv_type"], "f16");
  // Bad requests: invalid_argument (2).
  EXPECT_EQ(troika("plan --roles brain,chef").exit_code, 2);
  EXPECT_EQ(troika("plan --ctx tool").exit_code, 2);
  EXPECT_EQ(troika("plan --vram lots").exit_code, 2);
  EXPECT_EQ(troika("plan --roles tool --ctx brain=4096").exit_code, 2);
  EXPECT_EQ(troika("plan --kv-type q2").exit_code, 2);
  // Planning from a file uses its real tensors.
  CliRun file =
      troika("plan --roles tool --json --model tool=" + testing::tiny_model("phi3", "q8_0"));
  ASSERT_EQ(file.exit_code, 0) << file.err;
  EXPECT_EQ(nlohmann::json::parse(file.out)["models"][0]["source"], "file");
}

TEST(RolesCli, UpRunsTheReadinessCheck) {
  const std::string dir = testing::temp_dir();
  const std::string phi = testing::tiny_model("phi3", "q8_0");
  const std::string cfg = dir + "/troika-e2e.toml";
  std::ofstream(cfg) << "[roles.tool]\nmodel = \"" << phi
                     << "\"\nctx = 1024\n[roles.graph]\nshare = \"tool\"\nctx = 1024\n";
  CliRun r = troika("up -q -t 2 --json -c " + cfg);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["role"], "graph");
  EXPECT_EQ(j[1]["shared_with"], "tool");
  EXPECT_FALSE(j[0]["smoke"].get<std::string>().empty());
  CliRun text = troika("up -q -t 2 -c " + cfg);
  EXPECT_NE(text.out.find("all 2 roles ready"), std::string::npos) << text.out;
  // Config errors: unknown role (2), missing model file (3), over budget (4), unreachable (5).
  const std::string bad = dir + "/bad-role.toml";
  std::ofstream(bad) << "[roles.chef]\nmodel = \"x.gguf\"\n";
  EXPECT_EQ(troika("up -q -c " + bad).exit_code, 2);
  const std::string missing = dir + "/missing.toml";
  std::ofstream(missing) << "[roles.tool]\nmodel = \"/nonexistent/m.gguf\"\n";
  CliRun m = troika("up -q -c " + missing);
  EXPECT_EQ(m.exit_code, 3);
  EXPECT_NE(m.err.find("role tool"), std::string::npos) << m.err;
  const std::string big = dir + "/big.toml";
  std::ofstream(big) << "ram = \"8MiB\"\ngpu = false\n[roles.tool]\nmodel = \"" << phi << "\"\n";
  EXPECT_EQ(troika("up -q -c " + big).exit_code, 4);
  const std::string remote = dir + "/remote.toml";
  std::ofstream(remote) << "[roles.fast]\nremote = \"http://127.0.0.1:9/v1\"\n"
                           "remote_model = \"m\"\ntimeout_s = 3\n";
  EXPECT_EQ(troika("up -q -c " + remote).exit_code, 5);
  EXPECT_EQ(troika("up -q -c /nonexistent.toml").exit_code, 3);
}

// Without a config: the catalog's roles bound to the GGUF files discovery finds. A file named as
// a catalog variant's file matches it (here the Phi-3 GGUF repository's q4 file, a tiny stand-in).
TEST(RolesCli, UpWithoutConfigBindsFoundModels) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(testing::temp_dir()) / "up-dir";
  fs::create_directories(dir);
  fs::copy_file(testing::tiny_model("phi3", "q8_0"), dir / "Phi-3-mini-4k-instruct-q4.gguf",
                fs::copy_options::overwrite_existing);
  CliRun r = troika("up -q -t 2 --json --dir " + dir.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u) << r.out;
  EXPECT_EQ(j[0]["role"], "tool");
  EXPECT_EQ(j[1]["role"], "graph");        // the graph role's alternative backbone is Phi-3 mini
  EXPECT_EQ(j[1]["shared_with"], "tool");  // the same file is one model
  EXPECT_NE(r.err.find("role brain: no GGUF of llama31-8b found"), std::string::npos) << r.err;
  // Nothing usable at all: not_found (3), saying where to look.
  const fs::path empty = fs::path(testing::temp_dir()) / "up-empty";
  fs::create_directories(empty);
  CliRun none = troika("up -q --dir " + empty.string());
  EXPECT_EQ(none.exit_code, 3);
  EXPECT_NE(none.err.find("troika models"), std::string::npos) << none.err;
}

}  // namespace
}  // namespace troika
