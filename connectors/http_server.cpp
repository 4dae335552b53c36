// HttpServer over Boost.Beast: an accept loop and one session object per connection, all on the
// caller's io_context.

#include "connectors/http_server.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace tfe {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

constexpr auto kIdleTimeout = std::chrono::seconds(10);
constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
// Connections open at once: health probes and scrapers need a handful. Beyond it new ones are
// closed at once, so idle clients cannot take the file descriptors the Kafka clients need.
constexpr int kMaxSessions = 512;
// After a failed accept (out of file descriptors, typically) the loop waits this long instead of
// retrying at once, which spun a core.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<const HttpHandler> handler,
          std::shared_ptr<std::atomic<int>> open)
      : stream_(std::move(socket)), handler_(std::move(handler)), open_(std::move(open)) {}
  ~Session() { open_->fetch_sub(1); }

  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(0);  // GET/HEAD: no body
    stream_.expires_after(kIdleTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream) {
      close();
      return;
    }
    if (ec) {
      // A malformed or oversized request gets an answer; timeouts and resets just close.
      if (ec != beast::error::timeout &&
          ec.category() == beast::http::make_error_code(http::error::bad_method).category()) {
        HttpResponse r{400, "text/plain; charset=utf-8", "bad request\n"};
        if (ec == http::error::header_limit) {
          r = {431, "text/plain; charset=utf-8", "request header fields too large\n"};
        } else if ((ec == http::error::body_limit || ec == http::error::unexpected_body) &&
                   parser_->get().method() != http::verb::get &&
                   parser_->get().method() != http::verb::head) {
          // (The body's length is checked as the header completes: the start line is parsed.)
          // Only GET and HEAD are served, and they carry no body: the method is what is wrong.
          r = {405, "text/plain; charset=utf-8", "method not allowed\n"};
        }
        respond(r, http::verb::get, 11, false);
      } else {
        close();
      }
      return;
    }
    const auto& req = parser_->get();
    HttpResponse response;
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      response = {405, "text/plain; charset=utf-8", "method not allowed\n"};
    } else {
      HttpRequest request;
      request.method = std::string(req.method_string());
      const std::string_view target(req.target().data(), req.target().size());
      const auto q = target.find('?');
      request.path = std::string(target.substr(0, q));
      if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
      try {
        response = (*handler_)(request);
      } catch (const std::exception&) {
        // Exceptions never cross into the io thread's loop.
        response = {500, "text/plain; charset=utf-8", "internal error\n"};
      }
    }
    respond(response, req.method(), req.version(), req.keep_alive());
  }

  void respond(const HttpResponse& r, http::verb method, unsigned version, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version);
    res->set(http::field::server, "tfe");
    res->set(http::field::content_type, r.content_type);
    res->set(http::field::cache_control, "no-store");
    res->keep_alive(keep_alive);
    if (method == http::verb::head) {
      res->content_length(r.body.size());
    } else {
      res->body() = r.body;
      res->prepare_payload();
    }
    stream_.expires_after(kIdleTimeout);
    http::async_write(
        stream_, *res,
        [self = shared_from_this(), res, keep_alive](beast::error_code ec, std::size_t) {
          if (ec || !keep_alive) {
            self->close();
          } else {
            self->read();
          }
        });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::shared_ptr<const HttpHandler> handler_;
  std::shared_ptr<std::atomic<int>> open_;  // sessions open, this one included
};

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::io_context& io_in, HttpHandler handler_in)
      : io(io_in),
        acceptor(asio::make_strand(io_in)),
        backoff(acceptor.get_executor()),
        handler(std::make_shared<const HttpHandler>(std::move(handler_in))) {}

  void accept() {
    acceptor.async_accept(asio::make_strand(io), [self = shared_from_this()](beast::error_code ec,
                                                                             tcp::socket socket) {
      if (self->stopped.load()) return;
      if (ec) {
        self->backoff.expires_after(kAcceptBackoff);
        self->backoff.async_wait([self](beast::error_code) {
          if (!self->stopped.load()) self->accept();
        });
        return;
      }
      if (self->open->fetch_add(1) < kMaxSessions) {
        std::make_shared<Session>(std::move(socket), self->handler, self->open)->start();
      } else {
        self->open->fetch_sub(1);
        beast::error_code ignored;
        socket.close(ignored);
      }
      self->accept();
    });
  }

  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer backoff;  // on the acceptor's strand
  std::shared_ptr<std::atomic<int>> open = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<const HttpHandler> handler;
  std::atomic<bool> stopped{false};
};

HttpServer::HttpServer(std::shared_ptr<Impl> impl, std::string host, uint16_t port)
    : impl_(std::move(impl)), host_(std::move(host)), port_(port) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  // Close on the acceptor's strand: the io thread may be inside async_accept.
  asio::post(impl_->acceptor.get_executor(), [impl = impl_] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->backoff.cancel();
  });
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(asio::io_context& io, const std::string& host,
                                                      uint16_t port, HttpHandler handler) {
  auto impl = std::make_shared<Impl>(io, std::move(handler));
  beast::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) {
    return make_error(Errc::config, fmt::format("http: '{}' is not an IP address", host));
  }
  const tcp::endpoint endpoint(address, port);
  auto fail = [&](std::string_view what) {
    return make_error(Errc::io,
                      fmt::format("http: cannot {} {}:{}: {}", what, host, port, ec.message()));
  };
  impl->acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("configure");
  impl->acceptor.bind(endpoint, ec);
  if (ec) return fail("bind");
  impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen on");
  const uint16_t bound = impl->acceptor.local_endpoint(ec).port();
  if (ec) return fail("read the port of");
  impl->accept();
  return std::make_unique<HttpServer>(std::move(impl), host, bound);
}

bool url_decode(std::string_view in, std::string& out) {
  out.clear();
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

}  // namespace tfe
