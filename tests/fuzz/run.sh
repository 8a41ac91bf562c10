#!/bin/sh
# run.sh HARNESS... - run each libFuzzer harness for $FUZZ_SECONDS seconds.
#
# New inputs go to $FUZZ_BUILD/corpus/<harness> (libFuzzer writes to the
# first corpus directory only); tests/fuzz/corpus/<harness> is read, never
# written.  A crash leaves its input in $FUZZ_BUILD/artifacts/ and fails the
# run: minimise it, add it to tests/fuzz/corpus/<harness>/ (it becomes a
# regression test of `make fuzz-regress`), then fix the bug.
set -u
: "${FUZZ_BUILD:=build/fuzz}" "${FUZZ_SECONDS:=60}"
status=0
summary=""
for h in "$@"; do
	out="$FUZZ_BUILD/corpus/$h"
	log="$FUZZ_BUILD/fuzz-$h.log"
	mkdir -p "$out" "$FUZZ_BUILD/artifacts"
	echo "fuzz: $h for ${FUZZ_SECONDS}s (log $log)"
	# A smaller ASan quarantine (default 256 MiB): the harnesses allocate and
	# free on every input, and RSS would otherwise climb past 500 MiB.
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=32" \
	"$FUZZ_BUILD/fuzz-$h" -max_total_time="$FUZZ_SECONDS" \
		-print_final_stats=1 -timeout=10 -rss_limit_mb=1024 \
		-artifact_prefix="$FUZZ_BUILD/artifacts/$h-" \
		"$out" "tests/fuzz/corpus/$h" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	seeds=$(ls "tests/fuzz/corpus/$h" | wc -l)
	found=$(ls "$out" | wc -l)
	line=$(printf '%-14s %s, %s execs, %s execs/s, %s seeds, %s inputs in build corpus' \
		"$h" "${cov:-cov: ?}" "${execs:-?}" "${rate:-?}" "$seeds" "$found")
	if [ "$rc" -ne 0 ]; then
		status=1
		line="$line, FAILED (exit $rc)"
		tail -60 "$log" >&2
		ls "$FUZZ_BUILD"/artifacts/"$h"-* 2>/dev/null >&2
	fi
	echo "fuzz: $line"
	summary="$summary$line
"
done
printf '\nfuzz summary (%ss each):\n%s' "$FUZZ_SECONDS" "$summary"
exit $status
