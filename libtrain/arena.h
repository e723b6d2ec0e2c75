// Per-step bump allocator for activations, their gradients and tape nodes.
// Memory comes in chunks; `lt_arena_reset` keeps them, so after the first step
// a training loop allocates nothing. If a step outgrows the chunks, the next
// reset merges them into one chunk big enough for the high-water mark.
#ifndef LT_ARENA_H
#define LT_ARENA_H

#include <stddef.h>

#include "libtrain/tensor.h"

typedef struct lt_arena_chunk {
    struct lt_arena_chunk *next;
    size_t size, used;
    unsigned char *base;
} lt_arena_chunk;

typedef struct {
    lt_arena_chunk *head;   // current chunk first
    size_t in_use;          // bytes handed out since the last reset
    size_t high_water;      // largest in_use seen
    size_t n_chunk_allocs;  // chunks malloc'ed over the arena's life (tests check it stops growing)
    int poison;             // fill new allocations with NaN bytes (tests)
    lt_device device;       // where chunk memory lives (headers stay on the host)
} lt_arena;

void lt_arena_init(lt_arena *a, size_t initial_bytes);
// Arena whose chunks are device memory (tensor data and gradients of a CUDA
// step). Chunks come from the device's caching allocator, so a step that
// outgrows the arena costs no cudaMalloc once the cache holds the sizes.
void lt_arena_init_on(lt_arena *a, lt_device dev, size_t initial_bytes);
void *lt_arena_alloc(lt_arena *a, size_t bytes);        // 64-byte aligned; NULL + error on OOM
void *lt_arena_calloc(lt_arena *a, size_t bytes);
void lt_arena_reset(lt_arena *a);
void lt_arena_free(lt_arena *a);

#endif
