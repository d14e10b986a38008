#!/bin/bash
# Full cargo-mutants run at a fixed base, one round-robin shard of 64 at a time (resumable).
# Usage: run.sh CLONE ORDER   (ORDER: "up" or "down"; two workers in two clones meet in the middle)
clone=$1; order=$2
cd $clone
export INTENT_SIM_SEEDS=20
if [ "$order" = down ]; then seq_=$(seq 63 -1 0); else seq_=$(seq 0 63); fi
for k in $seq_; do
  out=/work/mutants-out/shard-$k
  mkdir /work/mutants-out/claim-$k 2>/dev/null || continue
  rm -rf $out
  nice -n 19 cargo mutants --in-place --sharding round-robin --shard $k/64 --baseline=skip \
     --timeout 120 --build-timeout 3600 -o $out > /work/mutants-out/shard-$k.log 2>&1
  echo "rc=$?" > $out/done
  echo "$(date -u +%H:%M) shard $k done ($clone): $(cat $out/mutants.out/caught.txt 2>/dev/null | wc -l) caught $(cat $out/mutants.out/missed.txt 2>/dev/null | wc -l) missed" >> /work/mutants-out/progress.log
done
