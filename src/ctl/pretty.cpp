#include "ctl/pretty.hpp"

namespace l4lb::ctl {

void indent_json(std::string& out, std::string_view json, int indent) {
  std::size_t depth = 0;
  auto newline = [&] {
    out += '\n';
    out.append(depth * static_cast<std::size_t>(indent), ' ');
  };
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    switch (c) {
      case '"': {  // a string, copied as it is (escapes included)
        const std::size_t start = i++;
        while (i < json.size() && json[i] != '"') i += json[i] == '\\' ? 2 : 1;
        out.append(json.substr(start, i - start + 1));
        break;
      }
      case '{':
      case '[': {
        // An empty container stays on its line: {} and [].
        std::size_t j = i + 1;
        while (j < json.size() &&
               (json[j] == ' ' || json[j] == '\n' || json[j] == '\t' || json[j] == '\r'))
          ++j;
        if (j < json.size() && json[j] == (c == '{' ? '}' : ']')) {
          out += c;
          out += json[j];
          i = j;
          break;
        }
        out += c;
        ++depth;
        newline();
        break;
      }
      case '}':
      case ']':
        if (depth > 0) --depth;
        newline();
        out += c;
        break;
      case ',':
        out += ',';
        newline();
        break;
      case ':':
        out += ": ";
        break;
      case ' ':
      case '\n':
      case '\t':
      case '\r':
        break;
      default:
        out += c;
    }
  }
}

}  // namespace l4lb::ctl
