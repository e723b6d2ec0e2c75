// Binary elementwise ops with numpy broadcasting: add, sub, mul, div.
//
// Both passes walk a collapsed view of the broadcast: size-1 dims dropped and
// neighbouring dims merged wherever every operand stays linear across them, so
// equal shapes become one flat loop and [N,D] op [D] becomes [N,D] with b's
// stride 0 on N. Backward reduces over the dims an input was broadcast along;
// each gradient element is summed by one thread in a fixed order, so results
// do not depend on the thread count.
#include "autograd/op.h"
#include "kernels/broadcast.h"

#define PAR_MIN 32768     // elements below which threads cost more than they gain
#define FWD_CHUNK 4096    // forward work item: a piece of one innermost row
#define RED_W 64          // backward work item: up to 64 adjacent gradient elements

typedef lt_bcast bcast;

#define OP_ADD(x, y) ((x) + (y))
#define OP_SUB(x, y) ((x) - (y))
#define OP_MUL(x, y) ((x) * (y))
#define OP_DIV(x, y) ((x) / (y))

#define SPAN(F)                                                                   \
    do {                                                                          \
        if (sa == 1 && sb == 1) for (int64_t l = 0; l < len; l++) o[l] = F(a[l], b[l]); \
        else if (sa == 1 && sb == 0) { float y = b[0]; for (int64_t l = 0; l < len; l++) o[l] = F(a[l], y); } \
        else if (sa == 0 && sb == 1) { float x = a[0]; for (int64_t l = 0; l < len; l++) o[l] = F(x, b[l]); } \
        else for (int64_t l = 0; l < len; l++) o[l] = F(a[l * sa], b[l * sb]);   \
    } while (0)

// o[0..len) = a op b, with a and b stepping by sa, sb (0 or 1 after collapsing).
static void fwd_span(lt_op op, const float *a, int64_t sa, const float *b, int64_t sb, float *o, int64_t len) {
    switch (op) {
    case LT_OP_add: SPAN(OP_ADD); break;
    case LT_OP_sub: SPAN(OP_SUB); break;
    case LT_OP_mul: SPAN(OP_MUL); break;
    default: SPAN(OP_DIV); break;
    }
}

static lt_status binary_fwd(lt_node *n) {
    bcast g;
    lt_bcast_init(&g, n->in[0], n->in[1], n->out[0]);
    const float *A = lt_f32(n->in[0]), *B = lt_f32(n->in[1]);
    float *O = lt_f32(n->out[0]);
    int nd = g.nd;
    int64_t inner = g.size[nd - 1], sa = g.s[0][nd - 1], sb = g.s[1][nd - 1];
    int64_t per_row = (inner + FWD_CHUNK - 1) / FWD_CHUNK;
    int64_t numel = n->out[0]->numel, tasks = numel / inner * per_row;
    lt_op op = n->op;
    #pragma omp parallel for schedule(static) if (numel > PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t row = t / per_row, c0 = (t % per_row) * FWD_CHUNK, r = row, oa = 0, ob = 0;
        int64_t len = inner - c0 < FWD_CHUNK ? inner - c0 : FWD_CHUNK;
        for (int d = nd - 2; d >= 0; d--) {
            int64_t i = r % g.size[d];
            r /= g.size[d];
            oa += i * g.s[0][d];
            ob += i * g.s[1][d];
        }
        fwd_span(op, A + oa + c0 * sa, sa, B + ob + c0 * sb, sb, O + row * inner + c0, len);
    }
    return LT_OK;
}

// The per-element term summed into an input gradient: G is the upstream
// gradient, P the saved output (same layout), Y an input (broadcast).
typedef enum { T_G, T_GY, T_G_DIV_Y, T_GP_DIV_Y } term_kind;

static inline float term(term_kind k, float g, float p, float y) {
    switch (k) {
    case T_G: return g;
    case T_GY: return g * y;
    case T_G_DIV_Y: return g / y;
    default: return g * p / y;
    }
}

// acc[l] += term at l, for w adjacent elements (Y steps by sy).
static void acc_vec(term_kind k, double *acc, const float *G, const float *P, const float *Y, int64_t sy, int64_t w) {
    switch (k) {
    case T_G: for (int64_t l = 0; l < w; l++) acc[l] += G[l]; break;
    case T_GY: for (int64_t l = 0; l < w; l++) acc[l] += G[l] * Y[l * sy]; break;
    case T_G_DIV_Y: for (int64_t l = 0; l < w; l++) acc[l] += G[l] / Y[l * sy]; break;
    default: for (int64_t l = 0; l < w; l++) acc[l] += G[l] * P[l] / Y[l * sy]; break;
    }
}

// Sum of the term over len adjacent elements.
static double acc_sum(term_kind k, const float *G, const float *P, const float *Y, int64_t sy, int64_t len) {
    double s = 0;
    if (k == T_G) for (int64_t l = 0; l < len; l++) s += G[l];
    else for (int64_t l = 0; l < len; l++) s += term(k, G[l], P ? P[l] : 0.f, Y[l * sy]);
    return s;
}

// gx += s * (term reduced to x's shape). kx, ky pick x's and Y's strides in g.
static void bwd_into(const bcast *g, int kx, int ky, term_kind k, float s, const float *G, const float *P,
                     const float *Y, float *gx, int64_t numel) {
    int nd = g->nd;
    const int64_t *sx = g->s[kx], *sy = g->s[ky], *so = g->so, *size = g->size;
    int vec = sx[nd - 1] != 0;   // innermost dim is kept: vectors of RED_W; else it is summed as a span
    int64_t inner = size[nd - 1];
    int kd[LT_MAX_DIMS], rd[LT_MAX_DIMS], nk = 0, nr = 0;
    int64_t nkept = 1, M = 1;
    for (int d = 0; d < nd - 1; d++) {
        if (sx[d]) { kd[nk++] = d; nkept *= size[d]; }
        else { rd[nr++] = d; M *= size[d]; }
    }
    int64_t nblk = vec ? (inner + RED_W - 1) / RED_W : 1, tasks = nkept * nblk;
    #pragma omp parallel for schedule(static) if (numel > PAR_MIN && tasks > 1)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t r = t / nblk, bo = 0, bx = 0, by = 0;
        for (int i = nk - 1; i >= 0; i--) {
            int d = kd[i];
            int64_t c = r % size[d];
            r /= size[d];
            bo += c * so[d]; bx += c * sx[d]; by += c * sy[d];
        }
        int64_t c0 = vec ? (t % nblk) * RED_W : 0;
        int64_t w = vec ? (inner - c0 < RED_W ? inner - c0 : RED_W) : 1;
        bo += c0; bx += c0 * sx[nd - 1]; by += c0 * sy[nd - 1];
        double acc[RED_W] = {0};
        int64_t idx[LT_MAX_DIMS] = {0}, oo = 0, oy = 0;
        for (int64_t m = 0; m < M; m++) {
            const float *Gp = G + bo + oo, *Pp = P ? P + bo + oo : NULL, *Yp = Y ? Y + by + oy : NULL;
            if (vec) acc_vec(k, acc, Gp, Pp, Yp, sy[nd - 1], w);
            else acc[0] += acc_sum(k, Gp, Pp, Yp, sy[nd - 1], inner);
            for (int i = nr - 1; i >= 0; i--) {
                int d = rd[i];
                oo += so[d]; oy += sy[d];
                if (++idx[i] < size[d]) break;
                oo -= so[d] * size[d]; oy -= sy[d] * size[d];
                idx[i] = 0;
            }
        }
        for (int64_t l = 0; l < w; l++) gx[bx + l] += (float)(s * acc[l]);
    }
}

static lt_status binary_bwd(lt_node *n) {
    lt_tensor *a = n->in[0], *b = n->in[1], *out = n->out[0];
    if (!out->grad) return LT_OK;
    bcast g;
    lt_bcast_init(&g, a, b, out);
    const float *G = out->grad, *A = lt_f32(a), *B = lt_f32(b), *P = lt_f32(out);
    int64_t N = out->numel;
    switch (n->op) {
    case LT_OP_add:
    case LT_OP_sub:
        if (a->grad) bwd_into(&g, 0, 0, T_G, 1.f, G, NULL, NULL, a->grad, N);
        if (b->grad) bwd_into(&g, 1, 1, T_G, n->op == LT_OP_sub ? -1.f : 1.f, G, NULL, NULL, b->grad, N);
        break;
    case LT_OP_mul:
        if (a->grad) bwd_into(&g, 0, 1, T_GY, 1.f, G, NULL, B, a->grad, N);
        if (b->grad) bwd_into(&g, 1, 0, T_GY, 1.f, G, NULL, A, b->grad, N);
        break;
    default:   // d(a/b)/da = 1/b, d(a/b)/db = -(a/b)/b
        if (a->grad) bwd_into(&g, 0, 1, T_G_DIV_Y, 1.f, G, NULL, B, a->grad, N);
        if (b->grad) bwd_into(&g, 1, 1, T_GP_DIV_Y, -1.f, G, P, B, b->grad, N);
        break;
    }
    return LT_OK;
}

lt_status lt_cpu_add_fwd(lt_node *n) { return binary_fwd(n); }
lt_status lt_cpu_add_bwd(lt_node *n) { return binary_bwd(n); }
lt_status lt_cpu_sub_fwd(lt_node *n) { return binary_fwd(n); }
lt_status lt_cpu_sub_bwd(lt_node *n) { return binary_bwd(n); }
lt_status lt_cpu_mul_fwd(lt_node *n) { return binary_fwd(n); }
lt_status lt_cpu_mul_bwd(lt_node *n) { return binary_bwd(n); }
lt_status lt_cpu_div_fwd(lt_node *n) { return binary_fwd(n); }
lt_status lt_cpu_div_bwd(lt_node *n) { return binary_bwd(n); }
