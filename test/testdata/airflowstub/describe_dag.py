"""Imports the DAG file given as argv[1] under the stub airflow package and prints, as JSON,
every DAG it declared with its arguments and its tasks: their class (and its bases), arguments,
upstream tasks and template fields.

With argv[2], a DAG run's conf as JSON ("null" for none), each task's templated arguments are
also rendered as Airflow renders them before execute(): with Jinja (a sandboxed environment,
undefined names an error), every string in a templated field, recursively through dicts and
lists; a string ending in one of the class's template_ext would be read as a file, which is
reported. The context holds dag_run.conf, params (the task's) and ti.xcom_pull, which returns
"<xcom:TASK_ID>" for the task asked for.
"""

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


class _DagRun:
    def __init__(self, conf):
        self.conf = conf


class _TI:
    def xcom_pull(self, task_ids=None, key="return_value"):
        if not isinstance(task_ids, str) or key != "return_value":
            raise ValueError(f"xcom_pull({task_ids!r}, key={key!r})")
        return f"<xcom:{task_ids}>"


def render(task, conf):
    import jinja2
    import jinja2.sandbox

    env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.do"])
    context = {"dag_run": _DagRun(conf), "ti": _TI(), "params": task.kwargs.get("params") or {}}
    ext = tuple(type(task).template_ext)

    def one(v):
        if isinstance(v, str):
            if ext and v.endswith(ext):
                return {"template_file": v}
            return env.from_string(v).render(**context)
        if isinstance(v, dict):
            return {k: one(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [one(x) for x in v]
        return v

    return {f: one(task.kwargs[f]) for f in type(task).template_fields if f in task.kwargs}


spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
conf = json.loads(sys.argv[2]) if len(sys.argv) > 2 else None
out = []
for d in airflow.DAGS:
    tasks = []
    for t in d.tasks:
        desc = {
            "type": type(t).__name__,
            "bases": [c.__name__ for c in type(t).__mro__],
            "kwargs": plain(t.kwargs),
            "upstream": t.upstream,
            "template_fields": list(type(t).template_fields),
            "template_ext": list(type(t).template_ext),
        }
        if len(sys.argv) > 2:
            desc["rendered"] = plain(render(t, conf))
        tasks.append(desc)
    out.append({"kwargs": plain(d.kwargs), "tasks": tasks})
print(json.dumps(out))
