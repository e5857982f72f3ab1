#include "acceptor.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "schema_compile.h"

namespace troika::constrain {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1)));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

double since_us(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

struct Walk {
  bool accepted = false;
  std::string where;  // how far it got, for failure reports
};

// Walks `text` token by token through a fresh constraint; records each mask's time.
Walk walk(TextConstraint& c, const std::vector<engine::Token>& tokens, const TokenIndex& index,
          std::vector<double>& mask_us, std::vector<std::pair<double, std::string>>& slowest,
          const std::string& name) {
  engine::TokenMask mask;
  Walk w;
  std::string so_far;
  for (size_t i = 0; i <= tokens.size(); ++i) {
    mask.reset(index.n_vocab(), false);
    auto t0 = Clock::now();
    c.fill_mask(mask);
    mask_us.push_back(since_us(t0));
    if (slowest.size() < 10 || mask_us.back() > slowest.back().first) {
      slowest.emplace_back(mask_us.back(), name + " after '" + so_far + "'");
      std::sort(slowest.begin(), slowest.end(), std::greater<>());
      if (slowest.size() > 10) slowest.pop_back();
    }
    if (i == tokens.size()) {
      bool end = false;
      for (engine::Token e : index.eog()) end = end || mask.allows(e);
      w.accepted = end;
      w.where = so_far + " <end>";
      return w;
    }
    engine::Token t = tokens[i];
    if (!mask.allows(t)) {
      w.where = so_far + " <" + index.piece(t) + ">";
      return w;
    }
    if (!c.advance(t).ok()) {
      w.where = so_far + " <" + index.piece(t) + "> (masked in, but advance failed)";
      return w;
    }
    so_far += index.piece(t);
  }
  return w;
}

}  // namespace

std::map<std::string, std::string> load_suite_remotes(const std::string& remotes_dir) {
  std::map<std::string, std::string> docs;
  std::error_code ec;
  if (!fs::is_directory(remotes_dir, ec)) return docs;
  for (const auto& e : fs::recursive_directory_iterator(remotes_dir)) {
    if (!e.is_regular_file() || e.path().extension() != ".json") continue;
    std::ifstream in(e.path());
    std::string text((std::istreambuf_iterator<char>(in)), {});
    docs["http://localhost:1234/" + fs::relative(e.path(), remotes_dir).generic_string()] = text;
  }
  return docs;
}

std::string AcceptorReport::to_json() const {
  nlohmann::ordered_json j = {{"schemas", schemas},
                              {"tests", tests},
                              {"pass", pass},
                              {"false_accept", false_accept},
                              {"false_reject", false_reject},
                              {"refused", refused},
                              {"schema_errors", schema_errors},
                              {"masks", masks},
                              {"compile_p50_us", compile_p50_us},
                              {"compile_p99_us", compile_p99_us},
                              {"mask_p50_us", mask_p50_us},
                              {"mask_p99_us", mask_p99_us}};
  return j.dump();
}

Result<AcceptorReport> run_acceptor(const std::vector<std::string>& paths,
                                    std::shared_ptr<const engine::Model> model,
                                    const AcceptorOptions& options) {
  auto index = TokenIndex::create(model);
  if (!index.ok()) return index.status();
  std::vector<fs::path> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> in;
      for (const auto& e : fs::directory_iterator(p)) {
        if (e.is_regular_file() && e.path().extension() == ".json") in.push_back(e.path());
      }
      std::sort(in.begin(), in.end());
      files.insert(files.end(), in.begin(), in.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.emplace_back(p);
    } else {
      return not_found("no such file or folder: " + p);
    }
  }
  AcceptorReport r;
  std::vector<double> compile_us, mask_us;
  for (const auto& f : files) {
    std::ifstream in(f);
    Json doc = Json::parse(in, nullptr, false);
    if (doc.is_discarded()) return invalid_argument(f.string() + " is not valid JSON");
    if (doc.is_object()) doc = Json::array({doc});
    if (!doc.is_array()) {
      return invalid_argument(f.string() +
                              " is neither an array of {schema, tests} nor one such object");
    }
    SchemaOptions so;
    so.default_draft = options.draft;
    so.documents = options.documents;
    if (so.documents.empty()) {
      // .../tests/<draft>/file.json in a suite checkout: its remotes/ are two levels up.
      fs::path remotes = f.parent_path().parent_path().parent_path() / "remotes";
      so.documents = load_suite_remotes(remotes.string());
    }
    std::string fp = f.string();
    if (options.infer_draft_from_path &&
        (fp.find("draft7") != std::string::npos || fp.find("draft-07") != std::string::npos)) {
      so.default_draft = SchemaOptions::Draft::k7;
    }
    for (const auto& c : doc) {
      if (!c.is_object() || !c.contains("schema") || !c.contains("tests") ||
          !c["tests"].is_array()) {
        return invalid_argument(f.string() + ": a case needs \"schema\" and \"tests\"");
      }
      ++r.schemas;
      const int64_t n_tests = static_cast<int64_t>(c["tests"].size());
      r.tests += n_tests;
      std::string name = f.filename().string() + ": " + c.value("description", "");
      auto t0 = Clock::now();
      auto schema = Schema::compile(c["schema"].dump(), so);
      Result<std::unique_ptr<TextConstraint>> probe =
          schema.ok() ? json_constraint(*schema, *index)
                      : Result<std::unique_ptr<TextConstraint>>(schema.status());
      double us = since_us(t0);
      if (!probe.ok() && !(schema.ok() && probe.status().code() == Code::kInvalidArgument)) {
        if (probe.status().code() == Code::kUnimplemented ||
            probe.status().code() == Code::kResourceExhausted) {
          r.refused += n_tests;
        } else {
          ++r.schema_errors;
          r.false_reject += n_tests;  // counted against us: a schema we should handle
          r.failures.push_back(name + ": schema error: " + probe.status().to_string());
        }
        continue;
      }
      compile_us.push_back(us);
      // A schema that accepts nothing: every instance must be invalid.
      const bool rejects_all =
          !probe.ok() && probe.status().code() == Code::kInvalidArgument && schema.ok();
      for (const auto& t : c["tests"]) {
        if (rejects_all) {
          if (t.value("valid", false)) {
            ++r.false_reject;
            r.failures.push_back(name + ": schema rejects everything, yet " +
                                 canonical_dump(t["data"]) + " is valid");
          } else {
            ++r.pass;
          }
          continue;
        }
        std::string text = canonical_dump(t["data"]);
        bool valid = t.value("valid", false);
        auto tokens = model->tokenize(text, false, false);
        auto constraint = json_constraint(*schema, *index);
        if (!tokens.ok() || !constraint.ok()) {
          ++r.false_reject;
          r.failures.push_back(name + ": cannot tokenize or constrain " + text);
          continue;
        }
        Walk w = walk(**constraint, *tokens, **index, mask_us, r.slowest, name);
        if (w.accepted == valid) {
          ++r.pass;
        } else if (w.accepted) {
          ++r.false_accept;
          r.failures.push_back(name + " / " + t.value("description", "") + ": false accept of " +
                               text);
        } else {
          ++r.false_reject;
          r.failures.push_back(name + " / " + t.value("description", "") + ": false reject at " +
                               w.where);
        }
      }
    }
  }
  r.masks = static_cast<int64_t>(mask_us.size());
  r.compile_p50_us = percentile(compile_us, 0.50);
  r.compile_p99_us = percentile(compile_us, 0.99);
  r.mask_p50_us = percentile(mask_us, 0.50);
  r.mask_p99_us = percentile(mask_us, 0.99);
  return r;
}

}  // namespace troika::constrain
