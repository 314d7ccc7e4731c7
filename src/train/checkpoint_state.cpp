#include "loom/train/checkpoint_state.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/json.h"

namespace loom {
namespace fs = std::filesystem;

std::string checkpoint_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "step-%06lld", static_cast<long long>(step));
  return buf;
}

nlohmann::json checkpoint_state_json(const CheckpointState& state) {
  return {{"step", state.step},   {"epoch", state.epoch},        {"cursor", state.cursor},
          {"extra", state.extra}, {"format", "loom-checkpoint"}, {"version", 1}};
}

CheckpointState parse_checkpoint_state(const std::string& text, const std::string& origin) {
  // The state is a handful of numbers; 1 MiB leaves room for callers' extra.
  JsonLimits limits;
  limits.max_bytes = size_t{1} << 20;
  const nlohmann::json j = parse_json(text, origin, limits);
  if (!j.is_object()) throw Error(origin + ": expected a JSON object");
  auto field = [&](const char* key) -> const nlohmann::json& {
    auto it = j.find(key);
    if (it == j.end()) throw Error(origin + ": missing field '" + key + "'");
    return *it;
  };
  if (field("format") != "loom-checkpoint")
    throw Error(origin + ": field 'format' is " + field("format").dump() + ", expected \"loom-checkpoint\"");
  if (field("version") != 1)
    throw Error(origin + ": field 'version' is " + field("version").dump() + "; loom reads version 1");
  auto counter = [&](const char* key) {
    const nlohmann::json& v = field(key);
    // is_number_integer excludes 4.5 and 1e3; unsigned values above int64 are refused below.
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(kMaxCheckpointCounter)) ||
        v.get<int64_t>() < 0 || v.get<int64_t>() > kMaxCheckpointCounter)
      throw Error(origin + ": field '" + key + "' must be an integer in [0, 2^53], got " + v.dump());
    return v.get<int64_t>();
  };
  CheckpointState s;
  s.step = counter("step");
  s.epoch = counter("epoch");
  s.cursor = counter("cursor");
  if (j.contains("extra")) s.extra = j["extra"];
  s.source = origin;
  return s;
}

std::string latest_checkpoint_dir(const std::string& root) {
  const std::string latest = root + "/latest";
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(latest, ec))) return "";
  if (fs::file_size(latest, ec) > 4096 || ec)
    throw Error(latest + ": not a checkpoint pointer (expected one line step-N)");
  std::string name = read_file_text(latest);
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r' || name.back() == ' ')) name.pop_back();
  const bool well_formed =
      name.size() > 5 && name.size() <= 5 + 20 && name.compare(0, 5, "step-") == 0 &&
      std::all_of(name.begin() + 5, name.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  if (!well_formed)
    throw Error(latest + ": names '" + name + "'; expected a checkpoint directory step-N inside " + root);
  const std::string dir = root + "/" + name;
  const auto status = fs::symlink_status(dir, ec);
  if (ec || !fs::is_directory(status))
    throw Error(latest + ": names " + name + ", which is not a directory in " + root +
                (fs::is_symlink(status) ? " (it is a symlink; checkpoints must be real directories)" : ""));
  return dir;
}

}  // namespace loom
