// CUDA-event timing for the GPU benchmarks (C): events recorded on libtrain's
// stream (every libtrain kernel runs on it), so elapsed times are stream
// times, not host times. Only with the CUDA backend (LT_HAVE_CUDA); the
// benchmarks guard their GPU parts with the same macro.
#ifndef LT_BENCH_CUDA_TIMER_H
#define LT_BENCH_CUDA_TIMER_H

#ifdef LT_HAVE_CUDA
#include <stdio.h>

#include <cuda_runtime_api.h>

// kernels/cuda/runtime.cu (extern "C"): the stream libtrain's work goes on.
cudaStream_t lt_cuda_stream(void);

#define BENCH_MAX_EVENTS 8

typedef struct {
    cudaEvent_t ev[BENCH_MAX_EVENTS];
    int n;
} bench_events;

// n events (at most BENCH_MAX_EVENTS); 0 on success, -1 with a message on stderr.
static inline int bench_events_init(bench_events *e, int n) {
    e->n = 0;
    for (int i = 0; i < n && i < BENCH_MAX_EVENTS; i++) {
        cudaError_t r = cudaEventCreate(&e->ev[i]);
        if (r != cudaSuccess) {
            fprintf(stderr, "error: cudaEventCreate: %s\n", cudaGetErrorString(r));
            return -1;
        }
        e->n = i + 1;
    }
    return 0;
}

static inline void bench_events_free(bench_events *e) {
    for (int i = 0; i < e->n; i++) cudaEventDestroy(e->ev[i]);
    e->n = 0;
}

// Marks "now" on libtrain's stream in event i.
static inline int bench_event_record(bench_events *e, int i) {
    return cudaEventRecord(e->ev[i], lt_cuda_stream()) == cudaSuccess ? 0 : -1;
}

// Milliseconds between events a and b (waits for b); negative on failure.
static inline double bench_event_ms(bench_events *e, int a, int b) {
    float ms = 0;
    if (cudaEventSynchronize(e->ev[b]) != cudaSuccess) return -1;
    if (cudaEventElapsedTime(&ms, e->ev[a], e->ev[b]) != cudaSuccess) return -1;
    return ms;
}

// "NVIDIA H100 80GB HBM3" into buf; "unknown GPU" when the query fails.
static inline const char *bench_gpu_name(char *buf, size_t n) {
    struct cudaDeviceProp p;
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess)
        snprintf(buf, n, "unknown GPU");
    else
        snprintf(buf, n, "%s", p.name);
    return buf;
}
#endif

#endif
