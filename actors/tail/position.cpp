// The .save file and file generation identity; see position.hpp.
#include "actors/tail/position.hpp"

#include <cerrno>
#include <cstring>
#include <random>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "base/files.hpp"
#include "wire/digest.hpp"

namespace cc::tail {

namespace {

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return path.substr(0, slash);
}

/// mkdir -p for the directory holding the save file.
caf::error make_dirs(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0)
    return caf::none;
  auto parent = dir_of(dir);
  if (parent != dir)
    if (auto err = make_dirs(parent))
      return err;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return make_error(errc::io, errno_text("mkdir", dir));
  return caf::none;
}

} // namespace

caf::expected<fingerprint> read_fingerprint(int fd, const std::string& path) {
  char buf[fingerprint_max_bytes];
  auto n = pread_full(fd, buf, sizeof(buf), 0, path);
  if (!n)
    return n.error();
  return fingerprint{fnv1a64(std::string_view{buf, *n}), *n};
}

caf::expected<bool> fingerprint_matches(int fd, const std::string& path,
                                        const fingerprint& fp) {
  if (fp.length == 0)
    return true;
  if (fp.length > fingerprint_max_bytes)
    return false;
  return prefix_matches(fd, fp.length, fp.hash, path);
}

caf::expected<bool> check_first_bytes(int fd, const std::string& path, fingerprint& fp,
                                      first_bytes& kept) {
  if (fp.length > fingerprint_max_bytes)
    return false;
  char buf[fingerprint_max_bytes];
  auto n = pread_full(fd, buf, sizeof(buf), 0, path);
  if (!n)
    return n.error();
  if (*n < fp.length)
    return false;
  std::string_view head{buf, static_cast<size_t>(fp.length)};
  // FNV-1a over 4 KiB per look was most of this check's CPU on a trickle
  // (bench/PROFILE.md, "Session 13: trickle"); XXH3 is many times faster.
  bool known = kept.of == fp && kept.length == fp.length;
  if (fp.length > 0 && !(known ? wire::xxh3(head) == kept.xxh3 : fnv1a64(head) == fp.hash))
    return false;
  std::string_view all{buf, *n};
  if (*n > fp.length)
    fp = fingerprint{fnv1a64(all), *n};
  if (!known || kept.length != *n) {
    kept.xxh3 = wire::xxh3(all);
    kept.length = *n;
    kept.of = fp;
  }
  return true;
}

std::string to_json(const position& pos) {
  nlohmann::json j;
  j["filename"] = pos.filename;
  j["st_dev"] = pos.st_dev;
  j["st_ino"] = pos.st_ino;
  j["gen"] = pos.gen;
  j["fingerprint"] = hex64(pos.fp.hash);
  j["fingerprint_len"] = pos.fp.length;
  j["offset"] = pos.offset;
  j["base"] = pos.base;
  j["has_identity"] = pos.has_identity;
  if (pos.no_file_yet)
    j["no_file_yet"] = true;
  return j.dump();
}

caf::expected<position> parse_position(std::string_view text,
                                       const std::string& path) {
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_body, path + ": " + why);
  };
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos)
    return bad("empty position file");
  if (text[first] != '{') {
    // The original's "<offset>\t<filename>".
    auto tab = text.find('\t');
    if (tab == std::string_view::npos)
      return bad("neither JSON nor \"<offset>\\t<filename>\"");
    position pos;
    pos.has_identity = false;
    auto num = text.substr(0, tab);
    if (num.empty())
      return bad("empty offset");
    for (char c : num) {
      if (c < '0' || c > '9')
        return bad("offset is not a number");
      pos.offset = pos.offset * 10 + static_cast<uint64_t>(c - '0');
    }
    auto name = text.substr(tab + 1);
    while (!name.empty() && (name.back() == '\n' || name.back() == '\r' ||
                             name.back() == ' '))
      name.remove_suffix(1);
    if (name.empty())
      return bad("empty file name");
    pos.filename = std::string{name};
    pos.base = pos.offset;
    return pos;
  }
  auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return bad("not a JSON object");
  try {
    position pos;
    pos.filename = j.at("filename").get<std::string>();
    pos.st_dev = j.at("st_dev").get<uint64_t>();
    pos.st_ino = j.at("st_ino").get<uint64_t>();
    pos.gen = j.at("gen").get<std::string>();
    auto fp = parse_hex64(j.at("fingerprint").get<std::string>());
    if (!fp)
      return bad("fingerprint is not 16 hex digits");
    pos.fp.hash = *fp;
    pos.fp.length = j.at("fingerprint_len").get<uint64_t>();
    pos.offset = j.at("offset").get<uint64_t>();
    pos.base = std::min(j.value("base", pos.offset), pos.offset);
    pos.has_identity = j.value("has_identity", true);
    pos.no_file_yet = j.value("no_file_yet", false);
    if (pos.filename.empty() != pos.no_file_yet)
      return bad(pos.no_file_yet ? "no_file_yet with a file name" : "empty filename");
    if (pos.fp.length > fingerprint_max_bytes)
      return bad("fingerprint_len above " +
                 std::to_string(fingerprint_max_bytes));
    return pos;
  } catch (const nlohmann::json::exception& e) {
    return bad(e.what());
  }
}

caf::expected<std::optional<position>> load_position(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return std::optional<position>{};
    return make_error(errc::io, errno_text("open", path));
  }
  std::string text;
  char buf[4096];
  for (;;) {
    auto r = ::read(fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      auto err = make_error(errc::io, errno_text("read", path));
      ::close(fd);
      return err;
    }
    if (r == 0)
      break;
    text.append(buf, static_cast<size_t>(r));
    if (text.size() > (1u << 20)) {
      ::close(fd);
      return make_error(errc::invalid_body, path + ": larger than 1 MiB");
    }
  }
  ::close(fd);
  auto pos = parse_position(text, path);
  if (!pos)
    return pos.error();
  return std::optional<position>{std::move(*pos)};
}

caf::error save_position(const std::string& path, const position& pos) {
  auto dir = dir_of(path);
  if (auto err = make_dirs(dir))
    return err;
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return make_error(errc::io, errno_text("open", tmp));
  auto text = to_json(pos);
  text += '\n';
  if (auto err = write_all(fd, text, tmp)) {
    ::close(fd);
    return err;
  }
  if (::fsync(fd) != 0) {
    auto err = make_error(errc::io, errno_text("fsync", tmp));
    ::close(fd);
    return err;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return make_error(errc::io, errno_text("rename to " + path, tmp));
  // The rename is durable only once the directory entry is.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return make_error(errc::io, errno_text("open", dir));
  int rc = ::fsync(dfd);
  auto saved_errno = errno;
  ::close(dfd);
  if (rc != 0) {
    errno = saved_errno;
    return make_error(errc::io, errno_text("fsync", dir));
  }
  return caf::none;
}

} // namespace cc::tail
