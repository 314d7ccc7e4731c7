#include "loom/core/subprocess.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "loom/core/error.h"

namespace loom {

std::string run_capture(const std::vector<std::string>& argv, const EnvVars& extra_env) {
  if (argv.empty()) throw Error("run_capture: no program given");
  const std::string& program = argv[0];
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw Error(program + ": cannot create a pipe: " + std::strerror(errno));
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    throw Error(program + ": cannot fork: " + std::strerror(errno));
  }
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    for (const auto& [name, value] : extra_env) ::setenv(name.c_str(), value.c_str(), 1);
    ::execvp(program.c_str(), cargv.data());
    ::_exit(127);  // exec failed; the parent reports it
  }
  ::close(pipe_fds[1]);
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(pipe_fds[0], buf, sizeof(buf));
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) throw Error(program + ": killed by signal " + std::to_string(WTERMSIG(status)));
  if (!WIFEXITED(status) || WEXITSTATUS(status) == 127) throw Error(program + ": cannot run it");
  if (WEXITSTATUS(status) != 0) throw Error(program + ": exited with status " + std::to_string(WEXITSTATUS(status)));
  return out;
}

}  // namespace loom
