#!/usr/bin/env bash
# Runs every GPU benchmark (libtrain against PyTorch on the same GPU) and writes
# each one's printed tables to $OUT/bench_*.txt (stderr beside it as .err), the
# attention results also as JSON, and a summary to $OUT/bench_summary.txt.
#
#   bench/gpu_bench.sh [BUILD_DIR]
#
# BUILD_DIR (or env LT_BUILD_DIR) holds the built bench_attention_cuda,
# bench_mil_step and bench_mlp_step. Environment: OUT (default .), PYTHON (default
# python3: it must import a CUDA build of torch). Each benchmark runs under a time
# limit and libtrain's attention cases under a time budget, so the whole run stays
# under about 6 minutes (about 5.5 at worst); a benchmark that fails or hits its
# limit is reported in the summary and the rest still run.
set -uo pipefail

repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-${LT_BUILD_DIR:-}}
case ${build:-} in
    -h | --help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") echo "gpu_bench.sh: give the build folder as \$1 or in LT_BUILD_DIR" >&2; exit 2 ;;
esac
build=$(cd "$build" 2>/dev/null && pwd) || { echo "gpu_bench.sh: no build folder '${1:-$LT_BUILD_DIR}'" >&2; exit 2; }
out=${OUT:-.}
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)
py=${PYTHON:-python3}
summary=$out/bench_summary.txt
start_all=$(date +%s)

{
    echo "gpu_bench.sh $(date -u +%Y-%m-%dT%H:%M:%SZ), build $build, repo $repo"
    echo "commit: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$repo" diff --quiet 2>/dev/null || echo ' (modified tree)')"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null ||
        echo "nvidia-smi: not available"
    "$py" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version(), "GPU available:", torch.cuda.is_available())' 2>&1 |
        tail -1
} > "$summary"
cat "$summary"

failures=0
# bench NAME LIMIT_S COMMAND...: stdout to $out/NAME.txt, stderr to $out/NAME.err.
bench() {
    local name=$1 limit=$2
    shift 2
    if [ ! -x "$1" ]; then
        echo "$name: missing $1 (build the bench targets)" | tee -a "$summary"
        failures=$((failures + 1))
        return
    fi
    local t0 rc
    t0=$(date +%s)
    echo "== $name (limit ${limit} s): $*" >&2
    timeout -k 10 "$limit" "$@" > "$out/$name.txt" 2> "$out/$name.err"
    rc=$?
    local note=ok
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then note="hit the ${limit} s limit"; elif [ $rc -ne 0 ]; then note="exit $rc"; fi
    [ $rc -eq 0 ] || failures=$((failures + 1))
    echo "$name: $note, $(($(date +%s) - t0)) s -> $out/$name.txt" | tee -a "$summary"
}

cd "$repo" || exit 2
common=(--python="$py" --src="$repo")

# Attention speed (the FlashAttention papers' shapes) and the fp32 reference rows.
bench bench_attention_cuda 150 "$build/bench_attention_cuda" --suite=speed "${common[@]}" \
    --warmup=2 --reps=10 --max-time=0.5 --budget=80 --case-timeout=30 --out="$out/bench_attention_cuda.json"
# Entropy: overhead of ours, and against PyTorch with a materialized softmax.
bench bench_attention_entropy 80 "$build/bench_attention_cuda" --suite=entropy "${common[@]}" \
    --ent-warmup=2 --ent-reps=5 --max-time=0.5 --budget=35 --case-timeout=20 --out="$out/bench_attention_entropy.json"
# MIL step (bag 2000 x 1024), fp32 and tf32 matmuls.
bench bench_mil_step_cuda 35 "$build/bench_mil_step" --device=cuda --matmul=fp32 --steps=30 --warmup=5 "${common[@]}"
bench bench_mil_step_cuda_tf32 35 "$build/bench_mil_step" --device=cuda --matmul=tf32 --steps=30 --warmup=5 "${common[@]}"
# MLP step (mlp_fashion's model).
bench bench_mlp_step_cuda 25 "$build/bench_mlp_step" --device=cuda --matmul=fp32 --steps=300 --warmup=30 "${common[@]}"

echo "total: $(($(date +%s) - start_all)) s, $failures benchmark(s) failed" | tee -a "$summary"
[ $failures -eq 0 ]
