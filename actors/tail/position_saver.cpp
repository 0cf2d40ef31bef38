// The process's .save writes on the sync thread; see position_saver.hpp.
#include "actors/tail/position_saver.hpp"

#include <exception>

#include "base/error.hpp"
#include "base/logger.hpp"
#include "base/loop_jobs.hpp"

namespace cc::tail {

namespace {

// Guards the process-wide instance. The instance's deleter holds it too, so
// a saver created after the last one was dropped starts only once the old
// one has written everything it held: two savers never write one path at once.
std::mutex shared_mtx;
std::weak_ptr<position_saver> shared_instance;

} // namespace

std::shared_ptr<position_saver> position_saver::shared() {
  std::lock_guard<std::mutex> guard{shared_mtx};
  if (auto p = shared_instance.lock())
    return p;
  std::shared_ptr<position_saver> p{new position_saver, [](position_saver* x) {
                                      std::lock_guard<std::mutex> g{shared_mtx};
                                      delete x;
                                    }};
  shared_instance = p;
  return p;
}

position_saver::position_saver(std::shared_ptr<sync_thread> writer)
  : writer_(std::move(writer)) {
}

position_saver::~position_saver() {
  // The jobs point at this saver: every one must have run.
  lock_type lock{mtx_};
  done_cv_.wait(lock, [this] { return jobs_ == 0; });
}

void position_saver::store(const std::string& path, const position& pos,
                           const std::string& who) {
  std::lock_guard<std::mutex> guard{mtx_};
  store_locked(path, pos, who);
}

caf::error position_saver::store_now(const std::string& path, const position& pos,
                                     const std::string& who) {
  loop_jobs::note_blocking(); // an fsync: never on the I/O loop's thread
  lock_type lock{mtx_};
  auto seq = store_locked(path, pos, who);
  return wait_written(lock, path, seq);
}

caf::error position_saver::flush(const std::string& path) {
  loop_jobs::note_blocking();
  lock_type lock{mtx_};
  auto i = entries_.find(path);
  if (i == entries_.end())
    return caf::none;
  return wait_written(lock, path, i->second.stored_seq);
}

position_saver::counts position_saver::stats() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return counts_;
}

uint64_t position_saver::store_locked(const std::string& path, const position& pos,
                                      const std::string& who) {
  auto& e = entries_[path];
  ++counts_.stores;
  // The same position again (a tailer saves where it opened a file, and
  // again durably once the central answered, mostly at the same place):
  // waiting for the write that has it or will have it is enough.
  if (e.newest == pos && (e.pending || e.writing || !e.failing)) {
    ++counts_.unchanged;
    return e.stored_seq;
  }
  auto seq = ++next_seq_;
  e.newest = pos;
  e.pending = pending_write{pos, seq, who};
  e.stored_seq = seq;
  // While a write of the path runs, write_one queues the path when it ends.
  if (!e.queued && !e.writing)
    queue(path, e);
  return seq;
}

caf::error position_saver::wait_written(lock_type& lock, const std::string& path,
                                        uint64_t seq) {
  auto& e = entries_[path];
  while (e.written_seq < seq) {
    if (!e.writing && e.pending)
      write_one(lock, path, e);
    else
      done_cv_.wait(lock);
  }
  return e.last_error;
}

void position_saver::write_one(lock_type& lock, const std::string& path, entry& e) {
  auto w = std::move(*e.pending);
  e.pending.reset();
  e.writing = true;
  ++counts_.writes;
  // Only the writer of a path (one at a time: `writing`) touches `failing`.
  bool was_failing = e.failing;
  lock.unlock();
  caf::error err;
  try {
    err = save_position(path, w.pos);
  } catch (const std::exception& ex) {
    // to_json throws on a file name that is not UTF-8: a failed save, not
    // the end of the process.
    err = make_error(errc::io, "save " + path + ": " + ex.what());
  }
  if (err && !was_failing)
    log::error(w.who, "cannot save the position: " + describe(err));
  else if (!err && was_failing)
    log::info(w.who, "position saved again to " + path);
  lock.lock();
  e.failing = static_cast<bool>(err);
  if (err)
    ++counts_.failures;
  e.writing = false;
  e.written_seq = w.seq;
  e.last_error = std::move(err);
  if (e.pending && !e.queued)
    queue(path, e);
  done_cv_.notify_all();
}

void position_saver::queue(const std::string& path, entry& e) {
  e.queued = true;
  ++jobs_;
  writer_->submit([this, path] { run_job(path); });
}

void position_saver::run_job(const std::string& path) {
  lock_type lock{mtx_};
  auto& e = entries_[path];
  e.queued = false;
  // Taken by store_now or flush meanwhile; a write under way queues the
  // path again if a newer position is left when it ends.
  if (!e.writing && e.pending)
    write_one(lock, path, e);
  --jobs_;
  done_cv_.notify_all();
}

} // namespace cc::tail
