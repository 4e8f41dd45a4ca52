"""Imports the DAG file given as argv[1] under the stub airflow package and prints, as JSON,
every DAG it declared with its arguments and its tasks' arguments."""

import datetime
import importlib.util
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import airflow  # noqa: E402  (the stub)


def plain(v):
    if isinstance(v, datetime.timedelta):
        return {"timedelta_seconds": v.total_seconds()}
    if isinstance(v, datetime.datetime):
        return {"datetime": v.isoformat()}
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps([
    {"kwargs": plain(d.kwargs), "tasks": [{"type": type(t).__name__, "kwargs": plain(t.kwargs)} for t in d.tasks]}
    for d in airflow.DAGS
]))
