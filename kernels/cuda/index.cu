// index_select and gather on CUDA, and the deterministic row scatter-add that
// index_select's and embedding's backward share.
//
// Index values live on the device, so the forward kernels cannot return the
// CPU's "idx out of range" error: an out-of-range index writes NaN bits into
// its output element and is recorded in a device-side fault record, which
// lt_cuda_index_faults() (called by lt_cuda_sync) turns into an LT_ERR_ARG
// naming the op, position and value. Backward skips out-of-range indices.
#include "kernels/cuda/common.cuh"

#include <cub/device/device_radix_sort.cuh>
#include <stdint.h>

namespace {

constexpr int kThreads = 256;
constexpr int64_t kGatherOwnerMaxK = 64;   // gather backward: per-column loops up to this many j
constexpr uint32_t kNanBits = 0x7fc00000u; // written where an index was out of range

enum { OP_INDEX_SELECT = 1, OP_GATHER = 2, OP_EMBEDDING = 3 };

// The first faulting launch since the last check: its op, axis, size, and the
// smallest flat idx position (high 32 bits of `key`) with its value (low 32).
struct Fault {
    unsigned long long launch;   // 0: no fault
    unsigned long long key;
    int op, axis, size;
};
__device__ Fault g_fault = {0ull, ~0ull, 0, 0, 0};
unsigned long long g_launch;     // host: id of the last checked launch

__device__ __noinline__ void report_fault(unsigned long long launch, int op, int axis, int size, int64_t pos,
                                          int32_t value) {
    unsigned long long prev = atomicCAS(&g_fault.launch, 0ull, launch);
    if (prev != 0ull && prev != launch) return;   // an earlier launch faulted first
    unsigned long long p = pos < 0xffffffffll ? (unsigned long long)pos : 0xffffffffull;
    atomicMin(&g_fault.key, (p << 32) | (uint32_t)value);
    if (prev == 0ull) { g_fault.op = op; g_fault.axis = axis; g_fault.size = size; }
}

inline bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

__device__ __forceinline__ void set_nan(uint32_t &w) { w = kNanBits; }
__device__ __forceinline__ void set_nan(uint4 &w) { w = make_uint4(kNanBits, kNanBits, kNanBits, kNanBits); }

// x [pre, D, postv], idx [K] -> y [pre, K, postv] in units of W (1 or 4 words).
template <typename W>
__global__ void index_select_kernel(W *__restrict__ y, const W *__restrict__ x, const int32_t *__restrict__ idx,
                                    int64_t pre, int64_t D, int64_t K, int64_t postv, unsigned long long launch,
                                    int axis, int op) {
    LT_GRID_STRIDE(e, pre * K * postv) {
        int64_t r = e / postv, q = e - r * postv, p = r / K, j = r - p * K;
        int32_t v = idx[j];
        if (v >= 0 && v < D) {
            y[e] = x[(p * D + v) * postv + q];
        } else {
            set_nan(y[e]);
            if (p == 0 && q == 0) report_fault(launch, op, axis, (int)D, j, v);
        }
    }
}

// Radix-sort keys: idx values, out-of-range ones mapped to D so they sort last.
__global__ void sort_prep_kernel(uint32_t *__restrict__ keys, uint32_t *__restrict__ pos,
                                 const int32_t *__restrict__ idx, int64_t K, int64_t D) {
    LT_GRID_STRIDE(j, K) {
        int32_t v = idx[j];
        keys[j] = v >= 0 && v < D ? (uint32_t)v : (uint32_t)D;
        pos[j] = (uint32_t)j;
    }
}

// keys/pos [K]: idx sorted stably, with original positions. The thread of
// (p, s, q) where s starts a run of equal keys adds, in ascending original
// position (the CPU's order), every gy[p, pos, q] of the run into
// gx[p, key, q]: each destination has one owner, so no atomics are needed
// and the sum is bit-identical to the CPU's.
__global__ void index_add_runs_kernel(float *__restrict__ gx, const float *__restrict__ gy,
                                      const uint32_t *__restrict__ keys, const uint32_t *__restrict__ pos,
                                      int64_t pre, int64_t D, int64_t K, int64_t post) {
    LT_GRID_STRIDE(e, pre * K * post) {
        int64_t r = e / post, q = e - r * post, p = r / K, s = r - p * K;
        uint32_t key = keys[s];
        if (key >= (uint64_t)D || (s > 0 && keys[s - 1] == key)) continue;
        float *dst = gx + (p * D + key) * post + q;
        const float *src = gy + p * K * post + q;
        float acc = *dst;
        for (int64_t t = s; t < K && keys[t] == key; t++) acc += src[(int64_t)pos[t] * post];
        *dst = acc;
    }
}

// x [pre, D, post], idx/y [pre, K, post]: y[p,j,q] = x[p, idx[p,j,q], q].
__global__ void gather_kernel(uint32_t *__restrict__ y, const uint32_t *__restrict__ x,
                              const int32_t *__restrict__ idx, int64_t pre, int64_t D, int64_t K, int64_t post,
                              unsigned long long launch, int axis) {
    LT_GRID_STRIDE(e, pre * K * post) {
        int64_t r = e / post, q = e - r * post, p = r / K;
        int32_t v = idx[e];
        if (v >= 0 && v < D) {
            y[e] = x[(p * D + v) * post + q];
        } else {
            y[e] = kNanBits;
            report_fault(launch, OP_GATHER, axis, (int)D, e, v);
        }
    }
}

// One thread per column (p, q), ascending j as on the CPU: deterministic and
// bit-identical, used while K is small.
__global__ void gather_bwd_owner_kernel(float *__restrict__ gx, const float *__restrict__ gy,
                                        const int32_t *__restrict__ idx, int64_t pre, int64_t D, int64_t K,
                                        int64_t post) {
    LT_GRID_STRIDE(c, pre * post) {
        int64_t p = c / post, q = c - p * post;
        float *gp = gx + p * D * post + q;
        for (int64_t j = 0; j < K; j++) {
            int64_t e = (p * K + j) * post + q;
            int32_t v = idx[e];
            if (v >= 0 && v < D) gp[(int64_t)v * post] += gy[e];
        }
    }
}

// Large K: one thread per element with a float atomicAdd. Duplicate indices in
// a column then sum in an unspecified order (results may differ from the CPU
// and between runs in the last bits); accepted for this rare shape.
__global__ void gather_bwd_atomic_kernel(float *__restrict__ gx, const float *__restrict__ gy,
                                         const int32_t *__restrict__ idx, int64_t pre, int64_t D, int64_t K,
                                         int64_t post) {
    LT_GRID_STRIDE(e, pre * K * post) {
        int64_t r = e / post, q = e - r * post, p = r / K;
        int32_t v = idx[e];
        if (v >= 0 && v < D) atomicAdd(gx + (p * D + v) * post + q, gy[e]);
    }
}

// Product of the dims before and after `axis`.
void split_at(const lt_tensor *t, int axis, int64_t *pre, int64_t *post) {
    *pre = 1; *post = 1;
    for (int i = 0; i < axis; i++) *pre *= t->shape[i];
    for (int i = axis + 1; i < t->ndim; i++) *post *= t->shape[i];
}

}  // namespace

// gx [pre, D, post] += gy [pre, K, post] scattered by idx [K] (device):
// gx[p, idx[j], q] += gy[p, j, q]. Duplicates sum in ascending j, like the CPU,
// via a stable radix sort of idx (cub) and one owner thread per destination;
// idx values outside [0, D) are skipped. Scratch comes from lt_node_save_data.
// Also used by embedding's backward (kernels/cuda/embedding.cu).
extern "C" lt_status lt_cuda_index_add(lt_node *n, float *gx, const float *gy, const int32_t *idx, int64_t pre,
                                       int64_t D, int64_t K, int64_t post) {
    if (pre * K * post == 0) return LT_OK;
    if (K > (int64_t)UINT32_MAX - 1 || D >= (int64_t)UINT32_MAX)
        return lt_error(LT_ERR_UNSUPPORTED, "%s: %lld indices into %lld rows are too many for the CUDA scatter-add",
                        lt_op_name(n->op), (long long)K, (long long)D);
    cudaStream_t st = lt_cuda_stream();
    int end_bit = 1;
    while (end_bit < 32 && ((int64_t)1 << end_bit) <= D) end_bit++;   // keys are in [0, D]
    size_t temp_bytes = 0;
    LT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, (const uint32_t *)nullptr, (uint32_t *)nullptr,
                                                  (const uint32_t *)nullptr, (uint32_t *)nullptr, K, 0, end_bit, st));
    size_t arr = ((size_t)K * sizeof(uint32_t) + 255) / 256 * 256;
    char *base = (char *)lt_node_save_data(n, 4 * arr + temp_bytes + 256);
    if (!base) return lt_last_status();
    char *aligned = (char *)(((uintptr_t)base + 255) & ~(uintptr_t)255);
    uint32_t *keys_in = (uint32_t *)aligned, *keys = (uint32_t *)(aligned + arr);
    uint32_t *pos_in = (uint32_t *)(aligned + 2 * arr), *pos = (uint32_t *)(aligned + 3 * arr);
    void *temp = aligned + 4 * arr;

    sort_prep_kernel<<<lt_cuda_blocks(K, kThreads), kThreads, 0, st>>>(keys_in, pos_in, idx, K, D);
    LT_LAUNCH_CHECK("index_add_prep");
    LT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, keys, pos_in, pos, K, 0, end_bit, st));
    index_add_runs_kernel<<<lt_cuda_blocks(pre * K * post, kThreads), kThreads, 0, st>>>(gx, gy, keys, pos, pre, D,
                                                                                          K, post);
    LT_LAUNCH_CHECK("index_add_runs");
    return LT_OK;
}

// Called after the stream is synchronized (lt_cuda_sync): an out-of-range index
// seen by a forward kernel since the last call becomes LT_ERR_ARG, and the
// record is cleared.
extern "C" lt_status lt_cuda_index_faults(void) {
    Fault f;
    cudaStream_t st = lt_cuda_stream();
    LT_CUDA_CHECK(cudaMemcpyFromSymbolAsync(&f, g_fault, sizeof f, 0, cudaMemcpyDeviceToHost, st));
    LT_CUDA_CHECK(cudaStreamSynchronize(st));
    if (f.launch == 0ull) return LT_OK;
    static const Fault clear = {0ull, ~0ull, 0, 0, 0};
    LT_CUDA_CHECK(cudaMemcpyToSymbolAsync(g_fault, &clear, sizeof clear, 0, cudaMemcpyHostToDevice, st));
    LT_CUDA_CHECK(cudaStreamSynchronize(st));
    long long pos = (long long)(f.key >> 32);
    int value = (int)(uint32_t)(f.key & 0xffffffffull);
    return lt_error(LT_ERR_ARG,
                    "%s: idx value %d at flat position %lld%s is out of range [0,%d) for axis %d "
                    "(found on the device; those output elements are NaN)",
                    f.op == OP_GATHER ? "gather" : f.op == OP_EMBEDDING ? "embedding" : "index_select", value, pos,
                    pos == 0xffffffffll ? " or later" : "",
                    f.size, f.axis);
}

// y [pre, K, post] = x [pre, D, post] picked by idx [K] along the middle axis;
// an idx outside [0,D) gives NaN rows and a fault naming op and axis.
static lt_status launch_select(void *y, const void *x, const int32_t *idx, int64_t pre, int64_t D, int64_t K,
                               int64_t post, int op, int axis) {
    unsigned long long launch = ++g_launch;
    cudaStream_t st = lt_cuda_stream();
    if (post % 4 == 0 && aligned16(x) && aligned16(y))
        index_select_kernel<uint4><<<lt_cuda_blocks(pre * K * post / 4, kThreads), kThreads, 0, st>>>(
            (uint4 *)y, (const uint4 *)x, idx, pre, D, K, post / 4, launch, axis, op);
    else
        index_select_kernel<uint32_t><<<lt_cuda_blocks(pre * K * post, kThreads), kThreads, 0, st>>>(
            (uint32_t *)y, (const uint32_t *)x, idx, pre, D, K, post, launch, axis, op);
    LT_LAUNCH_CHECK(op == OP_EMBEDDING ? "embedding" : "index_select");
    return LT_OK;
}

// x [pre, D, post], idx [K] -> out [pre, K, post]; axis in iattr[0].
extern "C" lt_status lt_cuda_index_select_fwd(lt_node *n) {
    lt_tensor *x = n->in[0], *idx = n->in[1], *y = n->out[0];
    int axis = (int)n->iattr[0];
    int64_t pre, post, D = x->shape[axis], K = idx->numel;
    split_at(x, axis, &pre, &post);
    return launch_select(y->data, x->data, lt_cuda_i32(idx), pre, D, K, post, OP_INDEX_SELECT, axis);
}

// Embedding lookup (kernels/cuda/embedding.cu): y [P, d] = rows ids [P] of table [V, d].
// The ids are checked here, on the device, so building the op needs no host copy.
extern "C" lt_status lt_cuda_embedding_lookup(float *y, const float *table, const int32_t *ids, int64_t V, int64_t P,
                                              int64_t d) {
    return launch_select(y, table, ids, 1, V, P, d, OP_EMBEDDING, 0);
}

extern "C" lt_status lt_cuda_index_select_bwd(lt_node *n) {
    lt_tensor *x = n->in[0], *idx = n->in[1], *y = n->out[0];
    if (!x->grad || !y->grad) return LT_OK;
    int axis = (int)n->iattr[0];
    int64_t pre, post;
    split_at(x, axis, &pre, &post);
    return lt_cuda_index_add(n, x->grad, y->grad, lt_cuda_i32(idx), pre, x->shape[axis], idx->numel, post);
}

// x [pre, D, post], idx [pre, K, post] -> out [pre, K, post]:
// out[p,j,q] = x[p, idx[p,j,q], q]; axis in iattr[0].
extern "C" lt_status lt_cuda_gather_fwd(lt_node *n) {
    lt_tensor *x = n->in[0], *idx = n->in[1], *y = n->out[0];
    int axis = (int)n->iattr[0];
    int64_t pre, post, D = x->shape[axis], K = idx->shape[axis];
    split_at(x, axis, &pre, &post);
    unsigned long long launch = ++g_launch;
    gather_kernel<<<lt_cuda_blocks(y->numel, kThreads), kThreads, 0, lt_cuda_stream()>>>(
        (uint32_t *)y->data, (const uint32_t *)x->data, lt_cuda_i32(idx), pre, D, K, post, launch, axis);
    LT_LAUNCH_CHECK("gather");
    return LT_OK;
}

extern "C" lt_status lt_cuda_gather_bwd(lt_node *n) {
    lt_tensor *x = n->in[0], *idx = n->in[1], *y = n->out[0];
    if (!x->grad || !y->grad) return LT_OK;
    int axis = (int)n->iattr[0];
    int64_t pre, post, D = x->shape[axis], K = idx->shape[axis];
    split_at(x, axis, &pre, &post);
    cudaStream_t st = lt_cuda_stream();
    if (K <= kGatherOwnerMaxK)
        gather_bwd_owner_kernel<<<lt_cuda_blocks(pre * post, kThreads), kThreads, 0, st>>>(
            x->grad, y->grad, lt_cuda_i32(idx), pre, D, K, post);
    else
        gather_bwd_atomic_kernel<<<lt_cuda_blocks(y->numel, kThreads), kThreads, 0, st>>>(
            x->grad, y->grad, lt_cuda_i32(idx), pre, D, K, post);
    LT_LAUNCH_CHECK("gather_bwd");
    return LT_OK;
}
