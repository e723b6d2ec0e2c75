#!/usr/bin/env bash
# Makes a fresh Debian 12 machine ready to build libtrain, then configures the
# build folder. Idempotent; prints nothing when there is nothing to do.
#
#   libtrain/bootstrap.sh [--test] [--bench]
#
#   --test   also the Python packages the tests use (safetensors, numpy)
#   --bench  also the peers for the benchmarks (python3-torch, python3-numpy)
#
# As root it installs missing Debian packages with apt-get; otherwise it prints
# the command to run and exits 1. Environment: LT_BUILD_DIR (default
# <repo>/build), LT_CMAKE_ARGS (extra arguments for the first configure).
set -euo pipefail

repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
build=${LT_BUILD_DIR:-$repo/build}
case $build in /*) ;; *) build=$PWD/$build ;; esac

want_test=0
want_bench=0
for a in "$@"; do
    case $a in
        --test) want_test=1 ;;
        --bench) want_bench=1 ;;
        -h | --help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bootstrap.sh: unknown option '$a' (expected --test, --bench)" >&2; exit 2 ;;
    esac
done

pkgs=(build-essential cmake pkg-config libopenblas-dev libopenblas-openmp-dev libhdf5-dev libcriterion-dev zlib1g-dev
      dataset-fashion-mnist)
if [ "$want_test" = 1 ]; then pkgs+=(python3 python3-pip); fi
if [ "$want_bench" = 1 ]; then pkgs+=(python3-torch python3-numpy); fi

if command -v dpkg-query >/dev/null 2>&1; then
    missing=()
    for p in "${pkgs[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        if [ "$(id -u)" = 0 ]; then
            echo "bootstrap: installing ${missing[*]}" >&2
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"
        else
            echo "bootstrap: missing Debian packages: ${missing[*]}" >&2
            echo "install them with:" >&2
            echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
            exit 1
        fi
    fi
else
    echo "bootstrap: not a Debian system (no dpkg-query); make sure these are installed: ${pkgs[*]}" >&2
fi

if [ "$want_test" = 1 ] && ! python3 -c 'import safetensors, numpy' >/dev/null 2>&1; then
    echo "bootstrap: installing Python packages safetensors numpy" >&2
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
    if ! out=$(python3 -m pip install --quiet safetensors numpy 2>&1); then
        if printf '%s' "$out" | grep -qi 'externally.managed'; then
            python3 -m pip install --quiet --break-system-packages safetensors numpy
        else
            printf '%s\n' "$out" >&2
            echo "bootstrap: pip install safetensors numpy failed" >&2
            exit 1
        fi
    fi
    python3 -c 'import safetensors, numpy' || { echo "bootstrap: safetensors/numpy still not importable" >&2; exit 1; }
fi

if [ ! -f "$build/CMakeCache.txt" ]; then
    # shellcheck disable=SC2086  # LT_CMAKE_ARGS is a list of arguments
    if ! log=$(cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release ${LT_CMAKE_ARGS:-} 2>&1); then
        printf '%s\n' "$log" >&2
        echo "bootstrap: configuring $build failed" >&2
        exit 1
    fi
    echo "bootstrap: configured $build" >&2
    printf '%s\n' "$log" | sed -n '/libtrain configuration:/,$p' | grep '\[' | sed 's/^-- /bootstrap: /' >&2 || true
fi
