// Which file the tailer follows next: the one thing classic and rotated mode
// do differently (SPEC §6), as two small classes behind one interface.
//   classic: logdir/logmask, files taken in name order; the newest is the
//            last name; a finished file is left for the next name.
//   rotated: one name, logdir/logname; its predecessors are the generations
//            a rotation moved away (app.log.1, ...), found by time.
// Both answer only from the directory (and the open file's identity); the
// tailer core decides when to ask and what to do with the answer.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/tail/log_files.hpp"
#include "actors/tail/position.hpp"
#include "actors/tail/tail_clock.hpp"
#include "actors/tail/tailer_options.hpp"

namespace cc::tail {

/// The open source as a policy sees it.
struct open_source_ref {
  int fd = -1;
  std::string path;  // where its bytes are read
  std::string label; // the name fragments carry
  file_id id;
};

/// A file to open from its start, and why (for the log line).
struct file_choice {
  std::string path;
  std::string why;
};

/// What to do when the saved generation no longer exists.
struct saved_gone_plan {
  enum class kind {
    open,       // open `path` from 0 at once
    wait,       // nothing to go on with: wait, saying `why`
    after_grace // `path` follows the saved file, once it stayed gone a while
  };
  kind what = kind::wait;
  std::string path;
  std::string why;
};

class next_file_policy {
public:
  /// What a policy asks of the core: whether a path is the open file or one
  /// already read to its end (under another name now).
  using read_check = std::function<bool(const std::string& path)>;
  /// Whether the directory changed since the last call (inotify; true when
  /// there is no watch).
  using dir_check = std::function<bool()>;

  static std::unique_ptr<next_file_policy> make(const tailer_options& opts,
                                                const tail_clock& clock,
                                                read_check already_read,
                                                dir_check dir_changed);

  virtual ~next_file_policy() = default;

  /// The name fragments and the .save file carry for bytes read at `path`.
  virtual std::string label_for(const std::string& path) const = 0;
  /// The label a saved position resumes under.
  virtual std::string label_for_saved(const position& pos) const = 0;
  /// Names that may hold the saved generation (checked by inode and bytes).
  virtual std::vector<std::string> saved_names(const position& pos) const = 0;
  /// The file a first start follows from its end, if any exists.
  virtual std::optional<std::string> newest() = 0;
  /// The files a start without a .save asks about, newest first.
  virtual std::vector<std::string> newest_first() = 0;
  /// The files finished before the one labelled `label`, newest first.
  virtual std::vector<std::string> before(const std::string& label) = 0;
  /// The saved generation is gone (not by name, inode or a rotated copy).
  virtual saved_gone_plan saved_gone(const position& pos) = 0;
  /// With no file open: the file to open from 0, if one is there. Classic
  /// waits for a name after `wait_after` ("" = any).
  virtual std::optional<file_choice> first_file(const std::string& wait_after) = 0;
  /// The file to follow once `open` is read to its end, if one exists.
  virtual std::optional<std::string> after(const open_source_ref& open) = 0;
  /// Bytes in the files newer than `open` (its lag past its own end).
  virtual uint64_t newer_bytes(const open_source_ref& open) = 0;
  /// A switch found the next file gone: the name to wait after.
  virtual std::string wait_after(const std::string& finished) const = 0;
  /// The last listing of logdir failed (for the `failing` gauge).
  virtual bool listing_failing() const = 0;
};

} // namespace cc::tail
