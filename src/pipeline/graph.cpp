// The graph pipeline: text -> nodes and edges under a schema, chunked, entities merged.
#include <algorithm>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "base/ascii.h"
#include "pipeline/common.h"
#include "troika/constrain.h"

namespace troika::pipeline {

namespace {

using nlohmann::json;

json string_or_enum(const std::vector<std::string>& values, int32_t max_chars) {
  if (values.empty()) return {{"type", "string"}, {"minLength", 1}, {"maxLength", max_chars}};
  return {{"enum", values}};
}

json schema_for(const GraphRequest& r) {
  const int32_t n = r.max_name_chars;
  const json text = {{"type", "string"}, {"maxLength", n}};
  // Property keys are identifiers (patternProperties is enforced by the token mask key by key;
  // propertyNames is only checked when the object closes).
  const json props = {{"type", "object"},
                      {"patternProperties", {{"^[A-Za-z0-9_]{1,32}$", text}}},
                      {"additionalProperties", false},
                      {"maxProperties", 8}};
  const json id = {{"type", "string"}, {"minLength", 1}, {"maxLength", n}};
  auto list = [](json item, int32_t max) {
    return json{{"type", "array"}, {"items", std::move(item)}, {"maxItems", max}};
  };
  if (r.mode == "phi3-graph") {
    json node = {{"type", "object"},
                 {"properties",
                  {{"id", id}, {"type", string_or_enum(r.node_types, n)}, {"detailed_type", text}}},
                 {"required", {"id", "type", "detailed_type"}},
                 {"additionalProperties", false}};
    json edge = {
        {"type", "object"},
        {"properties", {{"from", id}, {"to", id}, {"label", string_or_enum(r.relation_types, n)}}},
        {"required", {"from", "to", "label"}},
        {"additionalProperties", false}};
    return {
        {"type", "object"},
        {"properties", {{"nodes", list(node, r.max_nodes)}, {"edges", list(edge, r.max_edges)}}},
        {"required", {"nodes", "edges"}},
        {"additionalProperties", false}};
  }
  json node = {{"type", "object"},
               {"properties",
                {{"id", id},
                 {"label", id},
                 {"type", string_or_enum(r.node_types, n)},
                 {"properties", props}}},
               {"required", {"id", "label", "type"}},
               {"additionalProperties", false}};
  json edge = {{"type", "object"},
               {"properties",
                {{"source", id},
                 {"target", id},
                 {"relation", string_or_enum(r.relation_types, n)},
                 {"properties", props}}},
               {"required", {"source", "target", "relation"}},
               {"additionalProperties", false}};
  return {{"type", "object"},
          {"properties", {{"nodes", list(node, r.max_nodes)}, {"edges", list(edge, r.max_edges)}}},
          {"required", {"nodes", "edges"}},
          {"additionalProperties", false}};
}

std::vector<engine::ChatMessage> messages_for(const GraphRequest& r, const std::string& chunk,
                                              const json& schema) {
  if (r.mode == "phi3-graph") {
    // The prompt Phi-3-mini-4k-instruct-graph was tuned on (its model card), in short.
    std::string system =
        "A chat between a curious user and an artificial intelligence Assistant. The Assistant "
        "is an expert at identifying entities and relationships in text. The Assistant responds "
        "in JSON output only.\n\nThe User provides text in the format:\n\n-------Text "
        "begin-------\n<User provided text>\n-------Text end-------\n\nThe Assistant follows the "
        "following steps before replying to the User:\n\n1. **identify the most important "
        "entities** The Assistant identifies the most important entities in the text. These "
        "entities are listed in the JSON output under the key \"nodes\", they follow the "
        "structure of a list of dictionaries where each dict is:\n\n\"nodes\":[{\"id\": <entity "
        "N>, \"type\": <type>, \"detailed_type\": <detailed type>}, ...]\n\nwhere \"type\": "
        "<type> is a broad categorization of the entity. \"detailed type\": <detailed_type>  is "
        "a very descriptive categorization of the entity.\n\n2. **determine relationships** The "
        "Assistant uses the text between -------Text begin------- and -------Text end------- to "
        "determine the relationships between the entities identified in the \"nodes\" list "
        "defined above. These relationships are called \"edges\" and they follow the structure "
        "of:\n\n\"edges\":[{\"from\": <entity 1>, \"to\": <entity 2>, \"label\": "
        "<relationship>}, ...]\n\nThe <entity N> must correspond to the \"id\" of an entity in "
        "the \"nodes\" list.\n\nThe Assistant never repeats the same node twice. The Assistant "
        "never repeats the same edge twice.\nThe Assistant responds to the User in JSON only, "
        "according to the following JSON schema:\n\n" +
        schema.dump();
    return {{"system", system},
            {"user", "-------Text begin-------\n" + chunk + "\n-------Text end-------"}};
  }
  std::string user =
      "Extract the entities and the relationships between them from the text below as a graph. "
      "Nodes: {\"id\": a short unique id, \"label\": the entity's name as written, \"type\": its "
      "kind, \"properties\": facts about it}. Edges: {\"source\": a node id, \"target\": a node "
      "id, \"relation\": how they are related}. Every edge's source and target must be ids of "
      "nodes you list. Do not repeat nodes or edges.";
  if (!r.node_types.empty()) user += "\nNode types: " + json(r.node_types).dump();
  if (!r.relation_types.empty()) user += "\nRelations: " + json(r.relation_types).dump();
  user += "\n\nText:\n" + chunk + "\n\nAnswer with JSON only.";
  return {{"user", user}};
}

// Sentences (ending at . ! ? or a blank line, the separator kept with the sentence).
std::vector<std::string> sentences(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < text.size(); ++i) {
    cur += text[i];
    const bool end = (text[i] == '.' || text[i] == '!' || text[i] == '?') &&
                     (i + 1 == text.size() || text[i + 1] == ' ' || text[i + 1] == '\n');
    const bool para = text[i] == '\n' && i + 1 < text.size() && text[i + 1] == '\n';
    if (end || para) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// Chunks of at most chunk_tokens (a sentence longer than that is a chunk of its own), each
// starting with up to overlap_tokens of the previous chunk's last sentences.
std::vector<std::string> chunk_text(const GraphRequest& r, const engine::Model* model) {
  auto count = [&](const std::string& s) -> int32_t {
    if (model) {
      auto ids = model->tokenize(s, false, false);
      if (ids.ok()) return static_cast<int32_t>(ids->size());
    }
    return static_cast<int32_t>(s.size() / 4 + 1);  // remote: about 4 bytes a token
  };
  const std::vector<std::string> parts = sentences(r.text);
  std::vector<int32_t> sizes;
  for (const auto& p : parts) sizes.push_back(count(p));
  std::vector<std::string> chunks;
  size_t i = 0;
  while (i < parts.size()) {
    size_t j = i;
    int32_t n = 0;
    while (j < parts.size() && (j == i || n + sizes[j] <= r.chunk_tokens)) n += sizes[j++];
    std::string chunk;
    // Overlap: sentences before i, back to overlap_tokens.
    size_t k = i;
    int32_t back = 0;
    while (!chunks.empty() && k > 0 && back + sizes[k - 1] <= r.overlap_tokens) back += sizes[--k];
    for (size_t m = k; m < j; ++m) chunk += parts[m];
    chunks.push_back(std::move(chunk));
    i = j;
  }
  return chunks;
}

// The merge key of an entity name: lowercase, single spaces, no surrounding punctuation, no
// leading article.
std::string entity_key(std::string_view name) {
  std::string s = ascii_lower(detail::squash_spaces(name));
  auto punct = [](char c) {
    return c == '.' || c == ',' || c == ';' || c == ':' || c == '"' || c == '\'';
  };
  while (!s.empty() && punct(s.back())) s.pop_back();
  while (!s.empty() && punct(s.front())) s.erase(s.begin());
  for (const char* article : {"the ", "a ", "an "}) {
    if (s.starts_with(article) && s.size() > std::string_view(article).size()) {
      s = s.substr(std::string_view(article).size());
      break;
    }
  }
  return s;
}

std::map<std::string, std::string> string_map(const json& j) {
  std::map<std::string, std::string> out;
  if (!j.is_object()) return out;
  for (const auto& [k, v] : j.items()) out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return out;
}

// Accumulates chunk graphs into one, merging nodes by key.
class Merger {
 public:
  // Nodes of every chunk first, then edges, so that an edge may name an entity that another
  // chunk introduced.
  void add_nodes(const json& g, bool phi3) {
    std::map<std::string, std::string>& local = locals_.emplace_back();  // chunk id -> key
    for (const json& n : g.value("nodes", json::array())) {
      const std::string id = n.value("id", "");
      const std::string label = phi3 ? id : n.value("label", id);
      const std::string key = entity_key(label.empty() ? id : label);
      if (key.empty()) continue;
      local[id] = key;
      auto [it, fresh] = index_.try_emplace(key, nodes_.size());
      if (fresh) {
        Node node;
        node.id = key;
        node.label = detail::squash_spaces(label);
        node.type = n.value("type", "");
        if (phi3) {
          if (!n.value("detailed_type", "").empty())
            node.properties["detailed_type"] = n.value("detailed_type", "");
        } else {
          node.properties = string_map(n.value("properties", json::object()));
        }
        nodes_.push_back(std::move(node));
        continue;
      }
      Node& node = nodes_[it->second];
      const std::string spelled = detail::squash_spaces(label);
      if (spelled != node.label &&
          std::find(node.aliases.begin(), node.aliases.end(), spelled) == node.aliases.end()) {
        node.aliases.push_back(spelled);
      }
      if (node.type.empty()) node.type = n.value("type", "");
      if (!phi3) {
        for (const auto& [k, v] : string_map(n.value("properties", json::object())))
          node.properties.try_emplace(k, v);
      }
    }
  }
  void add_edges(size_t chunk, const json& g, bool phi3) {
    const std::map<std::string, std::string>& local = locals_.at(chunk);
    for (const json& e : g.value("edges", json::array())) {
      const std::string s = resolve(local, e.value(phi3 ? "from" : "source", ""));
      const std::string t = resolve(local, e.value(phi3 ? "to" : "target", ""));
      const std::string rel = detail::squash_spaces(e.value(phi3 ? "label" : "relation", ""));
      if (s.empty() || t.empty() || rel.empty() ||
          !edge_keys_.insert(s + '\x1f' + t + '\x1f' + ascii_lower(rel)).second) {
        ++dropped_;
        continue;
      }
      Edge edge{s, t, rel,
                phi3 ? std::map<std::string, std::string>{}
                     : string_map(e.value("properties", json::object()))};
      edges_.push_back(std::move(edge));
    }
  }
  Graph take() { return {std::move(nodes_), std::move(edges_)}; }
  int32_t dropped() const { return dropped_; }

 private:
  // An edge endpoint: the chunk's node id, else a merged node's name; "" when neither.
  std::string resolve(const std::map<std::string, std::string>& local, const std::string& ref) {
    auto it = local.find(ref);
    if (it != local.end()) return it->second;
    const std::string key = entity_key(ref);
    return index_.count(key) ? key : "";
  }

  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  std::map<std::string, size_t> index_;
  std::set<std::string> edge_keys_;
  std::vector<std::map<std::string, std::string>> locals_;
  int32_t dropped_ = 0;
};

}  // namespace

Result<GraphResult> graph(host::RoleClient& role, const GraphRequest& request) {
  const auto t0 = detail::Clock::now();
  if (request.text.empty()) return invalid_argument("text: must not be empty");
  if (request.mode != "schema" && request.mode != "phi3-graph") {
    return invalid_argument("mode: '" + request.mode + "' is not schema or phi3-graph");
  }
  if (request.chunk_tokens < 16) return invalid_argument("chunk_tokens: at least 16");
  if (request.max_nodes < 1 || request.max_edges < 0 || request.max_name_chars < 1) {
    return invalid_argument("max_nodes, max_edges and max_name_chars: must be positive");
  }
  if (request.overlap_tokens < 0 || request.overlap_tokens >= request.chunk_tokens) {
    return invalid_argument("overlap_tokens: must be 0 or more and less than chunk_tokens");
  }
  GraphResult out;
  out.usage = detail::start_usage(role);
  const engine::Model* model = role.scheduler() ? &role.scheduler()->model() : nullptr;
  const std::vector<std::string> chunks = chunk_text(request, model);
  const nlohmann::json schema = schema_for(request);
  // Chunks run at once; a local scheduler batches them.
  std::vector<std::future<Result<JsonResult>>> runs;
  for (const auto& chunk : chunks) {
    JsonRequest jr;
    jr.input.messages = messages_for(request, chunk, schema);
    jr.schema = schema.dump();
    jr.sampling = request.sampling;
    runs.push_back(std::async(std::launch::async, [&role, jr, control = ScopedControl::current()] {
      ScopedControl scope(control);
      return pipeline::json(role, jr);
    }));
  }
  Merger merger;
  std::vector<Result<JsonResult>> results;
  for (auto& f : runs) results.push_back(f.get());
  std::vector<nlohmann::json> parsed;
  for (auto& r : results) {
    if (!r.ok()) return r.status();
    out.usage.calls += r->usage.calls;
    out.usage.prompt_tokens += r->usage.prompt_tokens;
    out.usage.cached_tokens += r->usage.cached_tokens;
    out.usage.completion_tokens += r->usage.completion_tokens;
    for (auto& n : r->usage.notes) out.usage.notes.push_back(n);
    parsed.push_back(nlohmann::json::parse(r->json));
  }
  const bool phi3 = request.mode == "phi3-graph";
  for (const auto& g : parsed) merger.add_nodes(g, phi3);
  for (size_t i = 0; i < parsed.size(); ++i) merger.add_edges(i, parsed[i], phi3);
  out.graph = merger.take();
  out.dropped_edges = merger.dropped();
  out.chunks = static_cast<int32_t>(chunks.size());
  out.usage.ms = detail::ms_since(t0);
  return out;
}

}  // namespace troika::pipeline
