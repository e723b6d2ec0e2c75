// libtrain: the one header a recipe includes.
#ifndef LT_LT_H
#define LT_LT_H

#include "libtrain/status.h"
#include "libtrain/tensor.h"
#include "libtrain/device.h"
#include "libtrain/rng.h"
#include "libtrain/arena.h"
#include "autograd/ctx.h"
#include "autograd/gradcheck.h"
#include "kernels/ops.h"
#include "kernels/attention.h"
#include "libtrain/params.h"
#include "libtrain/flags.h"
#include "libtrain/run.h"
#include "libtrain/checkpoint.h"
#include "libtrain/optim.h"
#include "libtrain/schedule.h"
#include "layers/linear.h"
#include "layers/mlp.h"
#include "layers/embed.h"
#include "layers/norm.h"
#include "layers/sigma_linear.h"
#include "layers/entropy_losses.h"
#include "layers/attn_diagnostics.h"

#endif
