# Sourced by the scripts that check corpusforge against S3 and Ray on this machine. moto's
# standalone server stands in for S3, and a one-node Ray cluster runs the tasks; everything
# listens on free ports and keeps its logs and state under the directory it is given, so
# two checks can run side by side.
#
#   source scripts/cloud_local.sh
#   cloud_setup
#   if [ "$CLOUD_SKIPPED" = 1 ]; then exit 0; fi
#   trap 'ray_stop; s3_stop; s3_stop_auth' EXIT
#   s3_start "$W"; ray_start "$W"
#
# cloud_setup        venv with moto, boto3 and ray (kept between runs); sets CLOUD_PY and puts
#                    the venv's bin first on PATH. Where it cannot be had (no network to PyPI)
#                    it prints "SKIPPED: cloud check: REASON" and sets CLOUD_SKIPPED=1.
# s3_start [DIR]     moto S3 on 127.0.0.1; exports AWS_ENDPOINT_URL, AWS_* credentials and
#                    region, AWS_ALLOW_HTTP, S3_PID and S3_PORT. After s3_stop it starts again
#                    on the same port, with the objects it held (see _CL_MOTO_MAIN).
# s3_stop            stops it and waits until it has exited.
# s3_start_auth [DIR] a second moto that checks credentials; exports S3AUTH_ENDPOINT,
#                    S3AUTH_KEY_ID, S3AUTH_SECRET (a valid key), S3AUTH_PORT and S3AUTH_PID.
# s3_stop_auth       stops it.
# ray_start [DIR]    one-node Ray cluster with RAY_CPUS (default 2) CPUs; exports RAY_ADDRESS.
# ray_stop           ends every process of that cluster, and only those.
#
# Functions return non-zero, after saying why on stderr, when something that should work
# does not; they are safe under `set -euo pipefail`.

# Pinned so every machine checks against the same servers (tried with Python 3.11). The
# moto version matters beyond that: _CL_MOTO_MAIN reaches into its internals.
CLOUD_PACKAGES=("moto[server]==5.2.6" "boto3==1.44.18" "ray==2.60.0")
CLOUD_SKIPPED=0
CLOUD_SKIP_REASON=""
CLOUD_PY="${CLOUD_PY:-}"

_cl_log() { echo "cloud_local: $*" >&2; }

_cl_skip() {
    CLOUD_SKIPPED=1
    CLOUD_SKIP_REASON="$1"
    echo "SKIPPED: cloud check: $1"
}

# 0 when the venv has the pinned packages and they import.
_cl_venv_ok() {
    "$1/bin/python" - "${CLOUD_PACKAGES[@]}" >/dev/null 2>&1 <<'EOF'
import sys
from importlib.metadata import version

import boto3  # noqa: F401
import moto.server  # noqa: F401
import ray  # noqa: F401

for spec in sys.argv[1:]:
    name, want = spec.split("==")
    if version(name.split("[")[0]) != want:
        sys.exit(1)
EOF
}

cloud_setup() {
    local venv="${CORPUSFORGE_CLOUD_VENV:-$HOME/.cache/corpusforge-venv-cloud}" log t0 fd
    # shellcheck disable=SC2034 # read by the scripts that source this file
    CLOUD_SKIPPED=0
    # shellcheck disable=SC2034
    CLOUD_SKIP_REASON=""
    mkdir -p "$(dirname "$venv")"
    # Two checks starting at once must not install into the same venv together.
    exec {fd}>"$venv.lock"
    if command -v flock >/dev/null 2>&1; then
        flock "$fd"
    fi
    if ! _cl_venv_ok "$venv"; then
        log="$(mktemp)"
        t0="$(date +%s)"
        if [ ! -x "$venv/bin/python" ] && ! python3 -m venv "$venv" >"$log" 2>&1; then
            tail -n 5 "$log" >&2
            rm -f "$log"
            exec {fd}>&-
            _cl_skip "python3 -m venv $venv failed"
            return 0
        fi
        _cl_log "installing ${CLOUD_PACKAGES[*]} into $venv"
        if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check "${CLOUD_PACKAGES[@]}" >"$log" 2>&1; then
            tail -n 5 "$log" >&2
            rm -f "$log"
            exec {fd}>&-
            _cl_skip "pip install of ${CLOUD_PACKAGES[*]} failed (no network to PyPI?)"
            return 0
        fi
        rm -f "$log"
        if ! _cl_venv_ok "$venv"; then
            exec {fd}>&-
            _cl_skip "moto, boto3 or ray does not import from $venv after installing"
            return 0
        fi
        _cl_log "installed in $(($(date +%s) - t0)) s"
    fi
    exec {fd}>&-
    CLOUD_PY="$venv/bin/python"
    export CLOUD_PY
    case ":$PATH:" in
        *":$venv/bin:"*) ;;
        *) PATH="$venv/bin:$PATH" ;;
    esac
    export PATH
}

_cl_need_py() {
    if [ -z "${CLOUD_PY:-}" ] || [ ! -x "$CLOUD_PY" ]; then
        _cl_log "call cloud_setup first"
        return 1
    fi
}

# N distinct TCP ports free on 127.0.0.1 right now, on one line.
# The directory $1 (made if missing), or a new one under /tmp named after $2; absolute.
_cl_workdir() {
    local dir="$1"
    if [ -z "$dir" ]; then
        dir="$(mktemp -d "/tmp/$2.XXXXXX")"
    fi
    mkdir -p "$dir"
    (cd "$dir" && pwd)
}

_cl_free_ports() {
    "$CLOUD_PY" - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# Waits until PORT accepts connections; fails early when PID has exited.
_cl_wait_port() {
    local pid="$1" port="$2" limit="$3"
    for _ in $(seq 1 $((limit * 10))); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        if ! _cl_alive "$pid"; then
            return 1
        fi
        sleep 0.1
    done
    return 1
}

# A zombie (exited, not yet reaped) does not count as alive.
_cl_alive() {
    local state
    state="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null || true)"
    [ -n "$state" ] && [ "$state" != Z ]
}

# TERM, then KILL after 10 s; returns once the process has exited.
_cl_end_pid() {
    local pid="$1"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        _cl_alive "$pid" || break
        sleep 0.1
    done
    if _cl_alive "$pid"; then
        _cl_log "killing $pid"
        kill -9 "$pid" 2>/dev/null || true
        while _cl_alive "$pid"; do sleep 0.1; done
    fi
    # Reap it when it is a child of this shell.
    wait "$pid" 2>/dev/null || true
}

# Runs moto's server like `python -m moto.server -H HOST -p PORT`, restoring the state of an
# earlier run first. moto keeps everything in memory, so a plain restart comes back empty;
# its recorder (MOTO_ENABLE_RECORDING, MOTO_RECORDER_FILEPATH) appends every request to a
# file, and replaying that file rebuilds the buckets and objects. The replay goes to a
# private server in the same process before the public port opens, so clients that retry
# through the restart never see a half-restored store. Three adjustments:
# - writes to the recording are serialised: concurrent requests could otherwise interleave
#   their lines (and a torn last line, from a kill mid-write, is dropped before replaying);
# - multipart upload ids are derived from the key and a per-key count instead of random
#   bytes, so the recorded UploadPart/CompleteMultipartUpload requests find their upload
#   again on replay (and an upload in flight during the restart can go on);
# - S3 data is replayed as sent, so a restart takes as long as re-sending it.
_CL_MOTO_MAIN='
import hashlib, json, os, sys, threading
from moto.moto_api import recorder
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.s3 import models as s3_models
from moto.server import main

lock = threading.Lock()
record = recorder._record_request

def locked_record(*args, **kwargs):
    with lock:
        return record(*args, **kwargs)

recorder._record_request = locked_record

counts = {}
init = s3_models.FakeMultipart.__init__

def multipart_init(self, key_name, *args, **kwargs):
    init(self, key_name, *args, **kwargs)
    with lock:
        counts[key_name] = n = counts.get(key_name, 0) + 1
    self.id = hashlib.sha256(("%s\0%d" % (key_name, n)).encode()).hexdigest()[:48]

s3_models.FakeMultipart.__init__ = multipart_init

rec = os.environ.get("MOTO_RECORDER_FILEPATH", "")
if rec and os.path.exists(rec) and os.path.getsize(rec) > 0:
    good = []
    with open(rec) as f:
        for line in f:
            try:
                json.loads(line)
                good.append(line if line.endswith("\n") else line + "\n")
            except ValueError:
                print("moto: dropping a torn line of %s" % rec, file=sys.stderr)
    with open(rec, "w") as f:
        f.writelines(good)
    private = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
    private.start()
    host, port = private.get_host_and_port()
    recorder.replay_recording(target_host="http://%s:%d" % (host, port))
    private.stop()
    print("moto: replayed %d requests from %s" % (len(good), rec), file=sys.stderr)
main(sys.argv[1:])
'

s3_start() {
    local dir="${1:-${S3_DIR:-}}" port rec
    _cl_need_py || return 1
    if [ -n "${S3_PID:-}" ] && _cl_alive "$S3_PID"; then
        _cl_log "moto is already running (pid $S3_PID)"
        return 1
    fi
    dir="$(_cl_workdir "$dir" cf-s3)"
    rec="$dir/moto-recording.jsonl"
    port="${S3_PORT:-}"
    # Only a restart (same port, same recording) gets its state back; a first start is empty.
    if [ -z "$port" ] || [ "$rec" != "${_CL_S3_RECORDING:-}" ]; then
        : >"$rec"
    fi
    if [ -z "$port" ]; then
        port="$(_cl_free_ports 1)"
    fi
    env -u INITIAL_NO_AUTH_ACTION_COUNT MOTO_PORT="$port" MOTO_ENABLE_RECORDING=true \
        MOTO_RECORDER_FILEPATH="$rec" \
        "$CLOUD_PY" -c "$_CL_MOTO_MAIN" -H 127.0.0.1 -p "$port" >>"$dir/moto.log" 2>&1 &
    S3_PID=$!
    S3_PORT="$port"
    S3_DIR="$dir"
    _CL_S3_RECORDING="$rec"
    export S3_PID S3_PORT S3_DIR
    if ! _cl_wait_port "$S3_PID" "$port" 120; then
        _cl_log "moto did not come up on port $port; $dir/moto.log ends:"
        tail -n 20 "$dir/moto.log" >&2 || true
        s3_stop
        return 1
    fi
    export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
    # Any key works while moto does not check credentials (see s3_start_auth).
    export AWS_ACCESS_KEY_ID=testing
    export AWS_SECRET_ACCESS_KEY=testing
    unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE
    export AWS_REGION=us-east-1
    export AWS_DEFAULT_REGION=us-east-1
    export AWS_ALLOW_HTTP=true
}

# Leaves S3_PORT and the recording, so that s3_start brings the same store back.
s3_stop() {
    if [ -n "${S3_PID:-}" ]; then
        _cl_end_pid "$S3_PID"
        S3_PID=""
    fi
}

# moto checks credentials once INITIAL_NO_AUTH_ACTION_COUNT requests have been served
# (unset: never). Only access keys of moto's own IAM pass then, with a policy that allows
# the action; there is no built-in key. So this server starts without checks, an IAM user
# with an allow-all policy and an access key is made through its IAM API, and POSTing 0 to
# /moto-api/reset-auth turns the checks on. A wrong secret then gets 403
# SignatureDoesNotMatch, an unknown key id 403 InvalidAccessKeyId.
s3_start_auth() {
    local dir="${1:-${S3_DIR:-}}" port keys
    _cl_need_py || return 1
    if [ -n "${S3AUTH_PID:-}" ] && _cl_alive "$S3AUTH_PID"; then
        _cl_log "the checking moto is already running (pid $S3AUTH_PID)"
        return 1
    fi
    dir="$(_cl_workdir "$dir" cf-s3)"
    port="$(_cl_free_ports 1)"
    env -u INITIAL_NO_AUTH_ACTION_COUNT -u MOTO_ENABLE_RECORDING MOTO_PORT="$port" \
        "$CLOUD_PY" -m moto.server -H 127.0.0.1 -p "$port" >>"$dir/moto-auth.log" 2>&1 &
    S3AUTH_PID=$!
    S3AUTH_PORT="$port"
    export S3AUTH_PID S3AUTH_PORT
    if ! _cl_wait_port "$S3AUTH_PID" "$port" 120; then
        _cl_log "the checking moto did not come up on port $port; $dir/moto-auth.log ends:"
        tail -n 20 "$dir/moto-auth.log" >&2 || true
        s3_stop_auth
        return 1
    fi
    if ! keys="$("$CLOUD_PY" - "http://127.0.0.1:$port" <<'EOF'
import json, sys, urllib.request
import boto3

endpoint = sys.argv[1]
# Any key does while the checks are off.
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup")
iam.create_user(UserName="corpusforge")
policy = {"Version": "2012-10-17",
          "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
iam.put_user_policy(UserName="corpusforge", PolicyName="all",
                    PolicyDocument=json.dumps(policy))
key = iam.create_access_key(UserName="corpusforge")["AccessKey"]
# Not a form content type: moto reads the raw body, which form parsing would consume.
req = urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                             headers={"Content-Type": "application/octet-stream"})
urllib.request.urlopen(req, timeout=30).read()
print(key["AccessKeyId"], key["SecretAccessKey"])
EOF
    )"; then
        _cl_log "could not make an IAM key on the checking moto"
        s3_stop_auth
        return 1
    fi
    read -r S3AUTH_KEY_ID S3AUTH_SECRET <<<"$keys"
    export S3AUTH_ENDPOINT="http://127.0.0.1:$port" S3AUTH_KEY_ID S3AUTH_SECRET
}

s3_stop_auth() {
    if [ -n "${S3AUTH_PID:-}" ]; then
        _cl_end_pid "$S3AUTH_PID"
        S3AUTH_PID=""
    fi
}

# Ray puts unix sockets under its temp dir, in a session folder of about 60 characters,
# and a socket path may not exceed 107; a temp dir longer than this goes under /tmp instead,
# with DIR/ray a link to it until ray_stop moves it back.
_CL_RAY_TMP_MAX=40

# Ray listens on every interface of the machine, whatever --node-ip-address says: it swaps
# 127.0.0.1 for the address others can reach. The ports are still free ones, so clusters do
# not collide. The processes run in a session of their own, which is how ray_stop finds
# them: `ray stop` would end every Ray cluster on the machine.
ray_start() {
    local dir="${1:-${RAY_DIR:-}}" tmp gcs om nm dash dal dag rea met
    _cl_need_py || return 1
    if [ -n "${RAY_DIR:-}" ] && [ -s "$RAY_DIR/ray.sid" ]; then
        _cl_log "a Ray cluster is already running (RAY_ADDRESS=${RAY_ADDRESS:-})"
        return 1
    fi
    dir="$(_cl_workdir "$dir" cf-ray)"
    RAY_DIR="$dir"
    export RAY_DIR
    tmp="$dir/ray"
    rm -rf "$tmp"
    if [ "${#tmp}" -gt "$_CL_RAY_TMP_MAX" ]; then
        tmp="$(mktemp -d /tmp/cfray.XXXXXX)"
        ln -s "$tmp" "$dir/ray"
    else
        mkdir -p "$tmp"
    fi
    # Some daemons start sessions of their own; ray_stop also finds them by this directory.
    echo "$tmp" >"$dir/ray.tmp"
    read -r gcs om nm dash dal dag rea met <<<"$(_cl_free_ports 8)"
    # Ray turns token authentication on; a token of this cluster's own, passed to the head and
    # to every driver through the environment, so no token file in ~/.ray is read or written.
    RAY_AUTH_TOKEN="$("$CLOUD_PY" -c 'import secrets; print(secrets.token_hex(32))')"
    RAY_AUTH_MODE=token
    export RAY_AUTH_TOKEN RAY_AUTH_MODE
    # setsid -w: the session leader writes its pid (the session id) and becomes `ray start`;
    # the daemons it leaves behind stay in that session.
    # shellcheck disable=SC2016 # $$ and $@ belong to the inner bash
    if ! env -u RAY_ADDRESS setsid -w bash -c 'echo $$ >"$0"; exec "$@"' "$dir/ray.sid" \
        "$(dirname "$CLOUD_PY")/ray" start --head --node-ip-address=127.0.0.1 --port="$gcs" \
        --object-manager-port="$om" --node-manager-port="$nm" --include-dashboard=false \
        --dashboard-port="$dash" --dashboard-agent-listen-port="$dal" \
        --dashboard-agent-grpc-port="$dag" --runtime-env-agent-port="$rea" \
        --metrics-export-port="$met" --num-cpus="${RAY_CPUS:-2}" \
        --object-store-memory=$((128 * 1024 * 1024)) --disable-usage-stats \
        --temp-dir="$tmp" >"$dir/ray-start.log" 2>&1; then
        _cl_log "ray start failed; $dir/ray-start.log ends:"
        tail -n 20 "$dir/ray-start.log" >&2 || true
        ray_stop
        return 1
    fi
    export RAY_ADDRESS="127.0.0.1:$gcs"
}

_cl_session_pids() {
    ps -e -o pid= -o sid= | awk -v s="$1" '$2 == s { print $1 }'
}

ray_stop() {
    local dir="${RAY_DIR:-}" sid pids pid target
    [ -n "$dir" ] || return 0
    sid="$(cat "$dir/ray.sid" 2>/dev/null || true)"
    # Never this shell's own session.
    if [ -n "$sid" ] && [ "$sid" != "$(ps -o sid= -p $$ | tr -d ' ')" ]; then
        # Ray daemons take long over SIGTERM, so KILL, like `ray stop --force`; workers may
        # still be forking, so repeat until the session is empty.
        for _ in $(seq 1 100); do
            pids=""
            for pid in $(_cl_session_pids "$sid"); do
                if _cl_alive "$pid"; then
                    pids="$pids $pid"
                fi
            done
            [ -n "$pids" ] || break
            # shellcheck disable=SC2086
            kill -9 $pids 2>/dev/null || true
            sleep 0.1
        done
        if [ -n "$pids" ]; then
            _cl_log "Ray processes still running:$pids"
        fi
    fi
    # Daemons outside the session (the raylet starts one of its own) name the temp dir.
    target="$(cat "$dir/ray.tmp" 2>/dev/null || true)"
    if [ -n "$target" ]; then
        for _ in $(seq 1 100); do
            pids="$(pgrep -f -- "$target" || true)"
            [ -n "$pids" ] || break
            # shellcheck disable=SC2086
            kill -9 $pids 2>/dev/null || true
            sleep 0.1
        done
    fi
    rm -f "$dir/ray.sid" "$dir/ray.tmp"
    if [ -L "$dir/ray" ]; then
        target="$(readlink "$dir/ray")"
        rm -f "$dir/ray"
        mv "$target" "$dir/ray" 2>/dev/null || true
    fi
    unset RAY_ADDRESS
}
