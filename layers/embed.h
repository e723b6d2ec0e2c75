// Token embedding, as torch.nn.Embedding: weight [V, D] ~ N(0, 1).
#ifndef LT_LAYER_EMBED_H
#define LT_LAYER_EMBED_H

#include "autograd/ctx.h"
#include "libtrain/params.h"

typedef struct {
    lt_tensor *w;   // [V, D]  "<name>.weight"
    int vocab, dim;
} lt_embed_layer;

lt_status lt_embed_layer_init(lt_embed_layer *e, lt_params *ps, lt_rng *rng, const char *name, int vocab, int dim);
lt_tensor *lt_embed_layer_forward(lt_ctx *c, const lt_embed_layer *e, lt_tensor *ids /* i32 [...] */);

#endif
