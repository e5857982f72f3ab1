#include <gtest/gtest.h>

#include <map>

#include "troika/host.h"

namespace troika::host {
namespace {

void expect_refused(const std::string& text, const std::string& needle) {
  auto r = parse_config(text, "troika.toml");
  ASSERT_FALSE(r.ok()) << text;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("troika.toml"), std::string::npos);
}

TEST(HostConfig, ParsesTheDocumentedExample) {
  auto c = parse_config(R"(
vram = "20GiB"
ram = "64GiB"
kv_type = "q8_0"
model_dirs = ["/srv/models"]
[roles.brain]
model = "models/llama-3.1-8b-instruct-q4_k_m.gguf"
ctx = 8192
parallel = 4
gpu_layers = -1
[roles.rag]
share = "brain"
[roles.tool]
model = "microsoft/Phi-3-mini-4k-instruct-gguf"
type = "Q4_K_M"
[roles.fast]
remote = "http://gpu-box:8000/v1"
remote_model = "mistral-7b"
api_key_env = "FAST_API_KEY"
timeout_s = 30
)",
                        "troika.toml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->vram_bytes, 20ull << 30);
  EXPECT_EQ(c->ram_bytes, 64ull << 30);
  EXPECT_EQ(c->kv_type, "q8_0");
  EXPECT_EQ(c->model_dirs, (std::vector<std::string>{"/srv/models"}));
  ASSERT_EQ(c->roles.size(), 4u);
  const RoleConfig* fast = nullptr;
  for (const auto& r : c->roles)
    if (r.role == "fast") fast = &r;
  ASSERT_NE(fast, nullptr);
  EXPECT_EQ(fast->remote, "http://gpu-box:8000/v1");
  EXPECT_EQ(fast->api_key_env, "FAST_API_KEY");
  EXPECT_DOUBLE_EQ(fast->timeout_s, 30);
}

TEST(HostConfig, TheEmbedRoleNamesTheKnowledgeBasesModel) {
  auto c = parse_config("[roles.brain]\nmodel = \"a.gguf\"\n[roles.embed]\nmodel = \"bge.gguf\"\n",
                        "troika.toml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  ASSERT_EQ(c->roles.size(), 2u);
  EXPECT_EQ(c->roles[1].role, kEmbedRole);
  EXPECT_EQ(c->roles[1].model, "bge.gguf");
}

TEST(HostConfig, ErrorsNameWhatIsWrong) {
  expect_refused("[roles.chef]\nmodel = \"a.gguf\"\n", "unknown role 'chef'");
  expect_refused("[roles.brain]\nmodel = \"a.gguf\"\nctxx = 5\n", "unknown key 'ctxx'");
  expect_refused(
      "[roles.brain]\nmodel = \"a.gguf\"\nremote = \"http://x/v1\"\nremote_model = \"m\"\n",
      "more than one of model, remote and share");
  expect_refused("[roles.brain]\nremote = \"http://x/v1\"\n", "remote needs remote_model");
  expect_refused("[roles.brain]\nctx = 5\n", "needs one of model");
  expect_refused("[roles.rag]\nshare = \"brain\"\n", "'brain', which is not configured");
  expect_refused(
      "[roles.brain]\nremote = \"http://x/v1\"\nremote_model = \"m\"\n"
      "[roles.rag]\nshare = \"brain\"\n",
      "which is remote");
  expect_refused("[roles.brain]\nmodel = \"a.gguf\"\nctx = -4\n", "ctx must be an integer >= 1");
  expect_refused("[roles.embed]\nremote = \"http://x/v1\"\nremote_model = \"m\"\n",
                 "roles.embed names the knowledge base's embedding model");
  expect_refused("[roles.brain]\nmodel = \"a.gguf\"\n[roles.embed]\nshare = \"brain\"\n",
                 "the knowledge base's alone");
  expect_refused("vram = \"much\"\n[roles.brain]\nmodel = \"a.gguf\"\n", "vram must be a size");
  expect_refused("[roles]\n", "no [roles.NAME] tables");
  expect_refused("colour = 1\n[roles.brain]\nmodel = \"a.gguf\"\n", "unknown key 'colour'");
  expect_refused("[roles.brain\n", "not valid TOML");
  EXPECT_EQ(load_config("/nonexistent/troika.toml").status().code(), Code::kNotFound);
}

TEST(HostConfig, RemoteUrlsMustBePlainHttp) {
  EXPECT_TRUE(remote_client("http://127.0.0.1:8080/v1", "m", "", 5).ok());
  auto tls = remote_client("https://api.example.com/v1", "m", "", 5);
  EXPECT_EQ(tls.status().code(), Code::kInvalidArgument);
  EXPECT_NE(tls.status().message().find("https"), std::string::npos);
  EXPECT_EQ(remote_client("gpu-box:8000", "m", "", 5).status().code(), Code::kInvalidArgument);
}

TEST(HostConfig, DefaultsBindRolesToFoundModels) {
  auto cat = catalog::Catalog::embedded();
  ASSERT_TRUE(cat.ok());
  catalog::Found llama;
  llama.path = "/m/llama.gguf";
  llama.layout = "gguf";
  llama.family = "llama31-8b";
  llama.quant = "Q6_K";
  catalog::Found phi;
  phi.path = "/m/phi.gguf";
  phi.layout = "gguf";
  phi.family = "phi3-mini-4k";
  phi.quant = "Q4_K_M";
  std::vector<std::string> notes;
  HostConfig c = default_config(*cat, {llama, phi}, &notes);
  // brain + rag (shared) + tool; graph falls back to its alternative phi3-mini-4k; fast has no
  // Mistral but its alternative Llama is there.
  std::map<std::string, RoleConfig> by;
  for (const auto& r : c.roles) by[r.role] = r;
  EXPECT_EQ(by["brain"].model, "/m/llama.gguf");
  EXPECT_EQ(by["rag"].share, "brain");
  EXPECT_EQ(by["tool"].model, "/m/phi.gguf");
  EXPECT_EQ(by["graph"].model, "/m/phi.gguf");
  EXPECT_EQ(by["fast"].model, "/m/llama.gguf");
  HostConfig none = default_config(*cat, {}, &notes);
  EXPECT_TRUE(none.roles.empty());
  EXPECT_FALSE(notes.empty());
}

}  // namespace
}  // namespace troika::host
