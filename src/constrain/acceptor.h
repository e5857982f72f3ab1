// The acceptor benchmark behind `troika constrain-bench`: schema test files walked token by
// token through the masks. A valid instance must be accepted to its end; an invalid one must
// be rejected somewhere (a token outside the mask, or no end allowed).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "troika/constrain.h"
#include "troika/engine.h"

namespace troika::constrain {

struct AcceptorOptions {
  SchemaOptions::Draft draft = SchemaOptions::Draft::k202012;  // when a file does not say
  bool infer_draft_from_path = true;  // a path containing "draft7" or "draft-07" means draft-07
  // Documents for $ref by URI; empty: the suite's remotes/ folder when a path lies in a
  // JSON-Schema-Test-Suite checkout (served as http://localhost:1234/ in the suite's README).
  std::map<std::string, std::string> documents;
};

// The suite's remotes/ folder as documents keyed by http://localhost:1234/<relative path>.
std::map<std::string, std::string> load_suite_remotes(const std::string& remotes_dir);

struct AcceptorReport {
  int64_t schemas = 0, tests = 0, pass = 0, false_accept = 0, false_reject = 0, refused = 0;
  int64_t schema_errors = 0;  // schemas rejected as malformed (invalid_argument)
  double compile_p50_us = 0, compile_p99_us = 0, mask_p50_us = 0, mask_p99_us = 0;
  int64_t masks = 0;
  std::vector<std::string> failures;  // "file: case / test: false accept|false reject ..."
  std::vector<std::pair<double, std::string>> slowest;  // the 10 slowest masks (us, where)
  std::string to_json() const;  // the one-line summary constrain-bench prints
};

// Reads files in the JSON-Schema-Test-Suite layout (an array of {schema, tests}) or the
// MaskBench layout (one {schema, tests} object); a folder means its *.json files (not its
// subfolders). Instances are serialised canonically and tokenised with `model`'s tokenizer.
// Errors: not_found (a path), invalid_argument (a file that is not one of the layouts).
Result<AcceptorReport> run_acceptor(const std::vector<std::string>& paths,
                                    std::shared_ptr<const engine::Model> model,
                                    const AcceptorOptions& options = {});

}  // namespace troika::constrain
