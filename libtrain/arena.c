#include "libtrain/arena.h"
#include "libtrain/device.h"
#include "libtrain/status.h"

#include <stdlib.h>
#include <string.h>

#define LT_ALIGN 64

// NULL with the error recorded (a device allocation failure names the call and size).
static lt_arena_chunk *chunk_new(lt_device dev, size_t size) {
    lt_arena_chunk *c = malloc(sizeof *c);
    if (!c) { lt_error(LT_ERR_OOM, "arena: cannot allocate a chunk header"); return NULL; }
    size_t bytes = (size + LT_ALIGN - 1) / LT_ALIGN * LT_ALIGN;
    c->base = dev == LT_CPU ? aligned_alloc(LT_ALIGN, bytes) : lt_device_alloc(dev, bytes);
    if (!c->base) {
        if (dev == LT_CPU) lt_error(LT_ERR_OOM, "arena: cannot allocate %zu bytes", size);
        free(c);
        return NULL;
    }
    c->size = size; c->used = 0; c->next = NULL;
    return c;
}

void lt_arena_init(lt_arena *a, size_t initial_bytes) { lt_arena_init_on(a, LT_CPU, initial_bytes); }

void lt_arena_init_on(lt_arena *a, lt_device dev, size_t initial_bytes) {
    memset(a, 0, sizeof *a);
    a->device = dev;
    if (initial_bytes) {
        a->head = chunk_new(dev, initial_bytes);
        if (a->head) a->n_chunk_allocs = 1;
    }
}

void *lt_arena_alloc(lt_arena *a, size_t bytes) {
    size_t need = (bytes + LT_ALIGN - 1) / LT_ALIGN * LT_ALIGN;
    if (need == 0) need = LT_ALIGN;
    lt_arena_chunk *c = a->head;
    if (!c || c->used + need > c->size) {
        size_t least = need > ((size_t)1 << 24) ? need : ((size_t)1 << 24);
        size_t sz = least;
        if (c && c->size * 2 > sz && c->size * 2 >= need) sz = c->size * 2;
        lt_arena_chunk *n = chunk_new(a->device, sz);
        // Doubling is a guess about what the step still needs; when memory is
        // short (a GPU), fall back to what this allocation needs.
        if (!n && sz > least) n = chunk_new(a->device, least);
        if (!n) return NULL;
        n->next = c; a->head = n; c = n;
        a->n_chunk_allocs++;
    }
    void *p = c->base + c->used;
    c->used += need;
    a->in_use += need;
    if (a->in_use > a->high_water) a->high_water = a->in_use;
    if (a->poison) {   // 0xffffffff is a NaN as f32
        if (a->device == LT_CPU) memset(p, 0xff, need);
        else if (lt_device_memset(a->device, p, 0xff, need) != LT_OK) return NULL;
    }
    return p;
}

void *lt_arena_calloc(lt_arena *a, size_t bytes) {
    void *p = lt_arena_alloc(a, bytes);
    if (!p) return NULL;
    if (a->device == LT_CPU) memset(p, 0, bytes);
    else if (lt_device_memset(a->device, p, 0, bytes) != LT_OK) return NULL;
    return p;
}

void lt_arena_reset(lt_arena *a) {
    // More than one chunk means the step outgrew the arena: replace them with a
    // single chunk holding the high-water mark, so later steps never allocate.
    if (a->head && a->head->next) {
        size_t total = a->high_water + (a->high_water >> 3);
        lt_arena_free(a);
        size_t hw = a->high_water;
        a->head = chunk_new(a->device, total);
        if (a->head) a->n_chunk_allocs++;
        a->high_water = hw;
    }
    if (a->head) a->head->used = 0;
    a->in_use = 0;
}

void lt_arena_free(lt_arena *a) {
    lt_arena_chunk *c = a->head;
    while (c) {
        lt_arena_chunk *n = c->next;
        if (a->device == LT_CPU) free(c->base);
        else lt_device_free(a->device, c->base);
        free(c);
        c = n;
    }
    a->head = NULL;
    a->in_use = 0;
}
