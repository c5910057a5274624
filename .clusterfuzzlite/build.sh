#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build of the fuzz targets in fuzz/, by the base-builder-python convention:
# install the project, then one `compile_python_fuzzer fuzz/<target>.py` per target (a PyInstaller
# one-file executable $OUT/<target>.pkg and its wrapper $OUT/<target>), with each target's seeds as
# $OUT/<target>_seed_corpus.zip, its dictionary as $OUT/<target>.dict and its libFuzzer options as
# $OUT/<target>.options. The Dockerfile beside this script copies the repository to
# $SRC/streamkit-conformance; tests/test_clusterfuzzlite.py runs this script outside Docker with
# stand-ins for the image's tools (ci/clusterfuzzlite/compile_python_fuzzer).
cd "$SRC/streamkit-conformance"
project=$PWD

pip3 install '.[fuzz]'

# plugin_intake fuzzes a real plugin: the conforming reference fixture (Rust, std only, builds offline),
# built from this checkout and put beside the fuzzer, where a frozen plugin_intake looks for it
# (fuzz/plugin_intake.py, FROZEN_PLUGIN). OSS-Fuzz's sanitizer RUSTFLAGS are meant for instrumented Rust
# projects, not for this plain fixture.
plugin=$(env -u RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS \
    python3 -c 'from conformance.fixtures import fixture_path; print(fixture_path("conforming_processor"))')
cp "$plugin" "$OUT/libconforming_processor.so"

# Every bundle: this checkout's package (its data files too), and the runtime hook that lets a frozen
# fuzzer start itself as the sandbox's fork server (conformance/sandbox/frozen.py explains why). setuptools comes
# in through cffi's compile-ahead paths, which the ABI-mode host never uses: leaving it out saves a sixth
# of each build.
common=(--paths "$project" --collect-data conformance
        --runtime-hook "$project/.clusterfuzzlite/pyi_rth_conformance_role.py"
        --exclude-module setuptools --exclude-module pkg_resources --exclude-module distutils
        --exclude-module _distutils_hack)
# plugin_intake's fork server imports the check catalogue and the intake scenarios by name.
intake=(--collect-submodules conformance.checks --collect-submodules conformance.fuzzing
        --hidden-import conformance.sandbox.server --hidden-import conformance.sandbox.selftest)

# One after another: the image's compile_python_fuzzer empties a work directory shared by all calls.
# CFL_BUILD_JOBS=N builds N fuzzers at a time (each compile_python_fuzzer has its own work directory); the default,
# one at a time, is what OSS-Fuzz and ClusterFuzzLite expect of a build script.
jobs=${CFL_BUILD_JOBS:-1}
pids=()
for target in plugin_intake wire_decode wire_roundtrip metadata_decode; do
    extra=()
    if [ "$target" = plugin_intake ]; then
        extra=("${intake[@]}")
    fi
    (
        compile_python_fuzzer "fuzz/$target.py" "${common[@]}" "${extra[@]}"
        (cd "fuzz/corpus/$target" && zip -q -j "$OUT/${target}_seed_corpus.zip" ./*)
        cp "fuzz/dictionaries/$target.dict" "$OUT/$target.dict"
    ) &
    pids+=($!)
    if [ "${#pids[@]}" -ge "$jobs" ]; then
        wait "${pids[0]}"
        pids=("${pids[@]:1}")
    fi
done
for pid in "${pids[@]}"; do
    wait "$pid"
done

# The timeout an input gets when run by hand (fuzz/plugin_intake.py, default_timeout): the sandbox bounds
# each plugin call itself, this bounds the rest of an intake.
printf '[libfuzzer]\ntimeout = 60\n' > "$OUT/plugin_intake.options"
