// A deterministic reduction engine for the CUDA kernels: K results, result j
// combining M values v(j, 0..M-1). An Op supplies
//   typedef acc_t;                      // accumulator (trivially copyable, size % 4 == 0)
//   typedef J;                          // what result j's loads share (base offsets)
//   acc_t identity() const;             // neutral element
//   J at(int64_t j) const;
//   acc_t load(const J &c, int64_t m) const;
//   static acc_t combine(acc_t a, acc_t b);   // any grouping must do (max: ties go by position)
//   void store(int64_t j, acc_t a) const;     // writes (or adds) the result
// Two thread layouts, picked by which index is contiguous in memory:
//   cols: consecutive j are adjacent (reduce over a leading axis, bias gradients):
//         a block is TX results x TY lanes of m, combined through shared memory;
//   rows: consecutive m are adjacent (last-axis and all-element reductions):
//         TPJ threads (1, a warp or the block) share one result, combined with shuffles.
// Long reductions split M into `chunks` ranges over blockIdx.y, written as partials
// [K][chunks] into node scratch (lt_node_save_data) and combined by a second pass.
// Every split depends only on (K, M), never on the GPU, so results are reproducible.
// Define each Op in an anonymous namespace: the kernel templates are instantiated
// per Op, and two files' same-named Ops must not merge at link time.
#ifndef LT_CUDA_REDUCE_CUH
#define LT_CUDA_REDUCE_CUH

#include <limits.h>

#include "kernels/cuda/common.cuh"

#define LT_RED_THREADS 256        // threads per block of every reduction kernel
#define LT_RED_BLOCK_WORK 8192    // values a block should handle at least before M is split
#define LT_RED_MAX_BLOCKS 1024    // blocks a split aims to stay under (about 8 per SM on an H100)

// Shuffle of any 4-byte-multiple value, word by word.
template <class T>
__device__ static inline T lt_shfl_down(T v, int off) {
    static_assert(sizeof(T) % 4 == 0, "lt_shfl_down: size must be a multiple of 4");
    int w[sizeof(T) / 4];
    memcpy(w, &v, sizeof(T));
#pragma unroll
    for (int k = 0; k < (int)(sizeof(T) / 4); k++) w[k] = __shfl_down_sync(0xffffffffu, w[k], off);
    memcpy(&v, w, sizeof(T));
    return v;
}

// cols layout: blockDim (TX, TY), TX * TY = LT_RED_THREADS, both powers of 2.
// Block (bx, by) owns results bx*TX .. +TX and m in [by*chunk, (by+1)*chunk).
template <class Op>
__global__ void lt_red_cols(Op op, int64_t K, int64_t M, int64_t chunk, typename Op::acc_t *part) {
    typedef typename Op::acc_t acc_t;
    __shared__ acc_t sm[LT_RED_THREADS];
    const int tx = threadIdx.x, ty = threadIdx.y, TX = blockDim.x, TY = blockDim.y;
    const int64_t j = (int64_t)blockIdx.x * TX + tx;
    const int64_t m0 = (int64_t)blockIdx.y * chunk, m1 = m0 + chunk < M ? m0 + chunk : M;
    acc_t acc = op.identity();
    if (j < K) {
        typename Op::J c = op.at(j);
#pragma unroll 4
        for (int64_t m = m0 + ty; m < m1; m += TY) acc = Op::combine(acc, op.load(c, m));
    }
    sm[ty * TX + tx] = acc;
    __syncthreads();
    for (int s = TY / 2; s > 0; s >>= 1) {   // fixed tree over the TY lanes of each result
        if (ty < s) sm[ty * TX + tx] = Op::combine(sm[ty * TX + tx], sm[(ty + s) * TX + tx]);
        __syncthreads();
    }
    if (ty == 0 && j < K) {
        if (part) part[j * gridDim.y + blockIdx.y] = sm[tx];
        else op.store(j, sm[tx]);
    }
}

// rows layout: blockDim.x = LT_RED_THREADS, TPJ threads per result (1, 32 or 256).
template <class Op, int TPJ>
__global__ void lt_red_rows(Op op, int64_t K, int64_t M, int64_t chunk, typename Op::acc_t *part) {
    typedef typename Op::acc_t acc_t;
    constexpr int JPB = LT_RED_THREADS / TPJ;   // results per block
    const int lane = (int)threadIdx.x % TPJ;
    const int64_t j = (int64_t)blockIdx.x * JPB + (int)threadIdx.x / TPJ;   // uniform over a result's threads
    const int64_t m0 = (int64_t)blockIdx.y * chunk, m1 = m0 + chunk < M ? m0 + chunk : M;
    acc_t acc = op.identity();
    if (j < K) {
        typename Op::J c = op.at(j);
#pragma unroll 4
        for (int64_t m = m0 + lane; m < m1; m += TPJ) acc = Op::combine(acc, op.load(c, m));
    }
    if constexpr (TPJ >= 32) {
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) acc = Op::combine(acc, lt_shfl_down(acc, off));
    }
    if constexpr (TPJ == LT_RED_THREADS) {
        __shared__ acc_t sw[LT_RED_THREADS / 32];
        if ((threadIdx.x & 31) == 0) sw[threadIdx.x / 32] = acc;
        __syncthreads();
        if (threadIdx.x == 0)
            for (int w = 1; w < LT_RED_THREADS / 32; w++) acc = Op::combine(acc, sw[w]);
    }
    if (lane == 0 && j < K) {
        if (part) part[j * gridDim.y + blockIdx.y] = acc;
        else op.store(j, acc);
    }
}

// M == 1: no reduction, one thread per result.
template <class Op>
__global__ void lt_red_map(Op op, int64_t K) {
    LT_GRID_STRIDE(j, K) op.store(j, Op::combine(op.identity(), op.load(op.at(j), 0)));
}

// Second pass: result j combines its partials part[j][0..chunks) in order.
template <class Op>
struct lt_red_partials {
    typedef typename Op::acc_t acc_t;
    typedef int64_t J;
    Op op;
    const acc_t *part;
    int64_t chunks;
    __device__ acc_t identity() const { return op.identity(); }
    __device__ J at(int64_t j) const { return j * chunks; }
    __device__ acc_t load(const J &c, int64_t m) const { return part[c + m]; }
    __device__ static acc_t combine(acc_t a, acc_t b) { return Op::combine(a, b); }
    __device__ void store(int64_t j, acc_t a) const { op.store(j, a); }
};

// How a (K, M) reduction is laid out; a function of K, M and the layout only.
struct lt_red_plan {
    int cols;         // 1: cols layout, 0: rows layout
    int tx;           // cols: results per block (TY = LT_RED_THREADS / tx)
    int tpj;          // rows: threads per result
    int64_t bx;       // blocks along the results
    int64_t chunks;   // ranges M is split into (gridDim.y)
    int64_t chunk;    // length of each range
};

// run: cols only, how many consecutive j are adjacent in memory (the
// innermost kept dim); the block's width follows it up to a warp.
__host__ static inline lt_red_plan lt_red_plan_make(int64_t K, int64_t M, int cols, int64_t run, int allow_split) {
    lt_red_plan p = {};
    p.cols = cols;
    int64_t jpb, min_len;
    if (cols) {
        int tx = 1;
        while (tx < 32 && tx < run) tx *= 2;
        p.tx = tx;
        jpb = tx;
        min_len = LT_RED_BLOCK_WORK / tx;
    } else {
        p.tpj = M <= 16 ? 1 : (K >= 1024 || M <= 4096) ? 32 : LT_RED_THREADS;
        jpb = LT_RED_THREADS / p.tpj;
        min_len = p.tpj == 1 ? M : LT_RED_BLOCK_WORK / jpb;
    }
    p.bx = (K + jpb - 1) / jpb;
    int64_t want = (M + min_len - 1) / min_len, room = LT_RED_MAX_BLOCKS / p.bx;
    p.chunks = want < room ? want : room;
    if (p.chunks < 1 || !allow_split) p.chunks = 1;
    p.chunk = (M + p.chunks - 1) / p.chunks;
    p.chunks = (M + p.chunk - 1) / p.chunk;   // no empty range
    return p;
}

template <class Op>
static lt_status lt_red_launch(const Op &op, const lt_red_plan &p, int64_t K, int64_t M,
                               typename Op::acc_t *part, const char *what) {
    if (p.bx > INT_MAX)
        return lt_error(LT_ERR_UNSUPPORTED, "%s: %lld results need more blocks than a grid has", what, (long long)K);
    cudaStream_t st = lt_cuda_stream();
    dim3 grid((unsigned)p.bx, (unsigned)p.chunks);
    if (p.cols) {
        lt_red_cols<Op><<<grid, dim3((unsigned)p.tx, (unsigned)(LT_RED_THREADS / p.tx)), 0, st>>>(op, K, M, p.chunk, part);
    } else if (p.tpj == 1) {
        lt_red_rows<Op, 1><<<grid, LT_RED_THREADS, 0, st>>>(op, K, M, p.chunk, part);
    } else if (p.tpj == 32) {
        lt_red_rows<Op, 32><<<grid, LT_RED_THREADS, 0, st>>>(op, K, M, p.chunk, part);
    } else {
        lt_red_rows<Op, LT_RED_THREADS><<<grid, LT_RED_THREADS, 0, st>>>(op, K, M, p.chunk, part);
    }
    LT_LAUNCH_CHECK(what);
    return LT_OK;
}

// Runs the reduction, stores through op. cols/run choose the layout (see
// lt_red_plan_make); `n` provides scratch for partials; `what` names the op in errors.
template <class Op>
static lt_status lt_reduce(lt_node *n, const Op &op, int64_t K, int64_t M, int cols, int64_t run, const char *what) {
    typedef typename Op::acc_t acc_t;
    if (K <= 0) return LT_OK;
    if (M <= 1) {
        lt_red_map<Op><<<lt_cuda_blocks(K, LT_RED_THREADS), LT_RED_THREADS, 0, lt_cuda_stream()>>>(op, K);
        LT_LAUNCH_CHECK(what);
        return LT_OK;
    }
    lt_red_plan p = lt_red_plan_make(K, M, cols, run, 1);
    if (p.chunks == 1) return lt_red_launch(op, p, K, M, (acc_t *)nullptr, what);
    acc_t *part = (acc_t *)lt_node_save_data(n, sizeof(acc_t) * (size_t)K * (size_t)p.chunks);
    if (!part) return lt_last_status();
    LT_TRY(lt_red_launch(op, p, K, M, part, what));
    // Partials are [K][chunks]: contiguous along m, so the second pass is a rows reduction.
    lt_red_partials<Op> fin = {op, part, p.chunks};
    return lt_red_launch(fin, lt_red_plan_make(K, p.chunks, 0, 1, 0), K, p.chunks, (acc_t *)nullptr, what);
}

#endif
