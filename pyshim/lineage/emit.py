"""`python -m pyshim.lineage.emit`: one lineage record (JSON on stdin) into the job's MLflow run
and out as an OpenLineage event. Run by the JVM's lineage recorder (scala/src/pyshim/Lineage.scala)
only in a job (PYSHIM_JOB_RUN_ID) or when an OpenLineage transport is configured.

In the run: an input dataset per input, with pyshim's content digest (so `search_runs` finds the
job by `dataset.digest`), the output as a dataset of context "output", a link to each logged
model the query used, and the job's writes in the artifact `lineage.json`.

Prints JSON for the record: `{"job": {params, defaults, expressions, experiment_id, run_name}}`, and `emit_error`
when a part failed (the full error goes to stderr). Exits 0 unless stdin is not a record.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from urllib.parse import urlparse

from .. import settings

PRODUCER = "urn:pyshim:lineage"  # OpenLineage wants a URI naming the producer
ARTIFACT = "lineage.json"


def main() -> int:
    try:
        record = json.load(sys.stdin)
    except ValueError as err:
        print(f"pyshim.lineage.emit: stdin is not a lineage record: {err}", file=sys.stderr)
        return 2
    answer: dict = {}
    errors = []
    run_id = os.environ.get("PYSHIM_JOB_RUN_ID")
    if run_id:
        try:
            answer["job"] = log_to_run(run_id, record)
        except Exception as err:
            errors.append(f"MLflow run {run_id}: {type(err).__name__}: {_first_line(err)}")
            traceback.print_exc()
    if openlineage_configured():
        try:
            emit_openlineage({**record, "job": {**record.get("job", {}), **answer.get("job", {})}})
        except Exception as err:
            errors.append(f"OpenLineage: {type(err).__name__}: {_first_line(err)}")
            traceback.print_exc()
    if errors:
        answer["emit_error"] = "; ".join(errors)
    print(json.dumps(answer))
    return 0


# ---------------------------------------------------------------- MLflow


def log_to_run(run_id: str, record: dict) -> dict:
    from mlflow import MlflowClient
    from mlflow.entities import DatasetInput, InputTag, LoggedModelInput
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    client = MlflowClient()
    run = client.get_run(run_id)
    job = {"params": dict(run.data.params), **param_origins(run.data.tags),
           "experiment_id": run.info.experiment_id, "run_name": run.info.run_name}
    datasets = [DatasetInput(_dataset(item)._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)])
                for context, items in (("input", record.get("inputs", [])), ("output", [record.get("output", {})]))
                for item in items if item.get("digest")]
    models = [LoggedModelInput(fn["model_id"]) for fn in record.get("functions", []) if fn.get("model_id")]
    try:
        client.log_inputs(run_id, datasets=datasets, models=models or None)
    except Exception:
        if not models:
            raise
        # A store that has no logged models (an older server): the datasets still go in.
        client.log_inputs(run_id, datasets=datasets)
    _append_artifact(client, run_id, {**record, "job": {**record.get("job", {}), **job}})
    return job


def param_origins(tags: dict) -> dict:
    """`defaults` and `expressions`: the params that are the notebook's own defaults, and those
    among them logged as an expression's source text (`pyshim run` tags its run with them)."""
    from pyshim.jobs.params import DEFAULT, EXPRESSION, TAGS

    found = {key: [n.strip() for n in tags.get(TAGS[origin], "").split(",") if n.strip()]
             for key, origin in (("defaults", DEFAULT), ("expressions", EXPRESSION))}
    return {key: names for key, names in found.items() if names}


def _dataset(item: dict):
    """MLflow's dataset entity with pyshim's digest (of the data, not of a query plan)."""
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.spark_dataset_source import SparkDatasetSource

    if item.get("path"):
        source, name = SparkDatasetSource(path=item["path"]), item.get("table") or item["path"]
    elif item.get("table"):
        source, name = SparkDatasetSource(table_name=item["table"]), item["table"]
    else:
        paths = ",".join(item.get("paths") or [])
        source, name = SparkDatasetSource(path=paths), paths
    return MetaDataset(source=source, name=name, digest=item["digest"])


def _append_artifact(client, run_id: str, record: dict) -> None:
    """lineage.json holds every write of the job, oldest first."""
    earlier = []
    with tempfile.TemporaryDirectory(prefix="pyshim-lineage-") as tmp:
        try:
            local = client.download_artifacts(run_id, ARTIFACT, tmp)
            earlier = json.loads(Path(local).read_text(encoding="utf-8")).get("writes", [])
        except Exception:  # the job's first write
            earlier = []
    client.log_text(run_id, json.dumps({"pyshim_lineage": 1, "writes": [*earlier, record]}, indent=2), ARTIFACT)


# ---------------------------------------------------------------- OpenLineage


def openlineage_configured(env=None) -> bool:
    """The same test as the JVM's (Lineage.scala, OpenLineage.configured)."""
    env = os.environ if env is None else env
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    return any(k in ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG") or k.startswith("OPENLINEAGE__TRANSPORT") for k in env)


def dataset_name(item: dict) -> tuple[str, str]:
    """OpenLineage's naming: a path as (scheme[://authority], path), a table as (spark_catalog, name)."""
    location = item.get("path") or ",".join(item.get("paths") or [])
    if location:
        parsed = urlparse(location)
        scheme = parsed.scheme or "file"
        if scheme == "file":
            return "file", parsed.path or location
        if scheme in ("s3", "s3a", "s3n", "gs", "wasbs", "abfss"):
            return f"{'s3' if scheme.startswith('s3') else scheme}://{parsed.netloc}", parsed.path.lstrip("/")
        return f"{scheme}://{parsed.netloc}", parsed.path
    return "spark_catalog", item.get("table") or "?"


def emit_openlineage(record: dict) -> None:
    import attr
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import output_statistics_output_dataset
    from openlineage.client.generated.base import DatasetFacet, RunFacet
    from openlineage.client.uuid import generate_new_uuid

    @attr.define
    class PyshimModelsRunFacet(RunFacet):
        """The model functions the query called: version, training run, logged model, native or Python."""
        functions: list = attr.field(factory=list)

    @attr.define
    class PyshimDigestDatasetFacet(DatasetFacet):
        """pyshim's digest of the data files (names, sizes, times), as in the MLflow run."""
        digest: str = ""
        files: int | None = None
        bytes: int | None = None

    def facets(item: dict) -> dict:
        if not item.get("digest"):
            return {}
        return {"pyshim_digest": PyshimDigestDatasetFacet(digest=item["digest"], files=item.get("files"),
                                                          bytes=item.get("bytes"))}

    output = record.get("output", {})
    inputs = [InputDataset(*dataset_name(i), facets=facets(i)) for i in record.get("inputs", [])]
    stats = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        rowCount=output.get("rows"), size=output.get("bytes"), fileCount=output.get("files"))
    outputs = [OutputDataset(*dataset_name(output), facets=facets(output), outputFacets={"outputStatistics": stats})]
    job = record.get("job") or {}
    job_name = job.get("name") or record.get("notebook") or "pyshim-session"
    event = RunEvent(eventType=RunState.COMPLETE, eventTime=record.get("written_at"),
                     run=Run(runId=str(generate_new_uuid()),
                             facets={"pyshim_models": PyshimModelsRunFacet(functions=record.get("functions", []))}),
                     job=Job(namespace=os.environ.get("OPENLINEAGE_NAMESPACE", settings.default("OPENLINEAGE_NAMESPACE")), name=job_name),
                     producer=PRODUCER, inputs=inputs, outputs=outputs)
    OpenLineageClient().emit(event)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
