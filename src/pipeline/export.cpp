// Graph exports: JSON, GraphML, DOT, CSV.
#include <nlohmann/json.hpp>
#include <set>

#include "pipeline/shapes.h"

namespace troika::pipeline {

namespace {

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A DOT double-quoted string.
std::string dot_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// An RFC 4180 field.
std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string properties_json(const std::map<std::string, std::string>& p) {
  return p.empty() ? "" : nlohmann::json(p).dump();
}

std::string graphml(const Graph& g) {
  std::set<std::string> node_keys, edge_keys;
  for (const Node& n : g.nodes)
    for (const auto& [k, v] : n.properties) node_keys.insert(k);
  for (const Edge& e : g.edges)
    for (const auto& [k, v] : e.properties) edge_keys.insert(k);
  std::string s =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n"
      "  <key id=\"label\" for=\"node\" attr.name=\"label\" attr.type=\"string\"/>\n"
      "  <key id=\"type\" for=\"node\" attr.name=\"type\" attr.type=\"string\"/>\n"
      "  <key id=\"aliases\" for=\"node\" attr.name=\"aliases\" attr.type=\"string\"/>\n"
      "  <key id=\"relation\" for=\"edge\" attr.name=\"relation\" attr.type=\"string\"/>\n";
  for (const auto& k : node_keys) {
    s += "  <key id=\"n_" + xml_escape(k) + "\" for=\"node\" attr.name=\"" + xml_escape(k) +
         "\" attr.type=\"string\"/>\n";
  }
  for (const auto& k : edge_keys) {
    s += "  <key id=\"e_" + xml_escape(k) + "\" for=\"edge\" attr.name=\"" + xml_escape(k) +
         "\" attr.type=\"string\"/>\n";
  }
  s += "  <graph id=\"G\" edgedefault=\"directed\">\n";
  for (const Node& n : g.nodes) {
    s += "    <node id=\"" + xml_escape(n.id) + "\">\n";
    s += "      <data key=\"label\">" + xml_escape(n.label) + "</data>\n";
    s += "      <data key=\"type\">" + xml_escape(n.type) + "</data>\n";
    if (!n.aliases.empty()) {
      s += "      <data key=\"aliases\">" + xml_escape(nlohmann::json(n.aliases).dump()) +
           "</data>\n";
    }
    for (const auto& [k, v] : n.properties)
      s += "      <data key=\"n_" + xml_escape(k) + "\">" + xml_escape(v) + "</data>\n";
    s += "    </node>\n";
  }
  for (size_t i = 0; i < g.edges.size(); ++i) {
    const Edge& e = g.edges[i];
    s += "    <edge id=\"e" + std::to_string(i) + "\" source=\"" + xml_escape(e.source) +
         "\" target=\"" + xml_escape(e.target) + "\">\n";
    s += "      <data key=\"relation\">" + xml_escape(e.relation) + "</data>\n";
    for (const auto& [k, v] : e.properties)
      s += "      <data key=\"e_" + xml_escape(k) + "\">" + xml_escape(v) + "</data>\n";
    s += "    </edge>\n";
  }
  return s + "  </graph>\n</graphml>\n";
}

std::string dot(const Graph& g) {
  std::string s = "digraph G {\n";
  for (const Node& n : g.nodes) {
    s += "  " + dot_quote(n.id) + " [label=" + dot_quote(n.label) + ", type=" + dot_quote(n.type) +
         "];\n";
  }
  for (const Edge& e : g.edges) {
    s += "  " + dot_quote(e.source) + " -> " + dot_quote(e.target) +
         " [label=" + dot_quote(e.relation) + "];\n";
  }
  return s + "}\n";
}

std::string csv(const Graph& g) {
  std::string s = "id,label,type,aliases,properties\n";
  for (const Node& n : g.nodes) {
    s += csv_field(n.id) + "," + csv_field(n.label) + "," + csv_field(n.type) + "," +
         csv_field(n.aliases.empty() ? "" : nlohmann::json(n.aliases).dump()) + "," +
         csv_field(properties_json(n.properties)) + "\n";
  }
  s += "\nsource,target,relation,properties\n";
  for (const Edge& e : g.edges) {
    s += csv_field(e.source) + "," + csv_field(e.target) + "," + csv_field(e.relation) + "," +
         csv_field(properties_json(e.properties)) + "\n";
  }
  return s;
}

}  // namespace

Result<std::string> export_graph(const Graph& graph, std::string_view format) {
  if (format == "json") return detail::to_json(graph).dump(2) + "\n";
  if (format == "graphml") return graphml(graph);
  if (format == "dot") return dot(graph);
  if (format == "csv") return csv(graph);
  return invalid_argument("graph format '" + std::string(format) +
                          "' is not json, graphml, dot or csv");
}

}  // namespace troika::pipeline
