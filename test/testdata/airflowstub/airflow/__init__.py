"""A stand-in for the two Airflow names the pinpipe DAG imports, recording what the DAG declares.

The test imports the rendered DAG file with this package first on sys.path: no Airflow install,
and every argument the DAG passes is kept for the test to compare.
"""

DAGS = []
_current = []


class DAG:
    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.tasks = []
        DAGS.append(self)

    def __enter__(self):
        _current.append(self)
        return self

    def __exit__(self, *exc):
        _current.pop()
        return False


def current_dag():
    return _current[-1] if _current else None
