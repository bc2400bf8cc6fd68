// The Cypher subset: parser errors, and each query feature against small graphs with known rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "graph/cypher.h"
#include "graph/cypher_ast.h"

namespace hakone::graph {
namespace {

std::shared_ptr<const Graph> Make(const std::string& create) {
  QueryOptions o;
  o.allow_create = true;
  auto r = RunCypher(nullptr, create, {}, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->graph : nullptr;
}

// Rows rendered as "v1 | v2" (TCK value syntax), in result order.
std::vector<std::string> Rows(const std::shared_ptr<const Graph>& g, const std::string& q, const Map& params = {}) {
  auto r = RunCypher(g, q, params);
  EXPECT_TRUE(r.ok()) << q << "\n" << r.status().ToString();
  std::vector<std::string> out;
  if (!r.ok()) return out;
  for (const auto& row : r->rows) {
    std::string s;
    for (size_t i = 0; i < row.size(); ++i) s += (i ? " | " : "") + ToCypherString(row[i], r->graph.get());
    out.push_back(s);
  }
  return out;
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::string Err(const std::shared_ptr<const Graph>& g, const std::string& q) {
  auto r = RunCypher(g, q);
  EXPECT_FALSE(r.ok()) << q;
  return r.ok() ? "" : r.status().message();
}

const char* kPeople =
    "CREATE (a:Person {name: 'Alice', age: 30}), (b:Person {name: 'Bob', age: 25}),"
    " (c:Person {name: '山田 太郎', age: 41}), (d:Person {name: 'Dan'}),"
    " (x:Company {name: 'Acme'}), (y:Company {name: 'Globex'}),"
    " (a)-[:WORKED_AT {since: 2015}]->(x), (b)-[:WORKED_AT {since: 2018}]->(x),"
    " (c)-[:WORKED_AT {since: 2010}]->(y), (a)-[:KNOWS]->(b), (b)-[:KNOWS]->(c), (c)-[:KNOWS]->(d)";

class CypherTest : public ::testing::Test {
 protected:
  void SetUp() override { g_ = Make(kPeople); }
  std::shared_ptr<const Graph> g_;
};

TEST(CypherParse, MalformedInputNamesPosition) {
  struct Case {
    const char* q;
    const char* want;
  } cases[] = {
      {"MATCH (n RETURN n", "1:10: expected ')'"},
      {"MATCH (n)\nRETURN n.", "2:10: expected a property name"},
      {"MATCH (n) RETURN 'abc", "unterminated string"},
      {"MATCH (n) RETURN n LIMIT", "expected an expression"},
      {"RETURN 1 +", "expected an expression"},
      {"MATCH (n)-[r:KNOWS->(m) RETURN n", "expected ']'"},
      {"RETURN 0o9", "bad octal literal"},
      {"RETURN 0o17a", "invalid number literal '0o17a'"},
      {"RETURN 0x10000000000000000", "out of range"},
      {"MATCH (n) SET n.x = 1 RETURN n", "unsupported: SET at 1:11"},
      {"MERGE (n:Person) RETURN n", "unsupported: MERGE at 1:1"},
      {"MATCH (n) DELETE n", "unsupported: DELETE"},
      {"MATCH (n)", "must end with RETURN"},
      {"RETURN 1 RETURN 2", "RETURN can only be the last clause"},
      {"RETURN 9223372036854775808", "out of range"},
      {"RETURN 1 @", "unexpected character '@'"},
      {"", "empty query"},
      {"RETURN 1.5e999", "floating point literal out of range"},
      {"RETURN [1, 2", "expected ']'"},
      {"RETURN {a 1}", "expected ':'"},
      {"RETURN CASE 1 END", "expected WHEN"},
      {"/* open", "unterminated /* comment"},
      {"RETURN 'a\\q'", "unknown escape"},
      {"MATCH p = shortestPath((a)-->(b)-->(c)) RETURN p", "exactly one relationship"},
      {"CREATE (a)-[:T]-(b)", "needs a direction"},
      {"CREATE (a)-[]->(b)", "exactly one type"},
  };
  for (const auto& c : cases) {
    Status st = CheckCypher(c.q);
    ASSERT_FALSE(st.ok()) << c.q;
    EXPECT_NE(st.message().find(c.want), std::string::npos) << c.q << " -> " << st.message();
  }
  // Deep nesting is an error, not a stack overflow.
  std::string deep(5000, '(');
  EXPECT_FALSE(CheckCypher("RETURN " + deep).ok());
  std::string deep_list(5000, '[');
  EXPECT_FALSE(CheckCypher("RETURN " + deep_list).ok());
  EXPECT_TRUE(CheckCypher("MATCH (a:Person {name: $n})-[:KNOWS*1..3]->(b) WHERE b.age > 3 RETURN b.name ORDER BY b.name DESC SKIP 1 LIMIT 2").ok());
}

TEST_F(CypherTest, MatchLabelsPropertiesDirections) {
  EXPECT_EQ(Sorted(Rows(g_, "MATCH (p:Person) RETURN p.name")),
            Sorted({"'Alice'", "'Bob'", "'Dan'", "'山田 太郎'"}));
  EXPECT_EQ(Rows(g_, "MATCH (p:Person {name: 'Bob'}) RETURN p.age"), std::vector<std::string>{"25"});
  EXPECT_EQ(Sorted(Rows(g_, "MATCH (p)-[:WORKED_AT]->(c:Company {name: 'Acme'}) RETURN p.name")),
            Sorted({"'Alice'", "'Bob'"}));
  EXPECT_EQ(Rows(g_, "MATCH (c:Company {name: 'Acme'})<-[r:WORKED_AT]-(p) WHERE r.since > 2016 RETURN p.name"),
            std::vector<std::string>{"'Bob'"});
  EXPECT_EQ(Sorted(Rows(g_, "MATCH (b:Person {name: 'Bob'})-[:KNOWS]-(o) RETURN o.name")),
            Sorted({"'Alice'", "'山田 太郎'"}));
  EXPECT_EQ(Rows(g_, "MATCH (n:Nope) RETURN n"), std::vector<std::string>{});
  EXPECT_EQ(Rows(g_, "MATCH ()-[r:NOPE]->() RETURN r"), std::vector<std::string>{});
  EXPECT_EQ(Rows(g_, "MATCH (a:Person {name: 'Alice'}) RETURN a"),
            std::vector<std::string>{"(:Person {age: 30, name: 'Alice'})"});
  EXPECT_EQ(Rows(g_, "MATCH (:Person {name: 'Alice'})-[r]->(:Company) RETURN r"),
            std::vector<std::string>{"[:WORKED_AT {since: 2015}]"});
  EXPECT_EQ(Rows(g_, "MATCH (a)-[:KNOWS|WORKED_AT]->(b) RETURN count(*)"), std::vector<std::string>{"6"});
}

TEST_F(CypherTest, VariableLengthAndSeveralPatterns) {
  EXPECT_EQ(Sorted(Rows(g_, "MATCH (a:Person {name: 'Alice'})-[:KNOWS*1..2]->(b) RETURN b.name")),
            Sorted({"'Bob'", "'山田 太郎'"}));
  EXPECT_EQ(Sorted(Rows(g_, "MATCH (a:Person {name: 'Alice'})-[:KNOWS*]->(b) RETURN b.name")),
            Sorted({"'Bob'", "'Dan'", "'山田 太郎'"}));
  EXPECT_EQ(Rows(g_, "MATCH (a:Person {name: 'Alice'})-[r:KNOWS*3]->(b) RETURN b.name, size(r)"),
            std::vector<std::string>{"'Dan' | 3"});
  EXPECT_EQ(Rows(g_, "MATCH (a:Person {name: 'Alice'})-[:KNOWS*0..0]->(b) RETURN b.name"),
            std::vector<std::string>{"'Alice'"});
  // Two patterns joined on a shared variable (colleagues).
  EXPECT_EQ(Rows(g_, "MATCH (a:Person)-[:WORKED_AT]->(c), (b:Person)-[:WORKED_AT]->(c) WHERE a.name < b.name "
                     "RETURN a.name, b.name, c.name"),
            std::vector<std::string>{"'Alice' | 'Bob' | 'Acme'"});
  // Relationship uniqueness inside one MATCH.
  EXPECT_EQ(Rows(g_, "MATCH (a)-[r1:KNOWS]->(b)<-[r2:KNOWS]-(c) RETURN count(*)"), std::vector<std::string>{"0"});
  // A named path.
  EXPECT_EQ(Rows(g_, "MATCH p = (a:Person {name: 'Alice'})-[:KNOWS]->(b) RETURN length(p), nodes(p)[1].name"),
            std::vector<std::string>{"1 | 'Bob'"});
}

TEST_F(CypherTest, OptionalMatch) {
  EXPECT_EQ(Sorted(Rows(g_, "MATCH (p:Person) OPTIONAL MATCH (p)-[:WORKED_AT]->(c) RETURN p.name, c.name")),
            Sorted({"'Alice' | 'Acme'", "'Bob' | 'Acme'", "'Dan' | null", "'山田 太郎' | 'Globex'"}));
  EXPECT_EQ(Rows(g_, "OPTIONAL MATCH (n:Nope) RETURN n"), std::vector<std::string>{"null"});
  EXPECT_EQ(Rows(g_, "MATCH (p:Person {name: 'Dan'}) OPTIONAL MATCH (p)-->(x) RETURN x"), std::vector<std::string>{"null"});
}

TEST_F(CypherTest, WhereOperatorsAndFunctions) {
  EXPECT_EQ(Sorted(Rows(g_, "MATCH (p:Person) WHERE p.age >= 30 AND NOT p.name = 'Bob' RETURN p.name")),
            Sorted({"'Alice'", "'山田 太郎'"}));
  EXPECT_EQ(Rows(g_, "MATCH (p:Person) WHERE p.name IN ['Bob', 'Zed'] RETURN p.name"), std::vector<std::string>{"'Bob'"});
  EXPECT_EQ(Rows(g_, "MATCH (p:Person) WHERE p.name STARTS WITH '山田' RETURN p.name"), std::vector<std::string>{"'山田 太郎'"});
  EXPECT_EQ(Rows(g_, "MATCH (p:Person) WHERE p.name ENDS WITH 'ce' RETURN p.name"), std::vector<std::string>{"'Alice'"});
  EXPECT_EQ(Rows(g_, "MATCH (p:Person) WHERE p.name CONTAINS 'o' RETURN p.name"), std::vector<std::string>{"'Bob'"});
  EXPECT_EQ(Rows(g_, "MATCH (p:Person) WHERE p.age IS NULL RETURN p.name"), std::vector<std::string>{"'Dan'"});
  EXPECT_EQ(Rows(g_, "MATCH (p:Person) WHERE p.age IS NOT NULL AND p.age < 26 OR p.name = 'Dan' RETURN p.name ORDER BY p.name"),
            (std::vector<std::string>{"'Bob'", "'Dan'"}));
  EXPECT_EQ(Rows(g_, "MATCH (p) WHERE p:Company RETURN p.name ORDER BY p.name"),
            (std::vector<std::string>{"'Acme'", "'Globex'"}));
  EXPECT_EQ(Rows(g_, "MATCH (p:Person {name: 'Alice'}) RETURN toUpper(p.name), size(p.name), substring(p.name, 1, 3), "
                     "left(p.name, 2), replace(p.name, 'l', 'L'), split('a,b', ','), reverse('abc'), trim('  x ')"),
            std::vector<std::string>{"'ALICE' | 5 | 'lic' | 'Al' | 'ALice' | ['a', 'b'] | 'cba' | 'x'"});
  EXPECT_EQ(Rows(g_, "MATCH (p:Person {name: '山田 太郎'}) RETURN size(p.name), left(p.name, 2)"),
            std::vector<std::string>{"5 | '山田'"});
  EXPECT_EQ(Rows(g_, "RETURN head([1,2,3]), last([1,2,3]), tail([1,2,3]), range(1, 5, 2), size([1,2]), [1,2,3][1], "
                     "[1,2,3,4][1..3], coalesce(null, 2), toInteger('42'), toFloat('1.5'), toString(12), abs(-3)"),
            std::vector<std::string>{"1 | 3 | [2, 3] | [1, 3, 5] | 2 | 2 | [2, 3] | 2 | 42 | 1.5 | '12' | 3"});
  EXPECT_EQ(Rows(g_, "RETURN [x IN range(1, 6) WHERE x % 2 = 0 | x * 10], any(x IN [1, 2] WHERE x > 1), "
                     "all(x IN [1, 2] WHERE x > 1), CASE WHEN 1 > 2 THEN 'a' ELSE 'b' END, CASE 2 WHEN 2 THEN 'two' END"),
            std::vector<std::string>{"[20, 40, 60] | true | false | 'b' | 'two'"});
  // Three-valued logic and null comparisons.
  EXPECT_EQ(Rows(g_, "RETURN null = null, null OR true, null AND false, 1 < null, 2 IN [1, null], 1 IN [1, null]"),
            std::vector<std::string>{"null | true | false | null | null | true"});
  EXPECT_EQ(Rows(g_, "MATCH (a:Person {name: 'Alice'})-[r]->(b) RETURN type(r), labels(b), id(a) = id(startNode(r)) ORDER BY type(r)"),
            (std::vector<std::string>{"'KNOWS' | ['Person'] | true", "'WORKED_AT' | ['Company'] | true"}));
}

TEST_F(CypherTest, ProjectionOrderSkipLimitDistinct) {
  EXPECT_EQ(Rows(g_, "MATCH (p:Person) RETURN p.name AS n ORDER BY p.age DESC"),
            (std::vector<std::string>{"'Dan'", "'山田 太郎'", "'Alice'", "'Bob'"}));  // null sorts as the largest
  EXPECT_EQ(Rows(g_, "MATCH (p:Person) WHERE p.age IS NOT NULL RETURN p.name ORDER BY p.age SKIP 1 LIMIT 1"),
            std::vector<std::string>{"'Alice'"});
  EXPECT_EQ(Rows(g_, "MATCH (p:Person)-[:WORKED_AT]->(c) RETURN DISTINCT c.name ORDER BY c.name"),
            (std::vector<std::string>{"'Acme'", "'Globex'"}));
  EXPECT_EQ(Rows(g_, "MATCH (p:Person) RETURN p.name ORDER BY p.name LIMIT $n", {{"n", Value(2)}}),
            (std::vector<std::string>{"'Alice'", "'Bob'"}));
  auto r = RunCypher(g_, "MATCH (p:Person) RETURN p.name, p.age AS age LIMIT 1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->columns, (std::vector<std::string>{"p.name", "age"}));
  EXPECT_NE(Err(g_, "MATCH (p) RETURN p LIMIT -1").find("LIMIT must be a non-negative integer"), std::string::npos);
}

TEST_F(CypherTest, WithUnwindAggregation) {
  EXPECT_EQ(Rows(g_, "MATCH (p:Person)-[:WORKED_AT]->(c:Company) RETURN c.name, count(p) AS n, collect(p.name) AS ps "
                     "ORDER BY n DESC, c.name"),
            (std::vector<std::string>{"'Acme' | 2 | ['Alice', 'Bob']", "'Globex' | 1 | ['山田 太郎']"}));
  EXPECT_EQ(Rows(g_, "MATCH (p:Person) RETURN count(*), count(p.age), sum(p.age), avg(p.age), min(p.age), max(p.name)"),
            std::vector<std::string>{"4 | 3 | 96 | 32.0 | 25 | '山田 太郎'"});
  EXPECT_EQ(Rows(g_, "MATCH (p:Person) WITH p WHERE p.age > 26 WITH p.name AS name ORDER BY name RETURN collect(name)"),
            std::vector<std::string>{"['Alice', '山田 太郎']"});
  EXPECT_EQ(Rows(g_, "UNWIND [1, 2, 2, null] AS x RETURN count(DISTINCT x), count(x), collect(x)"),
            std::vector<std::string>{"2 | 3 | [1, 2, 2]"});
  EXPECT_EQ(Rows(g_, "UNWIND [] AS x RETURN count(x), sum(x), collect(x), avg(x)"),
            std::vector<std::string>{"0 | 0 | [] | null"});
  EXPECT_EQ(Rows(g_, "MATCH (c:Company) WITH c, size([(1)]) AS s RETURN c.name ORDER BY c.name LIMIT 1"),
            std::vector<std::string>{"'Acme'"});
  EXPECT_EQ(Rows(g_, "UNWIND [[1, 2], [3]] AS l UNWIND l AS x RETURN sum(x)"), std::vector<std::string>{"6"});
  EXPECT_EQ(Rows(g_, "MATCH (p:Person)-[:WORKED_AT]->(c) WITH c, count(*) AS n WHERE n > 1 RETURN c.name"),
            std::vector<std::string>{"'Acme'"});
}

TEST_F(CypherTest, ShortestPath) {
  EXPECT_EQ(Rows(g_, "MATCH (a:Person {name: 'Alice'}), (d:Person {name: 'Dan'}), p = shortestPath((a)-[*..5]-(d)) "
                     "RETURN length(p)"),
            std::vector<std::string>{"3"});
  EXPECT_EQ(Rows(g_, "MATCH (a:Person {name: 'Alice'}), (d:Person {name: 'Dan'}), p = shortestPath((a)-[*..2]-(d)) "
                     "RETURN length(p)"),
            std::vector<std::string>{});
  // Via the company: Alice -> Acme <- Bob is 2 hops.
  EXPECT_EQ(Rows(g_, "MATCH (a:Person {name: 'Alice'}), (b:Person {name: 'Bob'}), p = shortestPath((a)-[:WORKED_AT*]-(b)) "
                     "RETURN [n IN nodes(p) | n.name]"),
            std::vector<std::string>{"['Alice', 'Acme', 'Bob']"});
}

TEST_F(CypherTest, ParametersAndIndexSeek) {
  Map params{{"name", Value("Bob")}, {"names", Value(List{Value("Alice"), Value("Dan")})}};
  EXPECT_EQ(Rows(g_, "MATCH (p:Person {name: $name}) RETURN p.age", params), std::vector<std::string>{"25"});
  EXPECT_EQ(Rows(g_, "MATCH (p:Person) WHERE p.name IN $names RETURN p.name ORDER BY p.name", params),
            (std::vector<std::string>{"'Alice'", "'Dan'"}));
  EXPECT_NE(Err(g_, "MATCH (p:Person {name: $missing}) RETURN p").find("parameter $missing was not given"), std::string::npos);
  auto plan = RunCypher(g_, "EXPLAIN MATCH (p:Person {name: $name})-[:KNOWS*1..2]->(q) RETURN count(q)", params);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_NE(plan->plan.find("NodeIndexSeek (p:Person) {name}"), std::string::npos) << plan->plan;
  EXPECT_NE(plan->plan.find("VarLengthExpand"), std::string::npos) << plan->plan;
  EXPECT_NE(plan->plan.find("EagerAggregation"), std::string::npos) << plan->plan;
  EXPECT_TRUE(plan->rows.empty());
}

TEST_F(CypherTest, SemanticAndTypeErrors) {
  EXPECT_NE(Err(g_, "MATCH (p) RETURN q").find("variable `q` is not defined"), std::string::npos);
  EXPECT_NE(Err(g_, "RETURN 1 + true").find("cannot apply arithmetic"), std::string::npos);
  EXPECT_NE(Err(g_, "RETURN 1 / 0").find("division by zero"), std::string::npos);
  EXPECT_NE(Err(g_, "RETURN 9223372036854775807 + 1").find("integer overflow"), std::string::npos);
  EXPECT_NE(Err(g_, "RETURN nosuch(1)").find("unknown function nosuch()"), std::string::npos);
  EXPECT_NE(Err(g_, "CREATE (n:X)").find("CREATE is not allowed"), std::string::npos);
  EXPECT_NE(Err(g_, "MATCH (n) WITH n.name RETURN 1").find("must be aliased"), std::string::npos);
  EXPECT_NE(Err(g_, "RETURN count(count(1))").find("cannot be nested"), std::string::npos);
  QueryOptions small;
  small.max_rows = 10;
  auto r = RunCypher(g_, "UNWIND range(1, 100) AS x RETURN x", {}, small);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
}

// Compile-time checks: the query is rejected whatever the graph holds (here: an empty one).
TEST(CypherCheck, RejectedBeforeRunningOnAnyGraph) {
  struct Case {
    const char* q;
    const char* want;
  } cases[] = {
      {"MATCH ()-[r]-() MATCH (r) RETURN r", "`r` is a relationship and cannot be used as a node"},
      {"MATCH ()-[r]-(), (r) RETURN r", "`r` is a relationship and cannot be used as a node"},
      {"MATCH (r)-[r]-() RETURN r", "`r` is a node and cannot be used as a relationship"},
      {"MATCH r = ()-[]-() MATCH (r) RETURN r", "`r` is a path"},
      {"MATCH (r) MATCH r = ()-[]-() RETURN r", "already bound (as a node)"},
      {"WITH 123 AS n MATCH (n) RETURN n", "`n` is a value and cannot be used as a node"},
      {"WITH {x: 1} AS r MATCH ()-[r]-() RETURN r", "`r` is a value and cannot be used as a relationship"},
      {"MATCH (n) WITH [n] AS users MATCH (users)-->(m) RETURN m", "`users` is a list and cannot be used as a node"},
      {"MATCH p = (p)-[]-() RETURN p", "`p` is a path and cannot be used as a node"},
      {"MATCH ()-[p*]-(), p = ()-[]-() RETURN p", "already bound"},
      {"MATCH (a)-[r]->()-[r]->(a) RETURN r", "relationship variable `r` is used twice in one MATCH"},
      {"MATCH (n $param) RETURN n", "a parameter cannot be used as a property map in MATCH"},
      {"MATCH ()-[r:T $param]->() RETURN r", "a parameter cannot be used as a property map in MATCH"},
      {"MATCH (a) WHERE count(a) > 10 RETURN a", "aggregate functions are not allowed in WHERE"},
      {"MATCH (a) WITH a WHERE max(a.x) > 1 RETURN a", "aggregate functions are not allowed in WHERE"},
      {"UNWIND [count(*)] AS x RETURN x", "aggregate functions are not allowed in UNWIND"},
      {"RETURN count(rand())", "rand() is not a constant expression"},
      {"MATCH (me)--(you) RETURN me.age + count(you.age)", "`me` is used beside an aggregate but is not a grouping key"},
      {"MATCH (me)--(you) RETURN me.age + you.age, me.age + you.age + count(*)", "not a grouping key"},
      {"MATCH (a) RETURN DISTINCT a.name ORDER BY a.age", "variable `a` is not defined"},
      {"MATCH (a) RETURN a.name, count(*) ORDER BY a.age", "variable `a` is not defined"},
      {"MATCH (a) WITH DISTINCT a.name AS n WHERE a.age > 1 RETURN n", "variable `a` is not defined"},
      {"MATCH r = (n)-[*]->() WHERE r.name = 'x' RETURN r", "cannot read property 'name' of `r`: it is a path"},
      {"MATCH p = (a)-[*]->(b) RETURN size(p)", "size() needs a list or a string, not a path"},
      {"MATCH (a) RETURN foo(a)", "unknown function foo()"},
      {"MATCH (s) WHERE s.name = undefinedVariable RETURN s", "variable `undefinedVariable` is not defined"},
      {"MATCH (a) CREATE (a)", "`a` is already bound; CREATE needs a new node"},
      {"MATCH (a) CREATE (a {name: 'x'})", "CREATE cannot add labels or properties"},
      {"MATCH ()-[r]->() CREATE ()-[r:T]->()", "CREATE needs a new relationship variable"},
      {"MATCH (a) CREATE (a)-[:K]->(b {name: missing}) RETURN b", "variable `missing` is not defined"},
      {"WITH [1] AS x UNWIND x AS x RETURN x", "UNWIND needs a new variable"},
      {"RETURN [x IN [1] | y]", "variable `y` is not defined"},
  };
  for (const auto& c : cases) {
    auto r = RunCypher(nullptr, c.q);
    ASSERT_FALSE(r.ok()) << c.q;
    EXPECT_NE(r.status().message().find(c.want), std::string::npos) << c.q << " -> " << r.status().message();
    // CheckCypher (validation without a graph) reports the same.
    EXPECT_FALSE(CheckCypher(c.q).ok()) << c.q;
  }
}

TEST_F(CypherTest, CheckAcceptsValidScoping) {
  // A relationship bound earlier may be matched again; locals shadow nothing outside.
  EXPECT_EQ(Rows(g_, "MATCH (a {name: 'Alice'})-[r:KNOWS]->(b) MATCH ()-[r]->(c) RETURN c.name"),
            std::vector<std::string>{"'Bob'"});
  // ORDER BY / WITH ... WHERE may read projected expressions after DISTINCT and aggregation.
  EXPECT_EQ(Rows(g_, "MATCH (p:Person) WHERE p.age IS NOT NULL RETURN DISTINCT p.name ORDER BY p.name"),
            (std::vector<std::string>{"'Alice'", "'Bob'", "'山田 太郎'"}));
  EXPECT_EQ(Rows(g_, "MATCH (p:Person)-[:WORKED_AT]->(c) RETURN c, count(p) AS n ORDER BY c.name DESC"),
            (std::vector<std::string>{"(:Company {name: 'Globex'}) | 1", "(:Company {name: 'Acme'}) | 2"}));
  EXPECT_EQ(Rows(g_, "MATCH (p:Person)-[:WORKED_AT]->(c) RETURN c.name, size(c.name) + count(p) AS x ORDER BY x"),
            (std::vector<std::string>{"'Acme' | 6", "'Globex' | 7"}));
  // Without DISTINCT, WITH ... WHERE sees the variables before the projection.
  EXPECT_EQ(Sorted(Rows(g_, "MATCH (p:Person) WITH p.name AS name WHERE p.age > 26 RETURN name")),
            (std::vector<std::string>{"'Alice'", "'山田 太郎'"}));
  EXPECT_EQ(Rows(g_, "MATCH (p:Person) WITH DISTINCT p.age AS a WHERE p.age > 40 RETURN a"),
            std::vector<std::string>{"41"});
  // RETURN * lists the variables in name order; WITH * may carry none.
  auto star = RunCypher(g_, "WITH 1 AS b, 2 AS a RETURN *");
  ASSERT_TRUE(star.ok()) << star.status().ToString();
  EXPECT_EQ(star->columns, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Rows(g_, "MATCH (:Company) WITH * RETURN count(*)"), std::vector<std::string>{"2"});
  // <--> is either direction; an empty length interval matches nothing.
  EXPECT_EQ(Sorted(Rows(g_, "MATCH (a {name: 'Bob'})<-->(b) RETURN b.name")),
            (std::vector<std::string>{"'Acme'", "'Alice'", "'山田 太郎'"}));
  EXPECT_TRUE(Rows(g_, "MATCH (a)-[*3..1]->(b) RETURN a").empty());
}

TEST(CypherLiterals, OctalHexAndSmallestInteger) {
  EXPECT_EQ(Rows(nullptr, "RETURN 0o17, -0o17, 0x1F, 0o777777777777777777777"),
            std::vector<std::string>{"15 | -15 | 31 | 9223372036854775807"});
  EXPECT_EQ(Rows(nullptr, "RETURN -0x8000000000000000, -0o1000000000000000000000, -9223372036854775808"),
            std::vector<std::string>{"-9223372036854775808 | -9223372036854775808 | -9223372036854775808"});
  EXPECT_NE(Err(nullptr, "RETURN 0x8000000000000000").find("out of range"), std::string::npos);
}

TEST(CypherCompare, NaNIsNeitherBelowNorAbove) {
  EXPECT_EQ(Rows(nullptr, "WITH 0.0 / 0.0 AS n RETURN n > 1, n >= 1.0, n < n, n <= 0, n < 'a'"),
            std::vector<std::string>{"false | false | false | false | null"});
}

TEST(CypherFunctions, RandAndKnownFunctionList) {
  auto r = RunCypher(nullptr, "UNWIND range(1, 50) AS i RETURN rand() AS x");
  ASSERT_TRUE(r.ok());
  std::set<double> seen;
  for (const auto& row : r->rows) {
    ASSERT_EQ(row[0].kind(), Value::kFloat);
    EXPECT_GE(row[0].f(), 0.0);
    EXPECT_LT(row[0].f(), 1.0);
    seen.insert(row[0].f());
  }
  EXPECT_GT(seen.size(), 40u);
  // The static check's function list and the executor agree: every listed function runs (it may
  // reject its argument, but never as unknown), and one not listed is unknown.
  for (const auto& f : cypher::KnownFunctions()) {
    auto x = RunCypher(nullptr, "RETURN " + f + "(null)");
    if (!x.ok()) EXPECT_EQ(x.status().message().find("unknown function"), std::string::npos) << f << ": " << x.status().message();
  }
  EXPECT_FALSE(cypher::IsKnownFunction("nosuch"));
}

TEST(CypherCreate, CreateThenMatchInOneQuery) {
  QueryOptions o;
  o.allow_create = true;
  auto r = RunCypher(nullptr,
                     "CREATE (a:A {n: 1})-[:T {w: 2}]->(b:B {n: 2}) WITH a, b MATCH (a)-[r:T]->(b) RETURN r.w, b.n", {}, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 1u);
  EXPECT_EQ(ToCypherString(r->rows[0][0], nullptr), "2");
  EXPECT_EQ(r->stats.nodes_created, 2u);
  EXPECT_EQ(r->stats.relationships_created, 1u);
  auto r2 = RunCypher(r->graph, "UNWIND range(1, 3) AS i CREATE (:C {i: i, tags: ['x', 'y']})", {}, o);
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(Rows(r2->graph, "MATCH (c:C) RETURN sum(c.i), collect(c.tags)[0]"), std::vector<std::string>{"6 | ['x', 'y']"});
}

TEST(CypherJson, ResultShape) {
  auto g = Make("CREATE (:P {name: 'a\"b'})");
  auto r = RunCypher(g, "MATCH (p:P) RETURN p, p.name AS name");
  ASSERT_TRUE(r.ok());
  std::string j = r->ToJson();
  EXPECT_NE(j.find(R"("columns":["p","name"])"), std::string::npos) << j;
  EXPECT_NE(j.find(R"({"id":0,"labels":["P"],"properties":{"name":"a\"b"}})"), std::string::npos) << j;
  EXPECT_NE(r->ToTable().find("1 row"), std::string::npos);
}

}  // namespace
}  // namespace hakone::graph
