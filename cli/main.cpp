// loom: one program, a table of subcommands (cli/commands.h).
#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.h"
#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"
#include "loom/moe/register.h"

std::vector<std::string>& loom::cli::program_args() {
  static std::vector<std::string> args;
  return args;
}

int main(int argc, char** argv) {
  loom::ensure_optimised_blas(argc, argv);
  loom::cli::program_args().assign(argv, argv + argc);
  // Families and strategies of modules above models/knowledge, before any command lists or loads them.
  loom::register_moe();
  CLI::App app{"loom: C++ training toolkit for Llama-architecture models and friends"};
  app.require_subcommand(1);
  for (const auto& command : loom::cli::commands()) command.setup(app.add_subcommand(command.name, command.help));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const loom::Error& e) {
    std::cerr << "loom: error: " << e.what() << "\n";
    return 2;
  } catch (const c10::Error& e) {
    std::cerr << "loom: error: " << e.what_without_backtrace() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "loom: error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
