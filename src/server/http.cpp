// Server: the Api over HTTP (cpp-httplib as llama.cpp vendors it). Each request runs on a worker
// thread; a watcher thread polls the open requests' connections and cancels the generation of a
// client that has gone.
#include <cpp-httplib/httplib.h>

#include <condition_variable>
#include <list>
#include <thread>

#include "troika/server.h"

namespace troika::server {

namespace {

// Constant-time comparison of the presented key with the expected one.
bool same_key(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

void send_reply(httplib::Response& res, const Reply& r) {
  res.status = r.status;
  if (r.retry_after_s > 0) res.set_header("Retry-After", std::to_string(r.retry_after_s));
  res.set_content(r.body, r.content_type);
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  Api api;
  httplib::Server http;
  std::thread listener, watcher;
  int port = 0;

  // Requests in flight: their connection probe and cancel switch.
  struct Open {
    const httplib::Request* req;
    std::shared_ptr<std::atomic<bool>> cancel;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::list<Open> open;
  bool stopping = false;

  Impl(host::Host& h, ServerOptions o) : options(std::move(o)), api(h, options.api) {}

  std::list<Open>::iterator enter(const httplib::Request& req,
                                  std::shared_ptr<std::atomic<bool>> c) {
    std::lock_guard<std::mutex> lock(mu);
    open.push_back({&req, std::move(c)});
    return std::prev(open.end());
  }
  void leave(std::list<Open>::iterator it) {
    std::lock_guard<std::mutex> lock(mu);
    open.erase(it);
  }

  void watch() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stopping) {
      cv.wait_for(lock, std::chrono::milliseconds(50));
      for (auto& o : open) {
        if (stopping || o.req->is_connection_closed()) o.cancel->store(true);
      }
    }
    for (auto& o : open) o.cancel->store(true);
  }

  void serve(const httplib::Request& req, httplib::Response& res) {
    Api::Prepared p = api.prepare(req.method, req.path, req.body);
    if (!p.call) {
      send_reply(res, p.error);
      return;
    }
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    CallContext ctx;
    ctx.cancel = cancel;
    if (!p.call->streams()) {
      auto it = enter(req, cancel);
      Reply r = p.call->run(ctx);
      leave(it);
      send_reply(res, r);
      return;
    }
    // Streaming: the call runs inside the content provider, after the 200 headers.
    std::shared_ptr<Api::Call> call(std::move(p.call));
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream", [this, call, cancel, &req](size_t, httplib::DataSink& sink) {
          auto it = enter(req, cancel);
          CallContext c;
          c.cancel = cancel;
          c.write = [&sink](std::string_view event) {
            return sink.is_writable() && sink.write(event.data(), event.size());
          };
          Reply r = call->run(c);
          leave(it);
          if (!r.body.empty()) {
            // Failed before anything was streamed: one error event.
            const std::string e = "data: " + r.body + "\n\n";
            sink.write(e.data(), e.size());
          }
          sink.done();
          return true;
        });
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { stop(); }
int Server::port() const { return impl_->port; }

Result<std::unique_ptr<Server>> Server::start(host::Host& host, ServerOptions options) {
  auto impl = std::make_unique<Impl>(host, std::move(options));
  Impl* s = impl.get();
  const ServerOptions& o = s->options;
  size_t threads = static_cast<size_t>(o.threads);
  if (threads == 0) {
    threads =
        static_cast<size_t>(o.api.queue_per_model) * std::max<size_t>(1, host.roles().size()) + 8;
  }
  // Every worker started up front: a keep-alive connection holds its worker for as long as it
  // lives, and the pool's on-demand threads start only when no worker is idle at enqueue time
  // (workers woken but not yet running count as idle), so a burst of connections would queue
  // behind busy ones for seconds.
  s->http.new_task_queue = [threads] { return new httplib::ThreadPool(threads, threads); };
  s->http.set_payload_max_length(o.max_body_bytes);
  s->http.set_read_timeout(30);
  s->http.set_write_timeout(600);
  s->http.set_pre_routing_handler([s](const httplib::Request& req, httplib::Response& res) {
    if (s->options.api_key.empty() || req.path == "/health")
      return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.rfind(prefix, 0) == 0 && same_key(auth.substr(prefix.size()), s->options.api_key)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    Reply r = Api::error_reply(invalid_argument(
        auth.empty() ? "this server needs an API key: send \"Authorization: Bearer KEY\""
                     : "the API key is not valid"));
    r.status = 401;
    r.body.replace(r.body.find("invalid_request_error"), 21, "authentication_error");
    send_reply(res, r);
    return httplib::Server::HandlerResponse::Handled;
  });
  auto handler = [s](const httplib::Request& req, httplib::Response& res) { s->serve(req, res); };
  s->http.Get(".*", handler);
  s->http.Post(".*", handler);
  s->http.Put(".*", handler);
  s->http.Delete(".*", handler);
  s->http.Patch(".*", handler);
  s->http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    Status st = res.status == 413
                    ? invalid_argument("the request body is larger than the server's limit")
                    : invalid_argument("HTTP error " + std::to_string(res.status));
    Reply r = Api::error_reply(st);
    r.status = res.status;
    send_reply(res, r);
  });
  if (o.port == 0) {
    s->port = s->http.bind_to_any_port(o.host);
    if (s->port <= 0) return unavailable("cannot bind " + o.host + " to a free port");
  } else {
    if (!s->http.bind_to_port(o.host, o.port)) {
      return unavailable("cannot bind " + o.host + ":" + std::to_string(o.port) +
                         " (in use, or not an address of this machine); pick another --port");
    }
    s->port = o.port;
  }
  s->listener = std::thread([s] { s->http.listen_after_bind(); });
  s->watcher = std::thread([s] { s->watch(); });
  s->http.wait_until_ready();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::stop() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.stopping) return;
    s.stopping = true;
  }
  s.cv.notify_all();
  if (s.watcher.joinable()) s.watcher.join();
  s.http.stop();
  if (s.listener.joinable()) s.listener.join();
}

void Server::wait() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait(lock, [this] { return impl_->stopping; });
}

}  // namespace troika::server
