// Parallel parsing of one regular, uncompressed file.
//
// The records after the header are cut into chunks at record boundaries, and each chunk is
// parsed on an OpenMP thread by a CsvReader over its byte range into results of its own
// (items interned in a dictionary of the chunk's own); merge_*_chunks then joins them in
// file order, renumbering the item ids so that they are in order of first appearance in the
// file, exactly as the one-thread reader numbers them. One pass over the file, no per-line
// allocation.
//
// Chunk boundaries are first taken at the line break after each nominal position. A quoted
// field may hold a line break (RFC 4180), but a chunk that parses to its end without an error
// ends on a record boundary (a quoted field still open at its end is an error), so the guesses
// hold up to the first chunk with an error. Only when that error is a quoted field cut by the
// end of its chunk does one pass over the quotes (with the reader's own quoting rules) find
// the exact boundaries, and the chunks whose bounds moved are parsed again. Errors: a chunk
// numbers its lines from 1, and the first error in file order is rethrown with its physical
// line, the lines of the chunks before it added.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "btfit/data.h"
#include "btfit/io.h"
#include "csv.h"

namespace btfit {

class LoadProgress;

// Into how many chunks to cut the records after the header that `reader` has read: 1 means
// read on with `reader` alone (standard input, a pipe, compressed or small input, one
// thread).
std::size_t plan_chunks(const CsvReader& reader, const LoadOptions& options);

// The number of threads that `options` asks for (0: all available).
int load_threads(const LoadOptions& options);

// Parses the records after the header of `reader` (the file `path`) in `n_chunks` chunks.
// parse(chunk_reader, chunk) fills the results of `chunk`; it may be called a second time for
// the same chunk (after a boundary correction) and must then start over. `quoted`: records may
// hold quoted line breaks (CSV); false for line formats (JSON lines, LIBSVM).
void parse_chunks(const CsvReader& reader, const std::string& path, std::size_t n_chunks,
                  const LoadOptions& options, bool quoted, LoadProgress* progress,
                  const std::function<void(CsvReader&, std::size_t)>& parse);

// One chunk's comparisons, with its own item (and cluster) dictionaries.
struct ComparisonChunk {
  ItemDictionary items;
  ItemDictionary clusters;
  Comparisons data;  // item_names unused: ids refer to `items`
};

// Joins the chunks in order (and empties them): ids renumbered in order of first appearance.
Comparisons merge_comparison_chunks(std::vector<ComparisonChunk>& chunks, int threads);

// One chunk's labeled rows (dense, or sparse CSR with row_ptr starting at 0).
struct RowChunk {
  ItemDictionary clusters;
  Rows rows;
};

// Joins the chunks in order (and empties them); feature names and counts are the caller's.
Rows merge_row_chunks(std::vector<RowChunk>& chunks, int threads);

}  // namespace btfit
