#!/usr/bin/env bash
# The GPU test suite and benchmarks on a machine with an NVIDIA GPU.
#
#   tests/gpu.sh --pack [--no-build]
#       Here, on a machine with the build dependencies (OpenBLAS, Criterion,
#       HDF5, nvcc): configures $LT_GPU_BUILD_DIR (default <repo>/build-gpu) for
#       sm_90 without -march=native, builds everything, and bundles the GPU test
#       binaries (names matching gpu|cuda), the bench binaries, the recipes the
#       tests run (compiled for any x86-64-v2 CPU) and every shared library they
#       need except glibc's and CUDA's own into .gpu/libtrain-gpu.tar.xz
#       (at most 60 MB). --no-build packs what the build folder already holds.
#
#   tests/gpu.sh [--no-bench | --bench-only] [-R REGEX] [--jobs=N]
#       There, on the GPU machine (nvcc, CMake and PyTorch; no OpenBLAS,
#       Criterion or package registry): unpacks the bundle into
#       $LT_GPU_RUN_DIR (default /tmp/ltgpu), points LD_LIBRARY_PATH at the
#       CUDA libraries (toolkit, PyTorch's nvidia-* wheels) and at the bundled
#       libraries the system lacks, runs every test binary (only those whose
#       name matches REGEX with -R) with the environment ctest gives them,
#       prints a pass/fail/skip summary, then runs bench/gpu_bench.sh if it
#       exists. Without a bundle it builds with CMake instead (a machine that
#       has the dependencies). Logs: $OUT/gpu-summary.txt, gpu-tests.log,
#       gpu-bench.log ($OUT unset: <run dir>/gpu-logs).
#
# The bundle lives in .gpu/, which git ignores: the device tool must carry it
# (carry: [".gpu"]). Environment: LT_GPU_BUNDLE (bundle path),
# LT_GPU_TEST_TIMEOUT (seconds per test binary, default 600), CC (recipes).
# Exit status: 0 when every test passed or skipped (and the benchmarks ran), 1 otherwise.
set -uo pipefail

repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
bundle=${LT_GPU_BUNDLE:-$repo/.gpu/libtrain-gpu.tar.xz}
max_bundle_bytes=$((60 * 1000 * 1000))
recipes=(mlp_fashion aem_mil)

die() { printf 'gpu.sh: %s\n' "$*" >&2; exit 1; }
note() { printf 'gpu.sh: %s\n' "$*" >&2; }

# Libraries the bundle never carries: glibc (the target has its own, newer)
# and the CUDA driver, runtime and math libraries (the GPU machine has them;
# cuBLASLt alone is over 500 MB).
glibc_re='linux-vdso\.so|ld-linux|libc\.so|libm\.so|libmvec\.so|libdl\.so|libpthread\.so|librt\.so|libresolv\.so'
glibc_re+='|libutil\.so|libanl\.so|libnsl\.so|libBrokenLocale\.so'
cuda_re='libcuda\.so|libcudart\.so|libcublas|libcudnn|libnvrtc|libnvJitLink|libnccl|libcufft|libcurand|libcusolver'
cuda_re+='|libcusparse|libcupti|libnvidia|libnvToolsExt'
skip_lib_re="^($glibc_re|$cuda_re)"

is_elf() { [ -f "$1" ] && [ "$(head -c 4 -- "$1" | od -An -c | tr -d ' \n')" = '177ELF' ]; }

# Copies into $1 every shared library the ELF files $2... load (ldd: the whole
# closure) that is neither glibc nor CUDA. Fails on a library ldd cannot find.
collect_libs() {
    local dest=$1 f name path missing=0
    shift
    mkdir -p "$dest"
    for f in "$@"; do
        while read -r name path; do
            if [ "$path" = "not" ]; then
                note "$f needs $name, which ldd cannot find"
                missing=1
                continue
            fi
            [[ $name =~ $skip_lib_re ]] && continue
            [ -e "$dest/$name" ] && continue
            cp -L -- "$path" "$dest/$name" || return 1
        done < <(ldd "$f" 2>/dev/null | awk '$2 == "=>" { print $1, $3 }')
    done
    return "$missing"
}

# Test binaries in build folder $1 for the GPU suite: test_* whose name has gpu or cuda.
gpu_tests_in() {
    local b=$1 f n
    for f in "$b"/test_*; do
        n=$(basename -- "$f")
        [[ $n =~ gpu|cuda ]] || continue
        [ -x "$f" ] && is_elf "$f" && printf '%s\n' "$n"
    done
}

# ------------------------------------------------------------------ --pack

pack() {
    local build=${LT_GPU_BUILD_DIR:-$repo/build-gpu} no_build=$1
    case $build in /*) ;; *) build=$PWD/$build ;; esac
    local need
    for need in cmake ldd tar xz od; do command -v "$need" >/dev/null 2>&1 || die "--pack needs $need"; done
    if [ "$no_build" = 0 ]; then
        cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLT_NATIVE=OFF -DCMAKE_CUDA_ARCHITECTURES=90 \
            -DLT_CUDA=ON -DLT_TESTS=ON || die "configuring $build failed"
        cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" || die "building in $build failed"
    fi
    [ -f "$build/recipe-link.txt" ] || die "$build is not a configured libtrain build"
    grep -q 'LT_HAVE_CUDA=1' "$build/recipe-link.txt" ||
        die "$build has no CUDA backend (nvcc not found at configure time?)"

    pack_stage=$(mktemp -d "${TMPDIR:-/tmp}/ltgpu-pack.XXXXXX") || die "mktemp failed"
    trap 'rm -rf -- "${pack_stage:-}"' EXIT
    local stage=$pack_stage root=$pack_stage/ltgpu
    mkdir -p "$root/build/recipes" "$root/lib" "$root/build/data"

    local tests=() t
    mapfile -t tests < <(gpu_tests_in "$build")
    [ "${#tests[@]}" -gt 0 ] || die "no GPU test binaries (test_*cuda*, test_*gpu*) in $build"
    for t in "${tests[@]}"; do cp -- "$build/$t" "$root/build/" || die "copying $t"; done
    printf '%s\n' "${tests[@]}" >"$root/build/tests.txt"

    local benches=() b
    for b in "$build"/bench_*; do
        if [ -x "$b" ] && is_elf "$b"; then
            cp -- "$b" "$root/build/" || die "copying $b"
            benches+=("$(basename -- "$b")")
        fi
    done
    [ "${#benches[@]}" -gt 0 ] || note "warning: no bench binaries in $build"

    # Recipes through the train driver, with a compiler wrapper whose -march
    # comes last and wins over the driver's -march=native.
    local cc_wrap=$build/cc-portable
    printf '#!/bin/sh\nexec %s "$@" -march=x86-64-v2 -mtune=generic\n' "${CC:-cc}" >"$cc_wrap"
    chmod +x "$cc_wrap"
    local r bin
    for r in "${recipes[@]}"; do
        LT_BUILD_DIR=$build CC=$cc_wrap "$repo/train" "$repo/recipes/$r.c" --help >/dev/null ||
            die "compiling recipes/$r.c failed"
        bin=''
        for f in "$build/recipes/$r"-*; do   # the newest cached binary of this recipe
            [[ $(basename -- "$f") =~ ^$r-[0-9a-f]{16}$ ]] || continue
            if [ -z "$bin" ] || [ "$f" -nt "$bin" ]; then bin=$f; fi
        done
        [ -n "$bin" ] || die "train left no binary for recipes/$r.c in $build/recipes"
        cp -- "$bin" "$root/build/recipes/$r" || die "copying $bin"
    done

    local elves=() f
    for f in "$root"/build/* "$root"/build/recipes/*; do is_elf "$f" && elves+=("$f"); done
    collect_libs "$root/lib" "${elves[@]}" || die "collecting shared libraries failed"

    {
        echo "libtrain GPU bundle"
        local os dirty=''
        os=$(sed -n 's/^PRETTY_NAME=//p' /etc/os-release 2>/dev/null | tr -d '"')
        git -C "$repo" diff --quiet HEAD 2>/dev/null || dirty=' + local changes'
        echo "made: $(date -u '+%Y-%m-%dT%H:%M:%SZ') on $(uname -n) (${os:-?})"
        echo "commit: $(git -C "$repo" rev-parse HEAD 2>/dev/null || echo '?')$dirty"
        echo "nvcc: $(sed -n 's/^CMAKE_CUDA_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt" | head -n 1)"
        echo "cudnn: $(sed -n 's/^LT_CUDNN_LIB:[A-Z]*=//p' "$build/CMakeCache.txt" | head -n 1)"
        echo "tests: ${tests[*]}"
        echo "benches: ${benches[*]}"
        echo "recipes: ${recipes[*]}"
        echo "libs: $(cd "$root/lib" && printf '%s ' *)"
    } >"$root/MANIFEST"

    mkdir -p "$(dirname -- "$bundle")" || die "cannot create $(dirname -- "$bundle")"
    local tmp=$bundle.tmp.$$
    tar -C "$stage" -cf - ltgpu | xz -T0 -9 >"$tmp" || { rm -f -- "$tmp"; die "writing $tmp failed"; }
    local size
    size=$(stat -c %s -- "$tmp")
    if [ "$size" -gt "$max_bundle_bytes" ]; then
        note "the bundle is $size bytes, over the limit of $max_bundle_bytes; largest files:"
        du -ab "$root" | sort -rn | head -n 15 >&2
        rm -f -- "$tmp"
        exit 1
    fi
    mv -f -- "$tmp" "$bundle" || die "cannot write $bundle"
    local libs=("$root"/lib/*)
    echo "gpu.sh: wrote $bundle ($size bytes): ${#tests[@]} tests, ${#benches[@]} benches, ${#recipes[@]} recipes," \
         "${#libs[@]} libraries"
    echo "gpu.sh: run it there with: tests/gpu.sh   (device tool: carry [\".gpu\"])"
}

# ------------------------------------------------------------------ run

# Folders holding the CUDA runtime/math libraries and cuDNN on this machine.
cuda_lib_dirs() {
    local dirs=() d nvcc
    nvcc=$(command -v nvcc 2>/dev/null || true)
    [ -n "$nvcc" ] && dirs+=("$(dirname -- "$(dirname -- "$(readlink -f -- "$nvcc")")")/lib64"
                             "$(dirname -- "$(dirname -- "$(readlink -f -- "$nvcc")")")/targets/x86_64-linux/lib")
    dirs+=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda/lib)
    # PyTorch's CUDA wheels (nvidia-cublas, nvidia-cudnn-cu13, ...): site-packages/nvidia/*/lib
    if command -v python3 >/dev/null 2>&1; then
        while IFS= read -r d; do dirs+=("$d"); done < <(python3 - 2>/dev/null <<'EOF'
import os
try:
    import nvidia
    for base in list(nvidia.__path__):
        for sub in sorted(os.listdir(base)):
            for lib in (os.path.join(base, sub, "lib"), os.path.join(base, sub, "lib64")):
                if os.path.isdir(lib):
                    print(lib)
except Exception:
    pass
EOF
        )
    fi
    local seen=: out=()
    for d in "${dirs[@]}"; do
        d=$(readlink -f -- "$d" 2>/dev/null) || continue
        [ -d "$d" ] || continue
        case $seen in *":$d:"*) continue ;; esac
        seen=$seen$d:
        compgen -G "$d/libcu*.so*" >/dev/null || compgen -G "$d/libnv*.so*" >/dev/null || continue
        out+=("$d")
    done
    local IFS=:
    printf '%s' "${out[*]}"
}

# Prints "not found" lines of ldd for the given ELF files (empty: all resolve).
unresolved() {
    local f
    for f in "$@"; do ldd "$f" 2>&1 | grep -E 'not found' | sed "s|^|$(basename -- "$f"): |"; done
}

run() {
    local no_bench=$1 bench_only=$2 filter=$3 jobs=$4
    local rundir=${LT_GPU_RUN_DIR:-/tmp/ltgpu} bdir tests=() recipe_bins='' t
    local timeout_s=${LT_GPU_TEST_TIMEOUT:-600}

    if [ -f "$bundle" ]; then
        if ! { rm -rf -- "$rundir" && mkdir -p "$rundir"; }; then die "cannot create $rundir"; fi
        if command -v xz >/dev/null 2>&1; then
            tar -C "$rundir" -xJf "$bundle" --strip-components=1 || die "unpacking $bundle failed"
        else   # no xz binary: Python's lzma
            python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' \
                "$bundle" | tar -C "$rundir" -xf - --strip-components=1 || die "unpacking $bundle failed"
        fi
        bdir=$rundir/build
        recipe_bins=$bdir/recipes
        mapfile -t tests <"$bdir/tests.txt"
        # Bundled libraries only where this system lacks the soname (its own,
        # usually newer, copies win); all of them if that leaves ldd unsatisfied.
        local cuda have=$rundir/lib-missing f n
        cuda=$(cuda_lib_dirs)
        mkdir -p "$have"
        local sys
        sys=$(ldconfig -p 2>/dev/null | awk '/x86-64/ { print $1 }')
        for f in "$rundir"/lib/*; do
            n=$(basename -- "$f")
            grep -qxF -- "$n" <<<"$sys" || ln -sf -- "$f" "$have/$n"
        done
        local elves=()
        for f in "$bdir"/* "$bdir"/recipes/*; do is_elf "$f" && elves+=("$f"); done
        export LD_LIBRARY_PATH=${cuda:+$cuda:}$have${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
        if [ -n "$(unresolved "${elves[@]}")" ]; then
            export LD_LIBRARY_PATH=${cuda:+$cuda:}$rundir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
            local left
            left=$(unresolved "${elves[@]}")
            [ -n "$left" ] && { note "libraries still missing:"; printf '%s\n' "$left" >&2; }
        fi
        echo "gpu.sh: bundle $bundle"
        sed -n '2,4p' "$rundir/MANIFEST" | sed 's/^/gpu.sh:   /'
    else
        note "no bundle at $bundle: building with CMake here (needs OpenBLAS, Criterion, HDF5)"
        bdir=${LT_GPU_BUILD_DIR:-$repo/build-gpu}
        cmake -S "$repo" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DLT_NATIVE=OFF \
            -DCMAKE_CUDA_ARCHITECTURES="${LT_CUDA_ARCH:-90}" -DLT_CUDA=ON -DLT_TESTS=ON >/dev/null ||
            die "configuring $bdir failed; make a bundle with tests/gpu.sh --pack on a machine with the deps"
        cmake --build "$bdir" -j"$(nproc 2>/dev/null || echo 2)" || die "building in $bdir failed"
        mapfile -t tests < <(gpu_tests_in "$bdir")
        rundir=$bdir
    fi
    if [ -n "$filter" ]; then
        local kept=()
        for t in "${tests[@]}"; do [[ $t =~ $filter ]] && kept+=("$t"); done
        tests=("${kept[@]}")
    fi

    local logs=${OUT:-$rundir/gpu-logs}
    mkdir -p "$logs" || die "cannot create $logs"
    local summary=$logs/gpu-summary.txt testlog=$logs/gpu-tests.log benchlog=$logs/gpu-bench.log
    : >"$summary"
    say() { printf '%s\n' "$*" | tee -a "$summary"; }

    say "== libtrain GPU suite $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
    local gpu
    gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)
    say "gpu: ${gpu:-nvidia-smi failed}"
    say "nvcc: $(nvcc --version 2>/dev/null | tail -n 1 || echo none)"

    local pass=0 fail=0 skip=0 failed=() rc start secs line
    if [ "$bench_only" = 0 ]; then
        : >"$testlog"
        for t in "${tests[@]}"; do
            [ -x "$bdir/$t" ] || { say "FAIL  $t (binary missing)"; fail=$((fail + 1)); failed+=("$t"); continue; }
            start=$(date +%s)
            {
                echo "===== $t"
                (cd "$bdir" && env LT_SOURCE_DIR="$repo" LT_BUILD_DIR="$bdir" LT_DATA_DIR="$bdir/data" \
                    OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive LT_PARITY_VERBOSE=1 \
                    ${recipe_bins:+LT_RECIPE_BIN_DIR="$recipe_bins"} \
                    timeout "$timeout_s" "./$t" --jobs="$jobs" --short-filename)
            } >>"$testlog" 2>&1
            rc=$?
            secs=$(($(date +%s) - start))
            line=$(awk -v t="===== $t" '$0 == t { on = 1; next } /^===== / { on = 0 } on' "$testlog" |
                   grep -E 'Synthesis:|^SKIP:' | tail -n 1 | sed 's/^.*Synthesis: //')
            case $rc in
                0) say "PASS  $t (${secs}s) $line"; pass=$((pass + 1)) ;;
                77) say "SKIP  $t (${secs}s) $line"; skip=$((skip + 1)) ;;
                124) say "FAIL  $t (timed out after ${timeout_s}s)"; fail=$((fail + 1)); failed+=("$t") ;;
                *) say "FAIL  $t (exit $rc, ${secs}s) $line"; fail=$((fail + 1)); failed+=("$t") ;;
            esac
        done
        say "tests: $pass passed, $fail failed, $skip skipped (log: $testlog)"
        for t in "${failed[@]}"; do
            {
                echo "---- failures in $t:"
                awk -v t="===== $t" '$0 == t { on = 1; next } /^===== / { on = 0 } on' "$testlog" |
                    grep -E '\[FAIL\]|\[----\]|error|Error|SKIP' | head -n 60
            } | tee -a "$summary"
        done
    fi

    local bench_rc=0
    if [ "$no_bench" = 0 ]; then
        if [ -f "$repo/bench/gpu_bench.sh" ]; then
            say "== benchmarks: bench/gpu_bench.sh (log: $benchlog)"
            (cd "$repo" && env LT_SOURCE_DIR="$repo" LT_BUILD_DIR="$bdir" LT_DATA_DIR="$bdir/data" \
                ${recipe_bins:+LT_RECIPE_BIN_DIR="$recipe_bins"} bash bench/gpu_bench.sh) 2>&1 | tee "$benchlog"
            bench_rc=${PIPESTATUS[0]}
            [ "$bench_rc" = 0 ] || say "benchmarks: bench/gpu_bench.sh exited $bench_rc"
        else
            say "== benchmarks: bench/gpu_bench.sh does not exist, skipped"
        fi
    fi
    [ "$fail" = 0 ] && [ "$bench_rc" = 0 ]
}

# ------------------------------------------------------------------ main

main() {
    local mode=run no_build=0 no_bench=0 bench_only=0 filter='' jobs=2
    while [ $# -gt 0 ]; do
        case $1 in
            --pack) mode=pack ;;
            --no-build) no_build=1 ;;
            --no-bench) no_bench=1 ;;
            --bench-only) bench_only=1 ;;
            -R) [ $# -ge 2 ] || die "-R needs a regular expression"; filter=$2; shift ;;
            -R*) filter=${1#-R} ;;
            --jobs=*) jobs=${1#--jobs=} ;;
            -h | --help) sed -n '2,31p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
            *) die "unknown option '$1' (see tests/gpu.sh --help)" ;;
        esac
        shift
    done
    if [ "$mode" = pack ]; then pack "$no_build"; else run "$no_bench" "$bench_only" "$filter" "$jobs"; fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
