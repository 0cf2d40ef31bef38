// The tailwriter's way in: see tailwriter_door.hpp.
#include "actors/write/tailwriter_door.hpp"

#include <algorithm>
#include <charconv>

#include <caf/send.hpp>

#include "actors/core/atoms.hpp"
#include "actors/write/dest_path.hpp"
#include "actors/write/received_blob.hpp"
#include "base/error.hpp"
#include "base/hash.hpp"
#include "base/logger.hpp"
#include "wire/bodies.hpp"

namespace cc::tw {

tailwriter_door::tailwriter_door(tailwriter_config cfg, std::string reserved,
                                 std::vector<slot> workers, counters_ptr counters,
                                 router_actor router, std::string writer_id)
  : cfg_(std::move(cfg)),
    reserved_(std::move(reserved)),
    workers_(std::move(workers)),
    counters_(std::move(counters)),
    router_(std::move(router)),
    writer_id_(std::move(writer_id)),
    host_check_(cfg_.section) {
  source_keys_.max_per_host = std::max<size_t>(1, cfg_.max_source_keys_per_host);
}

void tailwriter_door::set_tailwriter(caf::actor_addr tailwriter) {
  std::lock_guard<std::mutex> guard{mtx_};
  tailwriter_ = std::move(tailwriter);
}

caf::expected<std::shared_ptr<fragment>>
tailwriter_door::prepare(wire::cc_message&& msg) const {
  auto body = wire::parse_logtail(msg.body);
  if (!body)
    return std::move(body.error());
  if (auto err = wire::check_req(body->hdr, msg.type))
    return err;
  if (auto err = check_received_blob(msg, body->hdr))
    return err;
  auto f = std::make_shared<fragment>();
  auto dest = normalize_destination_of(
    expand_dstmask(cfg_.dstmask, body->hdr.hostname, body->filename), reserved_);
  if (dest)
    f->dest_base = std::move(*dest);
  else
    f->dest_error = std::move(dest.error());
  f->body = std::move(*body);
  f->msg = std::move(msg);
  f->msg.body.clear(); // parsed; the worker needs the route and the blob
  return f;
}

size_t tailwriter_door::pick(const fragment& f) const {
  if (f.dest_base.empty()) // refused: any stable choice
    return static_cast<size_t>(
      cc::fnv1a64(f.body.hdr.hostname + '\n' + f.body.filename) % workers_.size());
  return static_cast<size_t>(cc::fnv1a64(f.dest_base) % workers_.size());
}

uint64_t tailwriter_door::worker_limit() const {
  // The request past it is in the worker's mailbox already, so a worker
  // always has the next one at hand.
  return std::max<uint64_t>(cfg_.max_queued_bytes / std::max<size_t>(1, workers_.size()),
                            1ull << 20);
}

bool tailwriter_door::refuse_foreign_host(const fragment& f) {
  std::optional<std::string> why;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    why = host_check_.refuse(f.msg.peer, f.body.hdr.hostname, f.msg.type, f.body.filename);
  }
  if (!why)
    return false;
  if (f.body.ack && router_) {
    caf::anon_send(router_, reply_atom::value,
                   denied_reply(f.msg.route, f.body, std::move(*why), cfg_.hostname,
                                writer_id_));
    if (f.body.query.empty())
      counters_->acks_sent += 1;
  }
  return true;
}

caf::error tailwriter_door::admit_key(const fragment& f) {
  const auto& b = f.body;
  // A question creates nothing, so it takes no place among a host's keys.
  if (!b.query.empty())
    return caf::none;
  std::lock_guard<std::mutex> guard{mtx_};
  // "dev:ino:filename", in a buffer kept for it: a known key (every
  // fragment but a source's first) allocates nothing.
  auto& key = key_scratch_;
  key.clear();
  char num[24];
  for (uint64_t n : {b.st_dev, b.st_ino}) {
    auto end = std::to_chars(num, num + sizeof num, n).ptr;
    key.append(num, end);
    key += ':';
  }
  key += b.filename;
  if (source_keys_.admit(b.hdr.hostname, key, source_key_limit::clock::now()))
    return caf::none;
  too_many_sources_ += 1;
  auto why = "host '" + printable_type(b.hdr.hostname) + "' already writes " +
             std::to_string(cfg_.max_source_keys_per_host) +
             " source files (max-source-keys-per-host): " +
             printable_type(b.filename) + " refused";
  if (auto n = source_log_.admit(b.hdr.hostname, log_limiter::clock::now()))
    log::warning(cfg_.section, why + (*n > 0 ? " (and " + std::to_string(*n) +
                                                 " more since the last line)"
                                             : std::string{}));
  return make_error(errc::queue_full, why);
}

bool tailwriter_door::write_here(const slot& w, const std::shared_ptr<fragment>& f) {
  const auto& b = f->body;
  auto wire_size = (f->msg.blob ? f->msg.blob->size() : 0) + b.data.size();
  if (!w.inlet || wire_size >= inline_max_bytes || b.raw_size >= inline_max_bytes)
    return false;
  if (!write_inline(w.inlet, w.actor, *w.meter, f))
    return false;
  counters_->written_inline += 1;
  return true;
}

caf::expected<std::optional<size_t>> tailwriter_door::pass(wire::cc_message&& msg,
                                                          bool may_write) {
  auto prepared = prepare(std::move(msg));
  if (!prepared) {
    counters_->invalid += 1;
    log::warning(cfg_.section, "dropped an invalid message: " + describe(prepared.error()));
    return std::move(prepared.error());
  }
  auto& f = *prepared;
  if (refuse_foreign_host(*f))
    return std::optional<size_t>{};
  if (auto err = admit_key(*f))
    return err;
  auto idx = pick(*f);
  const auto& w = workers_[idx];
  // Written here, its receipt (the gateway's budget) goes with `f`.
  if (may_write && write_here(w, f))
    return std::optional<size_t>{idx};
  caf::actor_addr tailwriter;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    tailwriter = tailwriter_;
  }
  uint64_t size = (f->msg.blob ? f->msg.blob->size() : 0) + f->body.data.size() + 256;
  w.meter->queued += size;
  // Released when the worker lets go of the fragment; so is the receipt the
  // message came with (the direct lane's: the gateway's in-flight budget).
  f->msg.receipt = wire::make_receipt(
    [meter = w.meter, size, tw = std::move(tailwriter), idx,
     upstream = std::move(f->msg.receipt)] {
      if (meter->done(size))
        if (auto me = caf::actor_cast<caf::actor>(tw))
          caf::anon_send(me, written_atom::value, idx);
    });
  // No request: the worker's answer would wake someone once per fragment.
  caf::anon_send(w.actor, dispatch_atom::value, fragment_ptr{std::move(f)});
  return std::optional<size_t>{idx};
}

bool tailwriter_door::take(wire::cc_message& msg) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_)
      return false;
  }
  // Refused or not, it is taken: counted and logged as the actor would (no
  // one asked for an answer on this lane).
  (void) pass(std::move(msg), true);
  return true;
}

void tailwriter_door::close() {
  std::lock_guard<std::mutex> guard{mtx_};
  closed_ = true;
}

int64_t tailwriter_door::too_many_sources() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return too_many_sources_;
}

int64_t tailwriter_door::host_denied() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return host_check_.denied();
}

} // namespace cc::tw
