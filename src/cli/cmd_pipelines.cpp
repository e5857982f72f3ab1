// The pipeline commands' own flags (one input) and how each prints a response.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "cli/cli.h"
#include "cli/pipeline_cli.h"
#include "troika/pipeline.h"

namespace troika::cli {

namespace {

using nlohmann::json;

struct Inputs {
  PipelineFlags common;
  std::string text, text_file, query, prompt, system, tools_file, docs_file, extract, mode, format,
      tool_choice, normalise;
  std::vector<std::string> labels, docs, node_types, relations;
  int32_t top_k = 0, n = 0, max_steps = 0, max_tokens = 0;
  float temperature = -1;
  uint32_t seed = 0;
  bool multi_label = false, calibrate = false, listwise = false, has_seed = false;
  double threshold = -1;
};

// Fields given on the command line, for the JSON request.
json common_fields(const Inputs& in, CLI::App* cmd) {
  json j = json::object();
  if (!in.prompt.empty()) j["prompt"] = in.prompt;
  if (!in.system.empty()) j["system"] = in.system;
  if (in.max_tokens > 0) j["max_tokens"] = in.max_tokens;
  if (in.temperature >= 0) j["temperature"] = in.temperature;
  if (cmd->count("--seed")) j["seed"] = in.seed;
  return j;
}

Result<std::string> text_of(const Inputs& in) {
  if (in.text_file.empty()) return in.text;
  return read_file(in.text_file);
}

void sampling_flags(CLI::App* cmd, Inputs& in) {
  cmd->add_option("--max-tokens", in.max_tokens, "most new tokens per generation");
  cmd->add_option("--temp", in.temperature, "temperature (0 = greedy)");
  cmd->add_option("--seed", in.seed, "sampling seed");
}

void usage_line(const json& out) {
  const json& u = out["usage"];
  for (const auto& n : u["notes"]) std::printf("note: %s\n", n.get<std::string>().c_str());
}

}  // namespace

void add_pipeline_commands(CLI::App& app, int* exit_code) {
  {
    auto* cmd = app.add_subcommand(
        "classify", "A probability for every label of a text, from shared-prefix scoring");
    auto in = std::make_shared<Inputs>();
    in->common.add_to(cmd);
    cmd->add_option("--text", in->text, "the text to classify");
    cmd->add_option("--text-file", in->text_file, "read the text from a file");
    cmd->add_option("-l,--label", in->labels, "a label, or 'label: description' (repeatable)");
    cmd->add_flag("--multi-label", in->multi_label, "judge each label on its own (yes/no)");
    cmd->add_option("--threshold", in->threshold, "multi-label: select labels with p >= this");
    cmd->add_flag("--calibrate", in->calibrate,
                  "contextual calibration against a content-free text");
    cmd->add_option("--normalise", in->normalise, "raw | mean (length-normalised)");
    cmd->callback([=] {
      json j = json::object();
      auto text = text_of(*in);
      if (!text.ok()) {
        *exit_code = report(text.status());
        return;
      }
      if (!text->empty()) j["text"] = *text;
      for (const auto& l : in->labels) {
        const size_t colon = l.find(": ");
        if (!j.contains("labels")) j["labels"] = json::array();
        if (colon == std::string::npos) {
          j["labels"].push_back(l);
        } else {
          j["labels"].push_back(
              {{"name", l.substr(0, colon)}, {"description", l.substr(colon + 2)}});
        }
      }
      if (in->multi_label) j["multi_label"] = true;
      if (in->threshold >= 0) j["threshold"] = in->threshold;
      if (in->calibrate) j["calibrate"] = true;
      if (!in->normalise.empty()) j["normalise"] = in->normalise;
      *exit_code = run_pipeline("classify", in->common, j, [](const json& out) {
        std::printf("%s\n", out["label"].get<std::string>().c_str());
        for (const auto& s : out["scores"]) {
          std::printf("  %-24s p=%.4f raw=%.4f mean=%.4f%s\n",
                      s["label"].get<std::string>().c_str(), s["p"].get<double>(),
                      s["p_raw"].get<double>(), s["p_mean"].get<double>(),
                      s["selected"].get<bool>() ? "  *" : "");
        }
        usage_line(out);
      });
    });
  }
  {
    auto* cmd = app.add_subcommand("rerank", "Score documents by relevance to a query, best first");
    auto in = std::make_shared<Inputs>();
    in->common.add_to(cmd);
    cmd->add_option("-q,--query", in->query, "the query");
    cmd->add_option("-d,--doc", in->docs, "a document (repeatable)");
    cmd->add_option("--docs-file", in->docs_file, "documents, one per line");
    cmd->add_option("-k,--top-k", in->top_k, "keep the k best (0 = all)");
    cmd->add_flag("--listwise", in->listwise, "one generation ranks all documents");
    cmd->callback([=] {
      json j = json::object();
      if (!in->query.empty()) j["query"] = in->query;
      std::vector<std::string> docs = in->docs;
      if (!in->docs_file.empty()) {
        std::ifstream f(in->docs_file);
        if (!f) {
          *exit_code = report(not_found("documents file not found: " + in->docs_file));
          return;
        }
        for (std::string line; std::getline(f, line);)
          if (!line.empty()) docs.push_back(line);
      }
      if (!docs.empty()) j["documents"] = docs;
      if (in->top_k > 0) j["top_k"] = in->top_k;
      if (in->listwise) j["listwise"] = true;
      *exit_code = run_pipeline("rerank", in->common, j, [docs](const json& out) {
        for (const auto& h : out["results"]) {
          const int i = h["index"].get<int>();
          std::string d = i < static_cast<int>(docs.size()) ? docs[i] : "";
          if (d.size() > 60) d = d.substr(0, 57) + "...";
          std::printf("%4d  %.4f  %s\n", i, h["score"].get<double>(), d.c_str());
        }
        usage_line(out);
      });
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "vote", "Self-consistency: N samples (one prefill), answers extracted, the majority");
    auto in = std::make_shared<Inputs>();
    in->common.add_to(cmd);
    cmd->add_option("-p,--prompt", in->prompt, "the question (the user turn)");
    cmd->add_option("--system", in->system, "a system turn");
    cmd->add_option("-n", in->n, "samples (default 5)");
    cmd->add_option("--extract", in->extract,
                    "last_number | final_line | text | json_field:NAME | regex:PATTERN");
    sampling_flags(cmd, *in);
    cmd->callback([=] {
      json j = common_fields(*in, cmd);
      if (in->n > 0) j["n"] = in->n;
      const std::string& x = in->extract;
      if (x.starts_with("json_field:")) {
        j["extract"] = {{"kind", "json_field"}, {"field", x.substr(11)}};
      } else if (x.starts_with("regex:")) {
        j["extract"] = {{"kind", "regex"}, {"pattern", x.substr(6)}};
      } else if (!x.empty()) {
        j["extract"] = x;
      }
      *exit_code = run_pipeline("vote", in->common, j, [](const json& out) {
        std::printf("%s\n", out["answer"].get<std::string>().c_str());
        std::printf("  confidence %.2f (%d of the samples answered)\n",
                    out["confidence"].get<double>(), out["n_answered"].get<int>());
        for (const auto& t : out["tally"]) {
          std::printf("  %3d  %s\n", t["count"].get<int>(), t["answer"].get<std::string>().c_str());
        }
        usage_line(out);
      });
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "graph", "Extract entities and relations from text as a graph (JSON, GraphML, DOT, CSV)");
    auto in = std::make_shared<Inputs>();
    in->common.add_to(cmd);
    cmd->add_option("--text", in->text, "the text");
    cmd->add_option("--text-file", in->text_file, "read the text from a file");
    cmd->add_option("--mode", in->mode, "schema | phi3-graph (the graph model's own format)");
    cmd->add_option("--node-type", in->node_types, "an allowed node type (repeatable)");
    cmd->add_option("--relation", in->relations, "an allowed relation (repeatable)");
    cmd->add_option("--format", in->format, "output without --json: json | graphml | dot | csv")
        ->default_str("json");
    sampling_flags(cmd, *in);
    cmd->callback([=] {
      json j = common_fields(*in, cmd);
      auto text = text_of(*in);
      if (!text.ok()) {
        *exit_code = report(text.status());
        return;
      }
      if (!text->empty()) j["text"] = *text;
      if (!in->mode.empty()) j["mode"] = in->mode;
      if (!in->node_types.empty()) j["node_types"] = in->node_types;
      if (!in->relations.empty()) j["relation_types"] = in->relations;
      const std::string format = in->format.empty() ? "json" : in->format;
      if (format != "json" && format != "graphml" && format != "dot" && format != "csv") {
        *exit_code =
            report(invalid_argument("--format: '" + format + "' is not json, graphml, dot or csv"));
        return;
      }
      *exit_code = run_pipeline("graph", in->common, j, [format](const json& out) {
        pipeline::Graph g;
        for (const auto& n : out["graph"]["nodes"]) {
          pipeline::Node node{n["id"],
                              n["label"],
                              n["type"],
                              n["properties"].get<std::map<std::string, std::string>>(),
                              {}};
          if (n.contains("aliases")) node.aliases = n["aliases"].get<std::vector<std::string>>();
          g.nodes.push_back(std::move(node));
        }
        for (const auto& e : out["graph"]["edges"]) {
          g.edges.push_back({e["source"], e["target"], e["relation"],
                             e["properties"].get<std::map<std::string, std::string>>()});
        }
        auto text = pipeline::export_graph(g, format);
        std::fputs(text.ok() ? text->c_str() : "", stdout);
      });
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "tools",
        "Function calling: the model's calls (constrained by the tools' schemas), run with --exec "
        "and fed back, or returned for you to run");
    auto in = std::make_shared<Inputs>();
    in->common.add_to(cmd);
    cmd->add_option("-p,--prompt", in->prompt, "the user turn");
    cmd->add_option("--system", in->system, "a system turn");
    cmd->add_option("--tools", in->tools_file,
                    "JSON file: an array of OpenAI function tools {type, function:{name, "
                    "description, parameters}}");
    cmd->add_option(
        "--exec", in->common.exec,
        "JSON file mapping tool names to commands ({\"NAME\": {\"command\": [...], "
        "\"timeout_s\": 10}}): run the calls (arguments on stdin) and feed results back");
    cmd->add_option("--tool-choice", in->tool_choice, "auto | none | required | a tool's name");
    cmd->add_option("--format", in->format, "auto | mistral | llama3 | json");
    cmd->add_option("--max-steps", in->max_steps, "model turns when --exec runs the calls");
    sampling_flags(cmd, *in);
    cmd->callback([=] {
      json j = json::object();
      if (in->max_tokens > 0) j["max_tokens"] = in->max_tokens;
      if (in->temperature >= 0) j["temperature"] = in->temperature;
      if (cmd->count("--seed")) j["seed"] = in->seed;
      if (!in->prompt.empty()) {
        json msgs = json::array();
        if (!in->system.empty()) msgs.push_back({{"role", "system"}, {"content", in->system}});
        msgs.push_back({{"role", "user"}, {"content", in->prompt}});
        j["messages"] = msgs;
      }
      if (!in->tools_file.empty()) {
        auto text = read_file(in->tools_file);
        if (!text.ok()) {
          *exit_code = report(text.status());
          return;
        }
        json tools = json::parse(*text, nullptr, false);
        if (tools.is_discarded()) {
          *exit_code = report(invalid_argument(in->tools_file + ": not JSON"));
          return;
        }
        j["tools"] = tools;
      }
      if (!in->tool_choice.empty()) j["tool_choice"] = in->tool_choice;
      if (!in->format.empty()) j["format"] = in->format;
      if (in->max_steps > 0) j["max_steps"] = in->max_steps;
      *exit_code = run_pipeline("tools", in->common, j, [](const json& out) {
        if (out["finish"] == "tool_calls") {
          for (const auto& c : out["tool_calls"]) {
            std::printf("call %s %s %s\n", c["id"].get<std::string>().c_str(),
                        c["function"]["name"].get<std::string>().c_str(),
                        c["function"]["arguments"].get<std::string>().c_str());
          }
        } else {
          std::printf("%s\n", out["content"].get<std::string>().c_str());
        }
        std::printf("(%s after %d steps, format %s)\n", out["finish"].get<std::string>().c_str(),
                    out["steps"].get<int>(), out["format"].get<std::string>().c_str());
        usage_line(out);
      });
    });
  }
}

}  // namespace troika::cli
