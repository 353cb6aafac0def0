#!/usr/bin/env bash
# End-to-end check of `corpusforge slurm` on a real single-node Slurm cluster (see
# scripts/slurm_local.sh): a 4-task run of pipelines/cluster.yaml must give the same output
# as a single-process run, and a run with one failed task must stop short and then finish
# when resubmitted. Needs root or passwordless sudo; prints "SKIPPED: slurm check: ..." and
# exits 0 where Slurm cannot be installed or run.
# Usage: scripts/slurm_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
T0="$(date +%s)"
TASKS=4
PIPELINE=pipelines/cluster.yaml
WAIT_LIMIT_S=900
# Only the retry scenario may make tasks fail; a value left in the caller's environment
# would spoil the other runs.
unset CORPUSFORGE_FAIL_TASK

# shellcheck source=scripts/slurm_local.sh
source scripts/slurm_local.sh
# Set before starting, so daemons from a start that fails half-way are ended too.
trap 'if [ "$SLURM_LOCAL_SKIPPED" != 1 ]; then slurm_local_stop; fi' EXIT
slurm_local_start
if [ "$SLURM_LOCAL_SKIPPED" = 1 ]; then
    exit 0
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/corpusforge-target}"
cargo build --release
BIN="$CARGO_TARGET_DIR/release/corpusforge"

W="$(mktemp -d)"
# Jobs of a sudo-started cluster run as the invoking user; they only need to reach $W.
chmod 0755 "$W"

fail() {
    slurm_local_logs
    echo "slurm check: FAILED: $*" >&2
    echo "work dir kept: $W" >&2
    exit 1
}

print_logs() {
    local out="$1" f
    if [ ! -d "$out/slurm/logs" ]; then
        echo "(no $out/slurm/logs)" >&2
        return 0
    fi
    find "$out/slurm/logs" -type f | sort | while read -r f; do
        echo "==== $f" >&2
        cat "$f" >&2
    done
}

# "PHASE JOB_ID ARRAY" per line, in submission order; ARRAY is "-" for a single job.
read_jobs() {
    python3 - "$1/slurm/jobs.json" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    jobs = json.load(f)["jobs"]
if not jobs:
    sys.exit("no jobs in " + sys.argv[1])
for j in jobs:
    print(j["phase"], j["job_id"], j.get("array") or "-")
EOF
}

# Number of tasks in an sbatch --array spec such as 0-3, 0,2,5-7 or 0-15%4.
array_size() {
    python3 - "$1" <<'EOF'
import sys
n = 0
for part in sys.argv[1].split("%")[0].split(","):
    lo, _, rest = part.partition("-")
    hi, _, step = rest.partition(":")
    n += len(range(int(lo), int(hi or lo) + 1, int(step or 1)))
print(n)
EOF
}

# Waits until none of the given job ids (array jobs included) is queued or running.
wait_jobs() {
    local ids="$*" deadline last_print=0 now queue left stuck
    deadline=$(($(date +%s) + WAIT_LIMIT_S))
    while :; do
        # squeue -j rejects ids slurmctld has forgotten, so filter the whole (private) queue.
        # A failing squeue says nothing about the jobs: ask again.
        if queue="$(squeue -h -o '%F %i %T %r' 2>/dev/null)"; then
            left="$(echo "$queue" | awk -v ids=" $ids " 'index(ids, " " $1 " ")')"
            if [ -z "$left" ]; then
                return 0
            fi
        else
            left="? ? squeue-failed"
        fi
        # A job whose dependency failed waits forever unless it was submitted with
        # --kill-on-invalid-dep; it will never run, so stop waiting for it.
        stuck="$(echo "$left" | awk '$3 != "PENDING" || $4 != "DependencyNeverSatisfied"')"
        if [ -z "$stuck" ]; then
            echo "cancelling jobs whose dependency failed: $(echo "$left" | awk '{print $2}' | tr '\n' ' ')"
            # shellcheck disable=SC2086
            scancel $ids 2>/dev/null || true
            sleep 1
            continue
        fi
        now="$(date +%s)"
        if [ "$now" -ge "$deadline" ]; then
            squeue
            echo "slurm check: jobs $ids still queued after $WAIT_LIMIT_S s" >&2
            return 1
        fi
        if [ $((now - last_print)) -ge 30 ]; then
            echo "-- waiting for jobs $ids ($((now - T0)) s)"
            squeue
            last_print="$now"
        fi
        sleep 2
    done
}

# Submits a run of the pipeline into $1 and waits for all its jobs; extra environment for
# the submission (and so for the jobs, which inherit it) comes as NAME=VALUE arguments.
submit_and_wait() {
    local out="$1" ids
    shift
    if ! env "$@" "$BIN" slurm "$PIPELINE" --tasks "$TASKS" --output "$out" \
        --partition debug --cpus-per-task 1 --mem 1G --time 20; then
        fail "submitting the run into $out failed"
    fi
    if [ ! -f "$out/slurm/jobs.json" ]; then
        fail "no $out/slurm/jobs.json after submission"
    fi
    ids="$(read_jobs "$out" | awk '{print $2}' | tr '\n' ' ')"
    if ! wait_jobs $ids; then
        print_logs "$out"
        fail "jobs of $out did not finish"
    fi
    echo "jobs of $out done after $(($(date +%s) - T0)) s:"
    read_jobs "$out" | while read -r phase id array; do
        echo "  $phase $id (array $array): $(slurm_local_job_state "$id")"
    done
}

final_job() {
    read_jobs "$1" | tail -n 1 | awk '{print $2}'
}

# The final job counts as completed when slurmctld (or the job-completion log) says so and
# the manifest it writes last is there.
check_completed() {
    local out="$1" id state
    id="$(final_job "$out")"
    state="$(slurm_local_job_state "$id")"
    if [ -n "$state" ] && [ "$state" != COMPLETED ]; then
        print_logs "$out"
        fail "final job $id of $out ended $state"
    fi
    if [ ! -f "$out/manifest.json" ]; then
        print_logs "$out"
        fail "final job $id of $out left no manifest.json (state: ${state:-unknown})"
    fi
}

# Each array task of the signatures phase wrote its log: slurmctld still knows where
# (MinJobAge is long), so ask it rather than guess file names.
check_array_logs() {
    local out="$1" line id array n logs missing=0 f
    line="$(read_jobs "$out" | awk '$1 == "signatures"' | head -n 1)"
    [ -n "$line" ] || fail "no signatures phase in $out/slurm/jobs.json"
    id="$(echo "$line" | awk '{print $2}')"
    array="$(echo "$line" | awk '{print $3}')"
    [ "$array" != - ] || fail "signatures job $id is not an array job"
    n="$(array_size "$array")"
    [ "$n" -ge "$TASKS" ] || fail "signatures job $id has $n array tasks ($array), want $TASKS"
    logs="$(scontrol show job "$id" 2>/dev/null | sed -n 's/^ *StdOut=//p' | sort -u)"
    if [ -n "$logs" ]; then
        [ "$(echo "$logs" | wc -l)" -ge "$n" ] || fail "signatures job $id: fewer log paths than tasks: $logs"
        for f in $logs; do
            if [ ! -f "$f" ]; then
                echo "missing task log $f" >&2
                missing=1
            fi
        done
    else
        # Forgotten by slurmctld: fall back to counting files that carry the job id.
        [ "$(find "$out/slurm/logs" -type f -name "*$id*" 2>/dev/null | wc -l)" -ge "$n" ] ||
            missing=1
    fi
    if [ "$missing" -ne 0 ]; then
        print_logs "$out"
        fail "not every signatures task of $out wrote its log"
    fi
    echo "signatures: $n array tasks ($array), each with its log"
}

check_same() {
    if ! "$BIN" diff "$W/single" "$1"; then
        fail "$1 differs from the single-process run"
    fi
}

"$BIN" run "$PIPELINE" --output "$W/single"

submit_and_wait "$W/cluster"
check_completed "$W/cluster"
check_array_logs "$W/cluster"
check_same "$W/cluster"

# One filter task fails: everything after it must stay undone, and resubmitting must
# finish the run (skipping completed tasks) with the same result.
submit_and_wait "$W/retry" CORPUSFORGE_FAIL_TASK=filter:2
if [ -f "$W/retry/manifest.json" ]; then
    fail "run with a failing filter task still wrote $W/retry/manifest.json"
fi
state="$(slurm_local_job_state "$(final_job "$W/retry")")"
if [ "$state" = COMPLETED ]; then
    fail "final job of the run with a failing filter task completed"
fi
echo "run with failing filter task 2 stopped short as expected (final job: ${state:-forgotten})"
submit_and_wait "$W/retry"
check_completed "$W/retry"
check_same "$W/retry"

rm -rf "$W"
echo "slurm check: OK ($TASKS tasks, $(($(date +%s) - T0)) s)"
