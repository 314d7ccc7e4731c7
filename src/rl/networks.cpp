#include "loom/rl/networks.h"

#include <torch/torch.h>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/json.h"
#include "loom/tensor/tensor_io.h"

namespace loom::rl {

const ParamSchema<NetworkOptions>& network_options_schema() {
  static const ParamSchema<NetworkOptions> schema = [] {
    using O = NetworkOptions;
    ParamSchema<O> s;
    s.add_enum<Encoder>("encoder", &O::encoder, {{Encoder::Mlp, "mlp"}, {Encoder::Lstm, "lstm"}},
                        "actor/critic observation encoder: mlp (flattened) or lstm (over the history)")
        .add("hidden", &O::hidden, "hidden layer sizes of the actor and critic MLPs, comma-separated")
        .add("lstm_hidden", &O::lstm_hidden, "LSTM cells of the lstm encoder", {1, 4096})
        .add_enum<Activation>("activation", &O::activation,
                              {{Activation::ReLU, "relu"}, {Activation::Tanh, "tanh"}, {Activation::SiLU, "silu"}},
                              "hidden activation of the MLPs");
    return s;
  }();
  return schema;
}

std::vector<int64_t> NetworkOptions::hidden_sizes() const {
  std::vector<int64_t> out;
  for (const auto& h : hidden) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(h, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != h.size() || v < 1 || v > 1 << 20)
      throw Error("hidden: '" + h + "' is not a layer size (a positive integer)");
    out.push_back(v);
  }
  return out;
}

namespace {

Mlp make_mlp(int64_t in, const NetworkOptions& o, int64_t out) {
  MlpOptions m;
  m.layer_sizes.push_back(in);
  for (int64_t h : o.hidden_sizes()) m.layer_sizes.push_back(h);
  m.layer_sizes.push_back(out);
  m.hidden_activation = o.activation;
  return Mlp(m);
}

}  // namespace

ObservationEncoderImpl::ObservationEncoderImpl(const ObservationSpec& spec, const NetworkOptions& options)
    : spec_(spec), encoder_(options.encoder) {
  if (encoder_ == Encoder::Lstm) {
    if (spec.sequence_length < 1 || spec.sequence_features < 1)
      throw Error("encoder: lstm needs an environment whose observations have a history; this one has none");
    lstm_ = register_module(
        "lstm", torch::nn::LSTM(torch::nn::LSTMOptions(spec.sequence_features, options.lstm_hidden).batch_first(true)));
    out_size_ = options.lstm_hidden + spec.flat_features;
  } else {
    out_size_ = spec.size();
  }
}

torch::Tensor ObservationEncoderImpl::forward(const torch::Tensor& x) {
  if (encoder_ == Encoder::Mlp) return x;
  const int64_t batch = x.size(0);
  const int64_t seq = spec_.sequence_length * spec_.sequence_features;
  auto history = x.narrow(1, 0, seq).reshape({batch, spec_.sequence_length, spec_.sequence_features});
  auto out = std::get<0>(lstm_->forward(history));  // [B, L, H]
  auto last = out.select(1, spec_.sequence_length - 1);
  if (spec_.flat_features == 0) return last;
  return torch::cat({last, x.narrow(1, seq, spec_.flat_features)}, 1);
}

ActorImpl::ActorImpl(const ObservationSpec& observation, const ActionSpec& action, const NetworkOptions& options)
    : observation_spec_(observation), action_(action) {
  if (action.size < 1) throw Error("actor: the action space is empty");
  encoder_ = register_module("encoder", ObservationEncoder(observation, options));
  mlp_ = register_module("mlp", make_mlp(encoder_->out_size(), options, action.size));
  if (action.kind == ActionKind::Box) {
    if (static_cast<int64_t>(action.low.size()) != action.size ||
        static_cast<int64_t>(action.high.size()) != action.size)
      throw Error("actor: a box action space needs low and high per component");
    low_ = torch::tensor(action.low, torch::kFloat32);
    high_ = torch::tensor(action.high, torch::kFloat32);
  }
}

torch::Tensor ActorImpl::forward(const torch::Tensor& observations) { return mlp_(encoder_(observations)); }

torch::Tensor ActorImpl::head(const torch::Tensor& raw) const {
  if (action_.kind == ActionKind::Simplex) return torch::softmax(raw, -1);
  return low_ + (torch::tanh(raw) + 1) * 0.5 * (high_ - low_);
}

CriticImpl::CriticImpl(const ObservationSpec& observation, const ActionSpec& action, const NetworkOptions& options) {
  encoder_ = register_module("encoder", ObservationEncoder(observation, options));
  mlp_ = register_module("mlp", make_mlp(encoder_->out_size() + action.size, options, 1));
}

torch::Tensor CriticImpl::forward(const torch::Tensor& observations, const torch::Tensor& actions) {
  return mlp_(torch::cat({encoder_(observations), actions}, 1));
}

ValueImpl::ValueImpl(const ObservationSpec& observation, const NetworkOptions& options) {
  encoder_ = register_module("encoder", ObservationEncoder(observation, options));
  mlp_ = register_module("mlp", make_mlp(encoder_->out_size(), options, 1));
}

torch::Tensor ValueImpl::forward(const torch::Tensor& observations) { return mlp_(encoder_(observations)); }

torch::Tensor observation_batch(const std::vector<Observation>& observations, int64_t size) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(observations.size()), size}, torch::kFloat32);
  float* p = t.data_ptr<float>();
  for (const auto& o : observations) {
    if (static_cast<int64_t>(o.size()) != size)
      throw Error("observation has " + std::to_string(o.size()) + " values, the network expects " +
                  std::to_string(size));
    std::copy(o.begin(), o.end(), p);
    p += size;
  }
  return t;
}

namespace {

std::vector<std::vector<double>> rows_of(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat64).contiguous();
  const int64_t rows = c.size(0), cols = c.size(1);
  const double* p = c.data_ptr<double>();
  std::vector<std::vector<double>> out(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) out[static_cast<size_t>(r)].assign(p + r * cols, p + (r + 1) * cols);
  return out;
}

class ActorPolicy : public Policy {
 public:
  explicit ActorPolicy(Actor actor) : actor_(std::move(actor)) {}
  std::vector<std::vector<double>> act_batch(const std::vector<Observation>& observations) override {
    torch::NoGradGuard no_grad;
    auto x = observation_batch(observations, actor_->observation_spec().size());
    auto actions = rows_of(actor_->act(x));
    // Softmax in float32 sums to 1 only to ~1e-7: renormalise in double.
    if (actor_->action_spec().kind == ActionKind::Simplex)
      for (auto& a : actions) {
        double s = 0;
        for (double v : a) s += v;
        for (double& v : a) v /= s;
      }
    return actions;
  }

 private:
  Actor actor_;
};

nlohmann::json spec_json(const ObservationSpec& o, const ActionSpec& a) {
  return {{"sequence_length", o.sequence_length},
          {"sequence_features", o.sequence_features},
          {"flat_features", o.flat_features},
          {"action_size", a.size},
          {"action_kind", a.kind == ActionKind::Simplex ? "simplex" : "box"}};
}

}  // namespace

std::unique_ptr<Policy> make_actor_policy(Actor actor) { return std::make_unique<ActorPolicy>(std::move(actor)); }

void save_policy(const std::string& dir, const Actor& actor, const NetworkOptions& options,
                 const std::string& algorithm) {
  make_dirs(dir);
  NamedTensors tensors;
  for (const auto& p : actor->named_parameters()) tensors.push_back({p.key(), p.value().detach().clone()});
  save_tensors(dir + "/actor.safetensors", tensors);
  nlohmann::json j = {{"format", "loom-rl-policy"},
                      {"version", 1},
                      {"algorithm", algorithm},
                      {"spaces", spec_json(actor->observation_spec(), actor->action_spec())},
                      {"encoder", options.encoder == Encoder::Lstm ? "lstm" : "mlp"},
                      {"hidden", options.hidden},
                      {"lstm_hidden", options.lstm_hidden},
                      {"activation", activation_name(options.activation)}};
  write_file_atomic(dir + "/policy.json", j.dump(2));
}

std::unique_ptr<Policy> load_policy(const std::string& dir, const ObservationSpec& observation,
                                    const ActionSpec& action) {
  const std::string path = dir + "/policy.json";
  nlohmann::json j = read_json_file(path);
  NetworkOptions options;
  try {
    if (j.at("format").get<std::string>() != "loom-rl-policy")
      throw Error(path + ": format is '" + j.at("format").get<std::string>() + "', expected 'loom-rl-policy'");
    if (j.at("spaces") != spec_json(observation, action))
      throw Error(path + ": the policy was trained for spaces " + j.at("spaces").dump() + ", the environment has " +
                  spec_json(observation, action).dump());
    const std::string encoder = j.at("encoder").get<std::string>();
    if (encoder != "mlp" && encoder != "lstm") throw Error(path + ": encoder '" + encoder + "' is not mlp or lstm");
    options.encoder = encoder == "lstm" ? Encoder::Lstm : Encoder::Mlp;
    options.hidden = j.at("hidden").get<std::vector<std::string>>();
    options.lstm_hidden = j.at("lstm_hidden").get<int64_t>();
    options.activation = activation_from_name(j.at("activation").get<std::string>(), path + ": activation");
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": " + e.what());
  }
  Actor actor(observation, action, options);
  const std::string weights = dir + "/actor.safetensors";
  copy_tensors_strict(actor->named_parameters(), load_tensors(weights), weights);
  actor->eval();
  return make_actor_policy(actor);
}

}  // namespace loom::rl
