// An io_client put on and taken off the loop from any thread: see
// io_attachment.hpp.
#include "base/io_attachment.hpp"

#include <future>

namespace cc {

io_attachment::io_attachment(std::shared_ptr<io_loop> loop, std::shared_ptr<io_client> client)
  : loop_(std::move(loop)), client_(std::move(client)) {
  auto* l = loop_.get();
  loop_->post([l, c = client_] { l->add(c); });
}

io_attachment::~io_attachment() {
  auto* c = client_.get();
  if (loop_->in_loop()) {
    loop_->remove(c);
    return;
  }
  // Posted work runs in order, after the add: once this ran, the loop
  // calls the client no more.
  std::promise<void> done;
  auto* l = loop_.get();
  loop_->post([l, c, &done] {
    l->remove(c);
    done.set_value();
  });
  done.get_future().wait();
}

} // namespace cc
