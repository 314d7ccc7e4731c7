// The multi-task domains, one file each; register_all_domains() in
// src/mtrl/tasks.cpp lists them.
#pragma once
#include "loom/mtrl/tasks.h"

namespace loom::mtrl {

void register_portfolio_domain(Registry<DomainEntry>& r);
void register_meta_fl_domain(Registry<DomainEntry>& r);
// The meta_fl domain's keys, declared beside its code.
void add_meta_fl_options(ParamSchema<DomainOptions>& schema);

}  // namespace loom::mtrl
