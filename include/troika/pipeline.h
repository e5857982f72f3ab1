// Pipelines: the roles at work. Each is one typed function over a role's client (local model or
// remote endpoint), the constraint engine and, for local roles, the scheduler's shared-prefix
// scoring; and each has one JSON request/response shape (docs/pipelines/<name>.md) that the CLI,
// the server and batch jobs share through run().
//
//   json      prompt + schema -> one schema-valid value (repair and retry)     default role fast
//   tools     messages + function tools -> calls, results fed back, an answer  default role fast
//   classify  text + labels -> a probability for every label                   default role tool
//   rerank    query + documents -> a relevance score per document, top-k       default role tool
//   vote      N samples -> the majority answer with its agreement share        default role tool
//   graph     text -> nodes and edges (chunked, entities merged)               default role graph
//
// Local and remote: a local role decodes under token masks and scores prompts (prefilled once
// and forked); a remote one has only chat completions, so classify and rerank fall back to
// constrained answers and vote cannot break ties by log-probability. Every such fallback is named
// in Usage::notes; nothing degrades silently.
//
// Errors: invalid_argument (a request that breaks its shape, with the field named; a schema that
// does not compile), bad_output (the model could not produce a valid answer within the
// attempts), and whatever the role's client reports. Thread safety: the functions are reentrant;
// many may run on one role at once (the scheduler batches them).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "troika/engine.h"
#include "troika/host.h"
#include "troika/status.h"

namespace troika::pipeline {

// What a pipeline call cost, summed over the model calls it made.
struct Usage {
  std::string backend;  // "local" or "remote"
  int32_t calls = 0;    // generations and score requests
  int32_t prompt_tokens = 0;
  int32_t cached_tokens = 0;  // prompt tokens served from shared prefixes or the prefix cache
  int32_t completion_tokens = 0;
  double ms = 0;                   // wall time of the whole pipeline call
  std::vector<std::string> notes;  // fallbacks taken ("remote role: ...")
};

// How the model calls of a pipeline run: one deadline and one cancel switch for all of them
// (a call that outlives the deadline fails with deadline_exceeded; a cancelled one with
// cancelled), and the scheduler's reproducible mode for the generations (the same request and
// seed give the same output whatever else runs; see schedule::Request::reproducible).
struct Control {
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::shared_ptr<const std::atomic<bool>> cancel;
  bool reproducible = false;
};

// Applies `control` to every model call the pipeline functions make on this thread (and on the
// threads they start for it) while it lives. Scopes nest; the innermost wins.
class ScopedControl {
 public:
  explicit ScopedControl(Control control);
  ~ScopedControl();
  ScopedControl(const ScopedControl&) = delete;
  ScopedControl& operator=(const ScopedControl&) = delete;
  // The control in force on this thread (a default one outside any scope).
  static const Control& current();

 private:
  Control control_;
  const Control* outer_;
};

// Sampling of the generative pipelines.
struct Sampling {
  int32_t max_tokens = 512;
  float temperature = 0;  // <= 0: greedy
  float top_p = 1;
  uint32_t seed = 0;
};

// The conversation a generative pipeline starts from: `messages` when given, else the system
// text, the few-shot examples as user/assistant turns, and `prompt` as the last user turn.
struct Prompt {
  std::string system;
  std::vector<std::pair<std::string, std::string>> examples;  // {user, assistant}
  std::string prompt;
  std::vector<engine::ChatMessage> messages;
};

// ---- json -----------------------------------------------------------------------------------

struct JsonRequest {
  Prompt input;
  std::string schema;  // JSON Schema text (draft 2020-12 or 07); "" = any JSON value
  Sampling sampling;
  int32_t max_attempts = 3;  // generations, counting the first
  // Local roles: decode under the schema's token mask. false (or a remote role) generates freely
  // and relies on repair and retry.
  bool constrained = true;
};

struct JsonResult {
  std::string json;  // the value, compact
  int32_t attempts = 1;
  bool repaired = false;           // the value came out of repair_json()
  std::vector<std::string> fixes;  // what repair changed
  Usage usage;
};

// Policy: generate; validate; a value that fails is repaired (repair_json) and re-validated; if
// it still fails, the next attempt gets the errors as a user turn. Errors: bad_output
// when no attempt produced a valid value (the last errors in the message).
Result<JsonResult> json(host::RoleClient& role, const JsonRequest& request);

// ---- tools ----------------------------------------------------------------------------------

struct Tool {
  std::string name;  // [A-Za-z0-9_-]{1,64}
  std::string description;
  std::string parameters = "{\"type\":\"object\"}";  // JSON Schema of the arguments object
};

// Runs one call and returns its result text (fed back as the tool message). An error is fed
// back too ("error: ..."), so the model can recover; it does not end the loop.
using ToolExecutor = std::function<Result<std::string>(const engine::ToolCall& call)>;

// A tool run as a command: the call's arguments (a JSON object) on its stdin, its stdout the
// result. Opt-in: the CLI runs only what a tools exec file names.
struct ToolCommand {
  std::vector<std::string> argv;  // argv[0] a path or a name on PATH
  double timeout_s = 30;          // then the command is killed and the result is an error
};

// Reads a tools exec file: {"NAME": {"command": ["prog", "arg", ...], "timeout_s": 10}, ...}.
// Errors: not_found (the file, or a command that is not an executable file or on PATH, naming
// the tool), invalid_argument (the shape).
Result<std::map<std::string, ToolCommand>> load_tool_commands(const std::string& path);
// Runs each call by its tool's command; a tool without one gets an error result. The command's
// output is cut at 1 MiB; a non-zero exit or a timeout is an error naming the tool.
ToolExecutor command_executor(std::map<std::string, ToolCommand> commands);

struct ToolsRequest {
  std::vector<engine::ChatMessage> messages;  // at least one user message
  std::vector<Tool> tools;
  std::string tool_choice = "auto";  // "auto", "required", "none", or a tool's name
  bool parallel = true;              // several calls in one turn (where the format has them)
  // "auto" (from the chat template: mistral, llama3, else json), "mistral" ([TOOL_CALLS] JSON
  // array), "llama3" ({"name","parameters"} object, one call a turn), "json" (prompted JSON
  // for Gemma 2, Phi-3 and any other model).
  std::string format = "auto";
  int32_t max_steps = 4;  // model turns when an executor runs the calls
  Sampling sampling;
};

struct ToolsResult {
  std::vector<engine::ChatMessage> messages;  // the request's, then every turn this call added
  std::vector<engine::ToolCall> tool_calls;   // the last turn's calls, when not executed
  std::string content;                        // the final answer text ("" when calls are pending)
  std::string finish;  // "stop" (answered), "tool_calls" (calls pending), "max_steps"
  int32_t steps = 0;
  std::string format;  // the format used
  Usage usage;
};

// Without an executor: one model turn; its calls come back in tool_calls for the caller to run
// (finish "tool_calls"). With one: calls run and are fed back until the model answers or
// max_steps turns have passed. Every call's name is one of the tools and its arguments are valid
// against the tool's parameters (local roles decode under that schema; remote answers are
// validated, and an invalid call is an error naming it).
Result<ToolsResult> tools(host::RoleClient& role, const ToolsRequest& request,
                          const ToolExecutor& execute = {});

// ---- classify -------------------------------------------------------------------------------

struct Label {
  std::string name;
  std::string description;  // optional, shown to the model
};

struct ClassifyRequest {
  std::string text;
  std::vector<Label> labels;  // at least two distinct names (one with multi_label)
  std::string instruction;    // "" = "Classify the text into one of these labels."
  // "raw" (sum of the label's token log-probabilities) or "mean" (length-normalised) picks the
  // label; both distributions are returned either way.
  std::string normalise = "raw";
  bool multi_label = false;  // each label judged on its own (yes/no), selected when p >= threshold
  double threshold = 0.5;
  // Contextual calibration (Zhao et al., 2021): divide by the label probabilities the prompt
  // gives a content-free text ("N/A") and renormalise, removing the model's label prior.
  bool calibrate = false;
};

struct LabelScore {
  std::string label;
  double p = 0;       // single-label: the chosen distribution, sums to 1; multi_label: p(yes) alone
  double p_raw = 0;   // softmax of logprob
  double p_mean = 0;  // softmax of mean_logprob
  double logprob = 0, mean_logprob = 0;
  int32_t n_tokens = 0;
  bool selected = false;
};

struct ClassifyResult {
  std::string label;                // the most probable label
  std::vector<std::string> labels;  // multi_label: those at or above the threshold
  std::vector<LabelScore> scores;   // every label, in request order
  std::string method;               // "score" (local) or "generate" (remote fallback)
  Usage usage;
};

// Local roles score every label after one shared prompt (prefilled once, each label a fork,
// ended by the end-of-turn token so that "pos" does not win as a prefix of "positive").
// Multi-label asks "does LABEL apply?" per label and reads p(yes) / (p(yes) + p(no)).
Result<ClassifyResult> classify(host::RoleClient& role, const ClassifyRequest& request);

// ---- rerank ---------------------------------------------------------------------------------

struct RerankRequest {
  std::string query;
  std::vector<std::string> documents;
  int32_t top_k = 0;                  // 0 = all, best first
  std::string instruction;            // "" = the built-in relevance question
  bool listwise = false;              // one generation ranks all documents (a JSON permutation)
  int32_t max_document_tokens = 512;  // longer documents are cut to this many tokens
};

struct RerankHit {
  int32_t index = 0;  // into RerankRequest::documents
  double score = 0;   // pointwise: p(yes) / (p(yes) + p(no)); listwise: 1 / rank
  double logit = 0;   // pointwise: logprob(yes) - logprob(no)
};

struct RerankResult {
  std::vector<RerankHit> results;  // best first, top_k of them
  std::string method;              // "pointwise" or "listwise"
  Usage usage;
};

// Pointwise (local): the instruction and query are one shared prefix; each document and the
// question after it is a continuation, scored in one batch, reading the next-token
// log-probabilities of " yes" and " no". Remote roles have no prompt log-probabilities and run
// listwise (noted in usage).
Result<RerankResult> rerank(host::RoleClient& role, const RerankRequest& request);

// ---- vote -----------------------------------------------------------------------------------

// How an answer is taken from a sample.
struct Extract {
  std::string kind = "last_number";  // "last_number", "final_line", "json_field", "regex", "text"
  std::string field;                 // json_field: a top-level key or a JSON pointer ("/a/b")
  std::string pattern;               // regex (ECMAScript): group 1 if any, else the whole match
};

struct Normalise {
  bool lowercase = true;
  bool whitespace = true;  // trim, and collapse runs to one space
  bool numbers = true;     // "1,000.50" -> "1000.5", "+3" -> "3", "2.0" -> "2"
};

struct VoteRequest {
  Prompt input;
  int32_t n = 5;  // samples, prefilled once and forked
  Sampling sampling{.max_tokens = 256, .temperature = 0.7f, .top_p = 0.95f};
  Extract extract;
  Normalise normalise;
  std::string schema;  // optional: sample each answer under this schema (e.g. for json_field)
  bool return_samples = false;
};

struct VoteSample {
  std::string text;
  std::string answer;  // normalised; "" when nothing could be extracted
  bool has_logprob = false;
  double mean_logprob = 0;
};

struct VoteTally {
  std::string answer;
  int32_t count = 0;
  double mean_logprob = 0;  // over that answer's samples
};

struct VoteResult {
  std::string answer;               // the majority ("" when no sample had one)
  double confidence = 0;            // its count / n
  int32_t n_answered = 0;           // samples with an answer
  std::vector<VoteTally> tally;     // every answer, most votes first
  std::vector<VoteSample> samples;  // with return_samples
  Usage usage;
};

// Ties go to the higher mean log-probability (local roles, and remote ones that return
// logprobs), else to the answer seen first.
Result<VoteResult> vote(host::RoleClient& role, const VoteRequest& request);

// ---- graph ----------------------------------------------------------------------------------

struct Node {
  std::string id;  // normalised name: lowercase, single spaces
  std::string label;
  std::string type;
  std::map<std::string, std::string> properties;
  std::vector<std::string> aliases;  // other spellings merged into this node
};

struct Edge {
  std::string source, target;  // node ids
  std::string relation;
  std::map<std::string, std::string> properties;
};

struct Graph {
  std::vector<Node> nodes;
  std::vector<Edge> edges;
};

struct GraphRequest {
  std::string text;
  std::vector<std::string> node_types;      // optional: the allowed types
  std::vector<std::string> relation_types;  // optional: the allowed relations
  // "schema" (Troika's prompt and the nodes/edges schema above) or "phi3-graph" (the prompt and
  // output format Phi-3-mini-4k-instruct-graph was tuned on: nodes {id,type,detailed_type},
  // edges {from,to,label}).
  std::string mode = "schema";
  int32_t chunk_tokens = 1024;  // longer texts are split at sentence ends into chunks this long
  int32_t overlap_tokens = 64;
  // Bounds per chunk that keep a wandering model from running to max_tokens: nodes and edges
  // listed, and the length of each name, type, relation and property (in characters).
  int32_t max_nodes = 64, max_edges = 128, max_name_chars = 120;
  Sampling sampling{.max_tokens = 1024};
};

struct GraphResult {
  Graph graph;  // every edge's endpoints are nodes; no duplicate nodes or edges
  int32_t chunks = 0;
  int32_t dropped_edges = 0;  // edges whose endpoints were not nodes, or were duplicates
  Usage usage;
};

Result<GraphResult> graph(host::RoleClient& role, const GraphRequest& request);

// Exports: "json", "graphml", "dot", "csv" (a nodes table, a blank line, an edges table).
// Errors: invalid_argument for another format name.
Result<std::string> export_graph(const Graph& graph, std::string_view format);

// ---- one JSON shape for the CLI, the server and jobs -------------------------------------------

// "json", "tools", "classify", "rerank", "vote", "graph".
const std::vector<std::string>& names();
// The seed's role for a pipeline: fast (json, tools), tool (classify, rerank, vote), graph.
std::string default_role(std::string_view pipeline);

// Runs a pipeline on one JSON request object (docs/pipelines/<name>.md) and returns its JSON
// response object; `execute` serves the tools pipeline. Errors: invalid_argument naming the field
// at fault (unknown fields are errors, not ignored), not_found (no such pipeline).
// A request's "reproducible": true field sets Control::reproducible for it.
Result<std::string> run(std::string_view pipeline, host::RoleClient& role,
                        std::string_view request_json, const ToolExecutor& execute = {},
                        const Control& control = {});

}  // namespace troika::pipeline
