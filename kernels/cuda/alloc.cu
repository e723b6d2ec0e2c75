// Caching device allocator: every device allocation of libtrain (parameters,
// optimizer state, arena chunks, library workspaces) goes through it. A freed
// block goes to a size-keyed free list and is handed out again for a request
// of at most its size and at least half of it, so a training loop reaches a
// steady state with no cudaMalloc/cudaFree. All kernels run on one stream, so
// a block freed while queued work still reads it is only reused by work
// queued after that, in stream order.
#include "kernels/cuda/common.cuh"

#include <map>
#include <mutex>
#include <unordered_map>

namespace {
std::mutex g_mu;
std::multimap<size_t, void *> g_free;          // size -> block
std::unordered_map<void *, size_t> g_used;     // block -> size
size_t g_in_use, g_cached;
long g_n_allocs;

size_t round_size(size_t bytes) {
    if (bytes == 0) bytes = 1;
    if (bytes < ((size_t)1 << 20)) return (bytes + 511) / 512 * 512;     // small: 512-byte granules
    return (bytes + ((size_t)2 << 20) - 1) / ((size_t)2 << 20) * ((size_t)2 << 20);   // large: 2 MiB
}

void release_locked(void) {
    for (auto &kv : g_free) cudaFree(kv.second);
    g_free.clear();
    g_cached = 0;
}
}  // namespace

extern "C" void *lt_cuda_cache_alloc(size_t bytes) {
    size_t sz = round_size(bytes);
    std::lock_guard<std::mutex> lk(g_mu);
    auto it = g_free.lower_bound(sz);
    if (it != g_free.end() && it->first <= 2 * sz) {
        void *p = it->second;
        size_t have = it->first;
        g_free.erase(it);
        g_cached -= have;
        g_used[p] = have;
        g_in_use += have;
        return p;
    }
    void *p = nullptr;
    cudaError_t e = cudaMalloc(&p, sz);
    if (e == cudaErrorMemoryAllocation) {   // give the cache back to the driver and try once more
        cudaGetLastError();
        release_locked();
        e = cudaMalloc(&p, sz);
    }
    if (e != cudaSuccess) {
        cudaGetLastError();
        lt_error(e == cudaErrorMemoryAllocation ? LT_ERR_OOM : LT_ERR_DEVICE,
                 "cudaMalloc(%zu) failed at %s:%d: %s (libtrain holds %zu bytes in use, %zu cached)", sz, __FILE__,
                 __LINE__, cudaGetErrorString(e), g_in_use, g_cached);
        return nullptr;
    }
    g_n_allocs++;
    g_used[p] = sz;
    g_in_use += sz;
    return p;
}

extern "C" void lt_cuda_cache_free(void *p) {
    if (!p) return;
    std::lock_guard<std::mutex> lk(g_mu);
    auto it = g_used.find(p);
    if (it == g_used.end()) return;   // not ours: never hand a foreign pointer to cudaFree
    size_t sz = it->second;
    g_used.erase(it);
    g_in_use -= sz;
    g_free.emplace(sz, p);
    g_cached += sz;
}

extern "C" void *lt_cuda_alloc(size_t bytes) { return lt_cuda_cache_alloc(bytes); }
extern "C" void lt_cuda_free(void *p) { lt_cuda_cache_free(p); }

extern "C" void lt_cuda_mem_stats(size_t *in_use, size_t *cached, long *n_allocs) {
    std::lock_guard<std::mutex> lk(g_mu);
    *in_use = g_in_use;
    *cached = g_cached;
    *n_allocs = g_n_allocs;
}

extern "C" void lt_cuda_release_cache(void) {
    cudaStreamSynchronize(lt_cuda_stream());
    std::lock_guard<std::mutex> lk(g_mu);
    release_locked();
}
