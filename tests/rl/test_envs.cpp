// The portfolio and bike environments, their data readers and their
// bad-input errors.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/rl/bikes.h"
#include "loom/rl/data.h"
#include "loom/rl/portfolio.h"
#include "loom/rl/progressive_hedging.h"
#include "temp_dir.h"

namespace loom::rl {
namespace {

std::string scratch(const std::string& name) {
  static const std::string dir = [] {
    auto d = loom::testing::fresh_temp_dir("rl_envs");
    make_dirs(d);
    return d;
  }();
  return dir + "/" + name;
}

std::string write(const std::string& name, const std::string& text) {
  const std::string path = scratch(name);
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

const char* kGoodCsv =
    "date,AAA,BBB\n"
    "2020-01-02,10,20\n"
    "2020-01-03,10.5,19.5\n"
    "2020-01-06,10.2,19.9\n";

TEST(PriceCsv, ReadsAndRoundTrips) {
  const auto t = read_price_csv(write("good.csv", kGoodCsv));
  ASSERT_EQ(t.days(), 3);
  EXPECT_EQ(t.assets, (std::vector<std::string>{"AAA", "BBB"}));
  EXPECT_DOUBLE_EQ(t.prices[1][0], 10.5);
  write_price_csv(scratch("copy.csv"), t);
  const auto u = read_price_csv(scratch("copy.csv"));
  EXPECT_EQ(u.dates, t.dates);
  EXPECT_EQ(u.prices, t.prices);
  const auto only = read_price_csv(write("good2.csv", kGoodCsv), {"BBB"});
  EXPECT_EQ(only.assets, (std::vector<std::string>{"BBB"}));
  EXPECT_DOUBLE_EQ(only.prices[2][0], 19.9);
}

struct BadCsv {
  const char* name;
  std::string text;
  std::vector<std::string> columns;
  int64_t max_gap;
  std::vector<std::string> expected;  // fragments of the message
};

TEST(PriceCsv, BadInputNamesFileLineAndField) {
  const std::vector<BadCsv> cases = {
      {"missing_date", "date,A\n2020-01-02,1\n,2\n", {}, 0, {"missing_date.csv:3", "missing date"}},
      {"malformed_date", "date,A\n2020-01-02,1\n2020-13-01,2\n", {}, 0, {"malformed_date.csv:3", "'date'"}},
      {"out_of_order", "date,A\n2020-01-03,1\n2020-01-02,2\n", {}, 0, {"out_of_order.csv:3", "must increase"}},
      {"gap", "date,A\n2020-01-02,1\n2020-03-02,2\n", {}, 10, {"gap.csv:3", "missing dates between 2020-01-02"}},
      {"ragged", "date,A,B\n2020-01-02,1,2\n2020-01-03,1\n", {}, 0, {"ragged.csv:3", "ragged row"}},
      {"non_positive",
       "date,A,B\n2020-01-02,1,2\n2020-01-03,1,0\n",
       {},
       0,
       {"non_positive.csv:3", "'B'", "not positive"}},
      {"negative", "date,A\n2020-01-02,-1\n", {}, 0, {"negative.csv:2", "not positive"}},
      {"missing_price", "date,A,B\n2020-01-02,1,\n", {}, 0, {"missing_price.csv:2", "'B'", "missing price"}},
      {"not_a_number", "date,A\n2020-01-02,1x\n", {}, 0, {"not_a_number.csv:2", "'A'", "not a number"}},
      {"unknown_column", "date,A,B\n2020-01-02,1,2\n2020-01-03,1,2\n", {"C"}, 0, {"unknown asset column 'C'", "A, B"}},
      {"no_date_header", "day,A\n2020-01-02,1\n", {}, 0, {"no_date_header.csv:1", "'date'"}},
      {"duplicate_column", "date,A,A\n2020-01-02,1,2\n", {}, 0, {"duplicate_column.csv:1", "appears twice"}},
  };
  for (const auto& c : cases) {
    const std::string path = write(std::string(c.name) + ".csv", c.text);
    const std::string message = error_of([&] { read_price_csv(path, c.columns, c.max_gap); });
    for (const auto& fragment : c.expected)
      EXPECT_NE(message.find(fragment), std::string::npos)
          << c.name << ": '" << message << "' lacks '" << fragment << "'";
  }
}

TEST(ConstraintSet, InfeasibleSetsAreClearErrors) {
  ConstraintSet c = ConstraintSet::simplex(3);
  c.lower = {0.5, 0.4, 0.3};  // must sum to 1 but the floors sum to 1.2
  c.names = {"cash", "A", "B"};
  EXPECT_NE(error_of([&] { c.require_nonempty("state 7"); }).find("state 7: infeasible constraint set"),
            std::string::npos);
  EXPECT_THROW(project(c, {0.3, 0.3, 0.4}), Error);
  ConstraintSet crossed = ConstraintSet::simplex(2);
  crossed.lower[1] = 0.8;
  crossed.upper[1] = 0.6;
  EXPECT_NE(error_of([&] { crossed.require_nonempty("s"); }).find("component 1 must lie in [0.8, 0.6]"),
            std::string::npos);
  // Rows that no allocation meets: found by Clp, reported by name.
  ConstraintSet rows = ConstraintSet::simplex(2);
  rows.rows.push_back({"budget", {{0, 1.0}, {1, 1.0}}, 2.0, 3.0});
  EXPECT_NE(error_of([&] { rows.require_nonempty("s"); }).find("budget"), std::string::npos);
}

TEST(ConstraintSet, ProjectionMeetsTheBoundsExactly) {
  ConstraintSet c = ConstraintSet::simplex(4);
  c.lower[0] = 0.3;
  c.upper[2] = 0.1;
  for (const auto& y : std::vector<std::vector<double>>{{0.25, 0.25, 0.25, 0.25}, {5, -3, 2, 0.1}, {0, 0, 1, 0}}) {
    const auto x = project(c, y);
    EXPECT_TRUE(check_feasible(c, x, 1e-12).feasible) << check_feasible(c, x, 1e-12).worst;
  }
  const std::vector<double> inside = {0.4, 0.2, 0.1, 0.3};
  const auto same = project(c, inside);
  for (size_t i = 0; i < inside.size(); ++i) EXPECT_NEAR(same[i], inside[i], 1e-14);
}

TEST(Portfolio, TransactionCostIsJiangs) {
  // All cash into one asset: μ = 1 - c μ.
  EXPECT_NEAR(PortfolioEnv::trade_factor({1, 0}, {0, 1}, 0.0025), 1 / 1.0025, 1e-15);
  const std::vector<double> from = {0.2, 0.5, 0.3}, to = {0.4, 0.1, 0.5};
  const double mu = PortfolioEnv::trade_factor(from, to, 0.01);
  double f = mu - 1;
  for (size_t i = 1; i < to.size(); ++i) f += 0.01 * std::fabs(mu * to[i] - from[i]);
  EXPECT_NEAR(f, 0.0, 1e-15);
  EXPECT_DOUBLE_EQ(PortfolioEnv::trade_factor(from, from, 0.01), 1.0);
}

PortfolioOptions small(bool liquidity) {
  PortfolioOptions o;
  o.synthetic_assets = 3;
  o.synthetic_days = 300;
  o.episode_days = 10;
  o.history = 5;
  o.liquidity = liquidity;
  return o;
}

TEST(Portfolio, RewardIsTheLogWealthRatioAndStateRoundTrips) {
  auto env = make_portfolio(small(true), Split::Train);
  env->reset(4);
  std::vector<double> rewards;
  nlohmann::json mid;
  for (int k = 0; k < 10; ++k) {
    if (k == 4) mid = env->state();
    const double before = env->wealth();
    const auto c = env->constraints();
    auto r = env->step(project(c, {0.1, 0.5, 0.2, 0.2}));
    EXPECT_NEAR(r.reward, std::log(env->wealth() / before), 1e-12);
    EXPECT_TRUE(r.feasibility.feasible) << r.feasibility.worst;
    rewards.push_back(r.reward);
    if (r.done) break;
  }
  auto again = make_portfolio(small(true), Split::Train);
  again->reset(99);
  again->set_state(mid);
  for (size_t k = 4; k < rewards.size(); ++k) {
    auto r = again->step(project(again->constraints(), {0.1, 0.5, 0.2, 0.2}));
    EXPECT_DOUBLE_EQ(r.reward, rewards[k]);
  }
}

TEST(Portfolio, LiquidityIsACashFloorTheHeuristicExceeds) {
  auto env = make_portfolio(small(true), Split::Test);
  env->reset(1, 0);
  for (int k = 0; k < 6; ++k) {
    const auto c = env->constraints(), h = env->heuristic_constraints();
    EXPECT_NEAR(c.lower[0], env->requirement(), 1e-15);
    EXPECT_GT(c.lower[0], 0.0);
    EXPECT_GE(h.lower[0], c.lower[0]);
    // An all-stock allocation misses it, and is reported, not refused.
    auto r = env->step({0, 0.4, 0.3, 0.3});
    EXPECT_FALSE(r.feasibility.feasible);
    EXPECT_NEAR(r.cost, c.lower[0], 1e-12);
  }
  EXPECT_THROW(env->step({0.5, 0.5, 0.5, 0.5}), Error);  // not an allocation
}

TEST(Portfolio, TestWindowsMayNotOverlapTraining) {
  PortfolioOptions o = small(false);
  o.train_start = "2000-01-03";
  o.train_end = "2000-06-30";
  o.tune_start = "2000-07-01";
  o.tune_end = "2000-08-31";
  o.test_starts = {"2000-05-01"};
  const std::string message = error_of([&] { make_portfolio(o, Split::Test); });
  EXPECT_NE(message.find("test_starts"), std::string::npos) << message;
  EXPECT_NE(message.find("overlaps the training window"), std::string::npos) << message;
  o.test_starts = {"2000-09-04"};
  auto env = make_portfolio(o, Split::Test);
  EXPECT_GT(env->test_episode_starts()[0], env->window().first - 1);
}

// A gretl data file in the layout gretl-data ships.
std::string gdt_text(bool labels, int64_t declared) {
  std::string t =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gretldata name=\"demo\" frequency=\"7\" "
      "startobs=\"2011-12-30\" type=\"time-series\">\n<variables count=\"2\">\n<variable name=\"cnt\"\n "
      "label=\"count\"\n/>\n<variable name=\"temp\"/>\n</variables>\n<observations count=\"" +
      std::to_string(declared) + "\" labels=\"" + (labels ? "true" : "false") + "\">\n";
  const char* dates[] = {"2011-12-30", "2011-12-31", "2012-01-01"};
  for (int k = 0; k < 3; ++k)
    t += std::string("<obs") + (labels ? std::string(" label=\"") + dates[k] + "\"" : "") + ">" +
         std::to_string(100 + k) + " " + (k == 1 ? "NA" : "0.5") + " </obs>\n";
  return t + "</observations>\n</gretldata>\n";
}

void write_gz(const std::string& path, const std::string& text) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
}

TEST(Gretl, ReadsGzippedAndPlainFilesWithOrWithoutLabels) {
  write_gz(scratch("demo.gdt"), gdt_text(false, 3));
  const auto d = read_gretl(scratch("demo.gdt"));
  EXPECT_EQ(d.variables, (std::vector<std::string>{"cnt", "temp"}));
  EXPECT_EQ(d.dates, (std::vector<std::string>{"2011-12-30", "2011-12-31", "2012-01-01"}));
  EXPECT_DOUBLE_EQ(d.rows[2][0], 102);
  EXPECT_TRUE(std::isnan(d.rows[1][1]));
  const auto plain = read_gretl(write("plain.gdt", gdt_text(true, 3)));
  EXPECT_EQ(plain.dates, d.dates);
  EXPECT_NE(error_of([&] { gretl_column(d, "hum", "demo"); }).find("cnt, temp"), std::string::npos);
  // Four declared, three present: the error names the file and a line.
  const std::string message = error_of([&] { read_gretl(write("short.gdt", gdt_text(true, 4))); });
  EXPECT_NE(message.find("short.gdt:"), std::string::npos) << message;
  EXPECT_NE(message.find("expected 4 <obs>"), std::string::npos) << message;
  EXPECT_NE(error_of([&] { read_gretl(write("junk.gdt", "hello")); }).find("not a gretl data file"), std::string::npos);
}

TEST(DataExport, DowJonesFromGretlWhenInstalled) {
  const std::string dir = "/usr/share/gretl/data/misc";
  if (!std::filesystem::exists(dir + "/djclose.gdt")) GTEST_SKIP() << "gretl-data is not installed";
  const auto s = export_portfolio_csv("djclose", scratch("dj.csv"), dir);
  EXPECT_EQ(s.first, "1980-01-02");
  EXPECT_GT(s.days, 2400);
  const auto t = read_price_csv(scratch("dj.csv"), {}, 10);
  EXPECT_DOUBLE_EQ(t.prices[0][0], 824.57);
  EXPECT_NE(error_of([&] { export_portfolio_csv("nasdaq", scratch("x.csv")); }).find("valid: spisector"),
            std::string::npos);
}

TEST(Bikes, DailyModelRecoversItsCoefficients) {
  const auto days = synthetic_bike_days(731, 0);
  const auto m = fit_daily_demand(days);
  const std::vector<double> truth = {7.0, 0.4, 0.1, -0.2, -0.1, -0.7, 2.5, -1.5, -0.4, -0.5, 0.2, 0.15, 0.3};
  // The well-identified ones: level, year, working day, weather, season.
  for (size_t k : {1u, 2u, 4u, 5u, 10u, 11u, 12u})
    EXPECT_NEAR(m.coefficients[k], truth[k], 0.06) << DailyDemandModel::feature_names()[k];
  EXPECT_NEAR(m.residual_sd, 0.15, 0.02);
}

TEST(Bikes, RealCapitalBikeshareDataWhenInstalled) {
  const std::string path = "/usr/share/gretl/data/misc/bikesharing.gdt";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "gretl-data is not installed";
  const auto days = read_bike_days(path);
  ASSERT_EQ(days.size(), 731u);
  EXPECT_EQ(days.front().date, "2011-01-01");
  EXPECT_EQ(days.back().date, "2012-12-31");
  EXPECT_DOUBLE_EQ(days.front().count, 985);
  const auto m = fit_daily_demand(days);
  // What the data says: more rentals in 2012 and on warm days, fewer in rain.
  EXPECT_GT(m.coefficients[1], 0.3);
  EXPECT_LT(m.coefficients[5], -0.3);
}

BikeOptions small_bikes() {
  BikeOptions o;
  o.bike_data = "";
  o.stations = 12;
  o.fleet = 90;
  o.steps = 4;
  return o;
}

TEST(Bikes, StepsConserveTheFleetAndPayTheReward) {
  auto env = make_bikes(small_bikes(), Split::Test);
  env->reset(3, 0);
  for (int k = 0; k < 4; ++k) {
    const auto c = env->constraints();
    const auto x = project(c, std::vector<double>(12, 1.0 / 12));
    const auto counts = env->counts_of(x);
    for (size_t i = 0; i < counts.size(); ++i) EXPECT_LE(counts[i], env->docks()[i]);
    auto r = env->step(x);
    EXPECT_TRUE(r.feasibility.feasible);
    int64_t total = 0;
    for (int64_t b : env->bikes()) total += b;
    EXPECT_EQ(total, 90);
    const double l = r.info["unmet"] / 90, m = r.info["moved"] / 90;
    EXPECT_NEAR(r.reward, -l * (1 + std::log1p(l)) - m * std::sin(M_PI * m), 1e-12);
    EXPECT_EQ(r.done, k == 3);
  }
}

TEST(Bikes, AFullStationIsABoundAnAllocationCanMiss) {
  auto env = make_bikes(small_bikes(), Split::Test);
  env->reset(0, 0);
  std::vector<double> all_on_one(12, 0.0);
  all_on_one[0] = 1.0;  // 90 bikes at a station with at most 16 docks
  auto r = env->step(all_on_one);
  EXPECT_FALSE(r.feasibility.feasible);
  EXPECT_NE(r.feasibility.worst.find("station 0"), std::string::npos) << r.feasibility.worst;
  EXPECT_GT(r.cost, 0.8);
}

TEST(Bikes, TestDaysMustFollowTheTrainingDays) {
  BikeOptions o = small_bikes();
  o.test_days = {"2012-03-01"};
  EXPECT_NE(error_of([&] { make_bikes(o, Split::Test); }).find("bike_test_days: 2012-03-01"), std::string::npos);
  o.test_days = {"2013-03-01"};
  EXPECT_NE(error_of([&] { make_bikes(o, Split::Test); }).find("no day 2013-03-01"), std::string::npos);
}

TEST(BikesSlow, PlainPhMatchesTheExtensiveForm) {
  auto env = make_bikes(small_bikes(), Split::Test);
  env->reset(2, 0);
  env->step(project(env->constraints(), std::vector<double>(12, 1.0 / 12)));
  ScenarioOptions tree;
  tree.scenarios = 8;
  tree.horizon = 2;
  const auto ef = decide_extensive_form(*env, tree, 0.0, 5);
  EXPECT_TRUE(check_feasible(env->constraints(), ef.action).feasible);
  // The QP and the tangent-cut LP (configs/np-bikes.yaml's choice) alike.
  for (ProximalTerm proximal : {ProximalTerm::Quadratic, ProximalTerm::Linearized}) {
    PhOptions o;
    o.kappa = KappaSchedule::Zero;
    o.proximal = proximal;
    const auto ph = decide_progressive_hedging(*env, nullptr, tree, o, 5);
    EXPECT_TRUE(check_feasible(env->constraints(), ph.action).feasible);
    EXPECT_NEAR(ph.objective, ef.objective, 1e-4 + 1e-3 * std::fabs(ef.objective));
  }
}

}  // namespace
}  // namespace loom::rl
