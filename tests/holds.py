"""Holds: a training run stops at a named moment until the test lets it go (see
tests/faultworker.py for the environment variables). Worker tests use them through the
fault worker; tests that run the job in their own process wrap ProgressReporter themselves."""
import os
import time


def marker(name: str, text: str = "") -> None:
    """A file in FAULT_DIR, written whole or not at all: a test that sees it can read it at once."""
    directory = os.environ.get("FAULT_DIR")
    if directory:
        path = os.path.join(directory, name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)


def hold_points() -> list[tuple[str, int]]:
    points = []
    for item in filter(None, (os.environ.get("FAULT_HOLD") or "").split(",")):
        event, step = item.strip().split(":")
        points.append((event, int(step)))
    return points


def with_holds(report, marker=marker):
    """Wrap ProgressReporter.__call__ so that it stops at the FAULT_HOLD points."""
    passed = set()

    def call(self, progress):
        stop = report(self, progress)
        for event, step in hold_points():
            name = f"{event}-{step}"
            if progress.event != event or progress.step < step or name in passed:
                continue
            passed.add(name)
            release = os.path.join(os.environ["FAULT_DIR"], f"release-{name}")
            if os.path.exists(release):
                continue
            self.flush()
            marker(f"held-{name}", str(os.getpid()))
            while not os.path.exists(release):
                time.sleep(0.02)
            self.flush()
            return self.stop
        return stop

    return call
