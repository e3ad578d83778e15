#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# matrix.sh TAG : the inits of README.md side by side in eight settings (run 2 of README.md).
# O: `sigrelay` built at 78aa243 (the yield), N: the same tree with the slice; both Release, static.
# BUILD: a build directory with SIGRELAY_BUILD_BENCH=ON (bench/init). Root: PID namespaces, cgroups.
# "load": a CPU-bound shell loop on CPU 0 during the run: in the driver's session (root cgroup), or
# moved into the run's cpu cgroup once initbench has made it (container settings).
O=${O:?the old sigrelay}; N=${N:?the new sigrelay}; BUILD=${BUILD:?build directory}
export INIT_CMDS="tini=/usr/bin/tini --;dumb-init=/usr/bin/dumb-init;yield=$O run --;slice=$N run --;yield-tini=$O run --compat=tini --;slice-tini=$N run --compat=tini --;yield-dumb-init=$O run --compat=dumb-init;slice-dumb-init=$N run --compat=dumb-init"
T=$1
run() { d=$T-$1; shift; mkdir -p $d; $BUILD/bench/init/initbench --child $BUILD/bench/init/init_child --out $d --trips ${TRIPS:-18000} --warmup 200 --orphans 100 --reps 1 "$@" > $d.log 2>&1; echo "== $d"; grep '^| [a-z]' $d/init.md | head -9 | cut -d'|' -f2,4,5,6,8; }
hog() { taskset -c 0 sh -c 'while :; do :; done' & H=$!; }
hogcg() { # move the hog into the run's cpu cgroup once it exists
  ( for i in $(seq 2000); do for c in /sys/fs/cgroup/cpu/sigrelay-initbench-cpu-*; do [ -d "$c" ] && echo $H > $c/cgroup.procs 2>/dev/null && exit 0; done; sleep 0.005; done ) & }
run b2b; run rest --at-rest 50; run cont --container-cpu-cgroup; run restc --at-rest 50 --container-cpu-cgroup
hog; run load-rest --at-rest 50; run load-b2b; kill $H; wait $H 2>/dev/null
hog; hogcg; run load-restc --at-rest 50 --container-cpu-cgroup; kill $H; wait $H 2>/dev/null
hog; hogcg; run load-cont --container-cpu-cgroup; kill $H; wait $H 2>/dev/null
