// Indents JSON text as nlohmann's dump(2) does, without building a document: `status --json`
// of 10,000 services is 143 MB, which as a tree took the client seconds and gigabytes.
// Pure.
#pragma once

#include <string>
#include <string_view>

namespace l4lb::ctl {

// `json` is one valid JSON value (whitespace outside strings is dropped); the result has one
// member or element per line, `indent` spaces per level, "key": value, and {} / [] for empty
// containers, like nlohmann::json::dump(indent) (whose keys come sorted; here they keep their
// order). Appends to `out`.
void indent_json(std::string& out, std::string_view json, int indent = 2);

}  // namespace l4lb::ctl
