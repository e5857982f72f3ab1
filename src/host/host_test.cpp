// Host::up() on tiny models: binding, sharing, the plan check, and remote roles against
// llama-server from the same llama.cpp tree.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "llama_server.h"
#include "test_models.h"
#include "troika/host.h"
#include "troika/schedule.h"

namespace troika::host {
namespace {

const catalog::Catalog& seed() {
  static catalog::Catalog c = *catalog::Catalog::embedded();
  return c;
}

HostConfig config(const std::string& text) {
  auto c = parse_config(text, "test.toml");
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? *c : HostConfig{};
}

UpOptions quick() {
  UpOptions o;
  o.smoke_tokens = 4;
  o.n_threads = 2;
  return o;
}

TEST(Host, BringsUpLocalRolesAndSharesModels) {
  const std::string llama = testing::tiny_model("llama", "q8_0");
  const std::string phi = testing::tiny_model("phi3", "q8_0");
  auto h = Host::up(config("[roles.brain]\nmodel = \"" + llama +
                           "\"\nctx = 2048\nparallel = 2\n"
                           "[roles.rag]\nshare = \"brain\"\nctx = 1024\n"
                           "[roles.tool]\nmodel = \"" +
                           phi +
                           "\"\nctx = 1024\n"
                           // The same file named twice is one model, not two.
                           "[roles.graph]\nmodel = \"" +
                           phi +
                           "\"\nctx = 1024\n"
                           // The knowledge base loads the embed role's model, not the host.
                           "[roles.embed]\nmodel = \"/nowhere/bge.gguf\"\n"),
                    seed(), quick());
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  const auto& roles = (*h)->roles();
  ASSERT_EQ(roles.size(), 4u);
  EXPECT_EQ(roles[0].role, "brain");
  EXPECT_EQ(roles[1].role, "rag");
  EXPECT_EQ(roles[1].shared_with, "brain");
  EXPECT_EQ((*h)->plan().models.size(), 2u);
  EXPECT_EQ((*h)->role("brain")->scheduler(), (*h)->role("rag")->scheduler());
  EXPECT_EQ((*h)->role("tool")->scheduler(), (*h)->role("graph")->scheduler());
  EXPECT_NE((*h)->role("brain")->scheduler(), (*h)->role("tool")->scheduler());
  EXPECT_EQ((*h)->role("fast"), nullptr);
  EXPECT_EQ((*h)->role("embed"), nullptr);
  // brain + rag contexts add up on their one model.
  EXPECT_EQ(roles[0].n_ctx, 2048 + 1024);
  for (const auto& r : roles) EXPECT_FALSE(r.smoke.empty()) << r.role;
  ChatRequest q;
  q.messages = {{"user", "Hello"}};
  q.max_tokens = 5;
  q.n = 2;
  auto r = (*h)->role("rag")->chat(q);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->choices.size(), 2u);
  EXPECT_EQ(r->choices[0].finish_reason, "length");
  EXPECT_EQ(r->completion_tokens, 10);
  EXPECT_GT(r->prompt_tokens, 0);
}

// A catalog id resolves through discovery in model_dirs: the variant's default file, or the
// file of the type asked for; a family id takes any GGUF of that family.
TEST(Host, CatalogIdsResolveThroughDiscovery) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(testing::temp_dir()) / "catalog-ids";
  fs::create_directories(dir);
  fs::copy_file(testing::tiny_model("phi3", "q8_0"), dir / "Phi-3-mini-4k-instruct-q4.gguf",
                fs::copy_options::overwrite_existing);
  auto h = Host::up(
      config("model_dirs = [\"" + dir.string() +
             "\"]\n"
             "[roles.tool]\nmodel = \"microsoft/Phi-3-mini-4k-instruct-gguf\"\nctx = 1024\n"),
      seed(), quick());
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  EXPECT_EQ((*h)->roles()[0].model, (dir / "Phi-3-mini-4k-instruct-q4.gguf").string());
  // Asking for a type that is not on disk names what is missing.
  auto missing = Host::up(config("model_dirs = [\"" + dir.string() +
                                 "\"]\n"
                                 "[roles.tool]\nmodel = \"microsoft/Phi-3-mini-4k-instruct-gguf\"\n"
                                 "type = \"F16\"\n"),
                          seed(), quick());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(
      missing.status().message().find("no GGUF of microsoft/Phi-3-mini-4k-instruct-gguf (F16)"),
      std::string::npos)
      << missing.status().message();
}

TEST(Host, RefusesBeforeLoadingWhatWouldNotFit) {
  const std::string llama = testing::tiny_model("llama", "q8_0");
  auto h =
      Host::up(config("ram = \"16MiB\"\ngpu = false\n[roles.brain]\nmodel = \"" + llama + "\"\n"),
               seed(), quick());
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), Code::kResourceExhausted);
  EXPECT_NE(h.status().message().find("nothing was loaded"), std::string::npos)
      << h.status().message();
}

TEST(Host, MissingModelsAndKeysAreNamed) {
  auto missing =
      Host::up(config("[roles.tool]\nmodel = \"/no/such/model.gguf\"\n"), seed(), quick());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("role tool"), std::string::npos);
  auto unknown = Host::up(config("[roles.tool]\nmodel = \"no-such-family\"\n"), seed(), quick());
  EXPECT_EQ(unknown.status().code(), Code::kNotFound);
  EXPECT_NE(unknown.status().message().find("neither a file nor a catalog id"), std::string::npos);
  ::unsetenv("TROIKA_TEST_NO_KEY");
  auto key =
      Host::up(config("[roles.fast]\nremote = \"http://127.0.0.1:9/v1\"\nremote_model = \"m\"\n"
                      "api_key_env = \"TROIKA_TEST_NO_KEY\"\n"),
               seed(), quick());
  EXPECT_EQ(key.status().code(), Code::kNotFound);
  EXPECT_NE(key.status().message().find("TROIKA_TEST_NO_KEY"), std::string::npos);
}

using testing::free_port;

TEST(Host, UnreachableRemoteIsUnavailable) {
  const int port = free_port();  // nothing listens there
  auto h = Host::up(config("[roles.fast]\nremote = \"http://127.0.0.1:" + std::to_string(port) +
                           "/v1\"\nremote_model = \"m\"\ntimeout_s = 5\n"),
                    seed(), quick());
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), Code::kUnavailable);
  EXPECT_NE(h.status().message().find("role fast"), std::string::npos);
  EXPECT_NE(h.status().message().find("cannot reach"), std::string::npos) << h.status().message();
}

#ifdef TROIKA_LLAMA_SERVER
// Waits (at most 30 s) until the server answers chat requests.
bool ready(const testing::LlamaServer& server, const std::string& key) {
  if (!server.started()) return false;
  auto client = remote_client(server.url(), "tiny-llama", key, 5);
  for (int i = 0; i < 120; ++i) {
    ChatRequest q;
    q.messages = {{"user", "hi"}};
    q.max_tokens = 1;
    auto r = (*client)->chat(q);
    if (r.ok() || r.status().code() != Code::kUnavailable) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return false;
}

TEST(Host, RemoteRoleRunsAgainstLlamaServer) {
  const std::string llama = testing::tiny_model("llama", "q8_0");
  testing::LlamaServer server(TROIKA_LLAMA_SERVER, llama, "sesame");
  ASSERT_TRUE(ready(server, "sesame")) << server.log();
  ::setenv("TROIKA_TEST_FAST_KEY", "sesame", 1);
  // One local role and one remote role on the same model: one interface for both.
  auto h = Host::up(
      config("[roles.tool]\nmodel = \"" + llama +
             "\"\nctx = 1024\n"
             "[roles.fast]\nremote = \"" +
             server.url() +
             "\"\nremote_model = \"tiny-llama\"\napi_key_env = \"TROIKA_TEST_FAST_KEY\"\n"),
      seed(), quick());
  ASSERT_TRUE(h.ok()) << h.status().to_string() << "\n" << server.log();
  RoleClient* fast = (*h)->role("fast");
  ASSERT_NE(fast, nullptr);
  EXPECT_TRUE(fast->is_remote());
  EXPECT_EQ(fast->scheduler(), nullptr);
  EXPECT_FALSE((*h)->roles()[0].smoke.empty());
  ChatRequest q;
  q.messages = {{"system", "Be brief."}, {"user", "Name a colour."}};
  q.max_tokens = 6;
  for (RoleClient* c : {fast, (*h)->role("tool")}) {
    auto r = c->chat(q);
    ASSERT_TRUE(r.ok()) << c->describe() << ": " << r.status().to_string();
    ASSERT_EQ(r->choices.size(), 1u);
    EXPECT_EQ(r->choices[0].finish_reason, "length");
    EXPECT_EQ(r->completion_tokens, 6);
    EXPECT_GT(r->prompt_tokens, 5);
  }
  // A wrong key is the endpoint's 401, named.
  auto bad = remote_client(server.url(), "tiny-llama", "wrong", 5);
  auto r = (*bad)->chat(q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("401"), std::string::npos) << r.status().message();
}
#else
TEST(Host, RemoteRoleRunsAgainstLlamaServer) {
  GTEST_SKIP() << "llama-server is built for Release test builds only";
}
#endif

}  // namespace
}  // namespace troika::host
