#!/usr/bin/env bash
# Runs a command and prints one line on stderr: "wall_s cpu_s peak_rss_kib peak_anon_kib peak_file_kib".
# Peak RSS is the kernel's own high-water mark (/proc/PID/status VmHWM: anonymous + file-backed +
# shmem). RssAnon and RssFile have no peak counter, so they are sampled every 50 ms with bash
# builtins only (a spike shorter than that can be missed; VmHWM cannot). CPU seconds are user +
# system time (/proc/PID/stat utime + stime) at the last sample: on a shared machine they measure
# the work, while wall time measures the share of the cores this run got.
set -uo pipefail
start=$(date +%s%N)
"$@" &
pid=$!
anon=0 file=0 hwm=0 ticks=0
hz=$(getconf CLK_TCK)
while [ -e "/proc/$pid/status" ]; do
  while read -r key value _; do
    case "$key" in
      VmHWM:) [ "$value" -gt "$hwm" ] && hwm=$value ;;
      RssAnon:) [ "$value" -gt "$anon" ] && anon=$value ;;
      RssFile:) [ "$value" -gt "$file" ] && file=$value ;;
    esac
  done < "/proc/$pid/status" 2>/dev/null
  if read -r stat < "/proc/$pid/stat" 2>/dev/null; then
    rest=${stat##*) }
    read -r -a f <<<"$rest"
    # Fields 14 and 15 of stat(5) (utime, stime) are the 12th and 13th after "(comm) ".
    [ "${#f[@]}" -gt 12 ] && ticks=$(( f[11] + f[12] ))
  fi
  sleep 0.05
  kill -0 "$pid" 2>/dev/null || break
done
wait "$pid"; rc=$?
end=$(date +%s%N)
awk -v w="$(( (end - start) / 1000000 ))" -v t="$ticks" -v hz="$hz" -v h="$hwm" -v a="$anon" -v f="$file" \
  'BEGIN { printf "%.2f %.2f %d %d %d\n", w / 1000, t / hz, h, a, f }' >&2
exit $rc
