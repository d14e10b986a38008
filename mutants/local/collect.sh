#!/bin/bash
# Writes each finished shard's outcome into the repo: mutants/full-<base>/shard-K-of-64.txt
base=$1; dest=/work/main/mutants/full-$base; mkdir -p $dest
for d in /work/mutants-out/shard-*/; do
  k=$(basename $d | sed 's/shard-//'); [ -f $d/done ] || continue
  o=$d/mutants.out; f=$dest/shard-$k-of-64.txt
  { echo "# cargo-mutants 27.1.0, shard $k/64 (--sharding round-robin) at $base; judge: INTENT_SIM_SEEDS=20 cargo test -p intent-sim --test cases (.cargo/mutants.toml)";
    for t in caught missed timeout unviable; do echo "$t: $(cat $o/$t.txt 2>/dev/null | grep -c .)"; done
    for t in missed timeout unviable caught; do echo; echo "## $t"; cat $o/$t.txt 2>/dev/null; done; } > $f
done
ls $dest | wc -l
