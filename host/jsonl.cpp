// Comparisons from JSON lines: one JSON object per line (RFC 8259 syntax), as LMArena's
// battle records come: {"model_a": "...", "model_b": "...", "winner": "model_a", ...}.
//
// A small strict parser for flat objects: every line is checked in full (strings with their
// escapes, numbers, true/false/null, nested objects and arrays, which are skipped); only the
// values of the keys asked for are kept, without allocating per line. A JSON string cannot
// hold a raw line break, so every line break ends a record and the file splits into chunks
// at any line break for parallel parsing. Errors name the file, the physical line and the
// column (1-based byte position in the line).
#include <algorithm>
#include <cmath>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "btfit/error.h"
#include "csv.h"
#include "formats.h"
#include "interner.h"
#include "parallel_load.h"
#include "progress.h"

namespace btfit {

namespace {

constexpr int kMaxDepth = 512;

enum class JsonKind { missing, string, number, boolean, null, object, array };

const char* kind_name(JsonKind kind) {
  switch (kind) {
    case JsonKind::string:
      return "a string";
    case JsonKind::number:
      return "a number";
    case JsonKind::boolean:
      return "a boolean";
    case JsonKind::null:
      return "null";
    case JsonKind::object:
      return "an object";
    case JsonKind::array:
      return "an array";
    case JsonKind::missing:
      break;
  }
  return "nothing";
}

// A kept value: a string (decoded), or the text of a number or literal.
struct JsonValue {
  JsonKind kind = JsonKind::missing;
  std::string_view text;  // string contents (decoded) or the literal's text
  bool boolean = false;
  std::size_t column = 0;  // where the value starts
  std::string decoded;     // storage when the string had escapes
};

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

void append_utf8(std::string& out, std::uint32_t code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

// Parses one line: a JSON object whose members named in `keys` are stored in `values` (the
// last one wins when a key repeats, as in Python's json). Throws InputError.
// Buffers for strings with escapes that are not kept, reused from line to line.
struct JsonScratch {
  std::string key;
  std::string skipped;
};

class JsonLine {
 public:
  JsonLine(const CsvReader& reader, std::string_view line, JsonScratch& scratch)
      : reader_(reader), line_(line), scratch_(scratch) {}

  // Returns false for a blank line.
  bool parse(const std::vector<std::string>& keys, std::vector<JsonValue>& values) {
    for (auto& v : values) v.kind = JsonKind::missing;
    skip_space();
    if (pos_ == line_.size()) return false;
    if (line_[pos_] != '{') {
      if (line_[pos_] == '[')
        fail(
            "expected a JSON object per line (JSON lines); this line holds an array "
            "(a JSON array file can be turned into JSON lines with: jq -c '.[]' FILE)");
      fail("expected a JSON object ('{')");
    }
    object_column_ = pos_ + 1;
    ++pos_;
    skip_space();
    if (peek() == '}') {
      ++pos_;
    } else {
      while (true) {
        if (peek() != '"') fail("expected a key (a string in double quotes)");
        std::string_view key = read_string(scratch_.key);
        skip_space();
        if (peek() != ':') fail("expected ':' after the key");
        ++pos_;
        skip_space();
        std::size_t slot = keys.size();
        for (std::size_t k = 0; k < keys.size(); ++k)
          if (!keys[k].empty() && key == keys[k]) slot = k;
        if (slot < keys.size()) {
          read_value(values[slot]);
        } else {
          skip_value(1);
        }
        skip_space();
        const char c = peek();
        if (c == ',') {
          ++pos_;
          skip_space();
          continue;
        }
        if (c == '}') {
          ++pos_;
          break;
        }
        fail(pos_ == line_.size() ? "the object is not closed (expected ',' or '}')" : "expected ',' or '}'");
      }
    }
    skip_space();
    if (pos_ != line_.size()) fail("text after the JSON object (one object per line)");
    return true;
  }

  std::size_t object_column() const { return object_column_; }

  [[noreturn]] void fail_at(std::size_t column, const std::string& message) const {
    throw InputError(reader_.name(), reader_.line(), column, message);
  }

 private:
  [[noreturn]] void fail(const std::string& message) const { fail_at(pos_ + 1, message); }

  char peek() const { return pos_ < line_.size() ? line_[pos_] : '\0'; }

  void skip_space() {
    while (pos_ < line_.size() &&
           (line_[pos_] == ' ' || line_[pos_] == '\t' || line_[pos_] == '\r' || line_[pos_] == '\n'))
      ++pos_;
  }

  unsigned hex4() {
    if (pos_ + 4 > line_.size()) fail("\\u must be followed by four hex digits");
    unsigned value = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = line_[pos_++];
      value <<= 4;
      if (c >= '0' && c <= '9')
        value |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        value |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        value |= static_cast<unsigned>(c - 'A' + 10);
      else {
        --pos_;
        fail("\\u must be followed by four hex digits");
      }
    }
    return value;
  }

  // Reads a string at pos_ (a '"'); returns its contents, decoded into `scratch` when it has
  // escapes (else a view into the line).
  std::string_view read_string(std::string& scratch) {
    const std::size_t open = pos_;
    ++pos_;
    const std::size_t start = pos_;
    // Fast path: no escapes. Skip 16 plain bytes at a time (none of '"', '\\' or a control
    // character), then look at the byte that stopped it.
#if defined(__SSE2__)
    {
      const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), below = _mm_set1_epi8(0x1f);
      while (pos_ + 16 <= line_.size()) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(line_.data() + pos_));
        const __m128i special =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)),
                         _mm_cmpeq_epi8(_mm_min_epu8(bytes, below), bytes));
        const int mask = _mm_movemask_epi8(special);
        if (mask != 0) {
          pos_ += static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
          break;
        }
        pos_ += 16;
      }
    }
#endif
    while (pos_ < line_.size()) {
      const auto c = static_cast<unsigned char>(line_[pos_]);
      if (c == '"') {
        ++pos_;
        return line_.substr(start, pos_ - 1 - start);
      }
      if (c == '\\') break;
      if (c < 0x20) fail("control character in a string (it must be escaped)");
      ++pos_;
    }
    if (pos_ >= line_.size()) fail_at(open + 1, "unterminated string");
    scratch.assign(line_.data() + start, pos_ - start);
    while (pos_ < line_.size()) {
      const auto c = static_cast<unsigned char>(line_[pos_]);
      if (c == '"') {
        ++pos_;
        return scratch;
      }
      if (c < 0x20) fail("control character in a string (it must be escaped)");
      if (c != '\\') {
        scratch += static_cast<char>(c);
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= line_.size()) break;
      const char e = line_[pos_++];
      switch (e) {
        case '"':
          scratch += '"';
          break;
        case '\\':
          scratch += '\\';
          break;
        case '/':
          scratch += '/';
          break;
        case 'b':
          scratch += '\b';
          break;
        case 'f':
          scratch += '\f';
          break;
        case 'n':
          scratch += '\n';
          break;
        case 'r':
          scratch += '\r';
          break;
        case 't':
          scratch += '\t';
          break;
        case 'u': {
          std::uint32_t code = hex4();
          if (code >= 0xD800 && code < 0xDC00 && pos_ + 1 < line_.size() && line_[pos_] == '\\' &&
              line_[pos_ + 1] == 'u') {
            const std::size_t save = pos_;
            pos_ += 2;
            const std::uint32_t low = hex4();
            if (low >= 0xDC00 && low < 0xE000)
              code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            else
              pos_ = save;  // a lone high surrogate, kept as it is
          }
          append_utf8(scratch, code);
          break;
        }
        default:
          --pos_;
          fail(std::string("invalid escape \\") + e + " in a string");
      }
    }
    fail_at(open + 1, "unterminated string");
  }

  // Checks a number's syntax at pos_; returns its text.
  std::string_view read_number() {
    const std::size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++pos_;
    } else {
      pos_ = start;
      fail("invalid value (expected a string, number, object, array, true, false or null)");
    }
    if (peek() == '.') {
      ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("invalid number: digits must follow '.'");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("invalid number: digits must follow the exponent");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    return line_.substr(start, pos_ - start);
  }

  bool literal(const char* word) {
    const std::size_t n = std::strlen(word);
    if (line_.compare(pos_, n, word) != 0) return false;
    pos_ += n;
    return true;
  }

  void read_value(JsonValue& value) {
    value.column = pos_ + 1;
    const char c = peek();
    if (c == '"') {
      value.kind = JsonKind::string;
      value.text = read_string(value.decoded);
    } else if (c == '{' || c == '[') {
      value.kind = c == '{' ? JsonKind::object : JsonKind::array;
      skip_value(1);
    } else if (literal("true")) {
      value.kind = JsonKind::boolean;
      value.boolean = true;
    } else if (literal("false")) {
      value.kind = JsonKind::boolean;
      value.boolean = false;
    } else if (literal("null")) {
      value.kind = JsonKind::null;
    } else {
      value.kind = JsonKind::number;
      value.text = read_number();
    }
  }

  // Skips (and checks) any value at pos_.
  void skip_value(int depth) {
    if (depth > kMaxDepth) fail("nested too deeply");
    const char c = peek();
    if (c == '"') {
      read_string(scratch_.skipped);
      return;
    }
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++pos_;
      skip_space();
      if (peek() == close) {
        ++pos_;
        return;
      }
      while (true) {
        if (c == '{') {
          if (peek() != '"') fail("expected a key (a string in double quotes)");
          read_string(scratch_.skipped);
          skip_space();
          if (peek() != ':') fail("expected ':' after the key");
          ++pos_;
          skip_space();
        }
        skip_value(depth + 1);
        skip_space();
        if (peek() == ',') {
          ++pos_;
          skip_space();
          continue;
        }
        if (peek() == close) {
          ++pos_;
          return;
        }
        fail(std::string("expected ',' or '") + close + "'");
      }
    }
    if (literal("true") || literal("false") || literal("null")) return;
    read_number();
  }

  const CsvReader& reader_;
  std::string_view line_;
  std::size_t pos_ = 0;
  std::size_t object_column_ = 1;
  JsonScratch& scratch_;
};

// The keys of a comparison record.
struct JsonLayout {
  enum Slot { kA, kB, kOutcome, kCount, kNeutral, kCluster, kSlots };
  std::vector<std::string> keys = std::vector<std::string>(kSlots);
  const char* options[kSlots] = {"--a", "--b", "--outcome", "--count", "--neutral", "--cluster"};
  bool ab_layout = true;
  bool home_flags = false;
};

JsonLayout json_layout(const ComparisonColumns& columns) {
  JsonLayout layout;
  const bool ab = !columns.a.empty() || !columns.b.empty() || !columns.outcome.empty();
  if (ab && (columns.a.empty() || columns.b.empty() || columns.outcome.empty()))
    throw UsageError("--a, --b and --outcome go together");
  if (ab) {
    layout.keys[JsonLayout::kA] = columns.a;
    layout.keys[JsonLayout::kB] = columns.b;
    layout.keys[JsonLayout::kOutcome] = columns.outcome;
  } else if (columns.winner == "winner" && columns.loser == "loser") {
    layout.keys[JsonLayout::kA] = "model_a";  // LMArena's battle records
    layout.keys[JsonLayout::kB] = "model_b";
    layout.keys[JsonLayout::kOutcome] = "winner";
  } else {
    layout.ab_layout = false;
    layout.keys[JsonLayout::kA] = columns.winner;
    layout.keys[JsonLayout::kB] = columns.loser;
    layout.options[JsonLayout::kA] = "--winner";
    layout.options[JsonLayout::kB] = "--loser";
  }
  layout.keys[JsonLayout::kCount] = columns.count;
  layout.keys[JsonLayout::kNeutral] = columns.neutral;
  layout.keys[JsonLayout::kCluster] = columns.cluster;
  layout.home_flags = columns.home_flags;
  return layout;
}

std::string key_label(const JsonLayout& layout, int slot) {
  return "key " + quoted(layout.keys[slot]);
}

// An item name or cluster label: a string, or a number's text.
std::string_view name_of(JsonLine& parser, const JsonLayout& layout, int slot, const JsonValue& v) {
  if (v.kind == JsonKind::string || v.kind == JsonKind::number) return v.text;
  parser.fail_at(v.column, key_label(layout, slot) + ": expected a string, found " + kind_name(v.kind));
}

// A count: a number, or a string holding one.
double number_of(const JsonValue& v, bool* ok) {
  double x = 0;
  *ok = (v.kind == JsonKind::number || v.kind == JsonKind::string) && parse_double(v.text, &x);
  return x;
}

// Reads the lines of `reader` into `data`, as read_comparison_records does for CSV.
void read_jsonl_records(CsvReader& reader, const JsonLayout& layout, bool at_file_start, ItemDictionary& dict,
                        ItemDictionary& clusters, Comparisons& data) {
  std::vector<JsonValue> values(JsonLayout::kSlots);
  JsonScratch scratch;
  std::string_view line;
  bool first = at_file_start;
  bool reserved = false;
  DeferredInterner items(dict);
  while (reader.next_line(line)) {
    if (first && line.size() >= 3 && std::memcmp(line.data(), "\xEF\xBB\xBF", 3) == 0) line.remove_prefix(3);
    first = false;
    JsonLine parser(reader, line, scratch);
    if (!parser.parse(layout.keys, values)) continue;
    for (int slot : {JsonLayout::kA, JsonLayout::kB, JsonLayout::kOutcome, JsonLayout::kCount,
                     JsonLayout::kNeutral, JsonLayout::kCluster}) {
      if (layout.keys[slot].empty() || values[slot].kind != JsonKind::missing) continue;
      if (slot == JsonLayout::kOutcome && !layout.ab_layout) continue;
      parser.fail_at(parser.object_column(), "no key " + quoted(layout.keys[slot]) + " (from " +
                                                 layout.options[slot] + ") in this object");
    }
    const std::string_view name_a = name_of(parser, layout, JsonLayout::kA, values[JsonLayout::kA]);
    const std::string_view name_b = name_of(parser, layout, JsonLayout::kB, values[JsonLayout::kB]);
    if (name_a.empty())
      parser.fail_at(values[JsonLayout::kA].column, key_label(layout, JsonLayout::kA) + ": empty item name");
    if (name_b.empty())
      parser.fail_at(values[JsonLayout::kB].column, key_label(layout, JsonLayout::kB) + ": empty item name");
    if (name_a == name_b)
      parser.fail_at(values[JsonLayout::kB].column, "self-comparison: " + quoted(name_a) + " against itself");
    double y = 1.0;
    if (layout.ab_layout) {
      const JsonValue& v = values[JsonLayout::kOutcome];
      bool ok = false;
      if (v.kind == JsonKind::string) {
        const std::string_view t = v.text;
        ok = true;
        if (t == "a" || t == "model_a")
          y = 1.0;
        else if (t == "b" || t == "model_b")
          y = 0.0;
        else if (t == "tie" || t == "tie (bothbad)")
          y = 0.5;
        else
          ok = parse_double(t, &y) && (y == 0.0 || y == 0.5 || y == 1.0);
      } else if (v.kind == JsonKind::number) {
        ok = parse_double(v.text, &y) && (y == 0.0 || y == 0.5 || y == 1.0);
      }
      if (!ok)
        parser.fail_at(v.column,
                       key_label(layout, JsonLayout::kOutcome) + ": outcome " +
                           (v.kind == JsonKind::string   ? quoted(v.text)
                            : v.kind == JsonKind::number ? std::string(v.text)
                                                         : std::string(kind_name(v.kind))) +
                           " is not one of 1, 0, 0.5, a, b, model_a, model_b, tie, \"tie (bothbad)\"");
    }
    double w = 1.0;
    if (!layout.keys[JsonLayout::kCount].empty()) {
      const JsonValue& v = values[JsonLayout::kCount];
      bool ok = false;
      w = number_of(v, &ok);
      const std::string label = key_label(layout, JsonLayout::kCount);
      if (!ok)
        parser.fail_at(v.column,
                       label + ": count " +
                           (v.kind == JsonKind::string ? quoted(v.text) : std::string(kind_name(v.kind))) +
                           " is not a number");
      if (std::isnan(w)) parser.fail_at(v.column, label + ": count is NaN");
      if (!std::isfinite(w)) parser.fail_at(v.column, label + ": count " + quoted(v.text) + " is not finite");
      if (w < 0.0) parser.fail_at(v.column, label + ": negative count " + std::string(v.text));
    }
    bool at_home = layout.home_flags;
    if (!layout.keys[JsonLayout::kNeutral].empty()) {
      const JsonValue& v = values[JsonLayout::kNeutral];
      const std::string_view t = v.text;
      if ((v.kind == JsonKind::boolean && v.boolean) ||
          ((v.kind == JsonKind::number || v.kind == JsonKind::string) &&
           (t == "1" || t == "true" || t == "TRUE")))
        at_home = false;
      else if (!((v.kind == JsonKind::boolean) ||
                 ((v.kind == JsonKind::number || v.kind == JsonKind::string) &&
                  (t == "0" || t == "false" || t == "FALSE"))))
        parser.fail_at(v.column,
                       key_label(layout, JsonLayout::kNeutral) + ": neutral flag is not true, false, 1 or 0");
    }
    if (w == 0.0) continue;  // zero-weight rows are kept out of everything
    if (!reserved) {
      const std::size_t line_bytes = std::max<std::size_t>(16, line.size() + 1);
      if (reader.size_hint() > 0) {
        const std::size_t n = reader.size_hint() / line_bytes + 16;
        data.a.reserve(n);
        data.b.reserve(n);
        data.outcome2.reserve(n);
      }
      reserved = true;
    }
    items.push(name_a, data.a);
    items.push(name_b, data.b);
    data.outcome2.push_back(static_cast<std::uint8_t>(2.0 * y));
    if (!layout.keys[JsonLayout::kCount].empty()) data.weight.push_back(w);
    if (layout.home_flags) data.at_home.push_back(at_home ? 1 : 0);
    if (!layout.keys[JsonLayout::kCluster].empty())
      data.cluster.push_back(
          clusters.intern(name_of(parser, layout, JsonLayout::kCluster, values[JsonLayout::kCluster])));
  }
  items.flush();
}

bool ends_with(const std::string& s, const char* suffix) {
  const std::size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

bool is_jsonl_input(const std::string& path, ComparisonFormat format) {
  if (format != ComparisonFormat::automatic) return format == ComparisonFormat::jsonl;
  const std::string name = without_compression_suffix(path);
  return ends_with(name, ".jsonl") || ends_with(name, ".ndjson");
}

Comparisons load_comparisons_jsonl(const std::string& path, const ComparisonColumns& columns) {
  const JsonLayout layout = json_layout(columns);
  LoadProgress progress(columns.load.progress, path == "-" ? "<stdin>" : path, "comparisons", 0);
  CsvReader reader(path, &progress);
  progress.set_total_bytes(reader.input().file_size);
  Comparisons data;
  const std::size_t n_chunks = plan_chunks(reader, columns.load);
  if (n_chunks > 1) {
    std::vector<ComparisonChunk> chunks(n_chunks);
    parse_chunks(reader, path, n_chunks, columns.load, false, &progress,
                 [&](CsvReader& chunk_reader, std::size_t c) {
                   chunks[c] = ComparisonChunk();
                   read_jsonl_records(chunk_reader, layout, c == 0, chunks[c].items, chunks[c].clusters,
                                      chunks[c].data);
                 });
    data = merge_comparison_chunks(chunks, load_threads(columns.load));
  } else {
    ItemDictionary dict;
    ItemDictionary clusters;
    read_jsonl_records(reader, layout, true, dict, clusters, data);
    data.item_names = dict.names();
  }
  if (data.a.empty()) throw InputError(reader.name(), 0, 0, "no comparisons with positive weight");
  return data;
}

}  // namespace btfit
