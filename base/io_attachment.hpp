// An io_client's time on the process's I/O loop (base/io_loop.hpp), for an
// owner on any thread: the constructor puts the client on the loop, the
// destructor takes it off and returns only when the loop will call it no
// more, so the owner may then free what the client points at. The signal
// descriptor (main/signals.hpp) and the HTTP endpoint
// (actors/core/http_endpoint.hpp) sit on the loop this way.
#pragma once

#include <memory>

#include "base/io_loop.hpp"

namespace cc {

class io_attachment {
public:
  io_attachment(std::shared_ptr<io_loop> loop, std::shared_ptr<io_client> client);
  ~io_attachment();
  io_attachment(const io_attachment&) = delete;
  io_attachment& operator=(const io_attachment&) = delete;

  io_loop& loop() const {
    return *loop_;
  }

private:
  std::shared_ptr<io_loop> loop_;
  std::shared_ptr<io_client> client_;
};

} // namespace cc
