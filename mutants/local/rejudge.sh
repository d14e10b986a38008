#!/bin/bash
# Re-judges b51fc44 survivors with today's judge (.cargo/mutants.toml at the clone's commit).
clone=$1; list=$2; out=$3
cd $clone; export INTENT_SIM_SEEDS=20
args=(); while read -r r; do args+=(--re "$r"); done < $list
nice -n 5 cargo mutants --in-place --baseline=skip --timeout 120 --build-timeout 3600 "${args[@]}" -o $out > $out.log 2>&1
echo "rc=$?" >> $out.log
