// CurveZMQ key files, allow-lists and key pairs: see curve_keys.hpp.
#include "actors/link/curve_keys.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "base/error.hpp"
#include "base/files.hpp"

namespace cc::curve {

namespace {

constexpr size_t z85_length = 40;
constexpr size_t key_length = 32;
// Key files are a line or two; anything bigger is not one.
constexpr off_t max_key_file = 64 * 1024;
// An allow-list of a few thousand hosts is a few hundred KiB.
constexpr off_t max_allow_list = 16 * 1024 * 1024;

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos)
    return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// Reads a whole small regular file (a key file, an allow-list) of at most
// `limit` bytes; `mode` gets its st_mode.
caf::expected<std::string> read_small(const std::string& path,
                                      const std::string& what, off_t limit,
                                      mode_t* mode = nullptr) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error(errc::config_invalid,
                      what + ": " + path + ": cannot read: " + errno_text(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    auto err = errno;
    ::close(fd);
    return make_error(errc::config_invalid,
                      what + ": " + path + ": " + errno_text(err));
  }
  if (!S_ISREG(st.st_mode) || st.st_size > limit) {
    ::close(fd);
    return make_error(errc::config_invalid,
                      what + ": " + path +
                        (S_ISREG(st.st_mode) ? ": too large ("
                                                 + std::to_string(st.st_size)
                                                 + " bytes)"
                                             : ": not a regular file"));
  }
  if (mode != nullptr)
    *mode = st.st_mode;
  std::string text;
  char buf[8192];
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto err = errno;
      ::close(fd);
      return make_error(errc::config_invalid,
                        what + ": " + path + ": cannot read: " + errno_text(err));
    }
    if (n == 0)
      break;
    text.append(buf, static_cast<size_t>(n));
    if (static_cast<off_t>(text.size()) > limit)
      break;
  }
  ::close(fd);
  return text;
}

// One line of a key file or allow-list: a key (40 Z85 characters, then
// nothing, or whitespace and words, then an optional `#` comment), a comment,
// or blank. Z85's alphabet has `#` in it, so a line is a comment only when it
// does not start with a key. `words` are what stands between the key and the
// comment (an allow-list's host= and relay=; nothing in a key file).
enum class line_kind { blank, comment, key, bad };

struct key_line {
  line_kind kind = line_kind::bad;
  key k;
  std::vector<std::string> words;
  std::string comment; // after the `#`, trimmed
};

key_line classify(const std::string& line) {
  key_line out;
  auto t = trim(line);
  if (t.empty()) {
    out.kind = line_kind::blank;
    return out;
  }
  auto end = t.find_first_of(" \t");
  auto token = t.substr(0, end);
  std::optional<key> k;
  if (token.size() == z85_length)
    if (auto decoded = decode(token, ""))
      k = std::move(*decoded);
  if (!k) {
    out.kind = t[0] == '#' ? line_kind::comment : line_kind::bad;
    return out;
  }
  out.kind = line_kind::key;
  out.k = std::move(*k);
  std::istringstream rest{end == std::string::npos ? std::string{} : t.substr(end)};
  std::string word;
  while (rest >> word) {
    if (word[0] == '#') {
      auto at = t.find('#', end);
      out.comment = trim(t.substr(at + 1));
      break;
    }
    out.words.push_back(std::move(word));
  }
  return out;
}

// The one key of a key file: the only line that is neither blank nor a
// comment.
caf::expected<key> single_key(const std::string& text, const std::string& path,
                              const std::string& what) {
  std::istringstream in{text};
  std::string line;
  std::optional<key> found;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    auto parsed = classify(line);
    auto where = what + ": " + path + ":" + std::to_string(lineno);
    if (parsed.kind == line_kind::bad ||
        (parsed.kind == line_kind::key && !parsed.words.empty()))
      return make_error(errc::config_invalid,
                        where + ": not a Z85 key (40 characters) or a # comment");
    if (parsed.kind != line_kind::key)
      continue;
    if (found)
      return make_error(errc::config_invalid,
                        where + ": more than one key in a key file");
    found = std::move(parsed.k);
  }
  if (!found)
    return make_error(errc::config_invalid,
                      what + ": " + path + ": no key in the file");
  return std::move(*found);
}

} // namespace

bool available() {
  return zmq_has("curve") != 0;
}

caf::expected<key> decode(const std::string& z85, const std::string& what) {
  if (z85.size() != z85_length)
    return make_error(errc::config_invalid,
                      what + ": not a Z85 key (expected 40 characters, got " +
                        std::to_string(z85.size()) + ")");
  uint8_t out[key_length];
  if (zmq_z85_decode(out, z85.c_str()) == nullptr)
    return make_error(errc::config_invalid,
                      what + ": not a Z85 key (a character outside Z85's "
                             "alphabet)");
  return key(reinterpret_cast<const char*>(out), key_length);
}

std::string encode(const key& k) {
  char out[z85_length + 1] = {};
  if (k.size() != key_length ||
      zmq_z85_encode(out, reinterpret_cast<const uint8_t*>(k.data()),
                     key_length) == nullptr)
    return {};
  return std::string(out, z85_length);
}

caf::expected<key> public_of(const key& secret) {
  char secret_z85[z85_length + 1] = {};
  char public_z85[z85_length + 1] = {};
  auto text = encode(secret);
  std::memcpy(secret_z85, text.data(), std::min(text.size(), z85_length));
  if (text.size() != z85_length ||
      zmq_curve_public(public_z85, secret_z85) != 0)
    return make_error(errc::config_invalid,
                      std::string{"deriving a public key: "} +
                        zmq_strerror(zmq_errno()));
  return decode(std::string(public_z85, z85_length), "derived public key");
}

caf::expected<key> read_secret_file(const std::string& path,
                                    const std::string& what) {
  mode_t mode = 0;
  auto text = read_small(path, what, max_key_file, &mode);
  if (!text)
    return std::move(text.error());
  if ((mode & 077) != 0) {
    char octal[8];
    std::snprintf(octal, sizeof(octal), "%04o", static_cast<unsigned>(mode & 07777));
    return make_error(errc::config_invalid,
                      what + ": " + path + ": a secret key readable by group "
                        "or others (mode " + octal + "); chmod 600 it");
  }
  return single_key(*text, path, what);
}

caf::expected<key> read_public(const std::string& text_or_path,
                               const std::string& what) {
  auto t = trim(text_or_path);
  if (t.size() == z85_length) {
    auto k = decode(t, what);
    if (k)
      return k;
    // Not a key: maybe a file with a 40-character name; try it below.
  }
  auto text = read_small(t, what, max_key_file);
  if (!text)
    return std::move(text.error());
  return single_key(*text, t, what);
}

namespace {

// A host name in a binding: printable ASCII, none of the separators.
bool valid_host_name(const std::string& name) {
  if (name.empty() || name.size() > 255)
    return false;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == ',' || c == '#' || c == '=' || c == '*')
      return false;
  }
  return true;
}

// Adds one binding word of an allow-list line to `id`: host=NAME[,NAME...],
// relay=NAME[,NAME...] or relay=*. The reason when the word is none of them.
std::optional<std::string> add_binding(const std::string& word,
                                       wire::peer_identity& id) {
  auto eq = word.find('=');
  auto what = word.substr(0, eq == std::string::npos ? 0 : eq);
  if (what != "host" && what != "relay")
    return "'" + word + "': expected host=NAME[,NAME...], relay=NAME[,NAME...] "
           "or relay=*, then an optional # comment after a space";
  auto list = word.substr(eq + 1);
  if (what == "relay" && list == "*") {
    id.carries_any = true;
    return std::nullopt;
  }
  auto& names = what == "host" ? id.hosts : id.carries;
  std::istringstream in{list};
  std::string name;
  size_t count = 0;
  while (std::getline(in, name, ',')) {
    if (!valid_host_name(name))
      return "'" + word + "': '" + name + "' is not a host name (printable, no "
             "space, ',', '#', '=' or '*'" + (what == "relay" ? "; relay=* alone" : "") +
             ")";
    names.insert(name);
    ++count;
  }
  if (count == 0 || list.back() == ',')
    return "'" + word + "': an empty host name";
  return std::nullopt;
}

} // namespace

caf::expected<allow_list> read_allow_list(const std::string& path,
                                          const std::string& what) {
  auto text = read_small(path, what, max_allow_list);
  if (!text)
    return std::move(text.error());
  allow_list keys;
  std::istringstream in{*text};
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    auto where = what + ": " + path + ":" + std::to_string(lineno);
    auto parsed = classify(line);
    if (parsed.kind == line_kind::bad)
      return make_error(errc::config_invalid,
                        where + ": not a Z85 key (40 characters, then optional "
                                "host= and relay= and an optional # comment, "
                                "each after a space)");
    if (parsed.kind != line_kind::key)
      continue;
    auto id = std::make_shared<wire::peer_identity>();
    id->key = encode(parsed.k);
    id->label = std::move(parsed.comment);
    id->line = lineno;
    for (const auto& word : parsed.words)
      if (auto why = add_binding(word, *id))
        return make_error(errc::config_invalid, where + ": " + *why);
    auto [it, fresh] = keys.emplace(id->key, id);
    // Unbound duplicates are harmless (and were allowed before bindings);
    // a bound key on two lines would leave its binding in doubt.
    if (!fresh && (it->second->bound() || id->bound()))
      return make_error(errc::config_invalid,
                        where + ": key " + id->key + " is on line " +
                          std::to_string(it->second->line) +
                          " too: a key with host= or relay= takes exactly one "
                          "line");
  }
  return keys;
}

size_t bound_count(const allow_list& keys) {
  size_t n = 0;
  for (const auto& entry : keys)
    n += entry.second->bound() ? 1 : 0;
  return n;
}

caf::expected<std::string> write_key_pair(const std::string& base) {
  if (!available())
    return make_error(errc::unavailable,
                      "this libzmq has no CURVE support (built without libsodium)");
  char public_z85[z85_length + 1] = {};
  char secret_z85[z85_length + 1] = {};
  if (zmq_curve_keypair(public_z85, secret_z85) != 0)
    return make_error(errc::io, std::string{"zmq_curve_keypair: "} +
                                  zmq_strerror(zmq_errno()));
  auto write_new = [](const std::string& path, mode_t mode,
                      const std::string& body) -> caf::error {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
                                    O_NOFOLLOW, mode);
    if (fd < 0)
      return make_error(errc::io, path + ": " + errno_text(errno) +
                                    (errno == EEXIST ? " (never overwritten: "
                                                       "remove it first)"
                                                     : ""));
    // The umask may have taken bits away, never added: set exactly.
    if (::fchmod(fd, mode) != 0 ||
        ::write(fd, body.data(), body.size()) !=
          static_cast<ssize_t>(body.size()) ||
        ::fsync(fd) != 0) {
      auto err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return make_error(errc::io, path + ": " + errno_text(err));
    }
    ::close(fd);
    return caf::none;
  };
  auto secret_path = base + ".key";
  auto public_path = base + ".pub";
  // Refuse before writing anything when either exists.
  struct stat st;
  for (const auto& p : {secret_path, public_path})
    if (::lstat(p.c_str(), &st) == 0)
      return make_error(errc::io, p + ": exists (never overwritten: remove it "
                                      "first)");
  if (auto err = write_new(secret_path, 0600,
                           "# CurveZMQ secret key (Z85); keep it private\n" +
                             std::string(secret_z85) + "\n"))
    return err;
  if (auto err = write_new(public_path, 0644,
                           "# CurveZMQ public key (Z85)\n" +
                             std::string(public_z85) + "\n")) {
    ::unlink(secret_path.c_str());
    return err;
  }
  std::memset(secret_z85, 0, sizeof(secret_z85));
  return std::string(public_z85);
}

bool reachable_from_outside(const std::string& endpoint) {
  if (endpoint.rfind("tcp://", 0) != 0)
    return false;
  auto rest = endpoint.substr(6);
  auto colon = rest.rfind(':');
  auto host = colon == std::string::npos ? rest : rest.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  // An interface name (tcp://lo:1234) is loopback only when it is lo.
  if (host == "localhost" || host == "::1" || host == "lo")
    return false;
  return host.rfind("127.", 0) != 0;
}

} // namespace cc::curve
