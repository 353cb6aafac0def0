#!/usr/bin/env python3
"""Runs the phases of a corpusforge split run as Ray tasks.

    python3 ray_driver.py PLAN.json

PLAN.json, written by corpusforge:
    address        Ray address ("auto", "HOST:PORT", "ray://..."), or null: ray.init() picks
                   RAY_ADDRESS or a running cluster
    retries        times a failed task is tried again
    cpus_per_task  CPUs Ray reserves for each task
    log_dir        local folder for PHASE-PART.log, one per task
    env            variables added to each task's environment
    phases         [{"phase": NAME, "tasks": [{"part": N, "argv": [...]}]}], run in order

Each task runs its argv as a subprocess with CORPUSFORGE_ATTEMPT set to the attempt number
(1 for the first try); a non-zero exit fails the attempt, and Ray runs it again until the
retries are used up. Attempt numbers and the output of every attempt go through a small
actor owned by this driver, so they arrive here from whichever node ran the task.

Stdout gets a line per finished task and per failed attempt. Exit codes: 0 all phases done,
1 a task failed after its retries (later phases are not started; the other tasks of the
phase are let finish), 2 a bad plan, 3 no Ray or no reachable cluster.
"""

import json
import logging
import os
import socket
import subprocess
import sys
import time

POLL_S = 0.5
TAIL_LINES = 20
LOST_TEXT = "(no output: the worker running this attempt died)\n"


def fail(code, message):
    print("ray_driver: " + message, file=sys.stderr, flush=True)
    sys.exit(code)


def load_plan(path):
    try:
        with open(path) as f:
            plan = json.load(f)
        phases = plan["phases"]
        for phase in phases:
            if not isinstance(phase["phase"], str):
                raise ValueError("phase name must be a string")
            for task in phase["tasks"]:
                int(task["part"])
                if not task["argv"] or not all(isinstance(a, str) for a in task["argv"]):
                    raise ValueError("argv must be a non-empty list of strings")
        plan.setdefault("address", None)
        plan["retries"] = int(plan.get("retries", 3))
        plan["cpus_per_task"] = float(plan.get("cpus_per_task", 1))
        plan["log_dir"] = str(plan["log_dir"])
        plan["env"] = {str(k): str(v) for k, v in (plan.get("env") or {}).items()}
    except (OSError, ValueError, KeyError, TypeError) as e:
        fail(2, f"bad plan {path}: {e}")
    return plan


def check_reachable(address):
    """Fails fast with a clear message when HOST:PORT does not answer; ray.init would
    otherwise keep trying for a minute or more."""
    if not address or address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except (OSError, ValueError) as e:
        fail(3, f"no Ray cluster reachable at {address}: {e}")


def log_path(plan, phase, part):
    return os.path.join(plan["log_dir"], f"{phase}-{part}.log")


def last_lines(text, n):
    return "\n".join(text.rstrip("\n").split("\n")[-n:])


def main(argv):
    if len(argv) != 2:
        fail(2, "usage: ray_driver.py PLAN.json")
    plan = load_plan(argv[1])
    try:
        import ray
    except ImportError as e:
        fail(3, f"cannot import ray ({e}); install it with pip install 'ray>=2'")

    address = plan["address"]
    shown = address or os.environ.get("RAY_ADDRESS") or "(none given: ray.init() default)"
    check_reachable(address or os.environ.get("RAY_ADDRESS"))
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as e:  # ray raises several kinds here
        fail(3, f"cannot connect to a Ray cluster at {shown}: {e}")
    quiet_retry_notes(ray)

    @ray.remote(num_cpus=0)
    class LogSink:
        """Attempt counters and attempt logs of all tasks, kept where the driver reads them."""

        def __init__(self):
            self.attempts = {}
            self.logs = {}
            self.failures = []

        def next_attempt(self, phase, part):
            key = (phase, part)
            n = self.attempts[key] = self.attempts.get(key, 0) + 1
            # An attempt that never logged died with its worker; Ray retries those too.
            if n > 1 and all(a != n - 1 for a, _, _ in self.logs.get(key, [])):
                self.failures.append((phase, part, n - 1, None))
            return n

        def add_log(self, phase, part, attempt, rc, text):
            self.logs.setdefault((phase, part), []).append((attempt, rc, text))
            if rc != 0:
                self.failures.append((phase, part, attempt, rc))

        def take_failures(self):
            out, self.failures = self.failures, []
            return out

        def take_logs(self, phase):
            """{part: [(attempt, rc or None when lost, text)]}, in attempt order."""
            out = {}
            for key in [k for k in self.attempts if k[0] == phase]:
                logs = self.logs.pop(key, [])
                seen = {a for a, _, _ in logs}
                for n in range(1, self.attempts[key] + 1):
                    if n not in seen:
                        logs.append((n, None, LOST_TEXT))
                out[key[1]] = sorted(logs, key=lambda log: log[0])
            return out

    def run_task(sink, phase, part, argv, extra_env):
        attempt = ray.get(sink.next_attempt.remote(phase, part))
        env = dict(os.environ)
        env.update(extra_env)
        env["CORPUSFORGE_ATTEMPT"] = str(attempt)
        t0 = time.monotonic()
        try:
            proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, preexec_fn=parent_death_signal(),
                                  check=False)
            rc, text = proc.returncode, proc.stdout.decode("utf-8", "replace")
        except OSError as e:
            rc, text = 127, f"cannot run {argv[0]}: {e}\n"
        ray.get(sink.add_log.remote(phase, part, attempt, rc, text))
        if rc != 0:
            raise RuntimeError(f"{phase} part {part} attempt {attempt} exited {rc}")
        return attempt, time.monotonic() - t0

    task_fn = ray.remote(run_task).options(num_cpus=plan["cpus_per_task"],
                                           max_retries=plan["retries"], retry_exceptions=True)
    sink = LogSink.remote()
    os.makedirs(plan["log_dir"], exist_ok=True)
    tries = plan["retries"] + 1

    def report_failures():
        for phase, part, attempt, rc in ray.get(sink.take_failures.remote()):
            how = "lost (its worker died)" if rc is None else f"failed (exit {rc})"
            then = ", retrying" if attempt < tries else ""
            print(f"ray: {phase} part {part} attempt {attempt} {how}{then}", flush=True)

    for spec in plan["phases"]:
        phase = spec["phase"]
        pending = {}
        for task in spec["tasks"]:
            part = int(task["part"])
            ref = task_fn.remote(sink, phase, part, list(task["argv"]), plan["env"])
            pending[ref] = part
        total, done, failed = len(pending), 0, []
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            report_failures()
            for ref in ready:
                part = pending.pop(ref)
                try:
                    attempt, seconds = ray.get(ref)
                except Exception as e:  # the task's last error, or a lost worker
                    failed.append((part, e))
                    continue
                done += 1
                print(f"ray: {phase} {done}/{total} done (part {part}, attempt {attempt}, "
                      f"{seconds:.1f} s)", flush=True)
        report_failures()

        logs = ray.get(sink.take_logs.remote(phase))
        texts = {}
        for task in spec["tasks"]:
            part = int(task["part"])
            chunks = []
            for attempt, rc, text in logs.get(part, []):
                chunks.append(f"=== attempt {attempt} exit {'lost' if rc is None else rc}\n")
                chunks.append(text if not text or text.endswith("\n") else text + "\n")
            texts[part] = "".join(chunks)
            with open(log_path(plan, phase, part), "w") as f:
                f.write(texts[part])

        if failed:
            for part, err in sorted(failed, key=lambda x: x[0]):
                path = log_path(plan, phase, part)
                last = logs.get(part, [])[-1:]
                if not last:
                    how = "it never ran"
                elif last[0][1] is None:
                    how = f"worker lost on attempt {last[0][0]} of {tries}"
                else:
                    how = f"exit {last[0][1]} on attempt {last[0][0]} of {tries}"
                print(f"ray: phase {phase} failed at part {part} ({how}); log: {path}",
                      file=sys.stderr)
                if texts[part]:
                    print(f"--- last {TAIL_LINES} lines of {path}:\n"
                          + last_lines(texts[part], TAIL_LINES), file=sys.stderr)
                else:
                    print("--- no output recorded; Ray said: " + last_lines(str(err), TAIL_LINES),
                          file=sys.stderr)
            sys.stderr.flush()
            ray.shutdown()
            return 1

    print("ray: all phases done", flush=True)
    ray.shutdown()
    return 0


def quiet_retry_notes(ray):
    """Ray prints the cluster's error notes on the driver's stdout, among them a traceback
    for every retried attempt, which this driver already reports in a line. Those are
    dropped and the rest goes to stderr, so stdout keeps to the progress lines. This uses a
    Ray internal; where it is missing the notes stay as they are."""
    worker = getattr(ray, "_private", None) and getattr(ray._private, "worker", None)
    original = getattr(worker, "print_to_stdstream", None)
    if original is None:
        return

    def to_stderr(data, *args, **kwargs):
        lines = [s for s in data.get("lines", []) if "so the task will be retried" not in s]
        if lines:
            original(dict(data, lines=lines, is_err=True), *args, **kwargs)

    worker.print_to_stdstream = to_stderr


def parent_death_signal():
    """A preexec_fn under which the child gets SIGKILL when the Ray worker that started it
    dies (a cancelled task, a killed worker) instead of running on unowned; None where that
    cannot be had (not Linux). Everything is looked up here, so that the child, forked from
    a threaded worker, only makes the one call."""
    try:
        import ctypes
        import signal

        prctl = ctypes.CDLL(None, use_errno=True).prctl
        sig = int(signal.SIGKILL)
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, sig)  # 1: PR_SET_PDEATHSIG


if __name__ == "__main__":
    sys.exit(main(sys.argv))
