// Explicit registries of named algorithms: merge methods, strategies,
// aggregators, corruptions, collators, OT solvers, adapter targets, model
// types. Each registry is filled once, by one register-all function run under
// std::call_once (the CTranslate2 way: no self-registering static objects,
// which a static library can silently drop). Adding an algorithm is a file
// plus one line in that function. An unknown name is an error that lists the
// valid ones.
//
//   struct MergeMethodEntry { std::string help; ... };
//   Registry<MergeMethodEntry>& merge_methods() {
//     static Registry<MergeMethodEntry> registry("merge method", register_all_merge_methods);
//     return registry;
//   }
//   const MergeMethodEntry& m = merge_methods().get("ties", "my.yaml:3");
#pragma once
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "loom/core/error.h"

namespace loom {

template <typename Entry>
class Registry {
 public:
  using Filler = std::function<void(Registry&)>;

  // `kind` names the entries in errors ("unknown merge method 'x'").
  // `fill` runs once, on first use.
  Registry(std::string kind, Filler fill) : kind_(std::move(kind)), fill_(std::move(fill)) {}

  // Registers one entry; a second entry under the same name is a
  // programming error. Names keep their registration order.
  void add(const std::string& name, Entry entry) {
    if (!filling_) ensure_filled();  // built-ins first, so later additions cannot shadow them
    if (index_.count(name)) throw Error("a " + kind_ + " named '" + name + "' is already registered");
    index_[name] = entries_.size();
    entries_.emplace_back(name, std::move(entry));
  }

  // The entry for `name`; unknown names are an error naming `origin` (a
  // file:line or a key) and listing the valid names.
  const Entry& get(const std::string& name, const std::string& origin = "") const {
    ensure_filled();
    auto it = index_.find(name);
    if (it == index_.end())
      throw Error((origin.empty() ? "" : origin + ": ") + "unknown " + kind_ + " '" + name +
                  "'; valid: " + valid_names());
    return entries_[it->second].second;
  }

  bool contains(const std::string& name) const {
    ensure_filled();
    return index_.count(name) > 0;
  }

  std::vector<std::string> names() const {
    ensure_filled();
    std::vector<std::string> out;
    for (const auto& e : entries_) out.push_back(e.first);
    return out;
  }

  const std::vector<std::pair<std::string, Entry>>& entries() const {
    ensure_filled();
    return entries_;
  }

  // "a, b, c": for help texts and errors.
  std::string valid_names() const {
    ensure_filled();
    std::string out;
    for (const auto& e : entries_) out += (out.empty() ? "" : ", ") + e.first;
    return out;
  }

  const std::string& kind() const { return kind_; }

 private:
  void ensure_filled() const {
    std::call_once(once_, [this] {
      auto* self = const_cast<Registry*>(this);
      self->filling_ = true;
      if (fill_) fill_(*self);
      self->filling_ = false;
    });
  }

  std::string kind_;
  Filler fill_;
  mutable std::once_flag once_;
  bool filling_ = false;
  std::vector<std::pair<std::string, Entry>> entries_;
  std::map<std::string, size_t> index_;
};

}  // namespace loom
