// Text rules the config layer shares (the INI parser, the validator, value
// parsing): whitespace, case, message-type words, a path's extension.
#pragma once

#include <string>

namespace cc::config {

/// Lower-case ASCII.
std::string lower(std::string s);

/// Without leading and trailing spaces, tabs, CR and LF.
std::string trim(const std::string& s);

/// A CC message type: dot-separated words of [A-Za-z0-9_-].
bool valid_type_words(const std::string& s);

/// os.path.splitext(path)[0]: the extension is the last dot of the last
/// component, unless that component is all leading dots before it.
std::string without_extension(const std::string& path);

} // namespace cc::config
