// The wire format of remote roles against a fake OpenAI-compatible endpoint: what Troika sends
// (tools, tool_choice, response_format, logprobs, calls and results) and how it reads answers.
#include <cpp-httplib/httplib.h>
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "troika/pipeline.h"

namespace troika {
namespace {

// An OpenAI-compatible endpoint that answers with scripted bodies and keeps what it was sent:
// the requests Troika writes and the responses it reads, byte for byte.
class FakeEndpoint {
 public:
  explicit FakeEndpoint(std::vector<nlohmann::json> answers) : answers_(std::move(answers)) {
    server_.Post("/v1/chat/completions", [this](const httplib::Request& req,
                                                httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      bodies.push_back(nlohmann::json::parse(req.body));
      res.set_content(answers_[std::min(next_++, answers_.size() - 1)].dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    server_.wait_until_ready();
  }
  ~FakeEndpoint() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  std::vector<nlohmann::json> bodies;

 private:
  httplib::Server server_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<nlohmann::json> answers_;
  size_t next_ = 0;
  int port_ = 0;
};

nlohmann::json tool_call_answer(const std::string& name, const std::string& args) {
  return {{"choices",
           {{{"index", 0},
             {"finish_reason", "tool_calls"},
             {"message",
              {{"role", "assistant"},
               {"content", nullptr},
               {"tool_calls",
                {{{"id", "abc"},
                  {"type", "function"},
                  {"function", {{"name", name}, {"arguments", args}}}}}}}}}}},
          {"usage", {{"prompt_tokens", 20}, {"completion_tokens", 9}}}};
}

nlohmann::json text_answer(const std::string& text) {
  return {{"choices",
           {{{"index", 0},
             {"finish_reason", "stop"},
             {"message", {{"role", "assistant"}, {"content", text}}}}}}};
}

const char* kWeather =
    R"({"type":"object","properties":{"city":{"enum":["Oslo","Rome"]}},"required":["city"],"additionalProperties":false})";

TEST(FakeEndpoint, ToolCallsRoundTripThroughTheWire) {
  FakeEndpoint ep(
      {tool_call_answer("get_weather", R"({"city":"Oslo"})"), text_answer("It is 3 C.")});
  auto client = *host::remote_client(ep.url(), "m", "", 10);
  pipeline::ToolsRequest r;
  r.messages = {{"user", "Weather in Oslo?"}};
  r.tools = {{"get_weather", "weather", kWeather}};
  r.tool_choice = "required";
  auto out = pipeline::tools(*client, r, [](const engine::ToolCall& c) -> Result<std::string> {
    return "{\"temp\":3,\"city\":" + nlohmann::json::parse(c.arguments)["city"].dump() + "}";
  });
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(out->finish, "stop");
  EXPECT_EQ(out->content, "It is 3 C.");
  EXPECT_EQ(out->steps, 2);
  ASSERT_EQ(ep.bodies.size(), 2u);
  // What went out: the tools, the choice, and on the second turn the call and its result.
  EXPECT_EQ(ep.bodies[0]["tools"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(ep.bodies[0]["tool_choice"], "required");
  EXPECT_EQ(ep.bodies[1]["tool_choice"], "auto");
  const auto& msgs = ep.bodies[1]["messages"];
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs[1]["tool_calls"][0]["id"], "abc");
  EXPECT_EQ(msgs[1]["tool_calls"][0]["function"]["arguments"], R"({"city":"Oslo"})");
  EXPECT_EQ(msgs[2]["role"], "tool");
  EXPECT_EQ(msgs[2]["tool_call_id"], "abc");
  EXPECT_EQ(msgs[2]["content"], R"({"temp":3,"city":"Oslo"})");
}

TEST(FakeEndpoint, InvalidRemoteCallsAreBadOutput) {
  for (const auto& answer : {tool_call_answer("get_wether", R"({"city":"Oslo"})"),
                             tool_call_answer("get_weather", R"({"city":"Paris"})")}) {
    FakeEndpoint ep(std::vector<nlohmann::json>{answer});
    auto client = *host::remote_client(ep.url(), "m", "", 10);
    pipeline::ToolsRequest r;
    r.messages = {{"user", "Weather?"}};
    r.tools = {{"get_weather", "weather", kWeather}};
    auto out = pipeline::tools(*client, r);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), Code::kBadOutput) << out.status().to_string();
  }
}

TEST(FakeEndpoint, JsonSendsResponseFormatAndVoteReadsLogprobs) {
  nlohmann::json voted = {{"choices", nlohmann::json::array()}};
  for (auto [text, lp] : {std::pair{"a", -0.5}, std::pair{"b", -0.1}}) {
    voted["choices"].push_back({{"index", 0},
                                {"finish_reason", "stop"},
                                {"message", {{"role", "assistant"}, {"content", text}}},
                                {"logprobs", {{"content", {{{"token", text}, {"logprob", lp}}}}}}});
  }
  FakeEndpoint ep({text_answer(R"({"age": 5})"), voted});
  auto client = *host::remote_client(ep.url(), "m", "", 10);
  pipeline::JsonRequest j;
  j.input.prompt = "age?";
  j.schema = R"({"type":"object","required":["age"]})";
  auto jo = pipeline::json(*client, j);
  ASSERT_TRUE(jo.ok()) << jo.status().to_string();
  EXPECT_EQ(ep.bodies[0]["response_format"]["type"], "json_schema");
  EXPECT_EQ(ep.bodies[0]["response_format"]["json_schema"]["schema"]["required"][0], "age");
  pipeline::VoteRequest v;
  v.input.prompt = "x";
  v.n = 2;
  v.extract.kind = "text";
  auto vo = pipeline::vote(*client, v);
  ASSERT_TRUE(vo.ok()) << vo.status().to_string();
  EXPECT_EQ(ep.bodies[1]["n"], 2);
  EXPECT_EQ(ep.bodies[1]["logprobs"], true);
  EXPECT_EQ(vo->answer, "b");  // a 1-1 tie, broken by the higher log-probability
  EXPECT_TRUE(vo->usage.notes.empty());
}

TEST(FakeEndpoint, ANamedToolChoiceGoesOutInOpenAIsObjectForm) {
  FakeEndpoint ep(std::vector<nlohmann::json>{tool_call_answer("get_weather", R"({"city":"Rome"})")});
  auto client = *host::remote_client(ep.url(), "m", "", 10);
  pipeline::ToolsRequest r;
  r.messages = {{"user", "Weather?"}};
  r.tools = {{"get_weather", "weather", kWeather}};
  r.tool_choice = "get_weather";
  auto out = pipeline::tools(*client, r);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(out->finish, "tool_calls");
  EXPECT_EQ(ep.bodies.at(0)["tool_choice"],
            nlohmann::json::parse(R"({"type":"function","function":{"name":"get_weather"}})"));
}

}  // namespace
}  // namespace troika
