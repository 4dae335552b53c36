#pragma once
// HttpServer: a small HTTP/1.1 server (Boost.Beast) for health, metrics and score lookups. It runs
// on the io_context it is given (the service runs that io_context on its own thread, beside the
// signal handling); the handler is called on that thread, one request at a time per connection.
// GET and HEAD only; request bodies are refused. Keep-alive connections time out after 10 s idle.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "engine/result.h"

namespace tfe {

struct HttpRequest {
  std::string method;  // "GET" or "HEAD"
  std::string path;    // target without the query string, e.g. "/v1/patients/P1/score"
  std::string query;   // after '?', undecoded; empty when none
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  // Binds host:port (port 0: a free port, see port()) and starts accepting on `io`. Fails with
  // Errc::io naming the address when it cannot bind.
  static Result<std::unique_ptr<HttpServer>> start(boost::asio::io_context& io,
                                                   const std::string& host, uint16_t port,
                                                   HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port.
  uint16_t port() const { return port_; }
  const std::string& host() const { return host_; }
  // Stops accepting (open connections finish their current request). Thread-safe.
  void stop();

  struct Impl;
  explicit HttpServer(std::shared_ptr<Impl> impl, std::string host, uint16_t port);

 private:
  std::shared_ptr<Impl> impl_;
  std::string host_;
  uint16_t port_ = 0;
};

// Percent-decodes a path segment into `out` ("%2F" -> "/"); false on a malformed escape.
bool url_decode(std::string_view in, std::string& out);

}  // namespace tfe
