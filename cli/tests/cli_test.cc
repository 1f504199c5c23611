// SPDX-License-Identifier: GPL-2.0-only
//
// Runs the real irqd binary (IRQD_BINARY) as a child process and checks what
// it prints and how it exits against the `irqd plan` contract:
//
//   irqd plan --topology SPEC --vectors N [--pre-vectors A] [--post-vectors B]
//             [--sets S1,S2,...] [--offline-cpus LIST] [--planner NAME]
//             [--format table|json]
//
// A plan goes to stdout with exit status 0; bad input gives exactly one line
// on stderr naming the offending value and the accepted form, exit status 2
// and nothing on stdout.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/tests/run_process.h"

namespace {

using irqd::test::describe;
using irqd::test::run_irqd;

using nlohmann::json;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------
// Child process helper (run_process.h, shared with bench_cli_test).

using RunResult = irqd::test::ProcessResult;

// ---------------------------------------------------------------------------
// Shared inputs.

// Two packages, each its own NUMA node, two cores of two PUs each: node 0
// has CPUs 0-3 (cores {0,1} and {2,3}), node 1 has CPUs 4-7 ({4,5}, {6,7}).
constexpr const char* kTwoNodes = "synthetic:pack:2 [numa] core:2 pu:2";

// Runs a plan that must succeed and returns its JSON.
json plan_json(std::vector<std::string> args) {
  args.insert(args.begin(), "plan");
  args.insert(args.end(), {"--format", "json"});
  RunResult r = run_irqd(args);
  EXPECT_EQ(r.exit_code, 0) << describe(args) << "\nstderr: " << r.err;
  EXPECT_EQ(r.err, "") << describe(args);
  json doc = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(doc.is_discarded()) << describe(args) << " printed no JSON:\n" << r.out;
  return doc;
}

// The parts of one vector the contract fixes, for exact comparisons.
struct Vec {
  std::vector<unsigned> cpus;
  bool managed;
  std::string role;
  int serving_cpu;

  bool operator==(const Vec&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Vec& v) {
  os << "{cpus [";
  for (std::size_t i = 0; i < v.cpus.size(); ++i) os << (i ? "," : "") << v.cpus[i];
  return os << "], managed " << v.managed << ", " << v.role << ", serving " << v.serving_cpu << "}";
}

std::vector<Vec> vecs_of(const json& doc) {
  std::vector<Vec> out;
  for (const json& v : doc.at("vectors"))
    out.push_back({v.at("cpus").get<std::vector<unsigned>>(), v.at("managed").get<bool>(),
                   v.at("role").get<std::string>(),
                   v.at("serving_cpu").is_null() ? -1 : v.at("serving_cpu").get<int>()});
  return out;
}

std::vector<unsigned> range(unsigned first, unsigned last) {
  std::vector<unsigned> out;
  for (unsigned c = first; c <= last; ++c) out.push_back(c);
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// ---------------------------------------------------------------------------
// JSON: exact plans, each derived from Linux v6.18's irq_create_affinity_masks()
// and group_cpus_evenly(). The serving CPU is the x86 vector matrix's
// choice among the vector's present CPUs, vectors taken in index order: for
// a managed vector the CPU serving the fewest managed vectors, the highest
// id on a tie; for an unmanaged one the CPU with the most vectors still
// available, the lowest id on a tie, where each managed vector has already
// reserved one on every CPU of its mask and each unmanaged vector served
// takes one from its CPU.

// 5 vectors, 1 pre: vector 0 gets the default affinity (every CPU), not
// managed; vectors 1-4 are one set of 4 managed vectors spread over 8 CPUs.
//
// group_cpus_evenly(4): 4 groups > 2 nodes, so alloc_groups_to_nodes()
// shares them out. It sorts the nodes by CPU count with the kernel's sort(),
// a heapsort, which is not stable: for two equal keys [n0, n1] the heap
// build changes nothing (the root is not less than its child) and the first
// extraction swaps root and last, leaving [n1, n0]. Each node then gets
// 4 * 4 / 8 = 2 groups, node 1 first, so node 1's groups take vectors 1-2
// and node 0's vectors 3-4. Within a node, 4 CPUs in 2 groups means 2 CPUs
// per group, taken in id order with their SMT siblings: {4,5}, {6,7} and
// {0,1}, {2,3}.
//
// Serving: vector 0 (unmanaged) -> CPU 0 (one vector reserved on every CPU,
// lowest id); then no CPU serves a managed vector yet when each managed one
// comes, so each goes to the highest CPU of its mask: {4,5} -> 5;
// {6,7} -> 7; {0,1} -> 1; {2,3} -> 3.
TEST(CliPlanJson, TwoEqualNodesNodeOneTakesTheLowerSpreadVectors) {
  json doc = plan_json({"--topology", kTwoNodes, "--vectors", "5", "--pre-vectors", "1"});
  EXPECT_EQ(doc.at("planner"), "kernel");
  EXPECT_EQ(doc.at("masks_per_set"), json::array({4}));
  EXPECT_THAT(vecs_of(doc), ::testing::ElementsAre(Vec{range(0, 7), false, "pre", 0},  //
                                                   Vec{{4, 5}, true, "spread", 5},     //
                                                   Vec{{6, 7}, true, "spread", 7},     //
                                                   Vec{{0, 1}, true, "spread", 1},     //
                                                   Vec{{2, 3}, true, "spread", 3}));
  // The serving CPU's node, and every vector's set.
  const json& v = doc.at("vectors");
  EXPECT_EQ(v[0].at("node"), 0);
  EXPECT_EQ(v[1].at("node"), 1);
  EXPECT_EQ(v[2].at("node"), 1);
  EXPECT_EQ(v[3].at("node"), 0);
  EXPECT_EQ(v[4].at("node"), 0);
  EXPECT_TRUE(v[0].at("set").is_null());
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(v[i].at("set"), 0) << i;
}

// Two sets of 2 between 1 pre and 1 post vector. Each set calls
// group_cpus_evenly(2): 2 groups <= 2 nodes, so no sorting happens; nodes
// are walked in id order, one group each: node 0 (0-3), then node 1 (4-7).
// The post vector gets the default affinity and is not managed.
//
// Serving: 0 -> 0 (unmanaged, lowest id); {0-3} -> 3 and {4-7} -> 7
// (managed, highest id on a tie); {0-3} -> 2 and {4-7} -> 6 (the highest of
// the CPUs serving no managed vector). The post vector over 0-7 is
// unmanaged: the managed vectors reserved two on every CPU alike and CPU 0
// gave one more to vector 0, so -> 1, the lowest id of the rest.
TEST(CliPlanJson, SetsWithFewerGroupsThanNodesFollowNodeOrder) {
  json doc = plan_json(
      {"--topology", kTwoNodes, "--vectors", "6", "--pre-vectors", "1", "--post-vectors", "1", "--sets", "2,2"});
  EXPECT_EQ(doc.at("masks_per_set"), json::array({2, 2}));
  EXPECT_THAT(vecs_of(doc),
              ::testing::ElementsAre(Vec{range(0, 7), false, "pre", 0},  //
                                     Vec{range(0, 3), true, "spread", 3}, Vec{range(4, 7), true, "spread", 7},
                                     Vec{range(0, 3), true, "spread", 2}, Vec{range(4, 7), true, "spread", 6},
                                     Vec{range(0, 7), false, "post", 1}));
  const json& v = doc.at("vectors");
  EXPECT_EQ(v[1].at("set"), 0);
  EXPECT_EQ(v[2].at("set"), 0);
  EXPECT_EQ(v[3].at("set"), 1);
  EXPECT_EQ(v[4].at("set"), 1);
  EXPECT_TRUE(v[5].at("set").is_null());
}

// More vectors than CPUs: alloc_groups_to_nodes() caps the 10 groups at the
// 8 CPUs, and each node gets 8 * 4 / 8 = 4 groups of one CPU, node 1 first
// out of the heapsort as above, so vectors 0-3 get CPUs 4-7 and vectors 4-7
// get CPUs 0-3. Vectors 8 and 9 get
// no mask of their own: the default affinity, still managed ("unfilled").
// Serving: each single CPU serves its vector; then every CPU serves one
// managed vector, so 8 -> 7 (the highest id) and 9 -> 6.
TEST(CliPlanJson, VectorsPastTheCpusGetTheDefaultAffinityButStayManaged) {
  json doc = plan_json({"--topology", kTwoNodes, "--vectors", "10"});
  EXPECT_EQ(doc.at("masks_per_set"), json::array({8}));
  EXPECT_THAT(vecs_of(doc), ::testing::ElementsAre(
                                Vec{{4}, true, "spread", 4}, Vec{{5}, true, "spread", 5}, Vec{{6}, true, "spread", 6},
                                Vec{{7}, true, "spread", 7}, Vec{{0}, true, "spread", 0}, Vec{{1}, true, "spread", 1},
                                Vec{{2}, true, "spread", 2}, Vec{{3}, true, "spread", 3},
                                Vec{range(0, 7), true, "unfilled", 7}, Vec{range(0, 7), true, "unfilled", 6}));
}

// CPUs 4-7 possible but not present. __group_cpus_evenly() first spreads the
// 4 groups over the present CPUs only: just node 0 has any, so it gets all
// 4 groups, one CPU each: {0}, {1}, {2}, {3}. That filled every group, so
// the pass over the not-present CPUs starts again at group 0: node 1's 4
// CPUs go one per group, giving {0,4}, {1,5}, {2,6}, {3,7}. Only present
// CPUs serve.
TEST(CliPlanJson, OfflineCpusJoinTheGroupsAfterThePresentOnes) {
  json doc = plan_json({"--topology", kTwoNodes, "--vectors", "5", "--pre-vectors", "1", "--offline-cpus", "4-7"});
  EXPECT_EQ(doc.at("topology").at("present"), json(range(0, 3)));
  EXPECT_EQ(doc.at("topology").at("possible"), json(range(0, 7)));
  EXPECT_THAT(vecs_of(doc), ::testing::ElementsAre(Vec{range(0, 7), false, "pre", 0},  //
                                                   Vec{{0, 4}, true, "spread", 0},     //
                                                   Vec{{1, 5}, true, "spread", 1},     //
                                                   Vec{{2, 6}, true, "spread", 2},     //
                                                   Vec{{3, 7}, true, "spread", 3}));
}

// The other planners, on the same request: never managed (a user's
// smp_affinity_list write), each laid out as its --help sentence says.
TEST(CliPlanJson, OtherPlannersAreUnmanagedAndFollowTheirDescriptions) {
  auto spread_cpus = [](const std::string& planner) {
    json doc = plan_json({"--topology", kTwoNodes, "--vectors", "5", "--pre-vectors", "1", "--planner", planner});
    EXPECT_EQ(doc.at("planner"), planner);
    std::vector<std::vector<unsigned>> out;
    for (const Vec& v : vecs_of(doc)) {
      EXPECT_FALSE(v.managed) << planner;
      out.push_back(v.cpus);
    }
    EXPECT_EQ(out.at(0), range(0, 7)) << planner << ": the pre vector keeps the default affinity";
    out.erase(out.begin());
    return out;
  };
  using Masks = std::vector<std::vector<unsigned>>;
  // One CPU per vector, a core's siblings first, node 0 before node 1.
  EXPECT_EQ(spread_cpus("compact"), (Masks{{0}, {1}, {2}, {3}}));
  // One core per vector, cores dealt to node 0, node 1, node 0, node 1.
  EXPECT_EQ(spread_cpus("per-core"), (Masks{{0, 1}, {4, 5}, {2, 3}, {6, 7}}));
  // The lowest-numbered present CPU for all.
  EXPECT_EQ(spread_cpus("single"), (Masks{{0}, {0}, {0}, {0}}));
  // The set's i-th vector (counting from 0) on present CPU i mod 8.
  EXPECT_EQ(spread_cpus("round-robin"), (Masks{{0}, {1}, {2}, {3}}));
}

// ---------------------------------------------------------------------------
// JSON: properties every plan has, over a spread of requests and planners.

struct JsonCase {
  std::string name;
  std::vector<std::string> args;  // after "plan", before "--format json"
};

// Names the case, for test names and failure messages.
void PrintTo(const JsonCase& c, std::ostream* os) { *os << c.name; }

class CliPlanJsonInvariants : public ::testing::TestWithParam<JsonCase> {};

TEST_P(CliPlanJsonInvariants, EveryVectorOnceInOrderCpusAscendingServingWithinCpus) {
  const JsonCase& c = GetParam();
  json doc = plan_json(c.args);
  ASSERT_FALSE(doc.is_discarded());
  // The request as given on the command line (flags not given are 0).
  auto flag = [&](const std::string& name) {
    auto it = std::find(c.args.begin(), c.args.end(), name);
    return it == c.args.end() ? 0U : static_cast<unsigned>(std::stoul(*(it + 1)));
  };
  const unsigned n = flag("--vectors");
  const unsigned pre = flag("--pre-vectors");
  const unsigned post = flag("--post-vectors");
  EXPECT_EQ(doc.at("request").at("vectors"), n);
  EXPECT_EQ(doc.at("request").at("pre_vectors"), pre);
  EXPECT_EQ(doc.at("request").at("post_vectors"), post);
  const bool kernel = doc.at("planner") == "kernel";
  const auto possible = doc.at("topology").at("possible").get<std::vector<unsigned>>();
  const auto present_list = doc.at("topology").at("present").get<std::vector<unsigned>>();
  const std::set<unsigned> present(present_list.begin(), present_list.end());

  std::map<unsigned, unsigned> node_of;
  for (const json& node : doc.at("topology").at("nodes"))
    for (unsigned cpu : node.at("cpus").get<std::vector<unsigned>>()) node_of[cpu] = node.at("id").get<unsigned>();

  const json& vectors = doc.at("vectors");
  ASSERT_EQ(vectors.size(), n);
  std::map<unsigned, unsigned> served;
  for (unsigned i = 0; i < n; ++i) {
    const json& v = vectors[i];
    SCOPED_TRACE("vector " + std::to_string(i));
    EXPECT_EQ(v.at("index").get<unsigned>(), i);
    auto cpus = v.at("cpus").get<std::vector<unsigned>>();
    ASSERT_FALSE(cpus.empty());
    EXPECT_TRUE(std::adjacent_find(cpus.begin(), cpus.end(), std::greater_equal<>()) == cpus.end())
        << "cpus not strictly ascending: " << v.at("cpus").dump();
    for (unsigned cpu : cpus) EXPECT_TRUE(std::binary_search(possible.begin(), possible.end(), cpu)) << cpu;

    const std::string role = v.at("role").get<std::string>();
    if (i < pre) {
      EXPECT_EQ(role, "pre");
    } else if (i >= n - post) {
      EXPECT_EQ(role, "post");
    } else {
      EXPECT_TRUE(role == "spread" || role == "unfilled") << role;
    }
    // Managed exactly for the kernel planner's spread vectors.
    EXPECT_EQ(v.at("managed").get<bool>(), kernel && (role == "spread" || role == "unfilled")) << role;

    if (v.at("serving_cpu").is_null()) {
      EXPECT_TRUE(std::none_of(cpus.begin(), cpus.end(), [&](unsigned cpu) { return present.contains(cpu); }))
          << "a vector with a present CPU has no serving CPU";
      EXPECT_TRUE(v.at("node").is_null());
    } else {
      unsigned serving = v.at("serving_cpu").get<unsigned>();
      EXPECT_TRUE(std::binary_search(cpus.begin(), cpus.end(), serving)) << serving << " not in " << v.at("cpus");
      EXPECT_EQ(present.count(serving), 1U) << serving << " is not present";
      EXPECT_EQ(v.at("node").get<unsigned>(), node_of.at(serving));
      served[serving]++;
    }
  }
  // cpu_load agrees with the serving CPUs.
  for (const json& load : doc.at("cpu_load")) {
    unsigned cpu = load.at("cpu").get<unsigned>();
    EXPECT_EQ(load.at("vectors").get<unsigned>(), served[cpu]) << "cpu " << cpu;
  }
}

constexpr const char* kFourNodes = "synthetic:pack:4 [numa] core:3 pu:2";  // 24 CPUs, 6 per node

INSTANTIATE_TEST_SUITE_P(
    Requests, CliPlanJsonInvariants,
    ::testing::Values(
        JsonCase{"one_vector", {"--topology", kTwoNodes, "--vectors", "1"}},
        JsonCase{"pre_and_post_only",
                 {"--topology", kTwoNodes, "--vectors", "3", "--pre-vectors", "2", "--post-vectors", "1"}},
        JsonCase{"kernel_sets",
                 {"--topology", kFourNodes, "--vectors", "19", "--pre-vectors", "2", "--post-vectors", "1", "--sets",
                  "5,7,3,1"}},
        JsonCase{"kernel_more_vectors_than_cpus", {"--topology", kFourNodes, "--vectors", "40"}},
        JsonCase{"kernel_offline", {"--topology", kFourNodes, "--vectors", "9", "--offline-cpus", "0-5,13,20-23"}},
        JsonCase{"compact",
                 {"--topology", kFourNodes, "--vectors", "30", "--pre-vectors", "1", "--planner", "compact"}},
        JsonCase{"per_core", {"--topology", kFourNodes, "--vectors", "17", "--sets", "8,9", "--planner", "per-core"}},
        JsonCase{"single",
                 {"--topology", kFourNodes, "--vectors", "7", "--offline-cpus", "0-3", "--planner", "single"}},
        JsonCase{"round_robin",
                 {"--topology", kFourNodes, "--vectors", "50", "--post-vectors", "2", "--planner", "round-robin"}}),
    [](const ::testing::TestParamInfo<JsonCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// Table format.

// The request of TwoEqualNodesNodeOneTakesTheLowerSpreadVectors, as a table:
// a header line, the column titles, one row per vector with the CPUs as
// ranges, then how many vectors each present CPU and each node serves.
TEST(CliPlanTable, PrintsHeaderRowsRangesAndLoad) {
  RunResult r = run_irqd({"plan", "--topology", kTwoNodes, "--vectors", "5", "--pre-vectors", "1"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "planner kernel on synthetic:pack:2 [numa] core:2 pu:2: 8 possible CPUs (8 present), 2 NUMA nodes, "
            "5 vectors (1 pre, 0 post)\n"
            "kernel 6.18 (6.16-6.18: nr_masks, sets compacted)\n"
            "vector  managed  role      set  serving  node  cpus\n"
            "     0  no       pre         -        0     0  0-7\n"
            "     1  yes      spread      0        5     1  4-5\n"
            "     2  yes      spread      0        7     1  6-7\n"
            "     3  yes      spread      0        1     0  0-1\n"
            "     4  yes      spread      0        3     0  2-3\n"
            "\n"
            "vectors served per present CPU:\n"
            "      1 vector  on CPUs 0-1,3,5,7\n"
            "      0 vectors on CPUs 2,4,6\n"
            "per NUMA node:\n"
            "  node   0:     3 vectors on    4 present CPUs (0-3)\n"
            "  node   1:     2 vectors on    4 present CPUs (4-7)\n");
}

TEST(CliPlanTable, IsTheDefaultFormatAndEqualsExplicitTable) {
  std::vector<std::string> args{"plan", "--topology", kFourNodes, "--vectors", "12", "--offline-cpus", "6-11"};
  RunResult implicit = run_irqd(args);
  args.insert(args.end(), {"--format", "table"});
  RunResult explicit_table = run_irqd(args);
  EXPECT_EQ(implicit.exit_code, 0);
  EXPECT_EQ(explicit_table.exit_code, 0);
  EXPECT_EQ(implicit.out, explicit_table.out);
  std::vector<std::string> lines = lines_of(implicit.out);
  ASSERT_GE(lines.size(), 3U + 12U);
  EXPECT_THAT(lines[0], HasSubstr("24 possible CPUs (18 present), 4 NUMA nodes, 12 vectors"));
  EXPECT_EQ(lines[1], "kernel 6.18 (6.16-6.18: nr_masks, sets compacted)");
  // One row per vector, numbered in order.
  for (unsigned i = 0; i < 12; ++i) {
    std::istringstream row(lines[3 + i]);
    unsigned index = 99;
    row >> index;
    EXPECT_EQ(index, i) << lines[3 + i];
  }
  // The node with no present CPU says so.
  EXPECT_THAT(implicit.out, HasSubstr("  node   1:     0 vectors on    0 present CPUs (none)\n"));
}

// ---------------------------------------------------------------------------
// Planners and help.

constexpr std::array<const char*, 5> kPlannerNames{"kernel", "compact", "per-core", "single", "round-robin"};

TEST(CliPlanners, EveryPlannerSucceedsInBothFormats) {
  for (const std::string planner : kPlannerNames) {
    for (const char* format : {"table", "json"}) {
      std::vector<std::string> args{"plan",      "--topology", kFourNodes, "--vectors", "16",
                                    "--planner", planner,      "--format", format};
      RunResult r = run_irqd(args);
      EXPECT_EQ(r.exit_code, 0) << describe(args) << "\n" << r.err;
      EXPECT_EQ(r.err, "") << describe(args);
      EXPECT_FALSE(r.out.empty()) << describe(args);
      if (std::string(format) == "table") {
        EXPECT_THAT(r.out, ::testing::StartsWith("planner " + planner + " on "));
      } else {
        json doc = json::parse(r.out);
        EXPECT_EQ(doc.at("planner"), planner);
        EXPECT_EQ(doc.at("vectors").size(), 16U);
      }
    }
  }
}

TEST(CliHelp, PlanHelpListsEveryPlannerWithASentence) {
  RunResult r = run_irqd({"plan", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  std::vector<std::string> lines = lines_of(r.out);
  for (const std::string planner : kPlannerNames) {
    // "  NAME   A sentence ending in a full stop."
    const std::regex row("^  " + planner + " +[A-Z].{20,}\\.$");
    EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [&](const std::string& l) { return std::regex_match(l, row); }),
              1)
        << planner << " has no one-sentence line in:\n"
        << r.out;
  }
  // Every flag of the contract is documented.
  for (const char* flag : {"--topology", "--vectors", "--pre-vectors", "--post-vectors", "--sets", "--offline-cpus",
                           "--planner", "--format"})
    EXPECT_THAT(r.out, HasSubstr(flag));
}

// ---------------------------------------------------------------------------
// Topology sources.

// hwloc's 4 packages x 2 cores x 2 threads, one NUMA node. The XML numbers
// the PUs so that core siblings are CPUs i and i + 8 (package p's cores hold
// {p, p+8} and {p+4, p+12}). group_cpus_evenly(8) on one node of 16 CPUs
// makes groups of 2, each the lowest CPU left plus its sibling. Each managed
// vector is the first on either CPU, so the higher one, i + 8, serves it.
// Found by cli/tests/fuzz/plan_fuzz: hwloc takes "pack\xe02" for "pack:2",
// and the spec, not UTF-8, went into the JSON as typed: nlohmann's dump()
// threw type_error 316, and irqd printed "irqd: fatal: ..." and no plan.
TEST(CliTopology, ASpecThatIsNotUtf8IsPrintedWithReplacementCharacters) {
  const std::string spec =
      "synthetic:pack\xe0"
      "2 core:2 pu:1";
  json doc = plan_json({"--topology", spec, "--vectors", "4"});
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc.at("topology").at("spec"),
            "synthetic:pack\xef\xbf\xbd"
            "2 core:2 pu:1");
  json both = plan_json({"--topology", spec, "--vectors", "4", "--kernel", "6.12,6.1"});
  ASSERT_FALSE(both.is_discarded());
  EXPECT_EQ(both.at("plans").at(0).at("topology").at("spec"),
            "synthetic:pack\xef\xbf\xbd"
            "2 core:2 pu:1");
}

TEST(CliTopology, XmlFileFromTheSharedFolder) {
  const std::string path = IRQD_SHARED_DIR "/topologies/16em64t-4s2c2t.xml";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is missing (no shared folder beside the clone)";
  json doc = plan_json({"--topology", "xml:" + path, "--vectors", "8"});
  EXPECT_EQ(doc.at("topology").at("possible"), json(range(0, 15)));
  EXPECT_EQ(doc.at("topology").at("nodes").size(), 1U);
  std::vector<Vec> expected;
  for (unsigned i = 0; i < 8; ++i) expected.push_back(Vec{{i, i + 8}, true, "spread", static_cast<int>(i + 8)});
  EXPECT_EQ(vecs_of(doc), expected);
}

TEST(CliTopology, LiveMachine) {
  json doc = plan_json({"--topology", "live", "--vectors", "4"});
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc.at("topology").at("spec"), "live");
  EXPECT_FALSE(doc.at("topology").at("possible").empty());
  ASSERT_EQ(doc.at("vectors").size(), 4U);
  for (unsigned i = 0; i < 4; ++i) {
    EXPECT_EQ(doc.at("vectors")[i].at("index"), i);
    EXPECT_TRUE(doc.at("vectors")[i].at("managed").get<bool>());
  }
  // live is also the default.
  RunResult r = run_irqd({"plan", "--vectors", "4"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::StartsWith("planner kernel on live: "));
}

// ---------------------------------------------------------------------------
// Kernel lines: --kernel, its default, and what every line does with zero
// vectors and an empty set.

std::vector<int> nodes_of(const json& plan) {
  std::vector<int> out;
  for (const json& v : plan.at("vectors")) out.push_back(v.at("node").get<int>());
  return out;
}

TEST(CliKernel, DefaultIsV618OffLiveAndTheRunningKernelOnLive) {
  json synthetic = plan_json({"--topology", kTwoNodes, "--vectors", "4"});
  EXPECT_EQ(synthetic.at("kernel_version"), "6.18");
  EXPECT_EQ(synthetic.at("kernel_generation"), "6.16-6.18: nr_masks, sets compacted");
  json live = plan_json({"--topology", "live", "--vectors", "4"});
  utsname u{};
  ASSERT_EQ(::uname(&u), 0);
  EXPECT_EQ(live.at("kernel_version"), std::string(u.release));
  json given = plan_json({"--topology", kTwoNodes, "--vectors", "4", "--kernel", "6.12.117+deb12-amd64"});
  EXPECT_EQ(given.at("kernel_version"), "6.12.117+deb12-amd64");
}

// Four equal nodes of 2 CPUs, 8 vectors: 2 per node, in the order the
// kernel's sort() leaves the equal nodes in. The one-pop heapsort of 6.1
// gives 1, 2, 3, 0; the double-pop heapsort of 6.11 on gives 1, 3, 2, 0.
TEST(CliKernel, ComparingLinesShowsTheVectorsThatMove) {
  const std::vector<std::string> args{"--topology", "synthetic:numa:4 core:2 pu:1", "--vectors", "8"};
  std::vector<std::string> both = args;
  both.insert(both.end(), {"--kernel", "6.1,6.18"});
  json doc = plan_json(both);
  EXPECT_EQ(doc.at("kernel_version"), "6.1");
  EXPECT_EQ(doc.at("kernel_versions"), json::array({"6.1", "6.18"}));
  ASSERT_EQ(doc.at("plans").size(), 2U);
  EXPECT_THAT(nodes_of(doc.at("plans")[0]), ::testing::ElementsAre(1, 1, 2, 2, 3, 3, 0, 0));
  EXPECT_THAT(nodes_of(doc.at("plans")[1]), ::testing::ElementsAre(1, 1, 3, 3, 2, 2, 0, 0));
  std::vector<unsigned> changed;
  for (const json& c : doc.at("changes")) changed.push_back(c.at("index").get<unsigned>());
  EXPECT_THAT(changed, ::testing::ElementsAre(2U, 3U, 4U, 5U));
  EXPECT_EQ(doc.at("changes")[0].at("cpus").at("6.1"), json::array({4}));
  EXPECT_EQ(doc.at("changes")[0].at("cpus").at("6.18"), json::array({6}));
  // Each line alone gives what the comparison shows for it.
  std::vector<std::string> one = args;
  one.insert(one.end(), {"--kernel", "6.18"});
  EXPECT_EQ(plan_json(one).at("vectors"), doc.at("plans")[1].at("vectors"));

  both.insert(both.end(), {"--format", "table"});
  std::vector<std::string> table_args{"plan"};
  table_args.insert(table_args.end(), both.begin(), both.end());
  RunResult table = run_irqd(table_args);
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("2       spread  4    6     <- changes\n"));
  EXPECT_THAT(table.out, HasSubstr("6       spread  0    0\n"));
  EXPECT_THAT(table.out, ::testing::EndsWith("\n4 of 8 vectors change between 6.1 and 6.18\n"));
}

TEST(CliKernel, ZeroVectorsIsAnEmptyPlan) {
  json doc = plan_json({"--topology", kTwoNodes, "--vectors", "0"});
  EXPECT_EQ(doc.at("vectors"), json::array());
  EXPECT_EQ(doc.at("request").at("vectors"), 0);
}

// A set of size 0: group_cpus_evenly(0) returns NULL (6.16 on), so does
// irq_create_affinity_masks(), and PCI/MSI gives every vector the default
// affinity, unmanaged.
TEST(CliKernel, AnEmptySetLeavesEveryVectorUnmanagedWithTheDefaultAffinity) {
  json doc = plan_json({"--topology", kTwoNodes, "--vectors", "4", "--sets", "4,0", "--kernel", "6.18"});
  ASSERT_EQ(doc.at("vectors").size(), 4U);
  for (const json& v : doc.at("vectors")) {
    EXPECT_EQ(v.at("cpus"), json(range(0, 7))) << v;
    EXPECT_FALSE(v.at("managed").get<bool>()) << v;
  }
}

// ---------------------------------------------------------------------------
// Bad input: exit 2, nothing on stdout, one line on stderr that names the
// offending value and what is accepted.

struct BadInput {
  std::string name;
  std::vector<std::string> args;
  std::string offending;  // must appear in the error line
};

void PrintTo(const BadInput& c, std::ostream* os) { *os << c.name; }

class CliBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(CliBadInput, OneLineOnStderrExitTwoNothingOnStdout) {
  const BadInput& c = GetParam();
  RunResult r = run_irqd(c.args);
  EXPECT_EQ(r.exit_code, 2) << describe(c.args);
  EXPECT_EQ(r.out, "") << describe(c.args);
  ASSERT_FALSE(r.err.empty()) << describe(c.args);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not one line: " << r.err;
  EXPECT_EQ(r.err.back(), '\n') << r.err;
  EXPECT_THAT(r.err, HasSubstr(c.offending));
  EXPECT_THAT(r.err, HasSubstr("accepted"));
}

std::vector<std::string> plan_args(std::vector<std::string> extra) {
  std::vector<std::string> args{"plan", "--topology", kTwoNodes};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// ---------------------------------------------------------------------------
// The top level: --version, help, a bare irqd, every subcommand's --help.

const std::vector<std::string> kSubcommands = {"plan", "bench",  "serve",  "ctl",  "run",  "devices",
                                               "bind", "unbind", "config", "irqs", "tune", "top"};

std::string regex_escape(const std::string& text) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(text, special, R"(\$&)");
}

TEST(CliTopLevel, VersionNamesTheBuildAndTheRunningKernel) {
  RunResult r = run_irqd({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  utsname u{};
  ASSERT_EQ(::uname(&u), 0);
  // The kernel line as `irqd plan --topology live` names it.
  json live = plan_json({"--topology", "live", "--vectors", "1"});
  const std::string kernel =
      "kernel " + std::string(u.release) + " (" + live.at("kernel_generation").get<std::string>() + ")";
  const std::regex expected(
      "irqd [0-9]+\\.[0-9]+\\.[0-9]+ \\((Debug|Release|RelWithDebInfo|MinSizeRel|unset) build\\)\n" +
      regex_escape(kernel) + "\n");
  EXPECT_TRUE(std::regex_match(r.out, expected)) << r.out;

  RunResult extra = run_irqd({"--version", "now"});
  EXPECT_EQ(extra.exit_code, 2);
  EXPECT_EQ(extra.out, "");
  EXPECT_EQ(extra.err, "irqd: error: --version takes no arguments (accepted: irqd --version)\n");
}

TEST(CliTopLevel, HelpListsEverySubcommandAndBareIrqdShowsTheSameList) {
  RunResult help = run_irqd({"help"});
  EXPECT_EQ(help.exit_code, 0) << help.err;
  EXPECT_EQ(help.err, "");
  EXPECT_THAT(help.out, ::testing::StartsWith("irqd: userspace interrupt host and benchmark daemon\n"
                                              "Usage: irqd [OPTIONS] SUBCOMMAND\n"));
  const std::vector<std::string> lines = lines_of(help.out);
  for (const std::string& sub : kSubcommands) {
    const std::regex row("^  " + sub + " +[A-Z].{20,}$");
    EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [&](const std::string& l) { return std::regex_match(l, row); }),
              1)
        << sub << " is not listed in:\n"
        << help.out;
  }
  EXPECT_THAT(help.out, HasSubstr("\n  --version "));
  EXPECT_THAT(help.out, HasSubstr("irqd help SUBCOMMAND or irqd SUBCOMMAND --help: its options."));

  // A bare irqd is a usage error that shows the list, not plan's usage.
  RunResult bare = run_irqd({});
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_EQ(bare.out, "");
  EXPECT_EQ(bare.err, help.out);
  EXPECT_THAT(bare.err, ::testing::Not(HasSubstr("irqd plan --topology SPEC")));
}

TEST(CliTopLevel, HelpOfASubcommandIsItsHelp) {
  for (const std::string& sub : kSubcommands) {
    RunResult via_help = run_irqd({"help", sub});
    RunResult flag = run_irqd({sub, "--help"});
    EXPECT_EQ(via_help.exit_code, 0) << sub << ": " << via_help.err;
    EXPECT_EQ(via_help.out, flag.out) << sub;
    EXPECT_THAT(flag.out, HasSubstr("Usage: irqd " + sub + " ")) << sub;
  }
  RunResult r = run_irqd({"help", "frob"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "irqd: error: irqd help: unknown subcommand 'frob' (accepted: plan, bench, serve, ctl, run, devices, bind, "
            "unbind, config, irqs, tune, top)\n");
}

// Every option shows the form of its value (never CLI11's TEXT), and each
// subcommand's help ends with a footer of its own, on its own line.
TEST(CliHelp, EveryOptionHasAValueNameAndEachFooterIsItsOwn) {
  for (const std::string& sub : kSubcommands) {
    RunResult r = run_irqd({sub, "--help"});
    EXPECT_EQ(r.exit_code, 0) << sub << ": " << r.err;
    EXPECT_THAT(r.out, ::testing::Not(HasSubstr(" TEXT "))) << sub << ":\n" << r.out;
    EXPECT_TRUE(r.out.ends_with("\n")) << sub;
  }
  RunResult top = run_irqd({"top", "--help"});
  EXPECT_THAT(top.out, HasSubstr("RATE/S: interrupts per second"));
  EXPECT_THAT(top.out, ::testing::Not(HasSubstr("tune"))) << top.out;
  EXPECT_THAT(top.out, HasSubstr("\nFor testing: IRQD_PROC_ROOT=DIR reads a fake /proc tree instead of /proc.\n"));
  RunResult devices = run_irqd({"devices", "--help"});
  EXPECT_THAT(devices.out, ::testing::Not(HasSubstr("BDF is DDDD"))) << devices.out;
  EXPECT_THAT(devices.out, HasSubstr("\nFor testing: IRQD_SYSFS_ROOT=DIR reads a fake sysfs tree instead of /sys.\n"));
  RunResult bench = run_irqd({"bench", "--help"});
  for (const char* named :
       {"--vectors N ", "--pattern PATTERN ", "--cpus LIST ", "--duration S ", "--json FILE ", "--plot DIR "})
    EXPECT_THAT(bench.out, HasSubstr(named));
  RunResult serve = run_irqd({"serve", "--help"});
  for (const char* named : {"--vectors N ", "--pattern PATTERN ", "--reactor NAME ", "--report FILE "})
    EXPECT_THAT(serve.out, HasSubstr(named));
}

// A flag given twice, a flag without its value: irqd's one line, not
// CLI11's text.
TEST(CliErrors, RepeatedAndValuelessFlagsInIrqdsWords) {
  const std::string bench_usage =
      "(accepted: irqd bench [--reactors LIST] [--layouts LIST] [--vectors N] [--pattern PATTERN] [--duration S] "
      "[--warmup S] [--repeat K] [--cpus LIST] [--fire-cpu CPU] [--floor [--floor-methods LIST]] [--json FILE] "
      "[--plot DIR]; see irqd bench --help)\n";
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<Case> cases{
      {{"bench", "--vectors", "4", "--vectors", "8"},
       "irqd: error: irqd bench: --vectors given 2 times, at most once " + bench_usage},
      {{"bench", "--vectors"}, "irqd: error: irqd bench: --vectors has no value, N expected " + bench_usage},
      {{"run", "--config", "a", "--config", "b", "--config", "c"},
       "irqd: error: irqd run: --config given 3 times, at most once (accepted: irqd run [--config FILE] [--log-level "
       "LEVEL]; see irqd run --help)\n"},
  };
  for (const Case& c : cases) {
    RunResult r = run_irqd(c.args);
    EXPECT_EQ(r.exit_code, 2) << describe(c.args);
    EXPECT_EQ(r.out, "") << describe(c.args);
    EXPECT_EQ(r.err, c.err) << describe(c.args);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, CliBadInput,
    ::testing::Values(
        BadInput{"unknown_planner", plan_args({"--vectors", "4", "--planner", "irqbalance"}), "'irqbalance'"},
        BadInput{"malformed_synthetic",
                 {"plan", "--topology", "synthetic:pack:x core:2", "--vectors", "4"},
                 "pack:x core:2"},
        BadInput{"empty_synthetic", {"plan", "--topology", "synthetic:", "--vectors", "4"}, "synthetic"},
        BadInput{"unknown_topology_kind", {"plan", "--topology", "sysfs", "--vectors", "4"}, "'sysfs'"},
        BadInput{"missing_xml",
                 {"plan", "--topology", "xml:/nonexistent/irqd-topology.xml", "--vectors", "4"},
                 "/nonexistent/irqd-topology.xml"},
        BadInput{"directory_as_xml", {"plan", "--topology", "xml:/", "--vectors", "4"}, "'/'"},
        BadInput{"unknown_kernel", plan_args({"--vectors", "4", "--kernel", "linux"}), "'linux'"},
        BadInput{"too_many_vectors", plan_args({"--vectors", "65537"}), "65537"},
        BadInput{"vectors_overflow", plan_args({"--vectors", "99999999999999999999"}), "99999999999999999999"},
        BadInput{"vectors_not_a_number", plan_args({"--vectors", "eight"}), "eight"},
        BadInput{"vectors_trailing_junk", plan_args({"--vectors", "8x"}), "8x"},
        BadInput{"vectors_negative", plan_args({"--vectors", "-8"}), "-8"},
        BadInput{"vectors_without_value", plan_args({"--vectors"}), "--vectors"},
        BadInput{"missing_vectors", plan_args({}), "--vectors"},
        BadInput{"pre_vectors_not_a_number", plan_args({"--vectors", "4", "--pre-vectors", "one"}), "one"},
        BadInput{"pre_exceeds_vectors", plan_args({"--vectors", "4", "--pre-vectors", "5"}), "pre-vectors 5"},
        BadInput{"sets_sum_too_small", plan_args({"--vectors", "8", "--sets", "3,3"}), "3,3"},
        BadInput{"sets_sum_too_large", plan_args({"--vectors", "8", "--pre-vectors", "1", "--sets", "4,4"}), "4,4"},
        BadInput{"five_sets", plan_args({"--vectors", "8", "--sets", "1,1,1,1,4"}), "1,1,1,1,4"},
        BadInput{"kernel_older_than_any_line", plan_args({"--vectors", "4", "--kernel", "6.1,5.4"}), "'5.4'"},
        BadInput{"malformed_set", plan_args({"--vectors", "8", "--sets", "4,four"}), "4,four"},
        BadInput{"empty_set_entry", plan_args({"--vectors", "8", "--sets", "4,,4"}), "4,,4"},
        BadInput{"empty_sets", plan_args({"--vectors", "8", "--sets", ""}), "--sets ''"},
        BadInput{"malformed_offline", plan_args({"--vectors", "4", "--offline-cpus", "2-"}), "2-"},
        BadInput{"backwards_offline", plan_args({"--vectors", "4", "--offline-cpus", "5-3"}), "5-3"},
        BadInput{"offline_takes_every_cpu", plan_args({"--vectors", "4", "--offline-cpus", "0-7"}), "0-7"},
        BadInput{"offline_not_in_topology", plan_args({"--vectors", "4", "--offline-cpus", "3,8"}), "CPU 8"},
        BadInput{"unknown_format", plan_args({"--vectors", "4", "--format", "yaml"}), "'yaml'"},
        BadInput{"unknown_flag", plan_args({"--vectors", "4", "--spread"}), "--spread"},
        BadInput{"unknown_flag_with_value", plan_args({"--vectors", "4", "--cpus=0-3"}), "--cpus=0-3"},
        BadInput{"stray_positional", plan_args({"--vectors", "4", "extra"}), "'extra'"},
        BadInput{"vectors_twice", plan_args({"--vectors", "4", "--vectors", "5"}), "--vectors"},
        BadInput{"unknown_subcommand", {"spread", "--vectors", "4"}, "'spread'"},
        BadInput{"unknown_top_level_flag", {"--spread"}, "--spread"}),
    [](const ::testing::TestParamInfo<BadInput>& info) { return info.param.name; });

}  // namespace
