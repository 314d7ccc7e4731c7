// loom: one program, a table of subcommands (cli/commands.h). Built twice:
// as the torch-free front end `loom` (LOOM_FRONT_END), which runs the
// torch-free commands and execs `loom-torch` for the others, so that
// `loom ot solve` or `loom --help` do not pay for loading LibTorch's 300+
// shared libraries; and as `loom-torch`, which runs every command.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"
#ifndef LOOM_FRONT_END
#include <c10/util/Exception.h>

#include "loom/moe/register.h"
#endif

std::vector<std::string>& loom::cli::program_args() {
  static std::vector<std::string> args;
  return args;
}

namespace {

#ifdef LOOM_FRONT_END
// Replaces this process with loom-torch from the same directory.
int run_torch_program(char** argv) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string torch_program = (self.parent_path() / "loom-torch").string();
  execv(torch_program.c_str(), argv);
  std::cerr << "loom: error: cannot run " << torch_program << " (" << std::strerror(errno)
            << "); it is built and installed beside loom\n";
  return 127;
}
#endif

}  // namespace

int main(int argc, char** argv) {
#ifdef LOOM_FRONT_END
  if (argc > 1)
    for (const auto& command : loom::cli::commands())
      if (!command.torch_free && std::strcmp(argv[1], command.name) == 0) return run_torch_program(argv);
#else
  loom::ensure_optimised_blas(argc, argv);
  // Families and strategies of modules above models/knowledge, before any command lists or loads them.
  loom::register_moe();
#endif
  loom::cli::program_args().assign(argv, argv + argc);
  CLI::App app{"loom: C++ training toolkit for Llama-architecture models and friends"};
  app.require_subcommand(1);
  for (const auto& command : loom::cli::commands()) {
    CLI::App* sub = app.add_subcommand(command.name, command.help);
    if (command.setup) command.setup(sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const loom::Error& e) {
    std::cerr << "loom: error: " << e.what() << "\n";
    return 2;
#ifndef LOOM_FRONT_END
  } catch (const c10::Error& e) {
    std::cerr << "loom: error: " << e.what_without_backtrace() << "\n";
    return 2;
#endif
  } catch (const std::exception& e) {
    std::cerr << "loom: error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
