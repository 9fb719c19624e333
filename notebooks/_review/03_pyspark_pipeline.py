# Review copy of 03_pyspark_pipeline.ipynb, written by pyshim_hooks. Edit the notebook, not this file.

# %% [markdown]
# # 3 · Batch scoring in PySpark: a Spark ML feature pipeline, then a Python classifier
#
# The pattern for large batch jobs: Spark does the feature engineering, a scikit-learn
# model does the prediction, and both are tracked in MLflow.
#
# 1. a Spark ML pipeline (`VectorAssembler` → `StandardScaler`) is fitted and logged as an
#    **MLflow Spark model**
# 2. a scikit-learn classifier is trained on the scaled features and logged as a pyfunc model
# 3. batch scoring: the Spark model, loaded back from MLflow, makes the feature vector;
#    `vector_to_array` turns it into an array; the classifier scores the array's elements as a
#    Spark SQL function registered by `pyshim.register_model`
#
# The set-up comes from [snippets/setup.py](snippets/setup.py). In JupyterLab, `%load snippets/setup.py`
# pastes it into a cell; here `%run -i` executes it, so the notebook also runs headless.

# %%
# %run -i snippets/setup.py

# %% [markdown]
# ## Parameters
#
# The input, the output and the model. A job changes them without editing the notebook:
# `pyshim run notebooks/03_pyspark_pipeline.ipynb -r output_path /data/scored.parquet` (papermill)
# runs it with a cell of new values after this one, which is tagged `parameters`.

# %%
input_path = ""   # Parquet with the wine columns; empty: the wine data from scikit-learn, 562 copies
output_path = str(OUTPUT_DIR / "wine_scored_pyspark.parquet")
model_uri = ""    # a classifier of the 13 scaled features; empty: the one trained below

# %% [markdown]
# ## The data
#
# The wine data from scikit-learn as a Spark DataFrame: 178 wines for training, repeated to
# about 100,000 rows for batch scoring.

# %%
from sklearn.datasets import load_wine

wine = load_wine(as_frame=True).frame.rename(columns=lambda name: name.replace("/", "_"))
wine.insert(0, "wine_id", range(len(wine)))
FEATURES = [c for c in wine.columns if c not in ("wine_id", "target")]
train = spark.createDataFrame(wine)
copies = train.crossJoin(spark.range(562).withColumnRenamed("id", "copy"))   # 178 x 562 = 100,036 rows
batch = (spark.read.parquet(input_path) if input_path else copies).cache()
print(f"{len(wine)} wines to train on, {batch.count()} rows to score, {len(FEATURES)} features")

# %% [markdown]
# ## 1. The feature pipeline, tracked as an MLflow Spark model

# %%
from mlflow.models import infer_signature
from pyspark.ml import Pipeline
from pyspark.ml.feature import StandardScaler, VectorAssembler

feature_pipeline = Pipeline(stages=[
    VectorAssembler(inputCols=FEATURES, outputCol="raw_features"),
    StandardScaler(inputCol="raw_features", outputCol="features", withMean=True, withStd=True),
]).fit(train)

with mlflow.start_run(run_name="wine-features-and-classifier") as run:
    mlflow.log_params({"scaler": "StandardScaler", "with_mean": True, "with_std": True})
    example = wine[FEATURES].head(3)
    features_info = mlflow.spark.log_model(
        feature_pipeline, artifact_path="feature_pipeline",   # mlflow.spark still names it artifact_path
        signature=infer_signature(example),          # inputs only: the output is a vector column
        pip_requirements=[f"pyspark=={pyspark.__version__}"])
print(f"feature pipeline: {features_info.model_uri}")

# %% [markdown]
# ## 2. The classifier, on the scaled features
#
# Trained on what the pipeline produces, as a plain numpy array: its signature takes a
# tensor of 13 doubles, so its SQL function takes 13 double columns.

# %%
import numpy as np
import sklearn
from pyspark.ml.functions import vector_to_array
from sklearn.linear_model import LogisticRegression

scaled = feature_pipeline.transform(train).select(vector_to_array("features").alias("x"), "target").toPandas()
X, y = np.stack(scaled["x"].to_numpy()), scaled["target"].to_numpy()
classifier = LogisticRegression(C=0.5, max_iter=1000).fit(X, y)
train_accuracy = classifier.score(X, y)

with mlflow.start_run(run_id=run.info.run_id):
    mlflow.log_params({"classifier": "LogisticRegression", "C": 0.5})
    mlflow.log_metric("train_accuracy", train_accuracy)
    classifier_info = mlflow.sklearn.log_model(
        classifier, name="classifier",
        signature=infer_signature(X, classifier.predict(X)), input_example=X[:3],
        pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
print(f"classifier: {classifier_info.model_uri}, train accuracy {train_accuracy:.3f}")

# %% [markdown]
# ## 3. Batch scoring: pipeline, vector to array, the classifier as a SQL function
#
# `pyshim.register_model` works in any PySpark session: here it registers the classifier (or the
# model of `model_uri`) as the SQL function `wine_scaled`, which Scala could call the same way.

# %%
registered = pyshim.register_model(spark, "wine_scaled", model_uri or classifier_info.model_uri)
print(registered.summary())

# %%
pipeline = mlflow.spark.load_model(features_info.model_uri)   # the tracked pipeline, not the one in memory
print(f"loaded {features_info.model_uri}: {[type(stage).__name__ for stage in pipeline.stages]}")

# %%
import time

features = pipeline.transform(batch).withColumn("x", vector_to_array("features"))
scored = features.withColumn(
    "predicted", F.call_udf("wine_scaled", *[F.col("x")[i] for i in range(len(FEATURES))]))

scored_path = output_path
start = time.monotonic()
scored.select("wine_id", "copy", "target", "predicted").write.mode("overwrite").parquet(str(scored_path))
print(f"scored and written in {time.monotonic() - start:.1f} s: {scored_path}")

# %% [markdown]
# ## Check the result

# %%
result = spark.read.parquet(str(scored_path))
rows_scored = result.count()
accuracy = result.select(F.avg((F.col("predicted") == F.col("target")).cast("double"))).first()[0]
with mlflow.start_run(run_id=run.info.run_id):
    mlflow.log_metrics({"batch_rows": rows_scored, "batch_accuracy": accuracy})
print(f"rows scored: {rows_scored}")
print(f"accuracy: {accuracy:.4f}")
result.groupBy("target").pivot("predicted", [0, 1, 2]).count().fillna(0).orderBy("target").toPandas()
