# pyshim set-up for Python notebooks (kernel "Python 3 · PySpark 3.5 + MLflow (pyshim)").
# In JupyterLab: `%load snippets/setup.py` pastes this file into the cell; run the cell again
# to execute it. Headless runs use `%run -i snippets/setup.py`, which executes it in place.
#
# Defaults are embedded (pyshim/defaults.py); the environment overrides them:
#   MLFLOW_TRACKING_URI  default sqlite:///<repo>/.pyshim/mlflow.db (artifacts in .pyshim/artifacts)
#   PYSHIM_OUTPUT_DIR    default <repo>/.pyshim/output (Parquet written by the notebooks)
#   SPARK_OPTS           spark-submit options, default local[*]
import mlflow
import pyspark
from pyspark.sql import functions as F

import pyshim
from pyshim import defaults

TRACKING_URI = defaults.use_mlflow()        # MLflow store + the "pyshim-demo" experiment
OUTPUT_DIR = defaults.output_dir()          # a pathlib.Path
spark = defaults.spark_session("pyshim")    # local[*], or what SPARK_OPTS says
sc = spark.sparkContext

print(f"Spark {spark.version} ({sc.master}), MLflow {mlflow.__version__}, pyshim {pyshim.__version__}")
print(f"MLflow tracking URI: {TRACKING_URI}")
print(f"output folder: {OUTPUT_DIR}")
