#!/bin/sh
# The container images' build steps. The Dockerfiles' RUN lines call this script, and
# deploy/verify-image.sh runs the same lines in a Debian chroot: what goes into the image
# is written once, here.
#
#   install.sh python                     Debian/Ubuntu's python3 + venv (CUDA image only:
#                                         the python image has its own)
#   install.sh wheels SRC DIR [cpu|cuda]  the project's wheel and every dependency's,
#                                         into DIR (the build stage)
#   install.sh runtime DIR [cpu|cuda]     a virtual environment in /opt/likeness from
#                                         those wheels alone, the user, the volumes
set -eu

PREFIX=/opt/likeness          # the virtual environment; its bin/ is on the image's PATH
DATA_DIR=/var/lib/likeness    # LIKENESS_DATA_DIR, a volume
MODEL_DIR=/models             # LIKENESS_MODEL_DIR, a volume (buffalo_s comes in the wheel)
APP_USER=likeness
APP_UID=10001

# ONNX Runtime's GPU build provides the same `onnxruntime` module as the CPU build the
# project depends on, at the version pyproject.toml pins.
onnxruntime_gpu() {
    version=$(sed -n 's/^ *"onnxruntime==\([^"]*\)".*/\1/p' "$1/pyproject.toml")
    [ -n "$version" ] || { echo "no onnxruntime pin in $1/pyproject.toml" >&2; exit 1; }
    echo "onnxruntime-gpu==$version"
}

install_python() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends python3 python3-venv ca-certificates
    rm -rf /var/lib/apt/lists/*
}

build_wheels() {
    src=$1 out=$2 variant=$3
    python3 -m venv /tmp/wheel-builder
    pip="/tmp/wheel-builder/bin/python -m pip --disable-pip-version-check"
    # Binary wheels only for the dependencies: the image has no compilers, and none is
    # needed on x86-64 or arm64 (pip stops here, before the runtime stage, if one were).
    $pip wheel --only-binary=:all: --no-binary=likeness --wheel-dir "$out" "$src"
    if [ "$variant" = cuda ]; then
        $pip wheel --only-binary=:all: --wheel-dir "$out" "$(onnxruntime_gpu "$src")"
        # the pin, read again in the runtime stage, which has no source tree
        onnxruntime_gpu "$src" > "$out/onnxruntime-gpu.txt"
    fi
    rm -rf /tmp/wheel-builder
}

# Every extension module and shared library finds the system libraries it links to; a
# missing one fails the build here rather than the first import in production. The
# bundled copies in *.libs/ are found through their users' RUNPATH, not by ldd alone;
# TensorRT's provider is left out (TensorRT is not in the images), and so is the GPU
# driver's libcuda.so.1, which the NVIDIA Container Toolkit mounts when the container runs.
check_libraries() {
    missing=$(find "$PREFIX/lib" \( -name '*.so' -o -name '*.so.*' \) -type f \
                  ! -path '*.libs/*' ! -name '*providers_tensorrt*' -exec ldd {} + 2>&1 \
              | awk '/^\// { file = $1 } /not found/ && $1 != "libcuda.so.1" { print file, $1 }')
    if [ -n "$missing" ]; then
        echo "shared libraries not found:" >&2
        echo "$missing" >&2
        exit 1
    fi
}

install_runtime() {
    wheels=$1 variant=$2
    python3 -m venv "$PREFIX"
    pip="$PREFIX/bin/python -m pip --no-cache-dir --disable-pip-version-check"
    $pip install --no-index --find-links "$wheels" likeness
    if [ "$variant" = cuda ]; then
        $pip uninstall --yes onnxruntime
        $pip install --no-index --find-links "$wheels" "$(cat "$wheels/onnxruntime-gpu.txt")"
    fi
    check_libraries
    useradd --system --uid "$APP_UID" --user-group --create-home --home-dir /home/"$APP_USER" \
        --shell /usr/sbin/nologin "$APP_USER"
    install -d -o "$APP_USER" -g "$APP_USER" "$DATA_DIR" "$MODEL_DIR"
}

step=${1:-}
case "$step" in
    python) install_python ;;
    wheels) [ $# -ge 3 ] || { echo "usage: $0 wheels SRC DIR [cpu|cuda]" >&2; exit 2; }
            build_wheels "$2" "$3" "${4:-cpu}" ;;
    runtime) [ $# -ge 2 ] || { echo "usage: $0 runtime DIR [cpu|cuda]" >&2; exit 2; }
             install_runtime "$2" "${3:-cpu}" ;;
    *) echo "usage: $0 python | wheels SRC DIR [cpu|cuda] | runtime DIR [cpu|cuda]" >&2
       exit 2 ;;
esac
