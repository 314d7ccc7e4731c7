// The bike-repositioning environment: the real daily data, the daily demand
// model fitted to it, the assumed station-level model, and the dynamics.
#include "loom/rl/bikes.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "../rl_util.h"
#include "envs.h"
#include "loom/core/error.h"
#include "loom/rl/data.h"

namespace loom::rl {

const ParamSchema<BikeOptions>& bike_options_schema() {
  static const ParamSchema<BikeOptions> schema = [] {
    using O = BikeOptions;
    ParamSchema<O> s;
    s.add("bike_data", &O::bike_data, "bikes: gretl bikesharing.gdt (daily Capital Bikeshare data); empty = synthetic")
        .add("stations", &O::stations, "bikes: stations", {2, 10000})
        .add("fleet", &O::fleet, "bikes: bikes in the fleet", {1, 1e7})
        .add("bike_steps", &O::steps, "bikes: decision steps of 30 minutes per episode", {1, 48})
        .add("start_hour", &O::start_hour, "bikes: hour of the first step", {0, 23})
        .add("layout_seed", &O::layout_seed, "bikes: seed of the (assumed) station layout")
        .add("min_docks", &O::min_docks, "bikes: fewest docks at a station", {1, 10000})
        .add("max_docks", &O::max_docks, "bikes: most docks at a station", {1, 10000})
        .add("demand_scale", &O::demand_scale,
             "bikes: share of Capital Bikeshare's daily trips this system sees (760 / an assumed 1,800 bikes)",
             {0, 100})
        .add("distance_scale", &O::distance_scale, "bikes: gravity decay length of trip destinations", {1e-3, 100})
        .add("bike_train_end", &O::train_end, "bikes: last training day (yyyy-mm-dd)")
        .add("bike_tune_end", &O::tune_end, "bikes: last tuning day")
        .add("bike_test_days", &O::test_days, "bikes: test days, comma-separated")
        .add("bike_fit_days", &O::fit_days, "bikes: training days the scenario normal is fitted to", {2, 10000});
    return s;
  }();
  return schema;
}

std::vector<BikeDay> read_bike_days(const std::string& path) {
  GretlData d = read_gretl(path);
  auto col = [&](const char* name) { return gretl_column(d, name, path); };
  const auto season = col("season"), holiday = col("holiday"), working = col("workingday"), weather = col("weathersit"),
             temp = col("temp"), hum = col("hum"), wind = col("windspeed"), count = col("cnt");
  std::vector<BikeDay> days;
  for (size_t k = 0; k < d.rows.size(); ++k) {
    const std::string where = path + ": observation " + std::to_string(k + 1) + " (" + d.dates[k] + ")";
    check_iso_date(d.dates[k], where);
    BikeDay day;
    day.date = d.dates[k];
    day.year = std::stoll(day.date.substr(0, 4));
    const double values[] = {season[k], holiday[k], working[k], weather[k], temp[k], hum[k], wind[k], count[k]};
    for (double v : values)
      if (!std::isfinite(v)) throw Error(where + ": a missing value");
    if (season[k] < 1 || season[k] > 4) throw Error(where + ": season " + std::to_string(season[k]) + " is not 1-4");
    if (weather[k] < 1 || weather[k] > 4)
      throw Error(where + ": weathersit " + std::to_string(weather[k]) + " is not 1-4");
    if (!(count[k] > 0)) throw Error(where + ": cnt " + std::to_string(count[k]) + " is not positive");
    day.season = static_cast<int64_t>(season[k]);
    day.holiday = holiday[k] != 0;
    day.workingday = working[k] != 0;
    day.weathersit = std::min<int64_t>(3, static_cast<int64_t>(weather[k]));  // 4 (heavy rain) occurs once: as 3
    day.temp = temp[k];
    day.hum = hum[k];
    day.windspeed = wind[k];
    day.count = count[k];
    days.push_back(day);
  }
  return days;
}

const std::vector<std::string>& DailyDemandModel::feature_names() {
  static const std::vector<std::string> names = {"intercept",     "year_2012",   "workingday",   "holiday", "mist",
                                                 "rain_snow",     "temp",        "temp2",        "hum",     "windspeed",
                                                 "season_summer", "season_fall", "season_winter"};
  return names;
}

std::vector<double> DailyDemandModel::features(const BikeDay& d) {
  return {1.0,
          d.year >= 2012 ? 1.0 : 0.0,
          d.workingday ? 1.0 : 0.0,
          d.holiday ? 1.0 : 0.0,
          d.weathersit == 2 ? 1.0 : 0.0,
          d.weathersit >= 3 ? 1.0 : 0.0,
          d.temp,
          d.temp * d.temp,
          d.hum,
          d.windspeed,
          d.season == 2 ? 1.0 : 0.0,
          d.season == 3 ? 1.0 : 0.0,
          d.season == 4 ? 1.0 : 0.0};
}

double DailyDemandModel::forecast(const BikeDay& day) const {
  const auto f = features(day);
  double z = 0;
  for (size_t k = 0; k < f.size(); ++k) z += coefficients[k] * f[k];
  return std::exp(z + 0.5 * residual_sd * residual_sd);
}

DailyDemandModel fit_daily_demand(const std::vector<BikeDay>& days) {
  const size_t p = DailyDemandModel::feature_names().size();
  if (days.size() < 2 * p)
    throw Error("bikes: " + std::to_string(days.size()) + " training days are too few to fit the daily demand model");
  // Normal equations with a tiny ridge (a season absent from the training
  // days leaves its column zero).
  std::vector<std::vector<double>> a(p, std::vector<double>(p, 0.0));
  std::vector<double> b(p, 0.0);
  for (const auto& d : days) {
    const auto f = DailyDemandModel::features(d);
    const double y = std::log(d.count);
    for (size_t i = 0; i < p; ++i) {
      b[i] += f[i] * y;
      for (size_t j = 0; j < p; ++j) a[i][j] += f[i] * f[j];
    }
  }
  for (size_t i = 0; i < p; ++i) a[i][i] += 1e-8 * static_cast<double>(days.size());
  const auto l = cholesky(a);
  std::vector<double> z(p), beta(p);
  for (size_t i = 0; i < p; ++i) {
    double s = b[i];
    for (size_t k = 0; k < i; ++k) s -= l[i][k] * z[k];
    z[i] = s / l[i][i];
  }
  for (size_t i = p; i-- > 0;) {
    double s = z[i];
    for (size_t k = i + 1; k < p; ++k) s -= l[k][i] * beta[k];
    beta[i] = s / l[i][i];
  }
  DailyDemandModel m;
  m.coefficients = beta;
  double ss = 0;
  for (const auto& d : days) {
    const auto f = DailyDemandModel::features(d);
    double fit = 0;
    for (size_t k = 0; k < p; ++k) fit += beta[k] * f[k];
    ss += (std::log(d.count) - fit) * (std::log(d.count) - fit);
  }
  m.residual_sd = std::sqrt(ss / static_cast<double>(days.size() - p));
  return m;
}

std::vector<BikeDay> synthetic_bike_days(int64_t n, uint64_t seed) {
  auto rng = seeded_stream(seed, 77);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> noise(0, 0.15);
  // A known model for the fit to recover (tests/rl/test_envs.cpp).
  const std::vector<double> beta = {7.0, 0.4, 0.1, -0.2, -0.1, -0.7, 2.5, -1.5, -0.4, -0.5, 0.2, 0.15, 0.3};
  std::vector<BikeDay> days;
  const int64_t start = days_from_civil(2011, 1, 1);
  for (int64_t k = 0; k < n; ++k) {
    BikeDay d;
    d.date = civil_from_days(start + k);
    d.year = std::stoll(d.date.substr(0, 4));
    const int64_t month = std::stoll(d.date.substr(5, 2));
    d.season = (month % 12) / 3 + 1;
    const int64_t wd = weekday_of(start + k);
    d.holiday = u(rng) < 0.03;
    d.workingday = wd < 5 && !d.holiday;
    const double r = u(rng);
    d.weathersit = r < 0.65 ? 1 : r < 0.95 ? 2 : 3;
    d.temp = std::clamp(0.5 + 0.3 * std::sin(2 * M_PI * (static_cast<double>(k) / 365.0 - 0.3)) + 0.08 * noise(rng),
                        0.05, 0.95);
    d.hum = std::clamp(0.6 + 0.15 * (u(rng) - 0.5), 0.0, 1.0);
    d.windspeed = std::clamp(0.2 + 0.1 * (u(rng) - 0.5), 0.0, 1.0);
    const auto f = DailyDemandModel::features(d);
    double z = 0;
    for (size_t i = 0; i < f.size(); ++i) z += beta[i] * f[i];
    d.count = std::round(std::exp(z + noise(rng)));
    days.push_back(d);
  }
  return days;
}

namespace {

// Assumed hour-of-day shares of a day's trips (Capital Bikeshare-like: the
// data set holds daily totals only). Working days peak at 8 and 17-18 h;
// other days in the early afternoon.
const double kWorkingProfile[24] = {0.010, 0.005, 0.003, 0.002, 0.002, 0.008, 0.035, 0.095, 0.130, 0.060, 0.035, 0.040,
                                    0.050, 0.048, 0.045, 0.050, 0.080, 0.120, 0.085, 0.058, 0.040, 0.030, 0.022, 0.015};
const double kOtherProfile[24] = {0.015, 0.012, 0.009, 0.004, 0.002, 0.002, 0.005, 0.012, 0.025, 0.045, 0.065, 0.080,
                                  0.090, 0.092, 0.090, 0.088, 0.085, 0.078, 0.065, 0.050, 0.038, 0.030, 0.025, 0.018};

double hour_share(bool working, double hour) {
  const double* profile = working ? kWorkingProfile : kOtherProfile;
  const double total = std::accumulate(profile, profile + 24, 0.0);
  return profile[static_cast<int>(hour) % 24] / total;
}

// Assumed origin and destination weights of residential, mixed and business
// stations: commuting out in the morning, home in the evening.
void period_weights(bool working, double hour, double origin[3], double destination[3]) {
  const double flat[3] = {1, 1, 1}, homes[3] = {3, 1, 0.3}, offices[3] = {0.3, 1, 3};
  const double* o = flat;
  const double* d = flat;
  if (working && hour >= 6 && hour < 10) o = homes, d = offices;
  if (working && hour >= 16 && hour < 20) o = offices, d = homes;
  for (int k = 0; k < 3; ++k) origin[k] = o[k], destination[k] = d[k];
}

}  // namespace

std::unique_ptr<BikeEnv> make_bikes(const BikeOptions& options, Split split) {
  auto days = options.bike_data.empty() ? synthetic_bike_days(731, 0) : read_bike_days(options.bike_data);
  return std::make_unique<BikeEnv>(options, std::move(days), split);
}

BikeEnv::BikeEnv(const BikeOptions& options, std::vector<BikeDay> days, Split split)
    : options_(options), days_(std::move(days)), split_(split) {
  check_iso_date(options_.train_end, "bikes: bike_train_end");
  check_iso_date(options_.tune_end, "bikes: bike_tune_end");
  if (options_.min_docks > options_.max_docks) throw Error("bikes: min_docks exceeds max_docks");
  std::vector<BikeDay> training;
  std::vector<int64_t> train, tune;
  for (size_t k = 0; k < days_.size(); ++k) {
    if (k > 0 && days_[k].date <= days_[k - 1].date)
      throw Error("bikes: days are not in date order at " + days_[k].date);
    if (days_[k].date <= options_.train_end) {
      training.push_back(days_[k]);
      train.push_back(static_cast<int64_t>(k));
    } else if (days_[k].date <= options_.tune_end) {
      tune.push_back(static_cast<int64_t>(k));
    }
  }
  if (train.empty()) throw Error("bikes: no day on or before bike_train_end = " + options_.train_end);
  train_last_ = train.back();
  model_ = fit_daily_demand(training);
  mean_count_ = 0;
  for (const auto& d : training) mean_count_ += d.count / static_cast<double>(training.size());
  std::vector<int64_t> test;
  for (const auto& date : options_.test_days) {
    check_iso_date(date, "bikes: bike_test_days");
    if (date <= options_.tune_end)
      throw Error("bikes: bike_test_days: " + date +
                  " is not after the training and tuning days (bike_tune_end = " + options_.tune_end + ")");
    auto it = std::find_if(days_.begin(), days_.end(), [&](const BikeDay& d) { return d.date == date; });
    if (it == days_.end()) throw Error("bikes: bike_test_days: the data has no day " + date);
    test.push_back(it - days_.begin());
  }
  split_days_ = split == Split::Train ? train : split == Split::Tune ? tune : test;
  if (split_days_.empty()) throw Error(std::string("bikes: the ") + split_name(split) + " split has no days");
  // The assumed layout: positions in the unit square, business stations
  // nearest the centre, residential ones farthest out.
  auto rng = seeded_stream(options_.layout_seed, 5);
  std::uniform_real_distribution<double> u(0, 1);
  const auto n = static_cast<size_t>(options_.stations);
  x_.resize(n);
  y_.resize(n);
  docks_.resize(n);
  std::uniform_int_distribution<int64_t> docks(options_.min_docks, options_.max_docks);
  for (size_t i = 0; i < n; ++i) {
    x_[i] = u(rng);
    y_[i] = u(rng);
    docks_[i] = docks(rng);
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  auto centre = [&](size_t i) { return std::hypot(x_[i] - 0.5, y_[i] - 0.5); };
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return centre(a) < centre(b); });
  kind_.assign(n, 1);
  for (size_t r = 0; r < n; ++r) {
    if (r < n / 4) kind_[order[r]] = 2;
    if (r >= n - (n * 45) / 100) kind_[order[r]] = 0;
  }
  const int64_t total_docks = std::accumulate(docks_.begin(), docks_.end(), int64_t{0});
  if (total_docks < options_.fleet)
    throw Error("bikes: the stations have " + std::to_string(total_docks) + " docks for a fleet of " +
                std::to_string(options_.fleet) + " (raise min_docks/max_docks or lower fleet)");
  day_ = split_days_.front();
  bikes_ = initial_bikes();
}

ActionSpec BikeEnv::action_spec() const {
  ActionSpec a;
  a.size = stations();
  a.kind = ActionKind::Simplex;
  for (int64_t i = 0; i < stations(); ++i) a.names.push_back("station " + std::to_string(i));
  return a;
}

ConstraintSet BikeEnv::constraints() const {
  ConstraintSet c = ConstraintSet::simplex(stations());
  c.names = action_spec().names;
  for (int64_t i = 0; i < stations(); ++i)
    c.upper[static_cast<size_t>(i)] =
        static_cast<double>(docks_[static_cast<size_t>(i)]) / static_cast<double>(options_.fleet);
  return c;
}

std::vector<int64_t> BikeEnv::counts_of(const std::vector<double>& a) const {
  const auto n = a.size();
  const double fleet = static_cast<double>(options_.fleet);
  std::vector<int64_t> counts(n);
  std::vector<std::pair<double, size_t>> remainders;
  int64_t placed = 0;
  for (size_t i = 0; i < n; ++i) {
    const double want = a[i] * fleet;
    counts[i] = static_cast<int64_t>(std::floor(want + 1e-9));
    placed += counts[i];
    remainders.emplace_back(want - static_cast<double>(counts[i]), i);
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& p, const auto& q) { return p.first > q.first; });
  for (size_t k = 0; placed < options_.fleet && k < remainders.size(); ++k, ++placed) ++counts[remainders[k].second];
  for (size_t k = remainders.size(); placed > options_.fleet && k-- > 0;)
    if (counts[remainders[k].second] > 0) --counts[remainders[k].second], --placed;
  return counts;
}

std::vector<int64_t> BikeEnv::initial_bikes() const {
  // Overnight, bikes stand mostly at homes: docks weighted 1 (residential),
  // 0.6 (mixed), 0.3 (business), within the docks.
  ConstraintSet c = constraints();
  std::vector<double> w(static_cast<size_t>(stations()));
  double total = 0;
  for (size_t i = 0; i < w.size(); ++i)
    total += (w[i] = static_cast<double>(docks_[i]) * (kind_[i] == 0 ? 1.0 : kind_[i] == 1 ? 0.6 : 0.3));
  for (double& v : w) v /= total;
  return counts_of(project(c, w));
}

std::vector<double> BikeEnv::departure_rates(const BikeDay& day, int64_t k) const {
  const double hour = static_cast<double>(options_.start_hour) + 0.5 * static_cast<double>(k);
  const double total = day.count * options_.demand_scale * hour_share(day.workingday, hour) / 2;
  double origin[3], destination[3];
  period_weights(day.workingday, hour, origin, destination);
  std::vector<double> rates(static_cast<size_t>(stations()));
  double sum = 0;
  for (size_t i = 0; i < rates.size(); ++i) sum += (rates[i] = origin[kind_[i]]);
  for (double& r : rates) r *= total / sum;
  return rates;
}

std::vector<std::vector<double>> BikeEnv::destinations(const BikeDay& day, int64_t k) const {
  const double hour = static_cast<double>(options_.start_hour) + 0.5 * static_cast<double>(k);
  double origin[3], destination[3];
  period_weights(day.workingday, hour, origin, destination);
  const auto n = static_cast<size_t>(stations());
  std::vector<std::vector<double>> p(n, std::vector<double>(n, 0.0));
  for (size_t i = 0; i < n; ++i) {
    double sum = 0;
    for (size_t j = 0; j < n; ++j) {
      if (i == j) continue;
      const double d = std::hypot(x_[i] - x_[j], y_[i] - y_[j]);
      sum += (p[i][j] = destination[kind_[j]] * std::exp(-d / options_.distance_scale));
    }
    for (double& v : p[i]) v /= sum;
  }
  return p;
}

std::vector<int64_t> BikeEnv::sample_departures(const BikeDay& day, int64_t k, std::mt19937_64& rng) const {
  const auto rates = departure_rates(day, k);
  std::vector<int64_t> out(rates.size());
  for (size_t i = 0; i < rates.size(); ++i) {
    std::poisson_distribution<int64_t> poisson(rates[i]);
    out[i] = rates[i] > 0 ? poisson(rng) : 0;
  }
  return out;
}

std::vector<int64_t> BikeEnv::fit_days_for(int64_t day) const {
  std::vector<int64_t> out;
  const bool working = days_[static_cast<size_t>(day)].workingday;
  for (int64_t k = std::min(train_last_, day - 1); k >= 0 && static_cast<int64_t>(out.size()) < options_.fit_days; --k)
    if (days_[static_cast<size_t>(k)].workingday == working) out.push_back(k);
  if (out.size() < 2) throw Error("bikes: fewer than two training days of this day type to fit the scenario model");
  return out;
}

Observation BikeEnv::make_observation(const std::vector<double>& fill, int64_t step) const {
  Observation o;
  for (double f : fill) o.push_back(static_cast<float>(f));
  const BikeDay& d = today();
  o.push_back(static_cast<float>(step) / static_cast<float>(options_.steps));
  o.push_back(d.workingday ? 1.0f : 0.0f);
  o.push_back(static_cast<float>(d.weathersit) / 3.0f);
  o.push_back(static_cast<float>(d.temp));
  o.push_back(static_cast<float>(model_.forecast(d) / mean_count_));
  return o;
}

Observation BikeEnv::observe() const {
  std::vector<double> fill(bikes_.size());
  for (size_t i = 0; i < fill.size(); ++i) fill[i] = static_cast<double>(bikes_[i]) / static_cast<double>(docks_[i]);
  return make_observation(fill, step_);
}

Observation BikeEnv::reset(uint64_t seed, int64_t episode) {
  const int64_t n = episodes();
  int64_t k = 0;
  if (split_ == Split::Train) {
    auto rng = seeded_stream(seed, 2);
    k = std::uniform_int_distribution<int64_t>(0, n - 1)(rng);
  } else {
    k = episode >= 0 ? episode : static_cast<int64_t>(seed % static_cast<uint64_t>(n));
    if (k >= n)
      throw Error("bikes: episode " + std::to_string(k) + " of a " + split_name(split_) + " split with " +
                  std::to_string(n) + " days");
  }
  day_ = split_days_[static_cast<size_t>(k)];
  step_ = 0;
  episode_seed_ = seed;
  bikes_ = initial_bikes();
  return observe();
}

StepResult BikeEnv::step(const std::vector<double>& action) {
  if (step_ >= options_.steps) throw Error("bikes: step after the episode ended; call reset");
  check_action_space(action_spec(), action, "bikes " + today().date + " step " + std::to_string(step_));
  StepResult r;
  const ConstraintSet c = constraints();
  r.feasibility = check_feasible(c, action);
  for (size_t i = 0; i < action.size(); ++i) r.cost += std::max(0.0, action[i] - c.upper[i]);
  std::vector<int64_t> target = counts_of(action);
  int64_t moved = 0;
  for (size_t i = 0; i < target.size(); ++i) moved += std::max<int64_t>(0, bikes_[i] - target[i]);
  bikes_ = target;
  auto rng = seeded_stream(episode_seed_, 100 + static_cast<uint64_t>(step_));
  const auto departures = sample_departures(today(), step_, rng);
  const auto p = destinations(today(), step_);
  int64_t demand = 0, unmet = 0;
  std::vector<int64_t> arrivals(bikes_.size(), 0);
  for (size_t i = 0; i < departures.size(); ++i) {
    demand += departures[i];
    const int64_t served = std::min(departures[i], bikes_[i]);
    unmet += departures[i] - served;
    bikes_[i] -= served;
    if (served == 0) continue;
    std::discrete_distribution<size_t> where(p[i].begin(), p[i].end());
    for (int64_t t = 0; t < served; ++t) ++arrivals[where(rng)];
  }
  // Arrivals dock where they can; one that finds a full station is returned
  // at the nearest station with a free dock (our choice).
  for (size_t j = 0; j < arrivals.size(); ++j)
    for (int64_t t = 0; t < arrivals[j]; ++t) {
      size_t to = j;
      if (bikes_[j] >= docks_[j]) {
        double best = INFINITY;
        for (size_t k = 0; k < bikes_.size(); ++k)
          if (bikes_[k] < docks_[k]) {
            const double d = std::hypot(x_[j] - x_[k], y_[j] - y_[k]);
            if (d < best) best = d, to = k;
          }
      }
      ++bikes_[to];
    }
  const double fleet = static_cast<double>(options_.fleet);
  const double l = static_cast<double>(unmet) / fleet, m = static_cast<double>(moved) / fleet;
  r.reward = -l * (1 + std::log1p(l)) - m * std::sin(M_PI * m);
  r.info["demand"] = static_cast<double>(demand);
  r.info["unmet"] = static_cast<double>(unmet);
  r.info["moved"] = static_cast<double>(moved);
  ++step_;
  r.done = step_ >= options_.steps;
  r.observation = observe();
  return r;
}

nlohmann::json BikeEnv::state() const {
  return {{"day", day_}, {"step", step_}, {"seed", episode_seed_}, {"bikes", bikes_}};
}

void BikeEnv::set_state(const nlohmann::json& s) {
  try {
    day_ = s.at("day").get<int64_t>();
    step_ = s.at("step").get<int64_t>();
    episode_seed_ = s.at("seed").get<uint64_t>();
    bikes_ = s.at("bikes").get<std::vector<int64_t>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("bikes state: ") + e.what());
  }
  if (static_cast<int64_t>(bikes_.size()) != stations() || day_ < 0 || day_ >= static_cast<int64_t>(days_.size()))
    throw Error("bikes state: does not fit these stations and days");
}

void register_bikes_environment(Registry<EnvironmentEntry>& r) {
  r.add("bikes", {"bike repositioning: stations, fleet, 30-minute steps; demand fitted to Capital Bikeshare data",
                  bike_options_schema().specs(), [](const Params& p, Split split) -> std::unique_ptr<Environment> {
                    return make_bikes(bike_options_schema().read(p), split);
                  }});
}

}  // namespace loom::rl
