#include "layers/embed.h"
#include "kernels/ops.h"

#include <stdio.h>

lt_status lt_embed_layer_init(lt_embed_layer *e, lt_params *ps, lt_rng *rng, const char *name, int vocab, int dim) {
    if (vocab < 1 || dim < 1) return lt_error(LT_ERR_ARG, "embedding '%s': vocab=%d dim=%d must be >= 1", name, vocab, dim);
    char buf[256];
    snprintf(buf, sizeof buf, "%s.weight", name);
    e->vocab = vocab; e->dim = dim;
    if (!(e->w = lt_param_new(ps, buf, LT_SHAPE(vocab, dim)))) return lt_last_status();
    return lt_param_normal(e->w, rng, 0.f, 1.f);
}

lt_tensor *lt_embed_layer_forward(lt_ctx *c, const lt_embed_layer *e, lt_tensor *ids) {
    return lt_embedding(c, ids, e->w);
}
