#pragma once
// Deterministic JSON text building shared by every writer in connectors/ (event lines, score
// lines, dead letters): one escaping rule and one number format, so that files written by
// different paths are byte-comparable.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tfe::json {

// Appends `s` as a JSON string literal (quotes included): '"', '\\' and control characters below
// 0x20 are escaped, well-formed UTF-8 is copied byte for byte, and a byte that starts no
// well-formed sequence (a Latin-1 file name, a cut character) becomes U+FFFD, one per byte: JSON
// text is UTF-8 (RFC 8259), and one such byte would make the whole line or file unreadable.
void append_string(std::string& out, std::string_view s);

// Length of the well-formed UTF-8 sequence starting at s[i] (Unicode table 3-7: no overlong
// forms, no surrogates, nothing above U+10FFFF), 0 when there is none.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

void append_int(std::string& out, int64_t v);
void append_uint(std::string& out, uint64_t v);

// Shortest text that reads back to exactly `v` when parsed as a double and narrowed to float
// (the path the event decoder takes). -0 is written as -0.0 so that its sign survives.
// Non-finite values are written as null (JSON has no NaN).
void append_float(std::string& out, float v);

// Shortest text that reads back to exactly `v` as a double; non-finite values are written as null.
void append_double(std::string& out, double v);

void append_bool(std::string& out, bool v);

// Standard base64 (RFC 4648, with padding) of arbitrary bytes.
void append_base64(std::string& out, std::string_view bytes);

}  // namespace tfe::json
