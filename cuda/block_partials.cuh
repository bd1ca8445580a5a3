// Per-block partial sums, written to device memory and added on the host in block order.
// With a grid fixed for an objective's lifetime, the order of every addition is fixed, so a
// value computed this way has the same bits on every run on the same device.
//
// Two layouts:
//   write_block_partials:  one block of kBlockThreads threads, one pair of sums;
//                          partials[2 * blockIdx.x + {0, 1}].
//   write_column_partials: batched kernels, blocks of (width x rows) threads where
//                          threadIdx.x picks a parameter vector and threadIdx.y a data row;
//                          one pair per vector: partials[2 * (blockIdx.x * width + x) + {0, 1}].
#pragma once

#include <algorithm>
#include <cstddef>
#include <cub/block/block_reduce.cuh>
#include <vector>

#include "device_resources.cuh"

namespace btfit::cuda {

// Sums `first` and `second` over the block (CUB's block reduction, a fixed order); thread 0
// writes them to pair[0] and pair[1]. Every thread of the block must call it; it ends with a
// barrier so that it may be called again.
__device__ inline void write_block_sums(double first, double second, double* pair) {
  using BlockReduce = cub::BlockReduce<double, kBlockThreads>;
  __shared__ typename BlockReduce::TempStorage storage;
  const double first_sum = BlockReduce(storage).Sum(first);
  __syncthreads();  // the storage is reused
  const double second_sum = BlockReduce(storage).Sum(second);
  if (threadIdx.x == 0) {
    pair[0] = first_sum;
    pair[1] = second_sum;
  }
  __syncthreads();
}

// write_block_sums into this block's pair of partials[2 * gridDim.x].
__device__ inline void write_block_partials(double first, double second, double* partials) {
  write_block_sums(first, second, partials + 2 * static_cast<std::size_t>(blockIdx.x));
}

// Bytes of dynamic shared memory that write_column_partials needs for a block of `threads`.
constexpr std::size_t column_partials_shared_bytes(int threads) {
  return 2 * static_cast<std::size_t>(threads) * sizeof(double);
}

// Adds each thread's (first, second) over threadIdx.y, in order of y, and writes the pair
// for column threadIdx.x. Needs column_partials_shared_bytes of dynamic shared memory.
__device__ inline void write_column_partials(double first, double second, double* partials) {
  extern __shared__ double column_scratch[];
  const unsigned slot = threadIdx.y * blockDim.x + threadIdx.x;
  column_scratch[2 * slot] = first;
  column_scratch[2 * slot + 1] = second;
  __syncthreads();
  if (threadIdx.y == 0) {
    double first_sum = 0.0;
    double second_sum = 0.0;
    for (unsigned y = 0; y < blockDim.y; ++y) {
      first_sum += column_scratch[2 * (y * blockDim.x + threadIdx.x)];
      second_sum += column_scratch[2 * (y * blockDim.x + threadIdx.x) + 1];
    }
    const std::size_t column = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    partials[2 * column] = first_sum;
    partials[2 * column + 1] = second_sum;
  }
}

// The thread layout of a batched launch over `columns` parameter vectors (1..kBlockThreads):
// width = columns rounded up to a power of two (threads of one data row read `width`
// neighbouring values of the parameter-major copy of theta, so a warp's loads coalesce),
// rows = data rows per block.
struct ColumnTile {
  int width = 1;
  int rows = kBlockThreads;
};

inline ColumnTile column_tile(std::size_t columns) {
  ColumnTile tile;
  const std::size_t wanted = std::min<std::size_t>(std::max<std::size_t>(columns, 1), kBlockThreads);
  while (static_cast<std::size_t>(tile.width) < wanted) tile.width *= 2;
  tile.rows = kBlockThreads / tile.width;
  return tile;
}

// Adds the column partials of `blocks` blocks of width `width` for the columns
// [0, columns) into first[column_begin + c] and second[column_begin + c].
inline void add_column_partials(const std::vector<double>& partials, std::size_t blocks, std::size_t width,
                                std::size_t columns, std::size_t column_begin, double* first,
                                double* second) {
  for (std::size_t c = 0; c < columns; ++c) {
    double first_sum = 0.0;
    double second_sum = 0.0;
    for (std::size_t block = 0; block < blocks; ++block) {
      first_sum += partials[2 * (block * width + c)];
      second_sum += partials[2 * (block * width + c) + 1];
    }
    first[column_begin + c] = first_sum;
    second[column_begin + c] = second_sum;
  }
}

}  // namespace btfit::cuda
