// The bike-repositioning environment (PAPERS.md §6): S stations (95) and a
// fleet (760 bikes), 12 steps of 30 minutes from 6 AM. Each step the operator
// chooses where the fleet should stand (an allocation summing to one, each
// station at most its docks / fleet), the bikes are moved, then the step's
// trips leave where bikes are. Reward -L(1 + log(1 + L)) - R sin(πR), with L
// the unmet trips and R the bikes moved, both as shares of the fleet (our
// reading: sin(πR) needs R in [0, 1]).
//
// What is real and what is assumed (docs/np.md):
//   real     each day's total rentals, weekday, holiday, season and weather:
//            Capital Bikeshare, Washington DC, 2011-2012 (gretl-data's
//            bikesharing.gdt); a log-linear model of the daily total on
//            them, fitted on the training days, is the day's forecast.
//   assumed  the station layout (positions, docks, residential / business /
//            mixed), the hour-of-day profile of a day's trips, and the
//            origin-destination model: Poisson departures, destinations by
//            gravity, residential-to-business in the morning and back in
//            the evening.
//
// The stochastic program: each step's station departures from a
// multivariate normal fitted to 60 training days of simulated demand of the
// same day type, scaled by the day's forecast.
//
//   loom::rl::BikeOptions o;     // bikesharing.gdt by default
//   auto env = loom::rl::make_bikes(o, loom::rl::Split::Test);
#pragma once
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/rl/env.h"

namespace loom::rl {

struct BikeOptions {
  std::string bike_data = "/usr/share/gretl/data/misc/bikesharing.gdt";  // empty: synthetic days (tests)
  int64_t stations = 95;
  int64_t fleet = 760;
  int64_t steps = 12;
  int64_t start_hour = 6;
  uint64_t layout_seed = 0;
  int64_t min_docks = 8, max_docks = 16;
  // Share of Capital Bikeshare's daily trips this system sees: our fleet
  // over an assumed 1,800 bikes of theirs in 2011-2012.
  double demand_scale = 760.0 / 1800.0;
  double distance_scale = 0.35;          // gravity decay length, in units of the service area's width
  std::string train_end = "2012-06-30";  // training days: up to this one
  std::string tune_end = "2012-09-30";   // tuning days: after train_end, up to this one
  std::vector<std::string> test_days = {"2012-10-09", "2012-10-10", "2012-10-11"};
  int64_t fit_days = 60;  // days of demand the scenario normal is fitted to
};
const ParamSchema<BikeOptions>& bike_options_schema();

// One day of the data.
struct BikeDay {
  std::string date;
  int64_t year = 0, season = 1, weathersit = 1;
  bool holiday = false, workingday = true;
  double temp = 0.5, hum = 0.5, windspeed = 0.2;
  double count = 0;  // total rentals that day
};
std::vector<BikeDay> read_bike_days(const std::string& gdt_path);
// Days with features and totals from a known log-linear model (for tests).
std::vector<BikeDay> synthetic_bike_days(int64_t days, uint64_t seed);

// log(count) ~ features (intercept, 2012, working day, holiday, mist, rain/snow,
// temp, temp², humidity, wind, three seasons), by least squares.
struct DailyDemandModel {
  std::vector<double> coefficients;
  double residual_sd = 0;
  static std::vector<double> features(const BikeDay& day);
  static const std::vector<std::string>& feature_names();
  double forecast(const BikeDay& day) const;  // E[count]
};
DailyDemandModel fit_daily_demand(const std::vector<BikeDay>& days);

class BikeEnv : public Environment {
 public:
  BikeEnv(const BikeOptions& options, std::vector<BikeDay> days, Split split);
  std::string name() const override { return "bikes"; }
  ObservationSpec observation_spec() const override { return {0, 0, stations() + 5}; }
  ActionSpec action_spec() const override;
  int64_t max_episode_steps() const override { return options_.steps; }
  int64_t episodes() const override { return static_cast<int64_t>(split_days_.size()); }
  Observation reset(uint64_t seed, int64_t episode = -1) override;
  ConstraintSet constraints() const override;
  StepResult step(const std::vector<double>& action) override;
  Observation observe() const override;
  nlohmann::json state() const override;
  void set_state(const nlohmann::json& state) override;
  std::unique_ptr<StochasticProgram> stochastic_program(const ScenarioOptions& options, uint64_t seed) const override;

  int64_t stations() const { return options_.stations; }
  const BikeOptions& options() const { return options_; }
  const std::vector<int64_t>& docks() const { return docks_; }
  const std::vector<int64_t>& bikes() const { return bikes_; }
  const BikeDay& today() const { return days_[static_cast<size_t>(day_)]; }
  int64_t episode_step() const { return step_; }
  const DailyDemandModel& demand_model() const { return model_; }
  // Mean departures per station in step k (0-based from start_hour) of `day`.
  std::vector<double> departure_rates(const BikeDay& day, int64_t k) const;
  // Destination probabilities from each origin in step k of `day`: [i][j].
  std::vector<std::vector<double>> destinations(const BikeDay& day, int64_t k) const;
  // One step's departures per station, drawn from the demand model.
  std::vector<int64_t> sample_departures(const BikeDay& day, int64_t k, std::mt19937_64& rng) const;
  // The days the scenario model is fitted to, for a decision on `day`.
  std::vector<int64_t> fit_days_for(int64_t day) const;
  const std::vector<BikeDay>& days() const { return days_; }
  // Counts for an allocation: largest remainders, so that an allocation
  // within the docks gives counts within the docks.
  std::vector<int64_t> counts_of(const std::vector<double>& allocation) const;
  Observation make_observation(const std::vector<double>& fill, int64_t step) const;

 private:
  BikeOptions options_;
  std::vector<BikeDay> days_;
  Split split_;
  DailyDemandModel model_;
  double mean_count_ = 1;
  std::vector<int64_t> split_days_;  // indices into days_
  int64_t train_last_ = 0;           // last training day's index
  std::vector<double> x_, y_;        // station positions
  std::vector<int> kind_;            // 0 residential, 1 mixed, 2 business
  std::vector<int64_t> docks_;
  // State
  int64_t day_ = 0, step_ = 0;
  uint64_t episode_seed_ = 0;
  std::vector<int64_t> bikes_;
  std::vector<int64_t> initial_bikes() const;
};

std::unique_ptr<BikeEnv> make_bikes(const BikeOptions& options, Split split);

}  // namespace loom::rl
