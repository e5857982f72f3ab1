// troika index, search and ask as a user runs them: a folder of every format ingested with the
// embedding model a troika.toml's embed role names, duplicates skipped on a second add, search in
// each mode (Russian too), removal, cited answers, and the errors a user meets first.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "test_models.h"

namespace troika {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::CliRun;
using testing::troika;

struct Kb {
  std::string dir, db, config, flags;
};

// A folder of documents in every text format, and a config with brain, tool and embed roles.
const Kb& kb() {
  static const Kb k = [] {
    Kb k;
    k.dir = testing::temp_dir() + "/kb-e2e-docs";
    fs::remove_all(k.dir);
    fs::create_directories(k.dir + "/nested");
    std::ofstream(k.dir + "/fox.txt") << "Red foxes live in forests and hunt mice at night.\n\n"
                                         "A fox can hear a mouse under the snow.\n";
    std::ofstream(k.dir + "/bonds.md") << "# Bonds\n\nBond prices fall when interest rates rise.\n";
    std::ofstream(k.dir + "/nested/page.html")
        << "<html><head><title>Trains</title><style>p{color:red}</style></head><body>"
           "<p>The night train to Murmansk leaves at nine.</p><script>var x = 'forests';</script>"
           "</body></html>";
    std::ofstream(k.dir + "/records.jsonl")
        << R"({"id": "r1", "title": "Garden", "text": "Tomatoes need sun and water."})"
           "\n"
        << R"({"id": "r2", "title": "Winter", "text": "Snow covers the garden in winter."})"
           "\n";
    std::ofstream(k.dir + "/table.csv") << "id,text\nc1,\"Engines burn fuel, and signals warn.\"\n";
    std::ofstream(k.dir + "/лес.txt") << "Лисы живут в лесу и охотятся на мышей.\n";
    std::ofstream(k.dir + "/ignored.bin") << "not a document";
    k.db = testing::temp_dir() + "/kb-e2e.sqlite";
    for (const std::string& x : {k.db, k.db + ".xapian", k.db + ".faiss", k.db + "-wal"}) {
      fs::remove_all(x);
    }
    k.config = testing::temp_dir() + "/kb-e2e.toml";
    std::ofstream(k.config) << "[roles.brain]\nmodel = \"" << testing::tiny_model("llama", "q8_0")
                            << "\"\nctx = 2048\n[roles.tool]\nmodel = \""
                            << testing::tiny_model("phi3", "q8_0")
                            << "\"\nctx = 2048\n[roles.embed]\nmodel = \""
                            << testing::tiny_model("bert") << "\"\n";
    k.flags = " --db " + k.db + " -c " + k.config + " -t 2";
    CliRun add = troika("index add" + k.flags + " --id-field id --json " + k.dir);
    EXPECT_EQ(add.exit_code, 0) << add.err;
    return k;
  }();
  return k;
}

json search(const std::string& query, const std::string& extra = "") {
  CliRun r = troika("search" + kb().flags + " --json " + extra + " '" + query + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out, nullptr, false);
  EXPECT_TRUE(j.is_object()) << r.out;
  return j.is_object() ? j["results"] : json::array();
}

TEST(RetrievalCli, AFolderOfEveryFormatIsIngestedOnce) {
  CliRun stats = troika("index stats" + kb().flags + " --json --sources");
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  const json s = json::parse(stats.out);
  // fox, bonds, page, two JSONL records, one CSV row, лес; the .bin file is not a document.
  EXPECT_EQ(s["documents"], 7) << s.dump();
  EXPECT_EQ(s["vectors"], s["chunks"]) << s.dump();
  // The same folder again: every document is a duplicate.
  CliRun again = troika("index add" + kb().flags + " --id-field id --json " + kb().dir);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const json a = json::parse(again.out);
  EXPECT_EQ(a["documents"], 0);
  EXPECT_EQ(a["duplicates"], 7);
}

TEST(RetrievalCli, SearchFindsEachFormatInEveryMode) {
  const json fox = search("\"red foxes\"", "--mode bm25 -k 3");
  ASSERT_FALSE(fox.empty());
  EXPECT_EQ(fox[0]["source"].get<std::string>(), kb().dir + "/fox.txt");
  EXPECT_NE(fox[0]["text"].get<std::string>().find("Red foxes"), std::string::npos);
  // Scripts and styles are not indexed: "forests" only matches the fox file.
  for (const auto& h : search("forests", "--mode bm25")) {
    EXPECT_EQ(h["source"].get<std::string>(), kb().dir + "/fox.txt") << h.dump();
  }
  EXPECT_EQ(search("Murmansk", "--mode bm25")[0]["title"], "Trains");
  EXPECT_EQ(search("tomatoes", "--mode bm25")[0]["source"], kb().dir + "/records.jsonl#r1");
  EXPECT_EQ(search("engines", "--mode bm25")[0]["source"], kb().dir + "/table.csv#c1");
  // Russian: "лиса" and "лесу" stem to the forms the document holds.
  EXPECT_EQ(search("лес лисы", "--mode bm25")[0]["source"], kb().dir + "/лес.txt");
  // With the embed role, hybrid is the default; each hit says what each side ranked it.
  const json hybrid = search("foxes hunt mice", "-k 4");
  ASSERT_FALSE(hybrid.empty());
  EXPECT_TRUE(hybrid[0].contains("dense_rank")) << hybrid.dump();
  EXPECT_EQ(search("winter snow", "--mode dense -k 7").size(), 7u);
  // The text form prints ranked lines.
  CliRun text = troika("search" + kb().flags + " --mode bm25 Murmansk");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find(" 1. "), std::string::npos) << text.out;
}

TEST(RetrievalCli, RemovedSourcesLeaveTheIndexes) {
  const std::string db = testing::temp_dir() + "/kb-e2e-rm.sqlite";
  const std::string flags = " --db " + db + " --embed-model " + testing::tiny_model("bert");
  ASSERT_EQ(troika("index add -q" + flags + " " + kb().dir + "/fox.txt " + kb().dir + "/bonds.md")
                .exit_code,
            0);
  CliRun rm = troika("index rm" + flags + " " + kb().dir + "/fox.txt");
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  CliRun after = troika("search --json" + flags + " --mode hybrid 'foxes bonds'");
  ASSERT_EQ(after.exit_code, 0) << after.err;
  for (const auto& h : json::parse(after.out)["results"]) {
    EXPECT_EQ(h["source"].get<std::string>(), kb().dir + "/bonds.md");
  }
  EXPECT_EQ(troika("index rm" + flags + " " + kb().dir + "/fox.txt").exit_code, 3);  // gone
}

TEST(RetrievalCli, AskAnswersWithCheckedCitations) {
  CliRun r = troika("ask" + kb().flags +
                    " --judge --k 3 --max-tokens 200 --temp 0.7 --seed 4 --json "
                    "'Where do red foxes live?'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_TRUE(j["answer"].is_string());
  ASSERT_FALSE(j["sources"].empty());
  EXPECT_EQ(j["sources"][0]["id"], 1);
  for (const auto& c : j["citations"]) {
    EXPECT_LE(c["source"].get<size_t>(), j["sources"].size());
    EXPECT_TRUE(c.contains("support"));
    if (!c["verbatim"].get<bool>()) {
      EXPECT_FALSE(c["supported"].get<bool>());
    }
  }
  // The text form: the answer, then the sources.
  CliRun text = troika("ask" + kb().flags +
                       " --max-tokens 400 --temp 0.7 --seed 4 'Where do red foxes live?'");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("[1]"), std::string::npos) << text.out;
}

TEST(RetrievalCli, ErrorsSayWhatToDo) {
  const std::string none = testing::temp_dir() + "/no-such-kb.sqlite";
  CliRun s = troika("search --db " + none + " foxes");
  EXPECT_EQ(s.exit_code, 3);
  EXPECT_NE(s.err.find("troika index add"), std::string::npos) << s.err;
  EXPECT_FALSE(fs::exists(none));  // nothing made by a search
  EXPECT_EQ(troika("index add --db " + none + " /no/such/file.txt").exit_code, 3);
  // A JSONL line without the text field is named.
  const std::string bad = testing::temp_dir() + "/bad.jsonl";
  std::ofstream(bad) << "{\"text\": \"ok\"}\n{\"body\": \"no text\"}\n";
  CliRun b = troika("index add --db " + testing::temp_dir() + "/bad-kb.sqlite " + bad);
  EXPECT_EQ(b.exit_code, 2);
  EXPECT_NE(b.err.find("bad.jsonl:2:"), std::string::npos) << b.err;
  // Dense search needs an embedding model.
  CliRun d = troika("search --db " + testing::temp_dir() + "/bad-kb.sqlite --mode dense ok");
  EXPECT_EQ(d.exit_code, 2) << d.err;
}

}  // namespace
}  // namespace troika
