#include "llama_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "test_models.h"

extern char** environ;

namespace troika::testing {

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

LlamaServer::LlamaServer(const std::string& server, const std::string& model,
                         const std::string& api_key, const std::vector<std::string>& extra)
    : port_(free_port()) {
  std::vector<std::string> args = {
      server, "-m",  model, "--host", "127.0.0.1", "--port",  std::to_string(port_), "-c",
      "4096", "-np", "2",   "-t",     "2",         "--alias", "tiny-llama"};
  if (!api_key.empty()) {
    args.push_back("--api-key");
    args.push_back(api_key);
  }
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  log_ = temp_dir() + "/llama-server-" + std::to_string(port_) + ".log";
  posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  ok_ = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) == 0;
  pid_ = pid;
  posix_spawn_file_actions_destroy(&fa);
}

LlamaServer::~LlamaServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
}

std::string LlamaServer::url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

std::string LlamaServer::log() const {
  std::ifstream f(log_);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace troika::testing
