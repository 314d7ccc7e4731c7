// The merge methods' registration functions, one per file in this folder;
// register_all_merge_methods() (src/merge/merge.cpp) calls each.
#pragma once
#include "loom/merge/merge.h"

namespace loom {

void register_linear_merges(Registry<MergeMethodEntry>& registry);
void register_ties_merges(Registry<MergeMethodEntry>& registry);
void register_dare_merges(Registry<MergeMethodEntry>& registry);

}  // namespace loom
