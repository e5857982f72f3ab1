// The server on tiny models over raw HTTP: routes, shapes, errors, limits, overload and
// cancellation.
#include <cpp-httplib/httplib.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_models.h"
#include "troika/constrain.h"
#include "troika/schedule.h"
#include "troika/server.h"

namespace troika::server {
namespace {

using json = nlohmann::json;

const catalog::Catalog& seed() {
  static catalog::Catalog c = *catalog::Catalog::embedded();
  return c;
}

// One host for the whole file: brain on a tiny Llama, tool on a tiny Phi-3.
host::Host& shared_host() {
  static std::unique_ptr<host::Host> h = [] {
    const std::string text = "[roles.brain]\nmodel = \"" + testing::tiny_model("llama", "q8_0") +
                             "\"\nctx = 4096\nparallel = 8\n[roles.tool]\nmodel = \"" +
                             testing::tiny_model("phi3", "q8_0") + "\"\nctx = 2048\nparallel = 4\n";
    auto c = host::parse_config(text, "test.toml");
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    host::UpOptions o;
    o.smoke = false;
    o.n_threads = 2;
    auto up = host::Host::up(*c, seed(), o);
    EXPECT_TRUE(up.ok()) << up.status().to_string();
    return up.ok() ? std::move(*up) : nullptr;
  }();
  return *h;
}

struct Running {
  std::unique_ptr<Server> server;
  std::unique_ptr<httplib::Client> client;
};

Running start(ServerOptions o = {}) {
  o.port = 0;
  auto s = Server::start(shared_host(), std::move(o));
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  Running r;
  r.server = std::move(*s);
  r.client = std::make_unique<httplib::Client>("127.0.0.1", r.server->port());
  r.client->set_read_timeout(120);
  return r;
}

json body_of(const httplib::Result& r) { return json::parse(r->body, nullptr, false); }

httplib::Result post(httplib::Client& c, const std::string& path, const json& body) {
  return c.Post(path, body.dump(), "application/json");
}

TEST(Server, ModelsHealthAndMetrics) {
  Running s = start();
  auto h = s.client->Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(body_of(h)["roles"], json::array({"brain", "tool"}));
  auto m = s.client->Get("/v1/models");
  ASSERT_TRUE(m);
  const json models = body_of(m);
  EXPECT_EQ(models["object"], "list");
  std::vector<std::string> ids;
  for (const auto& d : models["data"]) ids.push_back(d["id"]);
  EXPECT_NE(std::find(ids.begin(), ids.end(), "brain"), ids.end());
  EXPECT_NE(std::find(ids.begin(), ids.end(), "llama-tiny-q8_0"), ids.end()) << models.dump();
  // A model id works as well as a role name.
  auto by_id = post(*s.client, "/v1/chat/completions",
                    {{"model", "llama-tiny-q8_0"},
                     {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                     {"max_tokens", 3}});
  ASSERT_TRUE(by_id);
  EXPECT_EQ(by_id->status, 200) << by_id->body;
  auto metrics = s.client->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  for (const char* family :
       {"troika_requests_total", "troika_request_duration_seconds_bucket", "troika_queue_depth",
        "troika_tokens_per_second", "troika_kv_cells_total", "troika_kv_cells_reserved"}) {
    EXPECT_NE(metrics->body.find(family), std::string::npos) << family;
  }
}

TEST(Server, ChatShapesSchemaNAndLogprobs) {
  Running s = start();
  const json schema = {
      {"type", "object"},
      {"properties",
       {{"city", {{"type", "string"}, {"maxLength", 12}}}, {"n", {{"type", "integer"}}}}},
      {"required", {"city", "n"}},
      {"additionalProperties", false}};
  auto r = post(*s.client, "/v1/chat/completions",
                {{"model", "brain"},
                 {"messages", {{{"role", "user"}, {"content", "A city and a number."}}}},
                 {"response_format",
                  {{"type", "json_schema"}, {"json_schema", {{"name", "x"}, {"schema", schema}}}}},
                 {"n", 3},
                 {"temperature", 0.9},
                 {"seed", 7},
                 {"max_tokens", 200},
                 {"logprobs", true},
                 {"top_logprobs", 2}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = body_of(r);
  EXPECT_EQ(j["object"], "chat.completion");
  ASSERT_EQ(j["choices"].size(), 3u);
  auto compiled = constrain::Schema::compile(schema.dump());
  ASSERT_TRUE(compiled.ok());
  for (const auto& c : j["choices"]) {
    const std::string text = c["message"]["content"];
    if (c["finish_reason"] == "stop") {
      auto errors = (*compiled)->validate(text);
      ASSERT_TRUE(errors.ok()) << text;
      EXPECT_TRUE(errors->empty()) << text;
    }
    ASSERT_TRUE(c["logprobs"]["content"].is_array());
    EXPECT_FALSE(c["logprobs"]["content"].empty());
    // Sampled tokens carry two alternatives; tokens the schema forces (jump-forward) none.
    int with_alternatives = 0;
    for (const auto& t : c["logprobs"]["content"]) {
      EXPECT_LE(t["logprob"].get<double>(), 0.0);
      EXPECT_LE(t["top_logprobs"].size(), 2u);
      with_alternatives += t["top_logprobs"].size() == 2u;
    }
    EXPECT_GT(with_alternatives, 0);
  }
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_GT(j["usage"]["completion_tokens"].get<int>(), 0);
  // The same seed gives the same first answer.
  auto again =
      post(*s.client, "/v1/chat/completions",
           {{"messages", {{{"role", "user"}, {"content", "A city and a number."}}}},
            {"response_format", {{"type", "json_schema"}, {"json_schema", {{"schema", schema}}}}},
            {"temperature", 0.9},
            {"seed", 7},
            {"max_tokens", 200},
            {"reproducible", true}});
  ASSERT_TRUE(again);
  ASSERT_EQ(again->status, 200) << again->body;
  // A schema the engine cannot enforce is refused, never run unconstrained.
  auto bad =
      post(*s.client, "/v1/chat/completions",
           {{"messages", {{{"role", "user"}, {"content", "x"}}}},
            {"response_format",
             {{"type", "json_schema"},
              {"json_schema", {{"schema", {{"type", "string"}, {"format", "no-such-format"}}}}}}}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 501) << bad->body;
  EXPECT_EQ(body_of(bad)["error"]["code"], "unimplemented");
}

TEST(Server, StreamsServerSentEvents) {
  Running s = start();
  std::string raw;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.set_header("Content-Type", "application/json");
  req.body = json{{"messages", {{{"role", "user"}, {"content", "Count."}}}},
                  {"stream", true},
                  {"max_tokens", 24},
                  {"temperature", 0},
                  {"stream_options", {{"include_usage", true}}}}
                 .dump();
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    raw.append(data, n);
    return true;
  };
  auto r = s.client->send(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  std::string text, finish;
  bool usage = false, done = false;
  size_t at = 0;
  while ((at = raw.find("data: ", at)) != std::string::npos) {
    const size_t end = raw.find("\n\n", at);
    ASSERT_NE(end, std::string::npos);
    const std::string payload = raw.substr(at + 6, end - at - 6);
    at = end;
    if (payload == "[DONE]") {
      done = true;
      continue;
    }
    const json e = json::parse(payload);
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    if (e.contains("usage") && !e["usage"].is_null()) usage = true;
    for (const auto& c : e["choices"]) {
      if (c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
      if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
    }
  }
  EXPECT_TRUE(done);
  EXPECT_TRUE(usage);
  EXPECT_FALSE(finish.empty());
  // The streamed text is the text a non-streamed greedy request returns.
  auto whole = post(*s.client, "/v1/chat/completions",
                    {{"messages", {{{"role", "user"}, {"content", "Count."}}}},
                     {"max_tokens", 24},
                     {"temperature", 0},
                     {"reproducible", true}});
  ASSERT_TRUE(whole);
  EXPECT_EQ(body_of(whole)["choices"][0]["message"]["content"], text);
}

TEST(Server, CompletionsEmbeddingsRerankAndPipelines) {
  Running s = start();
  auto c = post(*s.client, "/v1/completions",
                {{"prompt", json::array({"Once upon", "In a"})},
                 {"max_tokens", 5},
                 {"n", 2},
                 {"logprobs", 2}});
  ASSERT_TRUE(c);
  ASSERT_EQ(c->status, 200) << c->body;
  EXPECT_EQ(body_of(c)["choices"].size(), 4u);
  EXPECT_EQ(body_of(c)["choices"][0]["logprobs"]["top_logprobs"][0].size(), 2u);
  auto e = post(*s.client, "/v1/embeddings",
                {{"model", "tool"}, {"input", {"a cat", "a dog", "a cat"}}});
  ASSERT_TRUE(e);
  ASSERT_EQ(e->status, 200) << e->body;
  const json ej = body_of(e);
  ASSERT_EQ(ej["data"].size(), 3u);
  const auto v0 = ej["data"][0]["embedding"].get<std::vector<float>>();
  const auto v2 = ej["data"][2]["embedding"].get<std::vector<float>>();
  ASSERT_FALSE(v0.empty());
  double norm = 0, diff = 0;
  for (size_t i = 0; i < v0.size(); ++i) {
    norm += v0[i] * v0[i];
    diff += std::abs(v0[i] - v2[i]);
  }
  EXPECT_NEAR(norm, 1.0, 1e-3);
  EXPECT_LT(diff, 1e-3);  // same text, same vector
  auto b64 = post(*s.client, "/v1/embeddings",
                  {{"model", "tool"}, {"input", "a cat"}, {"encoding_format", "base64"}});
  ASSERT_TRUE(b64);
  EXPECT_EQ(body_of(b64)["data"][0]["embedding"].get<std::string>().size(),
            (v0.size() * 4 + 2) / 3 * 4);
  auto rr = post(
      *s.client, "/v1/rerank",
      {{"query", "cats"}, {"documents", {"dogs bark", "cats purr", "fish swim"}}, {"top_n", 2}});
  ASSERT_TRUE(rr);
  ASSERT_EQ(rr->status, 200) << rr->body;
  EXPECT_EQ(body_of(rr)["results"].size(), 2u);
  auto cl = post(*s.client, "/v1/pipelines/classify",
                 {{"text", "I love it"}, {"labels", {"positive", "negative"}}});
  ASSERT_TRUE(cl);
  ASSERT_EQ(cl->status, 200) << cl->body;
  EXPECT_EQ(body_of(cl)["scores"].size(), 2u);
  // Pipelines check their shapes: an unknown field is named.
  auto bad = post(*s.client, "/v1/pipelines/classify", {{"text", "x"}, {"labelz", {"a"}}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("labelz"), std::string::npos) << bad->body;
}

TEST(Server, RagAnswersFromTheKnowledgeBaseItServes) {
  Running plain = start();
  auto none = post(*plain.client, "/v1/pipelines/rag", {{"question", "Where do foxes live?"}});
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);
  EXPECT_NE(none->body.find("--db"), std::string::npos) << none->body;

  const std::string path = testing::temp_dir() + "/server-rag.sqlite";
  for (const std::string& x : {path, path + ".xapian", path + "-wal", path + "-shm"}) {
    std::filesystem::remove_all(x);
  }
  auto kb = retrieval::Store::open(path);
  ASSERT_TRUE(kb.ok()) << kb.status().to_string();
  ASSERT_TRUE((*kb)
                  ->add(std::vector<retrieval::Document>{
                      {"fox.txt", "Foxes", "Red foxes live in forests and hunt mice.", {}},
                      {"bonds.txt", "Bonds", "Bond prices fall when rates rise.", {}}})
                  .ok());
  ServerOptions o;
  o.api.knowledge_base = std::move(*kb);
  Running s = start(o);
  auto r = post(*s.client, "/v1/pipelines/rag",
                {{"question", "Where do foxes live?"},
                 {"k", 2},
                 {"judge", true},
                 {"max_tokens", 200},
                 {"temperature", 0.7},
                 {"seed", 5}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = body_of(r);
  EXPECT_TRUE(j["answer"].is_string());
  ASSERT_FALSE(j["sources"].empty()) << j.dump();
  EXPECT_EQ(j["sources"][0]["source"], "fox.txt");
  for (const auto& c : j["citations"]) {
    EXPECT_GE(c["source"].get<int>(), 1);
    EXPECT_LE(c["source"].get<size_t>(), j["sources"].size());
    EXPECT_TRUE(c.contains("support")) << c.dump();  // judged by the tool role
  }
  auto bad = post(*s.client, "/v1/pipelines/rag", {{"question", "x"}, {"k", "many"}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400) << bad->body;
}

TEST(Server, ErrorsAreOpenAiErrorObjects) {
  ServerOptions o;
  o.max_body_bytes = 4096;
  Running s = start(o);
  auto malformed = s.client->Post("/v1/chat/completions", "{\"messages\": [", "application/json");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
  EXPECT_EQ(body_of(malformed)["error"]["type"], "invalid_request_error");
  auto unknown = post(*s.client, "/v1/chat/completions",
                      {{"model", "gpt-9"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_NE(body_of(unknown)["error"]["message"].get<std::string>().find("gpt-9"),
            std::string::npos);
  auto huge = s.client->Post("/v1/chat/completions", std::string(10000, ' '), "application/json");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413);
  EXPECT_TRUE(body_of(huge).contains("error")) << huge->body;
  auto capped =
      post(*s.client, "/v1/chat/completions",
           {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", 100000}});
  ASSERT_TRUE(capped);
  EXPECT_EQ(capped->status, 400);
  auto too_many = post(*s.client, "/v1/chat/completions",
                       {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"n", 1000}});
  ASSERT_TRUE(too_many);
  EXPECT_EQ(too_many->status, 400);
  auto route = s.client->Get("/v2/nothing");
  ASSERT_TRUE(route);
  EXPECT_EQ(route->status, 404);
  auto method = s.client->Get("/v1/chat/completions");
  ASSERT_TRUE(method);
  EXPECT_EQ(method->status, 405);
  auto no_messages = post(*s.client, "/v1/chat/completions", {{"model", "brain"}});
  ASSERT_TRUE(no_messages);
  EXPECT_EQ(no_messages->status, 400);
  EXPECT_NE(no_messages->body.find("messages"), std::string::npos);
}

TEST(Server, ApiKeyIsRequiredWhenSet) {
  ServerOptions o;
  o.api_key = "sekret-123";
  Running s = start(o);
  const json body = {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", 2}};
  auto none = post(*s.client, "/v1/chat/completions", body);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(body_of(none)["error"]["type"], "authentication_error");
  s.client->set_bearer_token_auth("wrong");
  auto wrong = post(*s.client, "/v1/chat/completions", body);
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  s.client->set_bearer_token_auth("sekret-123");
  auto right = post(*s.client, "/v1/chat/completions", body);
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200) << right->body;
  httplib::Client anon("127.0.0.1", s.server->port());
  auto health = anon.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

// Far more clients than the queue admits: some get 429 with Retry-After, none a 5xx, and
// every request ends (the test is bounded in count and time).
TEST(Server, OverloadAnswers429NotErrors) {
  ServerOptions o;
  o.api.queue_per_model = 2;
  Running s = start(o);
  const int kClients = 24;
  std::atomic<int> ok{0}, limited{0}, other{0}, with_retry_after{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", s.server->port());
      c.set_read_timeout(60);
      auto r =
          c.Post("/v1/chat/completions",
                 json{{"model", "brain"},
                      {"messages", {{{"role", "user"}, {"content", "story " + std::to_string(i)}}}},
                      {"max_tokens", 48},
                      {"temperature", 0}}
                     .dump(),
                 "application/json");
      if (!r) {
        other++;
      } else if (r->status == 200) {
        ok++;
      } else if (r->status == 429) {
        limited++;
        if (!r->get_header_value("Retry-After").empty()) with_retry_after++;
      } else {
        other++;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(limited.load(), 0);
  EXPECT_EQ(with_retry_after.load(), limited.load());
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(ok + limited, kClients);
}

// A request that outlives the server's timeout is a 504, and its generation stops.
TEST(Server, TimeoutIs504) {
  ServerOptions o;
  o.api.request_timeout_s = 0.05;
  Running s = start(o);
  auto r = post(*s.client, "/v1/chat/completions",
                {{"messages", {{{"role", "user"}, {"content", "Go on."}}}},
                 {"max_tokens", 4000},
                 {"ignore_eos", true}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504) << r->body;
  EXPECT_EQ(body_of(r)["error"]["code"], "deadline_exceeded");
}

// A client that goes away mid-stream cancels its generation: the model stops decoding for it.
TEST(Server, DisconnectCancelsGeneration) {
  Running s = start();
  schedule::Scheduler* sched = shared_host().role("brain")->scheduler();
  const int64_t before = sched->stats().tokens_decoded;
  {
    httplib::Client c("127.0.0.1", s.server->port());
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.set_header("Content-Type", "application/json");
    req.body =
        json{
            {"model", "brain"},   {"messages", {{{"role", "user"}, {"content", "Go on forever."}}}},
            {"stream", true},     {"max_tokens", 4000},
            {"temperature", 1.0}, {"seed", 3}}
            .dump();
    int chunks = 0;
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 4; };
    c.send(req);  // the receiver's false closes the connection
  }
  // The request leaves the scheduler well before 4000 tokens.
  const auto t0 = std::chrono::steady_clock::now();
  while (sched->stats().running > 0 &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(sched->stats().running, 0);
  EXPECT_LT(sched->stats().tokens_decoded - before, 3000);
  // The server saw the cancellation (499), not a finished request (recorded when its worker
  // returns, a moment after the scheduler lets go).
  httplib::Client probe("127.0.0.1", s.server->port());
  const std::string want = "endpoint=\"/v1/chat/completions\",status=\"499\"";
  std::string body;
  for (int i = 0; i < 250 && body.find(want) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto m = probe.Get("/metrics");
    if (m) body = m->body;
  }
  EXPECT_NE(body.find(want), std::string::npos) << body;
}

}  // namespace
}  // namespace troika::server
