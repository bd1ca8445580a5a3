// The comparison formats other than CSV, behind load_comparisons (load.cpp).
#pragma once

#include <string>

#include "btfit/data.h"
#include "btfit/io.h"

namespace btfit {

// The binary cache (cache.cpp): reads a file that is_comparison_cache() accepted.
Comparisons load_comparison_cache(const std::string& path, const ComparisonColumns& columns);

// JSON lines (jsonl.cpp): whether `path` is to be read as JSON lines (by `format`, or by its
// extension .jsonl or .ndjson, also before .gz or .zst), and the reader.
bool is_jsonl_input(const std::string& path, ComparisonFormat format);
Comparisons load_comparisons_jsonl(const std::string& path, const ComparisonColumns& columns);

}  // namespace btfit
