#include "connectors/json_write.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace tfe::json {

void append_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run_start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') continue;
    if (c >= 0x80) {
      if (const std::size_t n = utf8_sequence_length(s, i); n > 0) {
        i += n - 1;
        continue;
      }
      out.append(s.data() + run_start, i - run_start);
      run_start = i + 1;
      out.append("\xef\xbf\xbd");
      continue;
    }
    out.append(s.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default: {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out.append(esc, sizeof esc);
      }
    }
  }
  out.append(s.data() + run_start, s.size() - run_start);
  out.push_back('"');
}

std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  std::size_t n = 0;
  unsigned char lo = 0x80;  // range of the second byte
  unsigned char hi = 0xbf;
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) {
    n = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    n = 3;
    if (lead == 0xe0) lo = 0xa0;
    if (lead == 0xed) hi = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    n = 4;
    if (lead == 0xf0) lo = 0x90;
    if (lead == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > s.size() || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  }
  return n;
}

void append_int(std::string& out, int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_float(std::string& out, float v) {
  if (!std::isfinite(v)) {
    out.append("null");
    return;
  }
  if (v == 0.0f && std::signbit(v)) {
    // "-0" would be read back as the integer 0.
    out.append("-0.0");
    return;
  }
  if (std::fabs(v) < 1000.0f && v == std::trunc(v)) {
    // Small whole numbers (weights of 0 and 1, most of all): the shortest text is the integer's,
    // and it reads back exactly; no need for the round trip below.
    append_int(out, static_cast<int64_t>(v));
    return;
  }
  char buf[48];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  // The decoder parses numbers as doubles and narrows them. A shortest float text within half a
  // double ulp of a float midpoint would narrow to the neighbour; fall back to the double text.
  double back = 0;
  std::from_chars(buf, r.ptr, back);
  if (static_cast<float>(back) != v)
    r = std::to_chars(buf, buf + sizeof buf, static_cast<double>(v));
  out.append(buf, r.ptr);
}

void append_double(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out.append("null");
    return;
  }
  char buf[48];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_bool(std::string& out, bool v) { out.append(v ? "true" : "false"); }

void append_base64(std::string& out, std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t w = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    const char quad[4] = {kAlphabet[w >> 18], kAlphabet[(w >> 12) & 63], kAlphabet[(w >> 6) & 63],
                          kAlphabet[w & 63]};
    out.append(quad, 4);
  }
  if (n - i == 1) {
    const uint32_t w = uint32_t{p[i]} << 16;
    const char quad[4] = {kAlphabet[w >> 18], kAlphabet[(w >> 12) & 63], '=', '='};
    out.append(quad, 4);
  } else if (n - i == 2) {
    const uint32_t w = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8);
    const char quad[4] = {kAlphabet[w >> 18], kAlphabet[(w >> 12) & 63], kAlphabet[(w >> 6) & 63],
                          '='};
    out.append(quad, 4);
  }
}

}  // namespace tfe::json
