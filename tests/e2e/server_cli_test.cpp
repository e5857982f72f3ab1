// `troika serve` and `troika run` as processes: the official openai npm client against the
// server, and a batch job SIGKILLed at random points that resumes to the same output.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "cli_run.h"
#include "llama_server.h"
#include "node_oracle.h"
#include "test_models.h"

namespace troika {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// A child process running `troika ARGS` (through the shell), output to files.
struct Child {
  pid_t pid = -1;
  std::string out, err;
  ~Child() {
    if (pid > 0 && !reaped) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  int status = 0;
  bool reaped = false;
  int wait() {
    if (!reaped) ::waitpid(pid, &status, 0);
    pid = -1;
    reaped = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  // Whether it has ended, without waiting (reaps it if so).
  bool exited() {
    if (!reaped && ::waitpid(pid, &status, WNOHANG) == pid) reaped = true;
    return reaped;
  }
};

// How many lines a job journal records, read as a second connection (0 before it exists).
int journaled(const std::string& path) {
  if (!fs::exists(path)) return 0;
  sqlite3* db = nullptr;
  int n = 0;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 1000);
    sqlite3_stmt* q = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM lines", -1, &q, nullptr) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
      n = sqlite3_column_int(q, 0);
    }
    sqlite3_finalize(q);
  }
  sqlite3_close(db);
  return n;
}

std::unique_ptr<Child> spawn(const std::string& args, const std::string& tag) {
  auto c = std::make_unique<Child>();
  c->out = testing::temp_dir() + "/" + tag + ".out";
  c->err = testing::temp_dir() + "/" + tag + ".err";
  const std::string cmd =
      "exec " + testing::bin_dir() + "/troika " + args + " > " + c->out + " 2> " + c->err;
  c->pid = ::fork();
  if (c->pid == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
    ::_exit(127);
  }
  return c;
}

std::string write_config(const std::string& name, const std::string& text) {
  const std::string path = testing::temp_dir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

bool healthy(int port) {
  const std::string cmd =
      "node -e \"fetch('http://127.0.0.1:" + std::to_string(port) +
      "/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))\"";
  return std::system(cmd.c_str()) == 0;
}

TEST(ServeCli, OfficialOpenAiClientDrivesTheServer) {
  const std::string root = testing::oracle_root();
  if (root.empty() || !fs::exists(fs::path(root) / "node_modules/openai/package.json")) {
    GTEST_SKIP() << "the openai npm package is not installed (run scripts/setup)";
  }
  const std::string config = write_config(
      "serve.toml", "[roles.brain]\nmodel = \"" + testing::tiny_model("llama", "q8_0") +
                        "\"\nctx = 4096\nparallel = 4\n[roles.fast]\nmodel = \"" +
                        testing::tiny_model("mistral", "q8_0") +
                        "\"\nctx = 4096\nparallel = 4\n[roles.tool]\nmodel = \"" +
                        testing::tiny_model("phi3", "q8_0") + "\"\nctx = 2048\nparallel = 2\n");
  const int port = testing::free_port();
  ::setenv("TROIKA_TEST_KEY", "k-e2e-42", 1);
  auto server = spawn("serve --config " + config + " --port " + std::to_string(port) +
                          " --api-key-env TROIKA_TEST_KEY --no-smoke -t 2",
                      "serve");
  bool up = false;
  for (int i = 0; i < 600 && !up; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    up = healthy(port);
  }
  ASSERT_TRUE(up) << testing::slurp(server->err);
  const std::string out = testing::temp_dir() + "/openai.out";
  const std::string cmd = "node " + root +
                          "/tests/e2e/openai_client.mjs http://127.0.0.1:" + std::to_string(port) +
                          "/v1 k-e2e-42 > " + out + " 2>&1";
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << testing::slurp(out) << "\nserver: " << testing::slurp(server->err);
  if (rc == 0) {
    const json summary = json::parse(testing::slurp(out));
    EXPECT_EQ(summary["n"], 3);
    EXPECT_EQ(summary["tool_call"]["name"], "get_weather");
  }
  // A wrong key is refused by the client's own error type.
  const std::string wrong =
      "node " + root + "/tests/e2e/openai_client.mjs http://127.0.0.1:" + std::to_string(port) +
      "/v1 bad-key > /dev/null 2>&1";
  EXPECT_NE(std::system(wrong.c_str()), 0);
  ::kill(server->pid, SIGTERM);
  EXPECT_EQ(server->wait(), 0) << testing::slurp(server->err);
}

// Fields that differ between any two runs (wall times, creation stamps, generated ids).
void strip_volatile(json& j) {
  if (j.is_object()) {
    for (const char* k : {"ms", "created", "id", "request_id"}) j.erase(k);
    for (auto& [k, v] : j.items()) strip_volatile(v);
  } else if (j.is_array()) {
    for (auto& v : j) strip_volatile(v);
  }
}

std::vector<json> read_lines(const std::string& path) {
  std::vector<json> out;
  std::istringstream in(testing::slurp(path));
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << line;
    strip_volatile(j);
    out.push_back(std::move(j));
  }
  return out;
}

TEST(RunCli, KilledJobResumesToTheSameOutput) {
  const std::string config =
      write_config("jobs.toml", "[roles.fast]\nmodel = \"" + testing::tiny_model("llama", "q8_0") +
                                    "\"\nctx = 4096\nparallel = 4\n");
  const std::string in = testing::temp_dir() + "/job.jsonl";
  {
    std::ofstream f(in);
    const json schema = {{"type", "object"},
                         {"properties", {{"word", {{"type", "string"}, {"maxLength", 24}}}}},
                         {"required", {"word"}},
                         {"additionalProperties", false}};
    for (int i = 0; i < 40; ++i) {
      if (i == 7) f << "{not json\n";  // a malformed line: an error record, not a stopped job
      if (i == 9) f << "\n";           // blank lines are skipped
      if (i % 2 == 0) {
        f << json{{"prompt", "Give a word for item " + std::to_string(i)},
                  {"schema", schema},
                  {"max_tokens", 64},
                  {"temperature", 0.8},
                  {"seed", i}}
                 .dump()
          << "\n";
      } else {
        f << json{{"custom_id", "req-" + std::to_string(i)},
                  {"method", "POST"},
                  {"url", "/v1/chat/completions"},
                  {"body",
                   {{"model", "fast"},
                    {"messages", {{{"role", "user"}, {"content", "Line " + std::to_string(i)}}}},
                    {"max_tokens", 48},
                    {"temperature", 0.7},
                    {"seed", i}}}}
                 .dump()
          << "\n";
      }
    }
  }
  const std::string common = "run json --in " + in + " --config " + config +
                             " --reproducible --concurrency 4 -t 2 --no-smoke -q";
  // The reference: one uninterrupted run.
  const std::string ref = testing::temp_dir() + "/ref.jsonl";
  auto whole = spawn(common + " --out " + ref, "ref");
  ASSERT_EQ(whole->wait(), 0) << testing::slurp(whole->err);
  const std::vector<json> expected = read_lines(ref);
  ASSERT_EQ(expected.size(), 41u);  // 40 requests + the malformed line
  EXPECT_TRUE(expected[7].contains("error")) << expected[7].dump();
  // The same job SIGKILLed at random points, resumed each time. The first kill lands at a random
  // time (most likely while the model loads); the others once the journal holds a random number of
  // further lines, so that the points are spread over the job however slow the machine is.
  const std::string out = testing::temp_dir() + "/out.jsonl";
  std::mt19937 rng(20261202);
  std::uniform_int_distribution<int> startup_ms(50, 1500), more_lines(1, 7);
  int kills = 0;
  for (int attempt = 0; attempt < 6; ++attempt) {
    const int before = journaled(out + ".journal");
    auto run = spawn(common + " --out " + out, "run" + std::to_string(attempt));
    if (attempt == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(startup_ms(rng)));
    } else {
      const int target = before + more_lines(rng);
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(2);
      while (journaled(out + ".journal") < target && !run->exited() &&
             std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    if (run->exited()) break;  // it finished before the kill point
    ::kill(run->pid, SIGKILL);
    if (run->wait() == -SIGKILL) ++kills;
  }
  auto last = spawn(common + " --out " + out, "last");
  ASSERT_EQ(last->wait(), 0) << testing::slurp(last->err);
  EXPECT_GT(kills, 0);
  // The last run picked up lines that killed runs had journaled.
  const std::string last_err = testing::slurp(last->err);
  std::printf("%d kills; last run: %s", kills, last_err.c_str());
  EXPECT_EQ(last_err.find("(0 resumed"), std::string::npos) << last_err;
  const std::vector<json> got = read_lines(out);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], expected[i]) << "line " << i;
  // Nothing duplicated: every custom_id once.
  std::set<std::string> ids;
  for (const auto& j : got) {
    if (j.contains("custom_id")) {
      EXPECT_TRUE(ids.insert(j["custom_id"]).second);
    }
  }
  EXPECT_EQ(ids.size(), 20u);
  // A changed input is refused rather than mixed with the old journal.
  std::ofstream(in, std::ios::app) << "{\"prompt\": \"one more\"}\n";
  auto changed = spawn(common + " --out " + out, "changed");
  EXPECT_EQ(changed->wait(), 2) << testing::slurp(changed->err);
  EXPECT_NE(testing::slurp(changed->err).find("belongs to another input"), std::string::npos);
}

TEST(RunCli, DeadlineStopsAdmittingAndReportsWhatRemains) {
  const std::string config = write_config(
      "deadline.toml", "[roles.fast]\nmodel = \"" + testing::tiny_model("llama", "q8_0") +
                           "\"\nctx = 4096\nparallel = 2\n");
  const std::string in = testing::temp_dir() + "/deadline.jsonl";
  {
    std::ofstream f(in);
    for (int i = 0; i < 200; ++i) {
      f << json{{"prompt", "Item " + std::to_string(i)}, {"max_tokens", 64}, {"seed", i}}.dump()
        << "\n";
    }
  }
  const std::string out = testing::temp_dir() + "/deadline-out.jsonl";
  const std::string args = "run json --in " + in + " --out " + out + " --config " + config +
                           " --concurrency 2 -t 2 --no-smoke -q";
  testing::CliRun r = testing::troika(args + " --deadline 1s");
  EXPECT_EQ(r.exit_code, 6) << r.err;  // deadline_exceeded: lines remain
  EXPECT_NE(r.err.find("lines remain"), std::string::npos) << r.err;
  const size_t partial = read_lines(out).size();
  EXPECT_GT(partial, 0u);
  EXPECT_LT(partial, 200u);
  testing::CliRun rest = testing::troika(args);
  EXPECT_EQ(rest.exit_code, 0) << rest.err;
  EXPECT_EQ(read_lines(out).size(), 200u);
  EXPECT_NE(rest.err.find("resumed from the journal"), std::string::npos);
}

}  // namespace
}  // namespace troika
