// Tools run as commands: arguments on stdin, result on stdout, a timeout.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "troika/pipeline.h"

extern char** environ;

namespace troika::pipeline {

namespace {

namespace fs = std::filesystem;

bool executable(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

// argv[0] as a path to run: itself when it names a file, else the first match on PATH.
std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return executable(name) ? name : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t colon = dirs.find(':', start);
    if (colon == std::string::npos) colon = dirs.size();
    fs::path p = fs::path(dirs.substr(start, colon - start)) / name;
    if (executable(p)) return p.string();
    start = colon + 1;
  }
  return "";
}

Result<std::string> run_command(const std::string& tool, const ToolCommand& cmd,
                                const std::string& input) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return unavailable("tool " + tool + ": cannot make a pipe");
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return unavailable("tool " + tool + ": cannot make a pipe");
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  std::vector<char*> argv;
  for (const auto& a : cmd.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::string program = find_program(cmd.argv[0]);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, program.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    return unavailable("tool " + tool + ": cannot start " + cmd.argv[0]);
  }
  // The arguments are small; a command that does not read them gets EPIPE, not a signal.
  signal(SIGPIPE, SIG_IGN);
  size_t written = 0;
  while (written < input.size()) {
    ssize_t n = write(in[1], input.data() + written, input.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  close(in[1]);
  std::string result;
  const size_t kMax = 1 << 20;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(cmd.timeout_s * 1000));
  bool timed_out = false;
  char buf[4096];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000))) < 0) break;
    if (!(p.revents & (POLLIN | POLLHUP))) continue;
    ssize_t n = read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    if (result.size() < kMax)
      result.append(buf, std::min(static_cast<size_t>(n), kMax - result.size()));
  }
  close(out[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  if (timed_out) {
    return Status(Code::kDeadlineExceeded, "tool " + tool + " did not finish within " +
                                               std::to_string(cmd.timeout_s) + " s");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return unavailable("tool " + tool + " exited with status " + std::to_string(code) +
                       (result.empty() ? "" : ": " + result.substr(0, 500)));
  }
  while (!result.empty() && (result.back() == '\n' || result.back() == '\r')) result.pop_back();
  return result;
}

}  // namespace

Result<std::map<std::string, ToolCommand>> load_tool_commands(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("tools exec file not found: " + path);
  const std::string text(std::istreambuf_iterator<char>(f), {});
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return invalid_argument(path + ": must be a JSON object {\"tool\": {\"command\": [...]}}");
  }
  std::map<std::string, ToolCommand> out;
  for (const auto& [name, spec] : j.items()) {
    const std::string at = path + ": " + name;
    if (!spec.is_object() || !spec.contains("command") || !spec["command"].is_array() ||
        spec["command"].empty()) {
      return invalid_argument(at + ": needs \"command\": [\"program\", \"arg\", ...]");
    }
    ToolCommand cmd;
    for (const auto& a : spec["command"]) {
      if (!a.is_string()) return invalid_argument(at + ": command entries must be strings");
      cmd.argv.push_back(a.get<std::string>());
    }
    for (const auto& [k, v] : spec.items()) {
      if (k != "command" && k != "timeout_s")
        return invalid_argument(at + "." + k + ": unknown field");
    }
    if (spec.contains("timeout_s")) {
      if (!spec["timeout_s"].is_number() || spec["timeout_s"].get<double>() <= 0)
        return invalid_argument(at + ".timeout_s: must be a positive number");
      cmd.timeout_s = spec["timeout_s"].get<double>();
    }
    if (find_program(cmd.argv[0]).empty()) {
      return not_found(at + ": command '" + cmd.argv[0] +
                       "' is not an executable file or a program on PATH");
    }
    out[name] = std::move(cmd);
  }
  return out;
}

ToolExecutor command_executor(std::map<std::string, ToolCommand> commands) {
  return [commands = std::move(commands)](const engine::ToolCall& call) -> Result<std::string> {
    auto it = commands.find(call.name);
    if (it == commands.end()) {
      return not_found("tool " + call.name + " has no command in the tools exec file");
    }
    return run_command(call.name, it->second, call.arguments.empty() ? "{}" : call.arguments);
  };
}

}  // namespace troika::pipeline
