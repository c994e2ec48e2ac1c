#!/usr/bin/env bash
# Build the benchmark with several flag sets, run each 3 times (interleaved),
# log the load average before each run, print medians over the 3 runs.
# Usage: run.sh [DATA_DIR=/tmp/yuvjpeg-data] [ROUNDS=3]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${1:-/tmp/yuvjpeg-data}
rounds=${2:-3}
build=/tmp/yuvjpeg-build
log=/tmp/yuvjpeg-runs
mkdir -p "$build" "$log"
declare -A flags=([O2]="-O2" [O3]="-O3" [O3v2]="-O3 -march=x86-64-v2" [O3avx2]="-O3 -mavx2")
order=(O2 O3 O3v2 O3avx2)
for b in "${order[@]}"; do
  gcc ${flags[$b]} -Wall -Wextra -o "$build/yuvjpeg-$b" "$here/yuvjpeg.c" -ljpeg -lm
done
ref2=()
[ -f "$data/exact.rgb" ] && ref2=(- "$data/exact.rgb")
for r in $(seq 1 "$rounds"); do
  for b in "${order[@]}"; do
    echo "round $r $b: $(uptime)" | tee -a "$log/uptime.txt"
    "$build/yuvjpeg-$b" "$data/frames.yuv" "$data/frames.rgb" 20 5 "${ref2[@]}" > "$log/$b.$r.txt"
  done
done
echo
printf '%-7s %-22s %9s %9s %8s %8s\n' build variant cpu_ms wall_ms KiB PSNR
for b in "${order[@]}"; do
  cat "$log/$b".*.txt | awk -v b="$b" '
    /^RESULT/ {
      v=$2
      for (i=3;i<NF;i+=2) { if ($i=="cpu_ms") c[v]=c[v] " " $(i+1); if ($i=="wall_ms") w[v]=w[v] " " $(i+1);
                            if ($i=="kib") k[v]=$(i+1); if ($i=="psnr") p[v]=$(i+1) }
      if (!(v in seen)) { seen[v]=1; names[++n]=v }
    }
    function med(s,   a,m,i,j,t) { m=split(s,a," "); for(i=1;i<=m;i++)for(j=i+1;j<=m;j++)if(a[j]+0<a[i]+0){t=a[i];a[i]=a[j];a[j]=t}
                                  return m%2 ? a[(m+1)/2] : (a[m/2]+a[m/2+1])/2 }
    END { for (i=1;i<=n;i++) { v=names[i]; printf "%-7s %-22s %9.3f %9.3f %8s %8s\n", b, v, med(c[v]), med(w[v]), (v in k)?k[v]:"-", (v in p)?p[v]:"-" } }'
done
