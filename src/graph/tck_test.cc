// The TCK runner on a small hand-written feature directory: Background steps, Scenario
// Outlines, expected errors, result tables, and skips from a skip file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "graph/tck.h"

namespace hakone::graph {
namespace {

namespace fs = std::filesystem;

class TckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hakone_tck_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "sub");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const fs::path& p, const std::string& text) {
    std::ofstream out(p);
    out << text;
  }
  fs::path dir_;
};

const char* kFeature = R"(Feature: Runner - background, outlines and errors

  Background:
    Given an empty graph
    And having executed:
      """
      CREATE (:A {name: 'a'})-[:T]->(:B {name: 'b'})
      """

  Scenario: [1] Background graph is visible
    When executing query:
      """
      MATCH (a:A)-->(b) RETURN a.name, b.name
      """
    Then the result should be, in any order:
      | a.name | b.name |
      | 'a'    | 'b'    |
    And no side effects

  Scenario Outline: [2] Outline rows
    When executing query:
      """
      MATCH (n:<label>) RETURN n.name AS name
      """
    Then the result should be, in any order:
      | name   |
      | <name> |

    Examples:
      | label | name |
      | A     | 'a'  |
      | B     | 'b'  |
      | B     | 'a'  |

  Scenario: [3] Compile-time error on any graph
    Given any graph
    When executing query:
      """
      MATCH ()-[r]-() MATCH (r) RETURN r
      """
    Then a SyntaxError should be raised at compile time: VariableTypeConflict

  Scenario: [4] Expected error that does not come
    When executing query:
      """
      RETURN 1 AS x
      """
    Then a SyntaxError should be raised at compile time: UndefinedVariable

  Scenario: [5] Uses a skipped clause
    When executing query:
      """
      MATCH (n) SET n.x = 1
      """
    Then the result should be empty
)";

TEST_F(TckTest, CountsPassedFailedSkipped) {
  Write(dir_ / "sub" / "Runner1.feature", kFeature);
  Write(dir_ / "skips.txt",
        "# comment\nclause SET: snapshots are read-only\nscenario Runner1 / [2] Outline rows [example 1]: listed skip\n");
  auto r = RunTck(dir_.string(), (dir_ / "skips.txt").string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // [1] pass, [2] ex1 skipped / ex2 pass / ex3 fail, [3] pass, [4] fail, [5] skipped.
  EXPECT_EQ(r->passed, 3);
  EXPECT_EQ(r->failed, 2);
  EXPECT_EQ(r->skipped, 2);
  ASSERT_EQ(r->features.size(), 1u);
  EXPECT_EQ(r->features[0].file, "sub/Runner1.feature");
  ASSERT_EQ(r->failures.size(), 2u);
  EXPECT_NE(r->failures[0].find("[2] Outline rows [example 3]: rows differ"), std::string::npos) << r->failures[0];
  EXPECT_NE(r->failures[1].find("[4] Expected error that does not come: expected an error"), std::string::npos)
      << r->failures[1];
  ASSERT_EQ(r->skips.size(), 2u);
  EXPECT_NE(r->skips[0].find("listed skip"), std::string::npos) << r->skips[0];
  EXPECT_NE(r->skips[1].find("snapshots are read-only"), std::string::npos) << r->skips[1];
}

TEST_F(TckTest, BadInputs) {
  EXPECT_FALSE(RunTck((dir_ / "missing").string(), "").ok());
  EXPECT_FALSE(RunTck(dir_.string(), (dir_ / "no-skips.txt").string()).ok());
  // A feature file that is not Gherkin yields no scenarios, not a crash.
  Write(dir_ / "Junk.feature", "\"\"\"\n| unterminated\nScenario Outline: x\nExamples:\n|a|\n");
  auto r = RunTck(dir_.string(), "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->passed + r->failed + r->skipped, 0);
}

}  // namespace
}  // namespace hakone::graph
